//! Why an upload session operation did nothing. `Display` is safe to send
//! to the client except for [`UploadError::Cos`], [`UploadError::Store`]
//! and [`UploadError::Internal`], whose reasons go to the log only
//! (`src/api/error.rs` decides).

use crate::{cos_client::CosError, signing::SignError, store::StoreError};

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{content_type:?} is not a type the {profile} profile accepts")]
    UnsupportedMediaType {
        content_type: String,
        profile: String,
    },
    #[error("{size} bytes is more than the {max} bytes this profile allows")]
    TooLarge { size: u64, max: u64 },
    #[error("today's upload quota of {limit} bytes would be exceeded; it renews at 00:00 UTC")]
    DailyQuota { limit: u64, retry_after: u64 },
    #[error("the {limit} bytes this account may store would be exceeded; delete some uploads")]
    StorageQuota { limit: u64 },
    #[error("no such upload")]
    NotFound,
    /// An SDK asked to sign something that is not this session's upload.
    #[error("{0}")]
    NotThisSession(String),
    #[error("{0}")]
    Incomplete(String),
    #[error("the upload did not match what was declared, and was deleted: {0}")]
    Mismatch(String),
    #[error("the upload session expired; start a new one")]
    Expired,
    /// Rate limits, and the signer's own failures (STS in STS mode).
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    Cos(#[from] CosError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}
