//! What cosgate's clients of other services (WeChat, STS) share: one way
//! to build an HTTP client with timeouts, and one way to describe a
//! transport failure without the URL (which may carry secrets or codes).

use std::time::Duration;

/// A reqwest client that gives up after `timeout`, connecting or waiting,
/// and follows no redirect: none of the services cosgate calls redirects,
/// and a followed 301-303 would turn a POST (a webhook) into a GET without
/// its body whose answer would count as the POST's.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client with only timeouts and no redirects builds")
}

/// "timed out" or "could not reach it": never the URL or the body.
pub fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else {
        "could not reach it".into()
    }
}
