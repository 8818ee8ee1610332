//! The one place that decides what cosgate signs for whom. The signing
//! service ([`crate::signing`]) asks [`SigningPolicy`] first and signs only
//! the [`Grant`] it gets back: the operation, the key, the bytes the
//! signature allows (which the quota counts), and exactly the method, header
//! and query pairs that go into the signature, the bucket's host among them.

use std::collections::BTreeMap;

use super::operation::{AllowedActions, CosAction, OperationRefusal, classify};
use crate::{
    paths::{CosDir, ObjectKey, PathError, ScopeError, UploadScope},
    signer::v5::HeaderRule,
};

/// COS's own limit on the parts of one multipart upload.
pub const MAX_PART_NUMBER: u64 = 10_000;
/// The most headers or query parameters one request may ask to sign.
const MAX_PAIRS: usize = 64;
/// The longest header or query name cosgate signs.
const MAX_NAME_BYTES: usize = 256;
/// The longest header or query value cosgate signs.
const MAX_VALUE_BYTES: usize = 8 * 1024;

/// The limits of what cosgate signs, from the settings.
#[derive(Debug, Clone)]
pub struct SigningPolicy {
    pub scope: UploadScope,
    pub allowed: AllowedActions,
    /// The largest body one signature allows (`QCOS_MAX_UPLOAD_BYTES`).
    pub max_upload_bytes: u64,
    /// `QCOS_ALLOW_PIC_OPERATIONS`: sign `Pic-Operations` whose results all
    /// land in the caller's directory.
    pub allow_pic_operations: bool,
    /// The bucket's `Host`, signed into every v5 signature in place of any
    /// host the client named: without it a signature would work in every
    /// bucket of the account.
    pub host: String,
}

/// A request as the SDKs' `getAuthorization` describes it.
#[derive(Debug, Clone, Copy)]
pub struct RequestToSign<'a> {
    pub method: &'a str,
    pub key: &'a str,
    pub query: &'a BTreeMap<String, String>,
    pub headers: &'a BTreeMap<String, String>,
}

/// What the policy allows one signature to do, and exactly what it signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub action: CosAction,
    pub key: ObjectKey,
    /// The body size the signature binds (`Content-Length`, signed), for
    /// the operations that upload one; counted against the daily quota.
    pub content_length: Option<u64>,
    /// The HTTP method, lower-cased as v5 signs it.
    pub method: String,
    /// The headers signed: those cos-js-sdk-v5 and cos-wx-sdk-v5 sign
    /// ([`HeaderRule::JsSdk`], `Content-Length` among them, so the size is
    /// bound), never an empty one, and always the bucket's `host`.
    pub headers: Vec<(String, String)>,
    /// The query parameters signed: all the client named.
    pub query: Vec<(String, String)>,
}

impl Grant {
    /// The path the signed request goes to: the object's, or the bucket's
    /// root for `ListMultipartUploads` (whose key is the listing's prefix).
    pub fn path(&self) -> String {
        match self.action {
            CosAction::ListMultipartUploads => "/".to_string(),
            _ => self.key.path(),
        }
    }
}

/// Why the policy refuses to sign. `Display` is safe to send to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("key: {0}")]
    InvalidKey(PathError),
    #[error(transparent)]
    OutsideScope(#[from] ScopeError),
    #[error(transparent)]
    Operation(#[from] OperationRefusal),
    #[error("{0} needs a Content-Length header: its size is part of what is signed")]
    MissingContentLength(CosAction),
    #[error("Content-Length must be a decimal number of bytes")]
    BadContentLength,
    #[error("{size} bytes is more than the {max} bytes one upload may have")]
    TooLarge { size: u64, max: u64 },
    #[error("partNumber must be a number from 1 to {MAX_PART_NUMBER}")]
    BadPartNumber,
    #[error("Pic-Operations: {0}")]
    PicOperations(String),
    /// A part of no bytes: with an unsigned `x-cos-copy-source` it would be
    /// Upload Part - Copy, storage growth with nothing counted.
    #[error("an UploadPart of 0 bytes is not signed")]
    EmptyPart,
    /// A header signature for POST Object binds neither key nor size.
    #[error(
        "cosgate does not sign a header signature for POST Object (`POST /`): it would bind neither the key nor the size. With cos-wx-sdk-v5 set SimpleUploadMethod: 'putObject' (small files then go as PUT, whose size is signed); browser forms use /v1/qc_cos/post_policy"
    )]
    FormPost,
    /// The request names another host than the bucket's.
    #[error(
        "Host {asked:?} is not the bucket's host: cosgate signs for {signs_for} (QCOS_ENDPOINT); point the SDK's Domain there"
    )]
    WrongHost { asked: String, signs_for: String },
    /// A download asked to be served as a page or a script.
    #[error(
        "response-content-type {0:?} would have the bucket serve the file as active content (a page or a script); ask for a passive type or none"
    )]
    ActiveContent(String),
    /// Too many, empty, over-long or repeated header or query names.
    #[error("{0}")]
    BadPairs(String),
}

