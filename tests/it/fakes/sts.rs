//! The fake STS (`tests/js/fake_sts.py`), run as a child process.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use crate::helpers::skip;

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
