//! Why the signing service signed nothing. `Display` is safe to send to the
//! client except for [`SignError::Sts`], [`SignError::Store`] and
//! [`SignError::Internal`], whose reasons go to the log only
//! (`src/api/error.rs` decides).

use crate::{
    paths::{PathError, ScopeError},
    policy::{cam::PolicyError, operation::OperationRefusal, signing::Refusal},
    store::StoreError,
    sts::StsError,
};

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// `RATE_LIMIT_SIGN_PER_MIN` was reached.
    #[error("too many requests; retry after the time in Retry-After")]
    RateLimited { retry_after: u64 },
    /// `QCOS_V4_ENABLED` is off: the 2017 v4 API signs with the root key.
    #[error(
        "v4 signatures are turned off on this server (QCOS_V4_ENABLED); use the v5 operations or upload sessions"
    )]
    V4Disabled,
    /// A byte quota is on, and this grant could not be counted in bytes.
    #[error(
        "{0} cannot be counted against this server's byte quotas; upload through POST /v1/uploads"
    )]
    SessionRequired(&'static str),
    /// The signing policy refused the request.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The directory asked for is not one.
    #[error("cos_path: {0}")]
    InvalidPath(PathError),
    /// The key prefix asked for is not one.
    #[error("key_prefix: {0}")]
    InvalidKeyPrefix(PathError),
    /// The account has no directory of its own, or asked for another's.
    #[error(transparent)]
    OutsideScope(#[from] ScopeError),
    /// A field of the request is out of its range.
    #[error("{0}")]
    InvalidRequest(String),
    /// The daily upload quota would be exceeded.
    #[error("today's upload quota of {limit} bytes would be exceeded; it renews at 00:00 UTC")]
    QuotaExceeded { limit: u64, retry_after: u64 },
    /// No CAM policy can confine credentials to the account's directory.
    #[error(transparent)]
    CamPolicy(#[from] PolicyError),
    #[error(transparent)]
    Sts(#[from] StsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug: something that cannot fail did.
    #[error("{0}")]
    Internal(String),
}

impl From<OperationRefusal> for SignError {
    fn from(refusal: OperationRefusal) -> Self {
        Self::Refused(refusal.into())
    }
}
