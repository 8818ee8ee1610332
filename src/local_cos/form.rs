//! POST Object: a browser form upload, checked as document 436/14690 says
//! COS checks it. The policy (base64 JSON) is signed with
//! `HMAC-SHA1(SignKey, SHA1(policy))`; it must not have expired, and every
//! condition must hold: exact fields (`{"key": …}`, `{"bucket": …}`, …),
//! `["eq", "$field", v]`, `["starts-with", "$field", prefix]` and
//! `["content-length-range", min, max]`. A condition this bucket does not
//! know fails, so nothing unchecked is ever accepted. With temporary
//! credentials, the token must come as the `x-cos-security-token` field and
//! their CAM policy must allow `PostObject` on the key at the file's size.

use std::collections::HashMap;

use poem::{Body, FromRequest, Request, RequestBody, Response, http::StatusCode, web::Multipart};
use serde_json::Value;

use super::{Fault, LocalCos, disk::ObjectMeta, same, sts};
use crate::signer::{Credentials, v5};

/// A parsed form: its fields by lower-cased name, and the file.
struct Form {
    fields: HashMap<String, String>,
    file: Vec<u8>,
    file_name: String,
    file_type: Option<String>,
}

pub(super) async fn post_object(
    cos: &LocalCos,
    req: &Request,
    body: bytes::Bytes,
    now: u64,
) -> Result<Response, Fault> {
    let form = read_form(req, body).await?;
    let field = |name: &str| form.fields.get(name).map(String::as_str);
    let policy_b64 = field("policy").ok_or_else(|| Fault::denied("the form has no policy"))?;
    let policy_text = {
        use base64::{Engine, engine::general_purpose::STANDARD};
        STANDARD
            .decode(policy_b64)
            .ok()
            .and_then(|p| String::from_utf8(p).ok())
            .ok_or_else(|| Fault::bad("InvalidPolicyDocument", "policy is not base64 text"))?
    };
    let policy: Value = serde_json::from_str(&policy_text)
        .map_err(|_| Fault::bad("InvalidPolicyDocument", "policy is not JSON"))?;

    // The signature, with the key the form names.
    if field("q-sign-algorithm") != Some("sha1") {
        return Err(Fault::denied("q-sign-algorithm must be sha1"));
    }
    let key_time_text = field("q-key-time").unwrap_or_default();
    let key_time = key_time_text
        .split_once(';')
        .and_then(|(s, e)| {
            Some(v5::KeyTime {
                start: s.parse().ok()?,
                end: e.parse().ok()?,
            })
        })
        .ok_or_else(|| Fault::denied("q-key-time is not start;end"))?;
    let ak = field("q-ak").unwrap_or_default();
    let (credentials, grant) = if ak == cos.root.secret_id {
        (cos.root.clone(), None)
    } else if sts::Issuer::issued(ak) {
        let token = field("x-cos-security-token").ok_or_else(|| {
            Fault::denied("temporary credentials need the x-cos-security-token field")
        })?;
        let grant = cos
            .sts
            .open(ak, token, now)
            .map_err(|why| Fault::new(StatusCode::FORBIDDEN, "InvalidAccessKeyId", why))?;
        (Credentials::new(ak, cos.sts.secret_key(ak)), Some(grant))
    } else {
        return Err(Fault::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "the SecretId is neither the bucket's nor one the local STS issued",
        ));
    };
    let expected = v5::sign_post_policy(&credentials, key_time, &policy_text).signature;
    if !same(&expected, field("q-signature").unwrap_or_default()) {
        return Err(Fault::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The policy's signature does not match what we calculated",
        ));
    }
    let expiration = policy["expiration"]
        .as_str()
        .and_then(|e| {
            time::OffsetDateTime::parse(e, &time::format_description::well_known::Rfc3339).ok()
        })
        .ok_or_else(|| Fault::bad("InvalidPolicyDocument", "expiration is not RFC 3339"))?;
    if expiration.unix_timestamp() < now as i64 || key_time.end < now {
        return Err(Fault::denied(
            "Invalid according to Policy: Policy expired.",
        ));
    }
    if key_time.start > now + super::START_SKEW {
        return Err(Fault::denied("q-key-time starts later"));
    }

    // The key, `${filename}` filled in as COS does.
    let key = field("key")
        .ok_or_else(|| Fault::bad("InvalidArgument", "the form has no key"))?
        .replace("${filename}", &form.file_name);
    if key.is_empty() {
        return Err(Fault::bad("InvalidArgument", "the key is empty"));
    }
    let content_type = field("content-type")
        .map(str::to_string)
        .or(form.file_type.clone())
        .unwrap_or_else(|| "application/octet-stream".into());
    let size = form.file.len() as u64;
    let value_of = |name: &str| -> Option<String> {
        match name.to_ascii_lowercase().as_str() {
            "key" => Some(key.clone()),
            "bucket" => Some(cos.bucket.clone()),
            "content-type" => Some(content_type.clone()),
            "q-sign-time" => Some(key_time_text.to_string()),
            other => field(other).map(str::to_string),
        }
    };
    let conditions = policy["conditions"]
        .as_array()
        .ok_or_else(|| Fault::bad("InvalidPolicyDocument", "conditions is not a list"))?;
    for condition in conditions {
        if !holds(condition, &value_of, size) {
            return Err(Fault::denied(format!(
                "Invalid according to Policy: Policy Condition failed: {condition}"
            )));
        }
    }
    if let Some(grant) = grant {
        let resource = format!("{}{key}", cos.resource);
        if !sts::allows(&grant.policy, "PostObject", &resource, Some(size)) {
            return Err(Fault::denied(format!(
                "the temporary credentials' policy does not allow PostObject on {key}"
            )));
        }
    }
    let forbid = field("x-cos-forbid-overwrite").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if forbid
        && cos
            .disk
            .head(&key)
            .await
            .map_err(super::Fault::internal)?
            .is_some()
    {
        return Err(Fault::new(
            StatusCode::CONFLICT,
            "FileAlreadyExists",
            "an object already exists at this key and x-cos-forbid-overwrite is true",
        ));
    }
    let etag = format!("\"{}\"", super::disk::md5_hex(&form.file));
    let meta = ObjectMeta {
        key: key.clone(),
        content_type,
        size,
        etag: etag.clone(),
        modified: now,
    };
    cos.disk
        .put(&meta, &form.file)
        .await
        .map_err(super::Fault::internal)?;
    tracing::info!(key = %key, bytes = size, "local COS stored an object from a form");
    let status = match field("success_action_status") {
        Some("200") => StatusCode::OK,
        Some("201") => StatusCode::CREATED,
        _ => StatusCode::NO_CONTENT,
    };
    Ok(Response::builder()
        .status(status)
        .header("etag", etag)
        .header("location", format!("/{}", v5::encode_key_path(&key)))
        .body(Body::empty()))
}

