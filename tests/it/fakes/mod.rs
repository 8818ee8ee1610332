//! The fakes of the services cosgate calls, in one place: WeChat (in
//! process), COS and STS (Python scripts under `tests/js/`, started and
//! stopped from here).

use std::path::PathBuf;

mod cos;
mod sts;
mod wechat;

pub use cos::{FakeCos, start_fake_cos, start_fake_cos_with};
pub use sts::{FakeSts, STS_SECRET_ID, STS_SECRET_KEY, STS_SEED};
pub use wechat::{FakeWechat, PushMode, push_signature};

/// Where the Python fakes and the Node scripts live.
pub fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}
