//! The local STS: `GetFederationToken` checked as Tencent documents it
//! (TC3-HMAC-SHA256 over `content-type;host`, a timestamp within five
//! minutes), and the temporary credentials it issues.
//!
//! Credentials carry their own grant: the session token is the grant (id,
//! expiry, CAM policy) in JSON with an HMAC-SHA256 under a key kept in the
//! bucket's folder, and the temporary secret key is derived from the id
//! under the same key. The bucket checks both without remembering anything,
//! so credentials survive a restart, as Tencent's do.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use ring::hmac;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    clock::random_bytes,
    signer::{Credentials, hex, tc3},
};

/// The longest credentials `GetFederationToken` grants.
const MAX_DURATION: u64 = 7200;
/// How far a TC3 timestamp may be from the clock.
const TIMESTAMP_SKEW: u64 = 300;
/// Temporary SecretIds start with this, so they never look like the root's.
const ID_PREFIX: &str = "AKIDLOCAL";

/// What a session token holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    /// Unix seconds.
    pub expires: u64,
    /// The CAM policy, as granted.
    pub policy: Value,
}

/// Issues and opens temporary credentials.
pub struct Issuer {
    key: hmac::Key,
    root: Credentials,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer").finish_non_exhaustive()
    }
}

/// An STS answer: the JSON envelope Tencent's API 3.0 uses, HTTP 200 even
/// for errors.
pub type Answer = Value;

