//! How fast the signer is, on the inputs of the published vectors.
//! `cargo bench --bench signer`.

use std::hint::black_box;

use cosgate::{
    policy::CosDir,
    signer::{Credentials, jwt::JwtKeys, v4},
};
use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::SecretString;

fn signer(c: &mut Criterion) {
    let creds = Credentials::new("AKIDEXAMPLE", SecretString::from("secretkey"));
    let request = |cos_path| v4::Request {
        appid: "1250000000",
        bucket: "examplebucket",
        cos_path,
        kind: v4::Kind::More {
            expired: 1_700_003_600,
        },
        now: 1_700_000_000,
        nonce: 123_456_789,
    };
    c.bench_function("v4 sign_more, ascii path", |b| {
        b.iter(|| v4::sign(&creds, black_box(request("/uploads/a.png"))))
    });
    c.bench_function("v4 sign_more, cjk path", |b| {
        b.iter(|| v4::sign(&creds, black_box(request("/uploads/acc1/图片/头像.jpg"))))
    });
    c.bench_function("policy: parse a directory", |b| {
        b.iter(|| CosDir::parse(black_box("/uploads/acc1/avatars/2026")))
    });

    let keys = JwtKeys::new(
        &SecretString::from("0123456789abcdef0123456789abcdef"),
        "cosgate",
        "cosgate",
        30,
    );
    let token = keys
        .mint("acc1", &["open"], 1_700_000_000, 3600)
        .expect("minting works");
    c.bench_function("jwt verify", |b| {
        b.iter(|| keys.verify(black_box(&token), 1_700_000_100))
    });
}

criterion_group!(benches, signer);
criterion_main!(benches);
