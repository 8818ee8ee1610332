//! Operations tagged `Config`: COS signatures for direct uploads.
//!
//! Each handler reads as its steps: parse what the client sent, check the
//! caller may sign it, sign, answer.

use poem_openapi::payload::Json;

use super::{
    ConfigApi, GetQcCosConfigResponse, Handlers, QCOSConfig, error::ApiError, security::Claims,
};
use crate::{
    clock::{random_below, unix_now},
    policy::{CosDir, ScopeError},
    signer::v4,
};

impl ConfigApi for Handlers {
    async fn get_qc_cos_config(
        &self,
        claims: Claims,
        cos_path: Option<String>,
    ) -> GetQcCosConfigResponse {
        let cos = &self.state.settings.cos;
        let dir = match requested_dir(
            &self.state.settings.cos.scope,
            &claims.sub,
            cos_path.as_deref(),
        ) {
            Ok(dir) => dir,
            Err(err) => return err.into(),
        };

        let now = unix_now();
        let request = v4::Request {
            appid: &cos.appid,
            bucket: &cos.bucket,
            cos_path: dir.as_str(),
            kind: v4::Kind::More {
                expired: now + cos.sign_ttl,
            },
            now,
            nonce: random_below(1_000_000_000),
        };
        let sign = v4::sign(&cos.credentials, request);

        GetQcCosConfigResponse::Ok(Json(QCOSConfig {
            sign,
            expired: i64::try_from(request.expired()).unwrap_or(i64::MAX),
            upload_url: format!(
                "https://{}.file.myqcloud.com/files/v2/{}/{}{}",
                cos.region,
                cos.appid,
                cos.bucket,
                v4::encode_path(dir.as_str())
            ),
            cos_path: dir.to_string(),
            bucket: cos.bucket.clone(),
            region: cos.region.clone(),
            appid: cos.appid.clone(),
        }))
    }
}

/// The directory to sign: the one asked for, or the caller's own; refused if
/// malformed (400) or not the caller's to sign (403).
fn requested_dir(
    scope: &crate::policy::UploadScope,
    account: &str,
    requested: Option<&str>,
) -> Result<CosDir, ApiError> {
    // An empty `cos_path=` means the same as none: the 2017 server signed
    // the bucket root for it, which is never what a client wants.
    let dir = match requested.filter(|raw| !raw.is_empty()) {
        None => scope.home(account).map_err(scope_error)?,
        Some(raw) => CosDir::parse(raw)
            .map_err(|e| ApiError::bad_request("invalid_path", format!("cos_path: {e}")))?,
    };
    scope.check(account, &dir).map_err(scope_error)?;
    Ok(dir)
}

fn scope_error(err: ScopeError) -> ApiError {
    ApiError::forbidden("path_not_allowed", err.to_string())
}
