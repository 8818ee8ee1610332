//! cosgate's STS client against a fake STS on loopback
//! (`tests/js/fake_sts.py`) that verifies the TC3 signature and the CAM
//! policy with its own implementation of Tencent's documents.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use cosgate::{
    policy::{CosDir, cam, operation::AllowedActions},
    signer::Credentials,
    sts::{StsClient, StsError},
};
use secrecy::{ExposeSecret, SecretString};

use crate::helpers::*;

pub const STS_SECRET_ID: &str = "AKIDstsroot0000000000";
pub const STS_SECRET_KEY: &str = "sts-root-secret-key-for-tests";
pub const STS_SEED: &str = "fake-sts-seed";

/// The fake STS, killed when dropped.
pub struct FakeSts {
    pub base: String,
    child: Child,
}

impl Drop for FakeSts {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl FakeSts {
    pub fn start() -> Option<Self> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js/fake_sts.py");
        let Ok(mut child) = Command::new("python3")
            .arg(script)
            .args([STS_SECRET_ID, STS_SECRET_KEY, STS_SEED])
            .stdout(Stdio::piped())
            .spawn()
        else {
            assert!(std::env::var_os("CI").is_none(), "CI must have python3");
            skip("the STS tests need python3");
            return None;
        };
        let mut port = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        Some(Self {
            base: format!("http://127.0.0.1:{}", port.trim()),
            child,
        })
    }

    /// How many GetFederationToken calls named `name` it answered.
    pub async fn calls(&self, name: &str) -> u64 {
        let answer: serde_json::Value = reqwest::get(format!("{}/calls?name={name}", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["calls"].as_u64().unwrap()
    }
}

fn client(sts: &FakeSts, secret_key: &str) -> StsClient {
    StsClient::new(
        &sts.base,
        "ap-guangzhou",
        Credentials::new(STS_SECRET_ID, SecretString::from(secret_key.to_string())),
        Duration::from_millis(1000),
    )
}

fn policy_for(account: &str) -> String {
    let dir = CosDir::parse(&format!("/uploads/{account}")).unwrap();
    let actions: Vec<_> = AllowedActions::default().iter().collect();
    let bucket = cam::Bucket {
        region: "ap-guangzhou",
        appid: APPID,
        name: BUCKET,
    };
    serde_json::to_string(&cam::policy(bucket, &dir, &actions, 1000).unwrap()).unwrap()
}

#[tokio::test]
async fn a_signed_request_gets_credentials_the_fake_can_check() {
    let Some(sts) = FakeSts::start() else { return };
    let creds = client(&sts, STS_SECRET_KEY)
        .federation_token("cg-acc1", &policy_for("acc1"), 1800, now())
        .await
        .expect("the fake STS accepts cosgate's TC3 signature and policy");
    // The fake derives the key from the id with its seed; recompute it here.
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, STS_SEED.as_bytes());
    let expected: String = ring::hmac::sign(&key, creds.tmp_secret_id.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(creds.tmp_secret_key.expose_secret(), &expected);
    assert!(creds.expired_time >= now() + 1790 && creds.expired_time <= now() + 1801);
    assert!(!creds.token().is_empty());
}

#[tokio::test]
async fn refusals_are_not_retried_and_outages_are_retried_once() {
    let Some(sts) = FakeSts::start() else { return };
    let policy = policy_for("acc1");
    let good = client(&sts, STS_SECRET_KEY);

    let wrong_key = client(&sts, "not-the-key")
        .federation_token("cg-acc1", &policy, 1800, now())
        .await;
    assert_eq!(
        wrong_key.unwrap_err(),
        StsError::Refused("AuthFailure.SignatureFailure".into())
    );

    let cases = [
        (
            "cg-sts-auth-1",
            StsError::Refused("AuthFailure.SecretIdNotFound".into()),
            1,
        ),
        ("cg-sts-limit-1", StsError::LimitExceeded, 1),
        (
            "cg-sts-slow-1",
            StsError::Unavailable("timed out".into()),
            2,
        ),
        (
            "cg-sts-garbage-1",
            StsError::BadAnswer("HTTP 200, not STS's JSON".into()),
            1,
        ),
    ];
    for (name, expected, calls) in cases {
        let got = good.federation_token(name, &policy, 1800, now()).await;
        assert_eq!(got.unwrap_err(), expected, "{name}");
        assert_eq!(sts.calls(name).await, calls, "{name}: calls");
    }
    let flaky = good
        .federation_token("cg-sts-flaky-1", &policy, 1800, now())
        .await;
    assert!(flaky.is_ok(), "an InternalError is retried once");
    assert_eq!(sts.calls("cg-sts-flaky-1").await, 2);
}

#[tokio::test]
async fn the_fake_refuses_a_policy_that_reaches_beyond_one_directory() {
    let Some(sts) = FakeSts::start() else { return };
    let wide = policy_for("acc1").replace("/uploads/acc1/*", "/uploads/*");
    let got = client(&sts, STS_SECRET_KEY)
        .federation_token("cg-acc1", &wide, 1800, now())
        .await;
    assert_eq!(
        got.unwrap_err(),
        StsError::Refused("InvalidParameterValue.PolicyInvalid".into())
    );
}
