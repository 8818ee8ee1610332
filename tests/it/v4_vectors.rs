//! cosgate's v4 signer against vectors computed by the official v4 Python SDK
//! (`tests/vectors/v4.json`, made by `tests/vectors/generate_v4.py`).

use cosgate::signer::{Credentials, v4};
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    method: String,
    cos_path: String,
    expired: Option<u64>,
    now: u64,
    nonce: u32,
    appid: String,
    secret_id: String,
    secret_key: String,
    bucket: String,
    sign: String,
}

fn vectors() -> Vec<Vector> {
    let text = include_str!("../vectors/v4.json");
    serde_json::from_str::<File>(text)
        .expect("v4.json parses")
        .vectors
}

fn kind(v: &Vector, expired: u64) -> v4::Kind {
    match v.method.as_str() {
        "sign_once" => v4::Kind::Once,
        "sign_more" => v4::Kind::More { expired },
        "sign_download" => v4::Kind::Download { expired },
        other => panic!("unknown method {other}"),
    }
}

fn sign(v: &Vector, expired: u64) -> String {
    let creds = Credentials::new(&v.secret_id, SecretString::from(v.secret_key.clone()));
    let request = v4::Request {
        appid: &v.appid,
        bucket: &v.bucket,
        cos_path: &v.cos_path,
        kind: kind(v, expired),
        now: v.now,
        nonce: v.nonce,
    };
    v4::sign(&creds, request)
}

#[test]
fn every_sdk_vector_is_reproduced_byte_for_byte() {
    let vectors = vectors();
    assert!(vectors.len() >= 7, "the vector file is complete");
    for v in &vectors {
        assert_eq!(sign(v, v.expired.unwrap_or(0)), v.sign, "vector {}", v.name);
    }
}

#[test]
fn the_vector_from_the_foundation_issue_is_among_them() {
    let issue = "uEQpPWyKUhOY6IYcDyudWq6QDF5hPTEyNTAwMDAwMDAmaz1BS0lERVhBTVBMRSZlPTE3MDAwMDM2MDAmdD0xNzAwMDAwMDAwJnI9MTIzNDU2Nzg5JmY9LzEyNTAwMDAwMDAvZXhhbXBsZWJ1Y2tldC91cGxvYWRzL2EucG5nJmI9ZXhhbXBsZWJ1Y2tldA==";
    let v = vectors()
        .into_iter()
        .find(|v| v.name == "issue_sign_more")
        .unwrap();
    assert_eq!(v.sign, issue);
    assert_eq!(sign(&v, 1_700_003_600), issue);
}

#[test]
fn a_relative_expiry_gives_the_same_signature_as_the_absolute_one() {
    for v in vectors().iter().filter(|v| v.method != "sign_once") {
        let absolute = v.expired.unwrap();
        assert_eq!(
            sign(v, absolute - v.now),
            v.sign,
            "vector {} with e relative",
            v.name
        );
    }
}
