//! The fake COS (`tests/js/fake_cos.py`), run as a child process.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

use super::js_dir;
use crate::helpers::{COS_SECRET_ID, COS_SECRET_KEY};

/// The fake COS, killed when dropped.
pub struct FakeCos {
    pub host: String,
    child: Child,
}

impl Drop for FakeCos {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_fake_cos() -> FakeCos {
    start_fake_cos_with(COS_SECRET_ID, COS_SECRET_KEY, None)
}

/// A fake COS whose root key is `secret_id`/`secret_key`, and which accepts
/// the fake STS's temporary credentials when given its `seed`.
pub fn start_fake_cos_with(secret_id: &str, secret_key: &str, seed: Option<&str>) -> FakeCos {
    let mut child = Command::new("python3")
        .arg("-W")
        .arg("ignore::DeprecationWarning")
        .arg(js_dir().join("fake_cos.py"))
        .args([secret_id, secret_key])
        .args(seed)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the fake COS");
    let mut port = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    FakeCos {
        host: format!("127.0.0.1:{}", port.trim()),
        child,
    }
}