/// Whether one policy condition holds.
fn holds(condition: &Value, value_of: &dyn Fn(&str) -> Option<String>, size: u64) -> bool {
    match condition {
        Value::Object(exact) => exact.iter().all(|(name, wanted)| {
            wanted
                .as_str()
                .is_some_and(|w| value_of(name).as_deref() == Some(w))
        }),
        Value::Array(items) => match items.as_slice() {
            [
                Value::String(op),
                Value::String(name),
                Value::String(wanted),
            ] => {
                let Some(name) = name.strip_prefix('$') else {
                    return false;
                };
                let value = value_of(name).unwrap_or_default();
                match op.to_ascii_lowercase().as_str() {
                    "eq" => value == *wanted,
                    "starts-with" => value.starts_with(wanted.as_str()),
                    _ => false,
                }
            }
            [Value::String(op), min, max] if op == "content-length-range" => {
                match (min.as_u64(), max.as_u64()) {
                    (Some(min), Some(max)) => (min..=max).contains(&size),
                    _ => false,
                }
            }
            _ => false,
        },
        _ => false,
    }
}

async fn read_form(req: &Request, body: bytes::Bytes) -> Result<Form, Fault> {
    let malformed = |why: String| Fault::bad("MalformedPOSTRequest", why);
    let mut from = RequestBody::new(Body::from(body));
    let mut multipart = Multipart::from_request(req, &mut from)
        .await
        .map_err(|e| malformed(format!("the body is not multipart/form-data: {e}")))?;
    let mut form = Form {
        fields: HashMap::new(),
        file: Vec::new(),
        file_name: String::new(),
        file_type: None,
    };
    let mut has_file = false;
    while let Some(part) = multipart
        .next_field()
        .await
        .map_err(|e| malformed(e.to_string()))?
    {
        let name = part.name().unwrap_or_default().to_ascii_lowercase();
        if name == "file" {
            form.file_name = part.file_name().unwrap_or_default().to_string();
            form.file_type = part.content_type().map(str::to_string);
            form.file = part.bytes().await.map_err(|e| malformed(e.to_string()))?;
            has_file = true;
            // COS ignores what follows the file.
            break;
        }
        let value = part.text().await.map_err(|e| malformed(e.to_string()))?;
        form.fields.insert(name, value);
    }
    if !has_file {
        return Err(malformed("the form has no file field".into()));
    }
    Ok(form)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn conditions_hold_only_as_written() {
        let value_of = |name: &str| match name {
            "key" => Some("uploads/a/x.png".to_string()),
            "Content-Type" | "content-type" => Some("image/png".to_string()),
            _ => None,
        };
        assert!(holds(&json!({"key": "uploads/a/x.png"}), &value_of, 1));
        assert!(!holds(&json!({"key": "uploads/a/y.png"}), &value_of, 1));
        assert!(holds(
            &json!(["starts-with", "$key", "uploads/a/"]),
            &value_of,
            1
        ));
        assert!(!holds(
            &json!(["starts-with", "$key", "uploads/b/"]),
            &value_of,
            1
        ));
        assert!(holds(
            &json!(["starts-with", "$Content-Type", "image/"]),
            &value_of,
            1
        ));
        assert!(holds(
            &json!(["content-length-range", 0, 10]),
            &value_of,
            10
        ));
        assert!(!holds(
            &json!(["content-length-range", 0, 10]),
            &value_of,
            11
        ));
        assert!(!holds(&json!(["not-a-rule", "$key", "x"]), &value_of, 1));
        assert!(!holds(&json!({"x-unknown": "v"}), &value_of, 1));
    }
}