impl Issuer {
    /// `secret`: the key kept in the bucket's folder; `root`: the only
    /// credentials that may ask for a token.
    pub fn new(secret: &[u8], root: Credentials) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            root,
        }
    }

    /// Whether `secret_id` names temporary credentials of this issuer.
    pub fn issued(secret_id: &str) -> bool {
        secret_id.starts_with(ID_PREFIX)
    }

    /// Answers one `POST /` with `X-TC-Action`.
    pub fn answer(&self, header: impl Fn(&str) -> Option<String>, body: &[u8], now: u64) -> Answer {
        let request_id = hex(&random_bytes::<16>());
        let result = self.federation_token(&header, body, now);
        let response = match result {
            Ok(fields) => fields,
            Err((code, message)) => json!({"Error": {"Code": code, "Message": message}}),
        };
        let mut response = response;
        response["RequestId"] = json!(request_id);
        json!({ "Response": response })
    }

    fn federation_token(
        &self,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
        now: u64,
    ) -> Result<Value, (&'static str, String)> {
        let action = header("x-tc-action").unwrap_or_default();
        if action != "GetFederationToken" {
            return Err((
                "InvalidAction",
                format!("the local STS answers GetFederationToken, not {action:?}"),
            ));
        }
        self.check_signature(header, body, now)?;
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Asked {
            name: String,
            policy: String,
            duration_seconds: Option<u64>,
        }
        let asked: Asked = serde_json::from_slice(body).map_err(|e| {
            (
                "InvalidParameter",
                format!("the body is not GetFederationToken's JSON: {e}"),
            )
        })?;
        if asked.name.is_empty() || asked.name.len() > 32 {
            return Err((
                "InvalidParameter",
                "Name must have 1 to 32 characters".into(),
            ));
        }
        let duration = asked.duration_seconds.unwrap_or(1800);
        if !(1..=MAX_DURATION).contains(&duration) {
            return Err((
                "InvalidParameter",
                format!("DurationSeconds must lie between 1 and {MAX_DURATION}"),
            ));
        }
        // The document: the policy travels URL-encoded.
        let policy = percent_encoding::percent_decode_str(&asked.policy)
            .decode_utf8()
            .ok()
            .and_then(|p| serde_json::from_str::<Value>(&p).ok())
            .filter(|p| p["statement"].is_array())
            .ok_or((
                "InvalidParameter.PolicyTooLong",
                "Policy is not a URL-encoded CAM policy".to_string(),
            ))?;
        let grant = Grant {
            id: format!("{ID_PREFIX}{}", hex(&random_bytes::<12>())),
            expires: now + duration,
            policy,
        };
        let secret = self.secret_key(&grant.id);
        Ok(json!({
            "Credentials": {
                "Token": self.seal(&grant),
                "TmpSecretId": grant.id,
                "TmpSecretKey": secret.expose_secret(),
            },
            "ExpiredTime": grant.expires,
            "Expiration": time::OffsetDateTime::from_unix_timestamp(grant.expires as i64)
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
        }))
    }

    /// TC3-HMAC-SHA256 as Tencent's API 3.0 document defines it, with the
    /// root key: `AuthFailure.*` otherwise.
    fn check_signature(
        &self,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
        now: u64,
    ) -> Result<(), (&'static str, String)> {
        let given = header("authorization").unwrap_or_default();
        let timestamp: u64 = header("x-tc-timestamp")
            .and_then(|t| t.parse().ok())
            .ok_or((
                "AuthFailure.InvalidAuthorization",
                "no X-TC-Timestamp".into(),
            ))?;
        if timestamp.abs_diff(now) > TIMESTAMP_SKEW {
            return Err((
                "AuthFailure.SignatureExpire",
                "X-TC-Timestamp is more than 5 minutes from now".into(),
            ));
        }
        let secret_id = given
            .split_once("Credential=")
            .and_then(|(_, rest)| rest.split('/').next())
            .unwrap_or_default();
        if secret_id != self.root.secret_id {
            return Err((
                "AuthFailure.SecretIdNotFound",
                "the SecretId is not the bucket owner's".into(),
            ));
        }
        let host = header("host").unwrap_or_default();
        let content_type = header("content-type").unwrap_or_default();
        let expected = tc3::sign(
            &self.root,
            &tc3::Request {
                host: &host,
                service: "sts",
                content_type: &content_type,
                payload: body,
                timestamp,
            },
        )
        .to_string();
        if !super::same(&expected, &given) {
            return Err((
                "AuthFailure.SignatureFailure",
                "the TC3 signature does not match".into(),
            ));
        }
        Ok(())
    }

    /// `base64url(grant JSON) . base64url(HMAC-SHA256(key, grant JSON))`.
    fn seal(&self, grant: &Grant) -> String {
        let claims = serde_json::to_vec(grant).expect("a grant serialises");
        let tag = hmac::sign(&self.key, &claims);
        format!("{}.{}", B64.encode(&claims), B64.encode(tag.as_ref()))
    }

    /// The grant of `token` if this issuer sealed it for `secret_id` and it
    /// has not expired; why not otherwise.
    pub fn open(&self, secret_id: &str, token: &str, now: u64) -> Result<Grant, &'static str> {
        let (claims, tag) = token
            .split_once('.')
            .and_then(|(c, t)| Some((B64.decode(c).ok()?, B64.decode(t).ok()?)))
            .ok_or("the security token is not one the local STS issued")?;
        hmac::verify(&self.key, &claims, &tag)
            .map_err(|_| "the security token is not one the local STS issued")?;
        let grant: Grant = serde_json::from_slice(&claims)
            .map_err(|_| "the security token is not one the local STS issued")?;
        if grant.id != secret_id {
            return Err("the security token belongs to other credentials");
        }
        if grant.expires < now {
            return Err("the temporary credentials have expired");
        }
        Ok(grant)
    }

    /// The temporary secret key of `id`.
    pub fn secret_key(&self, id: &str) -> SecretString {
        let tag = hmac::sign(&self.key, format!("tmp-secret-key\0{id}").as_bytes());
        SecretString::from(B64.encode(&tag.as_ref()[..24]))
    }
}

