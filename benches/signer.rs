//! How fast the signers are, on the inputs of the published vectors.
//! `cargo bench --bench signer`.

use std::hint::black_box;

use cosgate::{
    paths::CosDir,
    signer::{
        Credentials, v4,
        v5::{self, KeyTime, SignedPairs},
    },
    tokens::JwtKeys,
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
    c.bench_function("v5 sign, Tencent's PUT example (7 headers)", |b| {
        b.iter(|| {
            let request = v5::Request {
                method: "PUT",
                path: "/exampleobject(腾讯云)",
                query: SignedPairs::new([]),
                headers: SignedPairs::new(black_box([
                    ("Date", "Thu, 16 May 2019 06:45:51 GMT"),
                    (
                        "Host",
                        "examplebucket-1250000000.cos.ap-beijing.myqcloud.com",
                    ),
                    ("Content-Type", "text/plain"),
                    ("Content-Length", "13"),
                    ("Content-MD5", "mQ/fVh815F3k6TAUm8m0eg=="),
                    ("x-cos-acl", "private"),
                    ("x-cos-grant-read", "uin=\"100000000011\""),
                ])),
                key_time: KeyTime {
                    start: 1_557_989_151,
                    end: 1_557_996_351,
                },
            };
            v5::sign(&creds, &request)
        })
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
