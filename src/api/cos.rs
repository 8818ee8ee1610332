//! Operations tagged `Cos`: COS signatures for direct uploads.
//!
//! Translation only: each handler turns the request into a call on the
//! signing service ([`crate::signing`]), which decides and signs, and its
//! answer into the response; `?` maps its errors (`src/api/error.rs`).

use secrecy::ExposeSecret;

use super::{
    CosApi, CosAuthorization, CosCredentials, CosRequestToSign, CredentialsRequest, Handlers,
    PostPolicy, PostPolicyRequest, PresignRequest, PresignedUrl, QCOSConfig, error::ApiError,
    security::Claims,
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
        let (headers, query) = (
            body.headers.unwrap_or_default(),
            body.query.unwrap_or_default(),
        );
        let request = RequestToSign {
            method: &body.method,
            key: &body.key,
            query: &query,
            headers: &headers,
        };
        let signed = self
            .state
            .signing
            .sign_request(&claims.sub, request, body.sign_host, unix_now())
            .await?;
        Ok(CosAuthorization {
            authorization: signed.authorization,
            start_time: signed.key_time.start as i64,
            expired_time: signed.key_time.end as i64,
            host: signed.host,
            url: signed.url,
            security_token: signed.security_token,
        })
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
                &body.method,
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