impl SigningPolicy {
    /// A request to sign for `account`: one allowed operation, on a key of
    /// its own, with its size bound when it uploads a body.
    pub fn request(&self, account: &str, req: RequestToSign<'_>) -> Result<Grant, Refusal> {
        checked_pairs("headers", req.headers)?;
        checked_pairs("query", req.query)?;
        let action = classify(
            req.method,
            req.query.keys().map(String::as_str),
            req.headers.keys().map(String::as_str),
            &self.allowed,
        )?;
        if action == CosAction::PostObject {
            return Err(Refusal::FormPost);
        }
        let key = if action == CosAction::ListMultipartUploads {
            self.listing_prefix(account, req)?
        } else {
            self.key(account, req.key)?
        };
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        if let Some(asked) = header("host")
            && !asked.eq_ignore_ascii_case(&self.host)
        {
            return Err(Refusal::WrongHost {
                asked: asked.to_string(),
                signs_for: self.host.clone(),
            });
        }
        let content_length = if action.uploads_a_body() {
            let raw = header("content-length").ok_or(Refusal::MissingContentLength(action))?;
            Some(self.body_size(raw)?)
        } else {
            None
        };
        if action == CosAction::UploadPart && content_length == Some(0) {
            return Err(Refusal::EmptyPart);
        }
        if action == CosAction::UploadPart {
            let part = req
                .query
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("partnumber"))
                .map(|(_, v)| v.as_str());
            if !part.is_some_and(valid_part_number) {
                return Err(Refusal::BadPartNumber);
            }
        }
        if action == CosAction::GetObject
            && let Some((_, asked)) = req
                .query
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("response-content-type"))
            && super::media::is_active(asked)
        {
            return Err(Refusal::ActiveContent(asked.clone()));
        }
        if let Some(operations) = header("pic-operations") {
            self.pic_operations(account, &key, operations)?;
        }
        let headers = req
            .headers
            .iter()
            .filter(|(name, value)| !value.is_empty() && !name.eq_ignore_ascii_case("host"))
            .filter(|(name, _)| HeaderRule::JsSdk.signs(name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .chain([("host".to_string(), self.host.clone())])
            .collect();
        Ok(Grant {
            action,
            key,
            content_length,
            method: req.method.to_ascii_lowercase(),
            headers,
            query: req
                .query
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    /// A presigned URL: GET, or PUT of exactly `content_length` bytes.
    pub fn presigned(
        &self,
        account: &str,
        method: &str,
        key: &str,
        content_length: Option<i64>,
    ) -> Result<Grant, Refusal> {
        let length_header = content_length.map(|_| "content-length");
        let action = classify(method, [], length_header, &self.allowed)?;
        let key = self.key(account, key)?;
        let signed_length = if action.uploads_a_body() {
            let n = content_length.ok_or(Refusal::MissingContentLength(action))?;
            let n = u64::try_from(n).map_err(|_| Refusal::BadContentLength)?;
            Some(self.within_limit(n)?)
        } else {
            None
        };
        let headers = content_length
            .map(|n| ("content-length".to_string(), n.to_string()))
            .into_iter()
            .chain([("host".to_string(), self.host.clone())])
            .collect();
        Ok(Grant {
            action,
            key,
            content_length: signed_length,
            method: method.to_ascii_lowercase(),
            headers,
            query: Vec::new(),
        })
    }

    /// The directory a POST Object form may write below (the one asked for,
    /// or all the caller may sign) and the largest file it allows.
    pub fn post_policy(
        &self,
        account: &str,
        requested: Option<&CosDir>,
        max_size: Option<u64>,
    ) -> Result<(CosDir, u64), Refusal> {
        if !self.allowed.contains(CosAction::PostObject) {
            return Err(OperationRefusal::NotAllowed(CosAction::PostObject).into());
        }
        let dir = self.scope.prefix_dir(account, requested)?;
        Ok((dir, self.max_size(max_size)))
    }

    /// An exact key a POST Object form may write, and the largest file.
    pub fn post_policy_key(
        &self,
        account: &str,
        key: &str,
        max_size: Option<u64>,
    ) -> Result<(ObjectKey, u64), Refusal> {
        if !self.allowed.contains(CosAction::PostObject) {
            return Err(OperationRefusal::NotAllowed(CosAction::PostObject).into());
        }
        Ok((self.key(account, key)?, self.max_size(max_size)))
    }

    /// A v4 directory signature (the 2017 API): uploads of any file below
    /// `dir`, which COS's v4 cannot bind to a size; counted as one upload of
    /// the largest size.
    pub fn directory(&self, account: &str, dir: &CosDir) -> Result<u64, Refusal> {
        if !self.allowed.contains(CosAction::PutObject) {
            return Err(OperationRefusal::NotAllowed(CosAction::PutObject).into());
        }
        self.scope.check(account, dir)?;
        Ok(self.max_upload_bytes)
    }

    /// `ListMultipartUploads` is a bucket request (key `""`); its signed
    /// `prefix` must name a key inside the caller's directory, so COS lists
    /// only the caller's own unfinished uploads. The grant's key is that
    /// prefix.
    fn listing_prefix(&self, account: &str, req: RequestToSign<'_>) -> Result<ObjectKey, Refusal> {
        if !req.key.trim_start_matches('/').is_empty() {
            return Err(OperationRefusal::SubResource(
                "uploads".into(),
                "ListMultipartUploads, which is a request on the bucket, not on a key",
            )
            .into());
        }
        let prefix = req
            .query
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("prefix"))
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        self.key(account, prefix)
    }

    fn key(&self, account: &str, raw: &str) -> Result<ObjectKey, Refusal> {
        let key = ObjectKey::parse(raw).map_err(Refusal::InvalidKey)?;
        self.scope.check_key(account, &key)?;
        Ok(key)
    }

    fn max_size(&self, asked: Option<u64>) -> u64 {
        asked.map_or(self.max_upload_bytes, |n| n.min(self.max_upload_bytes))
    }

    /// A decimal `Content-Length` within the limit. `-1`, `+5`, ` 5`,
    /// `0x10` and `lots` are not sizes.
    fn body_size(&self, raw: &str) -> Result<u64, Refusal> {
        let size = (!raw.is_empty() && raw.len() <= 19 && raw.bytes().all(|b| b.is_ascii_digit()))
            .then(|| raw.parse::<u64>().ok())
            .flatten()
            .ok_or(Refusal::BadContentLength)?;
        self.within_limit(size)
    }

    /// `size`, if one upload may have it.
    fn within_limit(&self, size: u64) -> Result<u64, Refusal> {
        if size > self.max_upload_bytes {
            return Err(Refusal::TooLarge {
                size,
                max: self.max_upload_bytes,
            });
        }
        Ok(size)
    }

    /// `Pic-Operations` makes Cloud Infinite write results to the keys its
    /// rules name: allowed only when configured, and only into the caller's
    /// own directory. Relative `fileid`s resolve against the object's
    /// directory, as Tencent documents; absolute ones against the bucket.
    fn pic_operations(&self, account: &str, key: &ObjectKey, json: &str) -> Result<(), Refusal> {
        let refuse = |why: &str| Err(Refusal::PicOperations(why.to_string()));
        if !self.allow_pic_operations {
            return refuse("image processing on upload is not enabled on this server");
        }
        let Ok(serde_json::Value::Object(top)) = serde_json::from_str::<serde_json::Value>(json)
        else {
            return refuse("not a JSON object");
        };
        if let Some(other) = top.keys().find(|k| *k != "is_pic_info" && *k != "rules") {
            return refuse(&format!("unknown field {other:?}"));
        }
        let Some(serde_json::Value::Array(rules)) = top.get("rules") else {
            return refuse("rules must be a list");
        };
        if rules.is_empty() || rules.len() > 5 {
            return refuse("one to five rules");
        }
        let dir = key.as_str().rsplit_once('/').map_or("", |(dir, _)| dir);
        for rule in rules {
            let Some(rule) = rule.as_object() else {
                return refuse("each rule must be an object");
            };
            if let Some(other) = rule.keys().find(|k| *k != "fileid" && *k != "rule") {
                return refuse(&format!(
                    "rules may have only fileid and rule, not {other:?}"
                ));
            }
            let Some(fileid) = rule.get("fileid").and_then(|v| v.as_str()) else {
                return refuse("each rule needs a fileid string");
            };
            let target = match fileid.strip_prefix('/') {
                Some(absolute) => absolute.to_string(),
                None if dir.is_empty() => fileid.to_string(),
                None => format!("{dir}/{fileid}"),
            };
            let target = ObjectKey::parse(&target)
                .map_err(|e| Refusal::PicOperations(format!("fileid {fileid:?}: {e}")))?;
            if self.scope.check_key(account, &target).is_err() {
                return refuse(&format!(
                    "fileid {fileid:?} would write outside your directory"
                ));
            }
        }
        Ok(())
    }
}

/// At most [`MAX_PAIRS`] names, none empty or too long, and no header given
/// twice (in any case: COS would see one name, cosgate two; [`classify`]
/// refuses a repeated query parameter).
fn checked_pairs(what: &str, pairs: &BTreeMap<String, String>) -> Result<(), Refusal> {
    if pairs.len() > MAX_PAIRS {
        return Err(Refusal::BadPairs(format!("at most {MAX_PAIRS} {what}")));
    }
    let bad = pairs
        .iter()
        .find(|(k, v)| k.is_empty() || k.len() > MAX_NAME_BYTES || v.len() > MAX_VALUE_BYTES);
    if let Some((name, _)) = bad {
        return Err(Refusal::BadPairs(format!(
            "{what}: {name:?} is empty or too long"
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    if what == "headers"
        && let Some(name) = pairs.keys().find(|k| !seen.insert(k.to_ascii_lowercase()))
    {
        return Err(Refusal::BadPairs(format!(
            "{what}: {name:?} is given twice"
        )));
    }
    Ok(())
}

fn valid_part_number(raw: &str) -> bool {
    raw.len() <= 5
        && raw.bytes().all(|b| b.is_ascii_digit())
        && raw
            .parse::<u64>()
            .is_ok_and(|n| (1..=MAX_PART_NUMBER).contains(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(pic: bool) -> SigningPolicy {
        SigningPolicy {
            scope: UploadScope {
                root: CosDir::parse("/uploads").unwrap(),
                per_account: true,
            },
            allowed: AllowedActions::default(),
            max_upload_bytes: 1000,
            allow_pic_operations: pic,
            host: "b-1250000000.cos.ap-guangzhou.myqcloud.com".into(),
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sign(
        policy: &SigningPolicy,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Result<Grant, Refusal> {
        let (query, headers) = (map(query), map(headers));
        policy.request(
            "acc1",
            RequestToSign {
                method,
                key,
                query: &query,
                headers: &headers,
            },
        )
    }

    #[test]
    fn uploads_bind_their_content_length() {
        let p = policy(false);
        let grant = sign(
            &p,
            "put",
            "uploads/acc1/a.png",
            &[],
            &[("Content-Length", "1000")],
        )
        .unwrap();
        assert_eq!(grant.content_length, Some(1000));
        assert_eq!(
            sign(&p, "put", "uploads/acc1/a.png", &[], &[]),
            Err(Refusal::MissingContentLength(CosAction::PutObject))
        );
        assert_eq!(
            sign(
                &p,
                "put",
                "uploads/acc1/a.png",
                &[],
                &[("content-length", "1001")]
            ),
            Err(Refusal::TooLarge {
                size: 1001,
                max: 1000
            })
        );
        for bad in [
            "-1",
            "lots",
            "+5",
            " 5",
            "0x10",
            "",
            "5368709120000000000000",
        ] {
            assert_eq!(
                sign(
                    &p,
                    "put",
                    "uploads/acc1/a.png",
                    &[],
                    &[("content-length", bad)]
                ),
                Err(Refusal::BadContentLength),
                "{bad:?}"
            );
        }
        let part = sign(
            &p,
            "put",
            "uploads/acc1/a.png",
            &[("partNumber", "10000"), ("uploadId", "u")],
            &[("Content-Length", "5")],
        )
        .unwrap();
        assert_eq!(
            (part.action, part.content_length),
            (CosAction::UploadPart, Some(5))
        );
        for bad in ["0", "10001", "-1", "x", "99999999"] {
            assert_eq!(
                sign(
                    &p,
                    "put",
                    "uploads/acc1/a.png",
                    &[("partNumber", bad), ("uploadId", "u")],
                    &[("Content-Length", "5")],
                ),
                Err(Refusal::BadPartNumber),
                "{bad}"
            );
        }
        let get = sign(&p, "get", "uploads/acc1/a.png", &[], &[]).unwrap();
        assert_eq!(get.content_length, None);
    }

    #[test]
    fn keys_outside_the_callers_directory_are_refused_before_anything_is_signed() {
        let p = policy(false);
        assert!(matches!(
            sign(&p, "get", "uploads/acc2/a.png", &[], &[]),
            Err(Refusal::OutsideScope(_))
        ));
        assert!(matches!(
            sign(&p, "get", "uploads/acc1/../acc2/a", &[], &[]),
            Err(Refusal::InvalidKey(_))
        ));
    }

    #[test]
    fn pic_operations_are_refused_unless_enabled_and_then_only_inside_the_directory() {
        let ops = |fileid: &str| {
            format!(
                r#"{{"is_pic_info":1,"rules":[{{"fileid":"{fileid}","rule":"imageMogr2/format/png"}}]}}"#
            )
        };
        let headers = |json: &str| {
            vec![("Content-Length", "10"), ("Pic-Operations", json)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let try_with = |p: &SigningPolicy, json: String| {
            let h = headers(&json);
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            sign(p, "put", "uploads/acc1/pics/a.jpg", &[], &h)
        };
        assert!(matches!(
            try_with(&policy(false), ops("b.png")),
            Err(Refusal::PicOperations(_))
        ));
        let p = policy(true);
        assert!(
            try_with(&p, ops("b.png")).is_ok(),
            "relative, next to the object"
        );
        assert!(
            try_with(&p, ops("/uploads/acc1/b.png")).is_ok(),
            "absolute, inside"
        );
        for hostile in [
            ops("/uploads/acc2/b.png"),
            ops("../../acc2/b.png"),
            ops("/b.png"),
            ops("a//b.png"),
            r#"{"rules":[{"fileid":"b.png","rule":"x","bucket":"other-125"}]}"#.to_string(),
            "not json".to_string(),
            r#"{"rules":[]}"#.to_string(),
        ] {
            assert!(
                matches!(
                    try_with(&p, hostile.clone()),
                    Err(Refusal::PicOperations(_))
                ),
                "{hostile}"
            );
        }
    }

    #[test]
    fn listing_unfinished_uploads_needs_a_prefix_inside_the_directory() {
        let p = policy(false);
        let list = |key: &str, prefix: Option<&str>| {
            let mut query = vec![("uploads", "")];
            if let Some(prefix) = prefix {
                query.push(("prefix", prefix));
            }
            sign(&p, "get", key, &query, &[])
        };
        let grant = list("", Some("uploads/acc1/big.bin")).unwrap();
        assert_eq!(grant.action, CosAction::ListMultipartUploads);
        assert!(matches!(list("", None), Err(Refusal::InvalidKey(_))));
        assert!(list("", Some("uploads/")).is_err());
        assert!(matches!(
            list("", Some("uploads")),
            Err(Refusal::OutsideScope(_))
        ));
        assert!(matches!(
            list("", Some("uploads/acc2/x")),
            Err(Refusal::OutsideScope(_))
        ));
        assert!(matches!(
            list("uploads/acc1/big.bin", Some("uploads/acc1/big.bin")),
            Err(Refusal::Operation(_))
        ));
    }

    #[test]
    fn presigned_put_needs_its_size_and_get_does_not() {
        let p = policy(false);
        assert_eq!(
            p.presigned("acc1", "put", "uploads/acc1/a", None),
            Err(Refusal::MissingContentLength(CosAction::PutObject))
        );
        assert_eq!(
            p.presigned("acc1", "put", "uploads/acc1/a", Some(7))
                .unwrap()
                .content_length,
            Some(7)
        );
        assert_eq!(
            p.presigned("acc1", "put", "uploads/acc1/a", Some(-1)),
            Err(Refusal::BadContentLength)
        );
        assert!(p.presigned("acc1", "get", "uploads/acc1/a", None).is_ok());
    }
}
