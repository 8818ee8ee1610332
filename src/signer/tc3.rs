//! TencentCloud API 3.0 signatures, `TC3-HMAC-SHA256`, as Tencent's
//! "Signature v3" document specifies them: what cosgate needs to call STS
//! (`GetFederationToken`), a JSON `POST /` signing `content-type` and
//! `host`.
//!
//! One type per stage, each rendered with `Display` so tests compare the
//! exact bytes with the document's worked example:
//!
//! ```text
//! CanonicalRequest = Method \n CanonicalURI \n CanonicalQueryString \n
//!                    CanonicalHeaders \n SignedHeaders \n HexEncode(SHA256(Payload))
//! StringToSign     = "TC3-HMAC-SHA256" \n Timestamp \n CredentialScope \n
//!                    HexEncode(SHA256(CanonicalRequest))
//! CredentialScope  = Date/Service/tc3_request          (Date: UTC, YYYY-MM-DD)
//! SecretDate       = HMAC_SHA256("TC3" + SecretKey, Date)
//! SecretService    = HMAC_SHA256(SecretDate, Service)
//! SecretSigning    = HMAC_SHA256(SecretService, "tc3_request")
//! Signature        = HexEncode(HMAC_SHA256(SecretSigning, StringToSign))
//! Authorization    = "TC3-HMAC-SHA256 Credential=" SecretId "/" CredentialScope
//!                    ", SignedHeaders=" SignedHeaders ", Signature=" Signature
//! ```
//!
//! Pure: the timestamp is an argument.

use std::fmt;

use ring::{digest, hmac};

use super::{Credentials, hex};

const ALGORITHM: &str = "TC3-HMAC-SHA256";
const SIGNED_HEADERS: &str = "content-type;host";

/// One API request to sign: `POST /` with a JSON body.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// For example `sts.tencentcloudapi.com`.
    pub host: &'a str,
    /// The service, the host's first label: `sts`.
    pub service: &'a str,
    /// For example `application/json; charset=utf-8`.
    pub content_type: &'a str,
    pub payload: &'a [u8],
    /// Unix seconds; also the `X-TC-Timestamp` header.
    pub timestamp: u64,
}

/// `Date/Service/tc3_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    pub date: String,
    pub service: String,
}

impl CredentialScope {
    pub fn new(timestamp: u64, service: &str) -> Self {
        Self {
            date: utc_date(timestamp),
            service: service.to_string(),
        }
    }
}

impl fmt::Display for CredentialScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/tc3_request", self.date, self.service)
    }
}

/// The canonical request: method, URI `/`, empty query, the two signed
/// headers (lower-cased names, trimmed values), and the payload's hash.
#[derive(Debug, Clone, Copy)]
pub struct CanonicalRequest<'a>(pub &'a Request<'a>);

impl fmt::Display for CanonicalRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        write!(
            f,
            "POST\n/\n\ncontent-type:{}\nhost:{}\n\n{SIGNED_HEADERS}\n{}",
            r.content_type.trim().to_ascii_lowercase(),
            r.host.trim().to_ascii_lowercase(),
            sha256_hex(r.payload)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringToSign {
    pub timestamp: u64,
    pub scope: CredentialScope,
    pub canonical_request_hash: String,
}

impl StringToSign {
    pub fn of(request: &Request<'_>) -> Self {
        Self {
            timestamp: request.timestamp,
            scope: CredentialScope::new(request.timestamp, request.service),
            canonical_request_hash: sha256_hex(CanonicalRequest(request).to_string().as_bytes()),
        }
    }
}

impl fmt::Display for StringToSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ALGORITHM}\n{}\n{}\n{}",
            self.timestamp, self.scope, self.canonical_request_hash
        )
    }
}

/// `SecretSigning`, derived from the SecretKey, the date and the service.
pub fn signing_key(credentials: &Credentials, scope: &CredentialScope) -> hmac::Key {
    let mut secret = b"TC3".to_vec();
    secret.extend_from_slice(credentials.secret_key());
    let date = hmac_sha256(&secret, scope.date.as_bytes());
    let service = hmac_sha256(date.as_ref(), scope.service.as_bytes());
    let signing = hmac_sha256(service.as_ref(), b"tc3_request");
    hmac::Key::new(hmac::HMAC_SHA256, signing.as_ref())
}

/// The `Authorization` header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub secret_id: String,
    pub scope: CredentialScope,
    pub signature: String,
}

impl fmt::Display for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ALGORITHM} Credential={}/{}, SignedHeaders={SIGNED_HEADERS}, Signature={}",
            self.secret_id, self.scope, self.signature
        )
    }
}

/// Signs `request` with `credentials`.
pub fn sign(credentials: &Credentials, request: &Request<'_>) -> Authorization {
    let string_to_sign = StringToSign::of(request);
    let key = signing_key(credentials, &string_to_sign.scope);
    let signature = hex(hmac::sign(&key, string_to_sign.to_string().as_bytes()).as_ref());
    Authorization {
        secret_id: credentials.secret_id.clone(),
        scope: string_to_sign.scope,
        signature,
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message)
}

fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

/// `YYYY-MM-DD` of a unix time, in UTC.
fn utc_date(timestamp: u64) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(timestamp as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Tencent's worked example in "Signature v3" (TencentCloud API 3.0):
/// CVM `DescribeInstances`, timestamp 1551113065, checked stage by stage.
/// The document has appeared with two example SecretKeys, masked
/// (`Gu5t9xGARNpq86cd98joQYCN3*******`) and `…EXAMPLE`; both published
/// signatures are reproduced.
#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    const PAYLOAD: &str =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;

    fn request() -> Request<'static> {
        Request {
            host: "cvm.tencentcloudapi.com",
            service: "cvm",
            content_type: "application/json; charset=utf-8",
            payload: PAYLOAD.as_bytes(),
            timestamp: 1_551_113_065,
        }
    }

    fn credentials(secret_key: &str) -> Credentials {
        Credentials::new(
            "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
            SecretString::from(secret_key.to_string()),
        )
    }

    #[test]
    fn canonical_request_matches_the_document() {
        assert_eq!(
            CanonicalRequest(&request()).to_string(),
            "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
    }

    #[test]
    fn string_to_sign_matches_the_document() {
        assert_eq!(
            StringToSign::of(&request()).to_string(),
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
    }

    #[test]
    fn signatures_match_the_documents_for_both_example_keys() {
        for (key, signature) in [
            (
                "Gu5t9xGARNpq86cd98joQYCN3*******",
                "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c",
            ),
            (
                "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
                "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168",
            ),
        ] {
            assert_eq!(sign(&credentials(key), &request()).signature, signature);
        }
    }

    #[test]
    fn authorization_header_matches_the_document() {
        assert_eq!(
            sign(&credentials("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"), &request()).to_string(),
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn the_date_is_the_utc_day_of_the_timestamp() {
        assert_eq!(utc_date(1_551_113_065), "2019-02-25");
        assert_eq!(utc_date(1_551_139_199), "2019-02-25");
        assert_eq!(utc_date(1_551_139_200), "2019-02-26");
    }
}
