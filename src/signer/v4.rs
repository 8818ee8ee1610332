//! COS v4 signatures, as the official v4 Python SDK computes them
//! (`qcloud_cos/cos_auth.py`, `Auth.app_sign`).
//!
//! ```text
//! path    = percent-encode(UTF-8 cos_path), keeping A-Za-z0-9 _ . - ~ /
//! fileid  = "/{appid}/{bucket}{path}"     (sign_once, sign_more)
//!         = "{path}"                      (sign_download)
//! expired = absolute unix time (a value below now means now + value); sign_once uses 0
//! plain   = "a={appid}&k={secret_id}&e={expired}&t={now}&r={rdm}&f={fileid}&b={bucket}"
//! sign    = base64( HMAC-SHA1(secret_key, plain) as 20 raw bytes ++ plain )
//! ```
//!
//! `bucket` is the bare bucket name, without the `-appid` suffix of v5 hosts.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::Credentials;

/// Bytes the v4 SDK leaves as they are: `urllib.quote(path, '~/')`.
const V4_PATH_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes a COS path the way the v4 SDK does before signing it.
pub fn encode_path(cos_path: &str) -> String {
    utf8_percent_encode(cos_path, V4_PATH_KEEP).to_string()
}

/// Which of the SDK's three signatures to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Single use, for deleting or overwriting one path; never expires by time.
    Once,
    /// Multi-use until `expired`, for uploads and listings below a path.
    More { expired: u64 },
    /// Multi-use download signature for one file until `expired`.
    Download { expired: u64 },
}

/// Everything a v4 signature covers apart from the key.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub appid: &'a str,
    pub bucket: &'a str,
    pub cos_path: &'a str,
    pub kind: Kind,
    /// The signing time, unix seconds: `clock::unix_now()` unless testing.
    pub now: u64,
    /// The SDK's `random.randint(0, 999999999)`.
    pub nonce: u32,
}

impl Request<'_> {
    /// The `e=` field: absolute expiry, with the SDK's rule that a value below
    /// `now` is relative to it.
    pub fn expired(&self) -> u64 {
        match self.kind {
            Kind::Once => 0,
            Kind::More { expired } | Kind::Download { expired } if expired < self.now => {
                self.now + expired
            }
            Kind::More { expired } | Kind::Download { expired } => expired,
        }
    }
}

/// The signed text, `a=…&k=…&e=…&t=…&r=…&f=…&b=…`, in the SDK's field order.
#[derive(Debug)]
pub struct PlainText<'a> {
    request: Request<'a>,
    secret_id: &'a str,
}

impl<'a> PlainText<'a> {
    pub fn new(request: Request<'a>, secret_id: &'a str) -> Self {
        Self { request, secret_id }
    }
}

impl fmt::Display for PlainText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.request;
        let path = utf8_percent_encode(r.cos_path, V4_PATH_KEEP);
        write!(
            f,
            "a={}&k={}&e={}&t={}&r={}&f=",
            r.appid,
            self.secret_id,
            r.expired(),
            r.now,
            r.nonce
        )?;
        match r.kind {
            Kind::Once | Kind::More { .. } => write!(f, "/{}/{}{}", r.appid, r.bucket, path)?,
            Kind::Download { .. } => write!(f, "{path}")?,
        }
        write!(f, "&b={}", r.bucket)
    }
}

/// Signs `request`: `base64(HMAC-SHA1(secret_key, plain) ++ plain)`.
pub fn sign(credentials: &Credentials, request: Request<'_>) -> String {
    use std::io::Write as _;
    const DIGEST: usize = 20;
    // The digest goes in front of the plain text: write the text after room
    // for it, so neither is copied.
    let mut signed = Vec::with_capacity(DIGEST + 96 + 3 * request.cos_path.len());
    signed.resize(DIGEST, 0);
    write!(
        signed,
        "{}",
        PlainText::new(request, &credentials.secret_id)
    )
    .expect("writing to a Vec cannot fail");
    let digest = credentials.hmac_sha1(&signed[DIGEST..]);
    signed[..DIGEST].copy_from_slice(digest.as_ref());
    BASE64.encode(signed)
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn request(cos_path: &str, kind: Kind) -> Request<'_> {
        Request {
            appid: "1250000000",
            bucket: "examplebucket",
            cos_path,
            kind,
            now: 1_700_000_000,
            nonce: 123_456_789,
        }
    }

    #[test]
    fn paths_are_encoded_like_python_quote_with_tilde_and_slash_safe() {
        assert_eq!(
            encode_path("/a b/c+d(1)~_.-/图.png"),
            "/a%20b/c%2Bd%281%29~_.-/%E5%9B%BE.png"
        );
    }

    #[test]
    fn a_relative_expiry_counts_from_now() {
        assert_eq!(
            request("/x", Kind::More { expired: 3600 }).expired(),
            1_700_003_600
        );
        assert_eq!(
            request(
                "/x",
                Kind::More {
                    expired: 1_700_003_600
                }
            )
            .expired(),
            1_700_003_600
        );
        assert_eq!(request("/x", Kind::Once).expired(), 0);
    }

    #[test]
    fn plain_text_has_the_sdk_field_order() {
        let text = PlainText::new(
            request(
                "/uploads/a.png",
                Kind::More {
                    expired: 1_700_003_600,
                },
            ),
            "AKIDEXAMPLE",
        );
        assert_eq!(
            text.to_string(),
            "a=1250000000&k=AKIDEXAMPLE&e=1700003600&t=1700000000&r=123456789&f=/1250000000/examplebucket/uploads/a.png&b=examplebucket"
        );
        let download = PlainText::new(
            request(
                "/uploads/a.png",
                Kind::Download {
                    expired: 1_700_003_600,
                },
            ),
            "AKIDEXAMPLE",
        );
        assert!(
            download.to_string().contains("&f=/uploads/a.png&b="),
            "download signatures use the bare path"
        );
    }

    #[test]
    fn signature_is_raw_hmac_then_plain_text() {
        let creds = Credentials::new("AKIDEXAMPLE", SecretString::from("secretkey"));
        let sign = sign(
            &creds,
            request(
                "/uploads/a.png",
                Kind::More {
                    expired: 1_700_003_600,
                },
            ),
        );
        let raw = BASE64.decode(sign).expect("signatures are base64");
        assert_eq!(raw.len(), 20 + "a=1250000000&k=AKIDEXAMPLE&e=1700003600&t=1700000000&r=123456789&f=/1250000000/examplebucket/uploads/a.png&b=examplebucket".len());
        assert!(
            raw[20..].starts_with(b"a=1250000000&k="),
            "the digest is 20 raw bytes, not hex"
        );
    }
}