/// Whether the CAM `policy` allows `action` (`PutObject`, …) on the
/// resource `resource` (`qcs::cos:region:uid/appid:bucket/key`), with the
/// request's `Content-Length` for `cos:content-length` conditions. An
/// explicit deny wins; a condition this bucket does not know never allows.
pub fn allows(policy: &Value, action: &str, resource: &str, content_length: Option<u64>) -> bool {
    let statements = policy["statement"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let matching = |st: &&Value| {
        let listed = |field: &str, wanted: &dyn Fn(&str) -> bool| match &st[field] {
            Value::String(one) => wanted(one),
            Value::Array(many) => many.iter().filter_map(Value::as_str).any(wanted),
            _ => false,
        };
        listed("action", &|a| {
            a == "*"
                || a.eq_ignore_ascii_case("name/cos:*")
                || a.eq_ignore_ascii_case(&format!("name/cos:{action}"))
        }) && listed("resource", &|r| glob(r, resource))
    };
    let effect = |st: &&Value| {
        st["effect"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    // A condition this bucket cannot evaluate never allows, and never
    // keeps a deny from applying.
    let relevant: Vec<&Value> = statements
        .iter()
        .filter(matching)
        .filter(|st| conditions_hold(&st["condition"], content_length, effect(st) == "deny"))
        .collect();
    !relevant.iter().any(|st| effect(st) == "deny")
        && relevant.iter().any(|st| effect(st) == "allow")
}

/// The only condition cosgate's policies use; anything else is `unknown`
/// (false for an allow, true for a deny).
fn conditions_hold(condition: &Value, content_length: Option<u64>, unknown: bool) -> bool {
    let Some(condition) = condition.as_object() else {
        return condition.is_null() || unknown;
    };
    condition.iter().all(|(operator, tests)| {
        let Some(tests) = tests.as_object() else {
            return unknown;
        };
        tests.iter().all(|(key, limit)| {
            match (
                operator.as_str(),
                key.as_str(),
                limit.as_u64(),
                content_length,
            ) {
                ("numeric_less_than_equal", "cos:content-length", Some(limit), Some(length)) => {
                    length <= limit
                }
                _ => unknown,
            }
        })
    })
}

/// `*` matches any run of characters (CAM's resource wildcard).
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer() -> Issuer {
        Issuer::new(
            b"0123456789abcdef0123456789abcdef",
            Credentials::new("AKIDroot", SecretString::from("root-key".to_string())),
        )
    }

    #[test]
    fn a_sealed_grant_opens_only_for_its_id_and_until_it_expires() {
        let issuer = issuer();
        let grant = Grant {
            id: "AKIDLOCALabc".into(),
            expires: 1000,
            policy: json!({"statement": []}),
        };
        let token = issuer.seal(&grant);
        assert_eq!(
            issuer.open("AKIDLOCALabc", &token, 999).unwrap().id,
            grant.id
        );
        assert!(issuer.open("AKIDLOCALxyz", &token, 999).is_err());
        assert!(issuer.open("AKIDLOCALabc", &token, 1001).is_err());
        let mut forged = token.clone().into_bytes();
        forged[3] ^= 1;
        let forged = String::from_utf8(forged).unwrap();
        assert!(issuer.open("AKIDLOCALabc", &forged, 999).is_err());
    }

    #[test]
    fn cam_policies_allow_only_their_actions_resources_and_sizes() {
        let policy = json!({"version": "2.0", "statement": [
            {"effect": "allow", "action": ["name/cos:PutObject"],
             "resource": ["qcs::cos:ap-guangzhou:uid/1:b-1/uploads/a/*"],
             "condition": {"numeric_less_than_equal": {"cos:content-length": 10}}},
            {"effect": "allow", "action": ["name/cos:UploadPart"],
             "resource": ["qcs::cos:ap-guangzhou:uid/1:b-1/uploads/a/*"]},
        ]});
        let res = |key: &str| format!("qcs::cos:ap-guangzhou:uid/1:b-1/{key}");
        assert!(allows(&policy, "PutObject", &res("uploads/a/x"), Some(10)));
        assert!(!allows(&policy, "PutObject", &res("uploads/a/x"), Some(11)));
        assert!(!allows(&policy, "PutObject", &res("uploads/a/x"), None));
        assert!(!allows(&policy, "PutObject", &res("uploads/b/x"), Some(1)));
        assert!(!allows(&policy, "GetObject", &res("uploads/a/x"), None));
        assert!(allows(
            &policy,
            "UploadPart",
            &res("uploads/a/x"),
            Some(1 << 30)
        ));
        let denied = json!({"statement": [
            {"effect": "allow", "action": "*", "resource": "*"},
            {"effect": "deny", "action": "name/cos:DeleteObject", "resource": "*"},
        ]});
        assert!(allows(&denied, "PutObject", &res("k"), None));
        assert!(!allows(&denied, "DeleteObject", &res("k"), None));
        let odd_deny = json!({"statement": [
            {"effect": "allow", "action": "*", "resource": "*"},
            {"effect": "deny", "action": "*", "resource": "*",
             "condition": {"ip_equal": {"qcs:ip": "10.0.0.1"}}},
        ]});
        assert!(
            !allows(&odd_deny, "PutObject", &res("k"), None),
            "an unknown condition keeps a deny"
        );
    }

    #[test]
    fn globs_match_runs_of_characters() {
        assert!(glob("a/*", "a/b/c"));
        assert!(glob("a*c", "abbbc"));
        assert!(!glob("a*c", "abbbd"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
        assert!(glob("*", ""));
    }
}
