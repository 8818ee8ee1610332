//! Operations tagged `Cos`: COS signatures for direct uploads.
//!
//! Translation only: each handler turns the request into a call on the
//! signing service ([`crate::signing`]), which decides and signs, and its
//! answer into the response; `?` maps its errors (`src/api/error.rs`). The
//! request to sign comes in two spellings (the documented one and the SDKs'
//! `getAuthorization` options), read into one by [`SdkRequest`].

use std::collections::BTreeMap;

use secrecy::ExposeSecret;

use super::{
    CosApi, CosAuthorization, CosCredentials, CosRequestToSign, CredentialsRequest, Handlers,
    PostPolicy, PostPolicyRequest, PresignRequest, PresignedUrl, QCOSConfig, error::ApiError,
    json::StringOrInteger, security::Claims,
};
use crate::{clock::unix_now, policy::signing::RequestToSign, signing::PostPolicyAsk};

impl CosApi for Handlers {
    async fn get_qc_cos_config(
        &self,
        claims: Claims,
        cos_path: Option<String>,
    ) -> Result<QCOSConfig, ApiError> {
        let signing = &self.state.signing;
        let signed = signing
            .v4_directory(&claims.sub, cos_path.as_deref(), unix_now())
            .await?;
        let cos = &self.state.settings.cos;
        Ok(QCOSConfig {
            sign: signed.sign,
            expired: signed.expired as i64,
            upload_url: signed.upload_url,
            cos_path: signed.dir.to_string(),
            bucket: cos.bucket.clone(),
            region: cos.region.clone(),
            appid: cos.appid.clone(),
        })
    }

    async fn sign_cos_request(
        &self,
        claims: Claims,
        body: CosRequestToSign,
    ) -> Result<CosAuthorization, ApiError> {
        let cos = &self.state.settings.cos;
        let asked = SdkRequest::read(body, &cos.bucket_with_appid(), &cos.region)?;
        let signed = self
            .state
            .signing
            .sign_request(&claims.sub, asked.as_request(), asked.sign_host, unix_now())
            .await?;
        Ok(authorization(signed))
    }

    async fn create_presigned_url(
        &self,
        claims: Claims,
        body: PresignRequest,
    ) -> Result<PresignedUrl, ApiError> {
        let presigned = self
            .state
            .signing
            .presign(
                &claims.sub,
                body.method.as_str(),
                &body.key,
                body.content_length,
                body.expires_in,
                unix_now(),
            )
            .await?;
        Ok(PresignedUrl {
            url: presigned.url,
            start_time: presigned.key_time.start as i64,
            expired_time: presigned.key_time.end as i64,
        })
    }

    async fn create_post_policy(
        &self,
        claims: Claims,
        body: PostPolicyRequest,
    ) -> Result<PostPolicy, ApiError> {
        let ask = PostPolicyAsk {
            key: body.key,
            key_prefix: body.key_prefix,
            max_size_bytes: body.max_size_bytes,
            content_type_prefix: body.content_type_prefix,
        };
        let form = self
            .state
            .signing
            .post_policy(&claims.sub, ask, unix_now())
            .await?;
        Ok(PostPolicy {
            url: form.url,
            fields: form.fields,
            expired_time: form.expired_time as i64,
            max_size_bytes: form.max_size_bytes as i64,
        })
    }

    async fn create_cos_credentials(
        &self,
        claims: Claims,
        body: CredentialsRequest,
    ) -> Result<CosCredentials, ApiError> {
        let issued = self
            .state
            .signing
            .credentials(&claims.sub, body.actions, body.duration_seconds, unix_now())
            .await?;
        Ok(CosCredentials {
            tmp_secret_id: issued.tmp_secret_id,
            tmp_secret_key: issued.tmp_secret_key.expose_secret().to_string(),
            security_token: issued.security_token,
            start_time: issued.start_time as i64,
            expired_time: issued.expired_time as i64,
            scope_limit: false,
            bucket: issued.bucket,
            region: issued.region,
            allow_prefix: issued.allow_prefix,
        })
    }
}

/// A signed request as the contract answers it.
pub(super) fn authorization(signed: crate::signing::SignedRequest) -> CosAuthorization {
    CosAuthorization {
        authorization: signed.authorization,
        start_time: signed.key_time.start as i64,
        expired_time: signed.key_time.end as i64,
        host: signed.host,
        url: signed.url,
        security_token: signed.security_token,
    }
}

/// A request to sign in either spelling: the documented fields or the
/// options object the SDKs pass to `getAuthorization`.
pub(super) struct SdkRequest {
    method: String,
    key: String,
    headers: BTreeMap<String, String>,
    query: BTreeMap<String, String>,
    pub(super) sign_host: Option<bool>,
}

impl SdkRequest {
    /// The request as the policy and the sessions read it.
    pub(super) fn as_request(&self) -> RequestToSign<'_> {
        RequestToSign {
            method: &self.method,
            key: &self.key,
            query: &self.query,
            headers: &self.headers,
        }
    }

    /// Reads `body`, refusing both spellings of one field, a `Pathname`
    /// that disagrees with the key, and another bucket or region.
    pub(super) fn read(
        body: CosRequestToSign,
        bucket: &str,
        region: &str,
    ) -> Result<Self, ApiError> {
        let method = one("method", body.method, "Method", body.Method)?
            .ok_or_else(|| ApiError::invalid_request("method (or Method) is required"))?;
        let key = one("key", body.key, "Key", body.Key)?
            .ok_or_else(|| ApiError::invalid_request("key (or Key) is required"))?;
        if let Some(pathname) = body.pathname
            && pathname.trim_start_matches('/') != key.trim_start_matches('/')
        {
            return Err(ApiError::invalid_request(
                "Pathname must be `/` and the key",
            ));
        }
        if let Some(asked) = body.bucket.filter(|b| b != bucket) {
            return Err(ApiError::invalid_request(format!(
                "Bucket {asked:?} is not this server's bucket, {bucket}"
            )));
        }
        if let Some(asked) = body.region.filter(|r| r != region) {
            return Err(ApiError::invalid_request(format!(
                "Region {asked:?} is not this server's region, {region}"
            )));
        }
        let text = |map: Option<BTreeMap<String, StringOrInteger>>| {
            map.unwrap_or_default()
                .into_iter()
                .map(|(name, value)| (name, value.into_text()))
                .collect()
        };
        Ok(Self {
            method: method.to_string(),
            key,
            headers: text(one("headers", body.headers, "Headers", body.Headers)?),
            query: text(one("query", body.query, "Query", body.Query)?),
            sign_host: one(
                "sign_host",
                body.sign_host,
                "ForceSignHost",
                body.force_sign_host,
            )?,
        })
    }
}

/// The field given in one of its two spellings, or none; both is refused.
fn one<T>(
    name: &str,
    value: Option<T>,
    sdk_name: &str,
    sdk_value: Option<T>,
) -> Result<Option<T>, ApiError> {
    match (value, sdk_value) {
        (Some(_), Some(_)) => Err(ApiError::invalid_request(format!(
            "give {name} or {sdk_name}, not both"
        ))),
        (value, sdk_value) => Ok(value.or(sdk_value)),
    }
}
