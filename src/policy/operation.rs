//! Which COS operation a request to sign is, named as Tencent's CAM names
//! it, and which operations cosgate signs at all.
//!
//! cosgate holds the root key, so a signature is a capability: it signs a
//! request only when the request is exactly one of the operations an upload
//! client needs. [`classify`] derives that operation from the method, the
//! query parameter names and the header names; everything else (every other
//! sub-resource, copies, ACLs, tags) is refused with the reason. The same
//! [`CosAction`] list drives the STS policy, so both kinds of credential
//! grant the same operations. No HTTP, no crypto.
//!
//! The table, checked against Tencent's COS API list (object operations):
//!
//! | method | sub-resource in the query   | action                    |
//! |--------|-----------------------------|---------------------------|
//! | PUT    | none                        | `PutObject`               |
//! | PUT    | `partNumber` + `uploadId`   | `UploadPart`              |
//! | POST   | none                        | `PostObject`              |
//! | POST   | `uploads`                   | `InitiateMultipartUpload` |
//! | POST   | `uploadId`                  | `CompleteMultipartUpload` |
//! | DELETE | `uploadId`                  | `AbortMultipartUpload`    |
//! | DELETE | none                        | `DeleteObject`            |
//! | GET    | `uploadId`                  | `ListParts`               |
//! | GET    | `uploads` (bucket, `prefix`)| `ListMultipartUploads`    |
//! | GET    | none (`response-*`, `versionId` allowed) | `GetObject`  |
//! | HEAD   | none (`versionId` allowed)  | `HeadObject`              |
//! | OPTIONS| none                        | `OptionsObject`           |
//!
//! A PUT with `x-cos-copy-source` is PutObjectCopy or UploadPartCopy, which
//! read any object the key can read: refused. So are `x-cos-acl`,
//! `x-cos-grant-*` (PutObjectACL's power) and `x-cos-tagging`.

use std::{collections::BTreeSet, fmt};

/// The object operations cosgate can sign, by their CAM action names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CosAction {
    PutObject,
    PostObject,
    InitiateMultipartUpload,
    UploadPart,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    ListMultipartUploads,
    GetObject,
    HeadObject,
    DeleteObject,
    OptionsObject,
}

impl CosAction {
    pub const ALL: [CosAction; 12] = [
        CosAction::PutObject,
        CosAction::PostObject,
        CosAction::InitiateMultipartUpload,
        CosAction::UploadPart,
        CosAction::CompleteMultipartUpload,
        CosAction::AbortMultipartUpload,
        CosAction::ListParts,
        CosAction::ListMultipartUploads,
        CosAction::GetObject,
        CosAction::HeadObject,
        CosAction::DeleteObject,
        CosAction::OptionsObject,
    ];

    /// What cos-js-sdk-v5's `uploadFile` and cos-wx-sdk-v5 use for any file
    /// above the slice size: the setting's `multipart`. The SDKs first list
    /// the bucket's unfinished uploads of the key (to resume one), so
    /// `ListMultipartUploads` is among them, signed only with a `prefix`
    /// inside the caller's directory.
    pub const MULTIPART: [CosAction; 6] = [
        CosAction::InitiateMultipartUpload,
        CosAction::UploadPart,
        CosAction::CompleteMultipartUpload,
        CosAction::AbortMultipartUpload,
        CosAction::ListParts,
        CosAction::ListMultipartUploads,
    ];

    /// The CAM action name, as in `name/cos:PutObject`.
    pub fn name(self) -> &'static str {
        match self {
            CosAction::PutObject => "PutObject",
            CosAction::PostObject => "PostObject",
            CosAction::InitiateMultipartUpload => "InitiateMultipartUpload",
            CosAction::UploadPart => "UploadPart",
            CosAction::CompleteMultipartUpload => "CompleteMultipartUpload",
            CosAction::AbortMultipartUpload => "AbortMultipartUpload",
            CosAction::ListParts => "ListParts",
            CosAction::ListMultipartUploads => "ListMultipartUploads",
            CosAction::GetObject => "GetObject",
            CosAction::HeadObject => "HeadObject",
            CosAction::DeleteObject => "DeleteObject",
            CosAction::OptionsObject => "OptionsObject",
        }
    }

    /// Whether the request carries an object body whose size cosgate binds.
    pub fn uploads_a_body(self) -> bool {
        matches!(self, CosAction::PutObject | CosAction::UploadPart)
    }
}

