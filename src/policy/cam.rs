//! The CAM policy for an account's STS credentials, built from the server's
//! configuration, never from the client: the allowed actions, on the
//! account's own directory only, with the size limit where COS honours it.
//!
//! ```json
//! {"version":"2.0","statement":[
//!   {"effect":"allow","action":["name/cos:PutObject","name/cos:PostObject"],
//!    "resource":["qcs::cos:<region>:uid/<appid>:<bucket>-<appid>/<dir>/*"],
//!    "condition":{"numeric_less_than_equal":{"cos:content-length":<max>}}},
//!   {"effect":"allow","action":["name/cos:InitiateMultipartUpload", …],
//!    "resource":["qcs::cos:<region>:uid/<appid>:<bucket>-<appid>/<dir>/*"]}]}
//! ```
//!
//! One statement per group of actions, so a condition applies only where
//! COS evaluates it: `cos:content-length` on PutObject and PostObject, never
//! on UploadPart or CompleteMultipartUpload, whose requests it would refuse
//! (which is what breaks Tencent's own demo for multipart uploads).

use serde::Serialize;

use super::operation::CosAction;
use crate::paths::CosDir;

/// Where the credentials may act.
#[derive(Debug, Clone, Copy)]
pub struct Bucket<'a> {
    pub region: &'a str,
    pub appid: &'a str,
    /// The bare name, without `-appid`.
    pub name: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub version: &'static str,
    pub statement: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    pub effect: &'static str,
    pub action: Vec<String>,
    pub resource: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    pub numeric_less_than_equal: SizeLimit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SizeLimit {
    #[serde(rename = "cos:content-length")]
    pub content_length: u64,
}

/// Why no policy can be made for an account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// CAM resources treat `*` (and more) specially; an account id that is
    /// not plain letters, digits, `_` and `-` could widen the resource.
    #[error("the account id cannot name a CAM resource")]
    UnusableAccountId,
    #[error("no action to grant")]
    NoActions,
}

/// The policy granting `actions` on `dir` (the account's directory) of
/// `bucket`, uploads limited to `max_upload_bytes`.
pub fn policy(
    bucket: Bucket<'_>,
    dir: &CosDir,
    actions: &[CosAction],
    max_upload_bytes: u64,
) -> Result<Policy, PolicyError> {
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let segments: Vec<&str> = dir.as_str().split('/').filter(|s| !s.is_empty()).collect();
    if !segments.iter().all(|s| plain(s)) {
        return Err(PolicyError::UnusableAccountId);
    }
    let prefix = dir.key_prefix();
    let resource = format!(
        "qcs::cos:{}:uid/{}:{}-{}/{prefix}*",
        bucket.region, bucket.appid, bucket.name, bucket.appid
    );
    let names = |filter: &dyn Fn(CosAction) -> bool| -> Vec<String> {
        actions
            .iter()
            .copied()
            .filter(|a| filter(*a))
            .map(|a| format!("name/cos:{}", a.name()))
            .collect()
    };
    let sized = |a: CosAction| matches!(a, CosAction::PutObject | CosAction::PostObject);
    let statement: Vec<Statement> = [
        (
            names(&sized),
            Some(Condition {
                numeric_less_than_equal: SizeLimit {
                    content_length: max_upload_bytes,
                },
            }),
        ),
        (names(&|a| !sized(a)), None),
    ]
    .into_iter()
    .filter(|(action, _)| !action.is_empty())
    .map(|(action, condition)| Statement {
        effect: "allow",
        action,
        resource: vec![resource.clone()],
        condition,
    })
    .collect();
    if statement.is_empty() {
        return Err(PolicyError::NoActions);
    }
    Ok(Policy {
        version: "2.0",
        statement,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{paths::UploadScope, policy::operation::AllowedActions};

    const BUCKET: Bucket<'static> = Bucket {
        region: "ap-guangzhou",
        appid: "1250000000",
        name: "examplebucket",
    };

    fn scope() -> UploadScope {
        UploadScope {
            root: CosDir::parse("/uploads").unwrap(),
            per_account: true,
        }
    }

    fn json(actions: &[CosAction], account: &str) -> String {
        let dir = scope().allowed(account).unwrap();
        serde_json::to_string(&policy(BUCKET, &dir, actions, 1000).unwrap()).unwrap()
    }

    #[test]
    fn uploads_get_the_size_condition_and_everything_else_none() {
        let actions: Vec<CosAction> = AllowedActions::default().iter().collect();
        assert_eq!(
            json(&actions, "acc1"),
            concat!(
                r#"{"version":"2.0","statement":["#,
                r#"{"effect":"allow","action":["name/cos:PutObject","name/cos:PostObject"],"#,
                r#""resource":["qcs::cos:ap-guangzhou:uid/1250000000:examplebucket-1250000000/uploads/acc1/*"],"#,
                r#""condition":{"numeric_less_than_equal":{"cos:content-length":1000}}},"#,
                r#"{"effect":"allow","action":["name/cos:InitiateMultipartUpload","name/cos:UploadPart","#,
                r#""name/cos:CompleteMultipartUpload","name/cos:AbortMultipartUpload","name/cos:ListParts","#,
                r#""name/cos:ListMultipartUploads","name/cos:GetObject","name/cos:HeadObject"],"#,
                r#""resource":["qcs::cos:ap-guangzhou:uid/1250000000:examplebucket-1250000000/uploads/acc1/*"]}]}"#
            )
        );
    }

    #[test]
    fn a_subset_of_actions_gives_only_their_statements() {
        let only_put = json(&[CosAction::PutObject], "acc1");
        assert!(only_put.contains("numeric_less_than_equal"));
        assert!(!only_put.contains("GetObject"));
        let only_reads = json(&[CosAction::GetObject, CosAction::HeadObject], "acc1");
        assert!(!only_reads.contains("condition"), "{only_reads}");
        let dir = scope().allowed("acc1").unwrap();
        assert_eq!(policy(BUCKET, &dir, &[], 1), Err(PolicyError::NoActions));
    }

    #[test]
    fn hostile_account_ids_never_widen_the_resource() {
        let actions = [CosAction::PutObject];
        for hostile in [
            "*",
            "acc1*",
            "acc*1",
            "a,b",
            "acc1 ",
            "..",
            "acc1/*",
            "acc1/../acc2",
            "",
            "ａcc1",
        ] {
            let Ok(dir) = scope().allowed(hostile) else {
                continue; // the scope itself refuses it
            };
            assert_eq!(
                policy(BUCKET, &dir, &actions, 1),
                Err(PolicyError::UnusableAccountId),
                "{hostile:?}"
            );
        }
        // A policy names its own account's prefix and no other.
        let mine = json(&actions, "acc1");
        assert!(mine.contains("/uploads/acc1/*\""));
        assert_eq!(mine.matches("qcs::cos").count(), 1);
        assert!(!mine.contains("acc10") && !mine.contains("uploads/*"));
    }
}
