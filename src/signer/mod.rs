//! COS signatures and TencentCloud API 3.0 (TC3) signatures for STS.
//! cosgate's own access tokens are [`crate::tokens`].
//!
//! Everything here is a pure function of its inputs: the current time and any
//! random nonce are arguments, so every algorithm is tested against fixed
//! vectors computed by someone else (Tencent's documents and official SDKs).
//! This module knows nothing of HTTP requests or of who may sign what; callers
//! (the signing service, [`crate::signing`]) check the policy first and pass only parsed, allowed paths.

pub mod tc3;
pub mod v4;
pub mod v5;

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// A COS SecretId/SecretKey pair. The SecretId is sent in every signature and
/// is not secret; the SecretKey never leaves this process.
#[derive(Clone)]
pub struct Credentials {
    pub secret_id: String,
    secret_key: SecretString,
    /// HMAC-SHA1 keyed with the secret key, derived once: v4 signatures and
    /// v5 sign keys start from this state on every request.
    hmac_sha1: HmacSha1,
}

/// COS's algorithms are defined on SHA-1.
type HmacSha1 = hmac::Hmac<sha1::Sha1>;

/// `HMAC-SHA1(key, message)`.
fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    use hmac::Mac;
    let mut mac = HmacSha1::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

impl Credentials {
    pub fn new(secret_id: impl Into<String>, secret_key: SecretString) -> Self {
        use hmac::Mac;
        let hmac_sha1 = HmacSha1::new_from_slice(secret_key.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        Self {
            secret_id: secret_id.into(),
            secret_key,
            hmac_sha1,
        }
    }

    /// `HMAC-SHA1(secret key, message)`.
    fn hmac_sha1(&self, message: &[u8]) -> [u8; 20] {
        use hmac::Mac;
        let mut mac = self.hmac_sha1.clone();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// The HMAC key for signing. Only the signer calls this.
    fn secret_key(&self) -> &[u8] {
        self.secret_key.expose_secret().as_bytes()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"** redacted **")
            .finish()
    }
}

/// Lowercase hex, as COS signatures and cosgate's token hashes are written.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_debug_never_shows_the_secret_key() {
        let creds = Credentials::new("AKIDEXAMPLE", SecretString::from("very-secret-key"));
        let shown = format!("{creds:?}");
        assert_eq!(
            shown,
            r#"Credentials { secret_id: "AKIDEXAMPLE", secret_key: "** redacted **" }"#
        );
    }
}