impl fmt::Display for CosAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The operations cosgate signs: `QCOS_ALLOWED_ACTIONS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedActions(BTreeSet<CosAction>);

impl AllowedActions {
    /// `PutObject,PostObject,multipart,GetObject,HeadObject`: uploads of any
    /// size and reading them back; never deleting.
    pub const DEFAULT: &'static str = "PutObject,PostObject,multipart,GetObject,HeadObject";

    /// Parses a comma-separated list of CAM action names and `multipart`.
    /// An unknown name is an error that names it.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut actions = BTreeSet::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name.eq_ignore_ascii_case("multipart") {
                actions.extend(CosAction::MULTIPART);
                continue;
            }
            let action = CosAction::ALL
                .into_iter()
                .find(|a| a.name().eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    let known: Vec<&str> = CosAction::ALL.iter().map(|a| a.name()).collect();
                    format!(
                        "{name:?} is not an action cosgate signs; use multipart or any of {}",
                        known.join(", ")
                    )
                })?;
            actions.insert(action);
        }
        if actions.is_empty() {
            return Err("names no action".into());
        }
        Ok(Self(actions))
    }

    pub fn contains(&self, action: CosAction) -> bool {
        self.0.contains(&action)
    }

    pub fn iter(&self) -> impl Iterator<Item = CosAction> + '_ {
        self.0.iter().copied()
    }
}

impl Default for AllowedActions {
    fn default() -> Self {
        Self::parse(Self::DEFAULT).expect("the default list parses")
    }
}

/// Why a request is not one cosgate signs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperationRefusal {
    /// Not a method COS object operations use.
    #[error("method must be one of get, head, put, post, delete, options")]
    UnknownMethod,
    /// The same query parameter twice (in any case): COS and cosgate could
    /// disagree on which one counts.
    #[error("query parameter {0:?} is given twice")]
    DuplicateQuery(String),
    /// A sub-resource or parameter that makes the request another operation.
    #[error("the query parameter {0:?} makes this a request cosgate does not sign ({1})")]
    SubResource(String, &'static str),
    /// A header that changes what the operation does.
    #[error("the header {0:?} makes this {1}, which cosgate does not sign")]
    Header(String, &'static str),
    /// A valid operation that is not among `QCOS_ALLOWED_ACTIONS`.
    #[error("{0} is not an operation this server signs")]
    NotAllowed(CosAction),
}

/// Query parameters a request may carry without becoming another
/// operation, by action (lower-cased names).
fn plain_parameter(action: CosAction, name: &str) -> bool {
    match action {
        CosAction::GetObject => name.starts_with("response-") || name == "versionid",
        CosAction::HeadObject => name == "versionid",
        CosAction::ListParts => matches!(
            name,
            "uploadid" | "max-parts" | "part-number-marker" | "encoding-type"
        ),
        CosAction::ListMultipartUploads => matches!(
            name,
            "uploads"
                | "prefix"
                | "delimiter"
                | "encoding-type"
                | "max-uploads"
                | "key-marker"
                | "upload-id-marker"
        ),
        CosAction::UploadPart => matches!(name, "uploadid" | "partnumber"),
        CosAction::InitiateMultipartUpload => name == "uploads",
        CosAction::CompleteMultipartUpload | CosAction::AbortMultipartUpload => name == "uploadid",
        CosAction::PutObject
        | CosAction::PostObject
        | CosAction::DeleteObject
        | CosAction::OptionsObject => false,
    }
}

/// What a sub-resource named in a refused request is, for the message.
fn sub_resource_operation(name: &str) -> &'static str {
    match name {
        "acl" => "an ACL operation",
        "tagging" => "a tagging operation",
        "restore" => "PostObjectRestore",
        "select" => "SelectObjectContent",
        "append" | "position" => "AppendObject",
        "delete" => "DeleteMultipleObjects",
        "symlink" => "a symlink operation",
        "policy" | "cors" | "lifecycle" | "website" | "referer" | "versioning" | "replication"
        | "logging" | "inventory" | "encryption" | "domain" | "origin" | "intelligenttiering"
        | "object-lock" | "retention" => "a bucket configuration",
        "versionid" => "an operation on another version",
        "uploads" => "a multipart operation with the wrong method",
        _ => "an operation outside the allowed list",
    }
}

/// Headers that turn an allowed method into a refused operation; matched on
/// the lower-cased name.
fn header_operation(name: &str) -> Option<&'static str> {
    if name.starts_with("x-cos-copy-source") {
        return Some("PutObjectCopy or UploadPartCopy");
    }
    if name == "x-cos-acl" || name.starts_with("x-cos-grant-") {
        return Some("an ACL change");
    }
    if name == "x-cos-tagging" || name == "x-cos-tagging-directive" {
        return Some("a tagging operation");
    }
    if name == "x-cos-metadata-directive" {
        return Some("PutObjectCopy");
    }
    None
}

/// The operation a request to sign performs, or why cosgate does not sign
/// it. `query` and `headers` are names as the client sent them.
pub fn classify<'a>(
    method: &str,
    query: impl IntoIterator<Item = &'a str>,
    headers: impl IntoIterator<Item = &'a str>,
    allowed: &AllowedActions,
) -> Result<CosAction, OperationRefusal> {
    let mut names = BTreeSet::new();
    for name in query {
        let lower = name.to_ascii_lowercase();
        if !names.insert(lower) {
            return Err(OperationRefusal::DuplicateQuery(name.to_string()));
        }
    }
    for name in headers {
        if let Some(operation) = header_operation(&name.to_ascii_lowercase()) {
            return Err(OperationRefusal::Header(name.to_string(), operation));
        }
    }
    let has = |n: &str| names.contains(n);
    let action = match method.to_ascii_lowercase().as_str() {
        "put" if has("partnumber") || has("uploadid") => CosAction::UploadPart,
        "put" => CosAction::PutObject,
        "post" if has("uploads") => CosAction::InitiateMultipartUpload,
        "post" if has("uploadid") => CosAction::CompleteMultipartUpload,
        "post" => CosAction::PostObject,
        "delete" if has("uploadid") => CosAction::AbortMultipartUpload,
        "delete" => CosAction::DeleteObject,
        "get" if has("uploadid") => CosAction::ListParts,
        "get" if has("uploads") => CosAction::ListMultipartUploads,
        "get" => CosAction::GetObject,
        "head" => CosAction::HeadObject,
        "options" => CosAction::OptionsObject,
        _ => return Err(OperationRefusal::UnknownMethod),
    };
    if let Some(other) = names.iter().find(|n| !plain_parameter(action, n)) {
        return Err(OperationRefusal::SubResource(
            other.clone(),
            sub_resource_operation(other),
        ));
    }
    if action == CosAction::UploadPart && !(has("partnumber") && has("uploadid")) {
        return Err(OperationRefusal::SubResource(
            if has("partnumber") {
                "partNumber"
            } else {
                "uploadId"
            }
            .to_string(),
            "UploadPart, which needs both partNumber and uploadId",
        ));
    }
    if !allowed.contains(action) {
        return Err(OperationRefusal::NotAllowed(action));
    }
    Ok(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> AllowedActions {
        AllowedActions::parse(
            &CosAction::ALL
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(","),
        )
        .unwrap()
    }

    fn op(method: &str, query: &[&str], headers: &[&str]) -> Result<CosAction, OperationRefusal> {
        classify(
            method,
            query.iter().copied(),
            headers.iter().copied(),
            &all(),
        )
    }

    // One test per row of the table in the module documentation.

    #[test]
    fn put_without_sub_resource_is_put_object() {
        assert_eq!(
            op("PUT", &[], &["Content-Length", "x-cos-meta-a"]),
            Ok(CosAction::PutObject)
        );
    }

    #[test]
    fn put_with_part_number_and_upload_id_is_upload_part() {
        assert_eq!(
            op("put", &["partNumber", "uploadId"], &[]),
            Ok(CosAction::UploadPart)
        );
        assert!(matches!(
            op("put", &["partNumber"], &[]),
            Err(OperationRefusal::SubResource(..))
        ));
    }

    #[test]
    fn post_without_sub_resource_is_post_object() {
        assert_eq!(op("post", &[], &[]), Ok(CosAction::PostObject));
    }

    #[test]
    fn post_with_uploads_is_initiate_multipart_upload() {
        assert_eq!(
            op("post", &["uploads"], &[]),
            Ok(CosAction::InitiateMultipartUpload)
        );
    }

    #[test]
    fn post_with_upload_id_is_complete_multipart_upload() {
        assert_eq!(
            op("post", &["uploadId"], &[]),
            Ok(CosAction::CompleteMultipartUpload)
        );
    }

    #[test]
    fn delete_with_upload_id_is_abort_multipart_upload() {
        assert_eq!(
            op("delete", &["uploadId"], &[]),
            Ok(CosAction::AbortMultipartUpload)
        );
    }

    #[test]
    fn delete_without_sub_resource_is_delete_object() {
        assert_eq!(op("DELETE", &[], &[]), Ok(CosAction::DeleteObject));
    }

    #[test]
    fn get_with_upload_id_is_list_parts() {
        assert_eq!(
            op("get", &["uploadId", "max-parts"], &[]),
            Ok(CosAction::ListParts)
        );
    }

    #[test]
    fn get_with_response_parameters_is_get_object() {
        assert_eq!(
            op(
                "get",
                &[
                    "response-content-type",
                    "response-content-disposition",
                    "versionId"
                ],
                &["Range"]
            ),
            Ok(CosAction::GetObject)
        );
    }

    #[test]
    fn get_with_uploads_is_list_multipart_uploads() {
        assert_eq!(
            op("get", &["uploads", "prefix", "max-uploads"], &[]),
            Ok(CosAction::ListMultipartUploads)
        );
    }

    #[test]
    fn head_is_head_object() {
        assert_eq!(op("head", &["versionId"], &[]), Ok(CosAction::HeadObject));
    }

    #[test]
    fn options_is_options_object() {
        assert_eq!(
            op("options", &[], &["Origin"]),
            Ok(CosAction::OptionsObject)
        );
    }

    #[test]
    fn every_other_sub_resource_is_refused_by_name() {
        for (method, name) in [
            ("put", "acl"),
            ("get", "acl"),
            ("put", "tagging"),
            ("delete", "tagging"),
            ("post", "restore"),
            ("post", "select"),
            ("post", "append"),
            ("post", "delete"),
            ("put", "symlink"),
            ("get", "symlink"),
            ("put", "policy"),
            ("put", "cors"),
            ("put", "lifecycle"),
            ("put", "versionId"),
            ("delete", "versionId"),
            ("head", "uploads"),
            ("get", "imageMogr2"),
            ("put", "uploads"),
        ] {
            match op(method, &[name], &[]) {
                Err(OperationRefusal::SubResource(got, _)) => {
                    assert_eq!(got, name.to_ascii_lowercase(), "{method} ?{name}")
                }
                other => panic!("{method} ?{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn copy_acl_and_tagging_headers_are_refused_in_any_case() {
        for header in [
            "x-cos-copy-source",
            "X-Cos-Copy-Source",
            "x-cos-copy-source-range",
            "x-cos-acl",
            "X-COS-GRANT-FULL-CONTROL",
            "x-cos-grant-read",
            "x-cos-tagging",
            "x-cos-metadata-directive",
        ] {
            for method in ["put", "post", "get"] {
                assert!(
                    matches!(
                        op(method, &[], &[header]),
                        Err(OperationRefusal::Header(..))
                    ),
                    "{method} with {header}"
                );
            }
        }
    }

    #[test]
    fn hostile_query_mixes_are_refused() {
        // Upper case does not hide a sub-resource.
        assert!(op("put", &["ACL"], &[]).is_err());
        assert!(op("put", &["Tagging"], &[]).is_err());
        // Duplicated names, in any case.
        assert_eq!(
            op("put", &["partNumber", "uploadId", "UPLOADID"], &[]),
            Err(OperationRefusal::DuplicateQuery("UPLOADID".into()))
        );
        // A sub-resource riding along with an allowed one.
        assert!(op("put", &["partNumber", "uploadId", "acl"], &[]).is_err());
        assert!(op("post", &["uploads", "delete"], &[]).is_err());
        assert!(op("get", &["response-content-type", "acl"], &[]).is_err());
        assert_eq!(op("patch", &[], &[]), Err(OperationRefusal::UnknownMethod));
    }

    #[test]
    fn operations_outside_the_allowed_list_are_refused_and_named() {
        let allowed = AllowedActions::default();
        let classify = |m: &str, q: &[&str]| classify(m, q.iter().copied(), [], &allowed);
        assert_eq!(
            classify("delete", &[]),
            Err(OperationRefusal::NotAllowed(CosAction::DeleteObject))
        );
        assert_eq!(
            classify("options", &[]),
            Err(OperationRefusal::NotAllowed(CosAction::OptionsObject))
        );
        assert_eq!(classify("put", &[]), Ok(CosAction::PutObject));
        assert_eq!(
            classify("put", &["partNumber", "uploadId"]),
            Ok(CosAction::UploadPart)
        );
        assert_eq!(
            OperationRefusal::NotAllowed(CosAction::DeleteObject).to_string(),
            "DeleteObject is not an operation this server signs"
        );
    }

    #[test]
    fn the_allowed_list_parses_names_and_the_multipart_group() {
        let default = AllowedActions::default();
        let names: Vec<&str> = default.iter().map(CosAction::name).collect();
        assert_eq!(
            names,
            [
                "PutObject",
                "PostObject",
                "InitiateMultipartUpload",
                "UploadPart",
                "CompleteMultipartUpload",
                "AbortMultipartUpload",
                "ListParts",
                "ListMultipartUploads",
                "GetObject",
                "HeadObject"
            ]
        );
        assert!(!default.contains(CosAction::DeleteObject));
        let err = AllowedActions::parse("PutObject,PutObjectCopy").unwrap_err();
        assert!(
            err.starts_with("\"PutObjectCopy\" is not an action"),
            "{err}"
        );
        assert!(AllowedActions::parse(" , ").is_err());
    }

    /// A seeded loop over random mixes of methods, sub-resources and headers:
    /// whatever the mix, a signed operation is one of the allowed ones, it
    /// carries no refused header, and every query name is one that action
    /// allows.
    #[test]
    fn random_mixes_never_yield_an_operation_outside_the_allowed_set() {
        const METHODS: &[&str] = &[
            "get", "HEAD", "put", "Post", "delete", "options", "patch", "copy",
        ];
        const QUERY: &[&str] = &[
            "acl",
            "ACL",
            "tagging",
            "restore",
            "select",
            "append",
            "position",
            "delete",
            "symlink",
            "policy",
            "cors",
            "lifecycle",
            "versionId",
            "uploads",
            "uploadId",
            "UploadId",
            "partNumber",
            "response-content-type",
            "max-parts",
            "imageMogr2",
            "x-cos-security-token",
            "",
        ];
        const HEADERS: &[&str] = &[
            "content-length",
            "Content-Type",
            "x-cos-copy-source",
            "X-Cos-Copy-Source",
            "x-cos-acl",
            "x-cos-grant-read",
            "x-cos-tagging",
            "x-cos-meta-a",
            "Pic-Operations",
            "host",
            "x-cos-storage-class",
        ];
        let allowed = AllowedActions::default();
        // xorshift64*: reproducible without a dependency.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |bound: usize| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound as u64) as usize
        };
        let mut signed = 0;
        for _ in 0..20_000 {
            let method = METHODS[next(METHODS.len())];
            let query: Vec<&str> = (0..next(4)).map(|_| QUERY[next(QUERY.len())]).collect();
            let headers: Vec<&str> = (0..next(4)).map(|_| HEADERS[next(HEADERS.len())]).collect();
            let Ok(action) = classify(
                method,
                query.iter().copied(),
                headers.iter().copied(),
                &allowed,
            ) else {
                continue;
            };
            signed += 1;
            assert!(allowed.contains(action), "{method} {query:?} {headers:?}");
            for h in &headers {
                assert!(header_operation(&h.to_ascii_lowercase()).is_none(), "{h}");
            }
            for q in &query {
                assert!(
                    plain_parameter(action, &q.to_ascii_lowercase()),
                    "{method} {query:?} gave {action}"
                );
            }
        }
        assert!(
            signed > 1000,
            "the loop also exercises allowed requests ({signed})"
        );
    }
}
