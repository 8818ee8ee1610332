//! What cosgate's clients of other services (WeChat, STS) share: one way
//! to build an HTTP client with timeouts, and one way to describe a
//! transport failure without the URL (which may carry secrets or codes).

use std::time::Duration;

/// A reqwest client that gives up after `timeout`, connecting or waiting.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .expect("a client with only timeouts set builds")
}

/// "timed out" or "could not reach it": never the URL or the body.
pub fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else {
        "could not reach it".into()
    }
}
