//! Operations tagged `Uploads`: upload sessions. Translation only: each
//! handler calls [`crate::uploads`] and turns its answer into the response;
//! `?` maps its errors (`src/api/error.rs`).

use super::{
    CosAuthorization, CosRequestToSign, Handlers, MultipartPlan, NewUpload, PartsRequest,
    SignedPart, SignedParts, SignedPut, Upload, UploadList, UploadsApi, cos::SdkRequest,
    error::ApiError, security::Claims,
};
use crate::{clock::unix_now, store::UploadRow, uploads};

impl UploadsApi for Handlers {
    async fn create_upload(&self, claims: Claims, body: NewUpload) -> Result<Upload, ApiError> {
        let new = uploads::NewUpload {
            filename: body.filename,
            size_bytes: body.size_bytes,
            content_type: body.content_type,
            content_md5: body.content_md5,
            profile: body.profile,
        };
        let session = self
            .state
            .uploads
            .create(&claims.sub, new, unix_now())
            .await?;
        Ok(upload(session))
    }

    async fn list_uploads(
        &self,
        claims: Claims,
        status: Option<String>,
        cursor: Option<String>,
        limit: Option<i64>,
    ) -> Result<UploadList, ApiError> {
        let (rows, next_cursor) = self
            .state
            .uploads
            .list(&claims.sub, status.as_deref(), cursor.as_deref(), limit)
            .await?;
        Ok(UploadList {
            uploads: rows.into_iter().map(|row| record(row, None)).collect(),
            next_cursor,
        })
    }

    async fn get_upload(&self, claims: Claims, upload_id: String) -> Result<Upload, ApiError> {
        let session = self
            .state
            .uploads
            .get(&claims.sub, &upload_id, unix_now())
            .await?;
        Ok(upload(session))
    }

    async fn delete_upload(&self, claims: Claims, upload_id: String) -> Result<Upload, ApiError> {
        let session = self
            .state
            .uploads
            .delete(&claims.sub, &upload_id, unix_now())
            .await?;
        Ok(upload(session))
    }

    async fn sign_upload_parts(
        &self,
        claims: Claims,
        upload_id: String,
        body: PartsRequest,
    ) -> Result<SignedParts, ApiError> {
        let parts = self
            .state
            .uploads
            .sign_parts(&claims.sub, &upload_id, &body.part_numbers, unix_now())
            .await?;
        Ok(SignedParts {
            parts: parts
                .into_iter()
                .map(|(number, signed)| SignedPart {
                    part_number: number as i64,
                    url: signed.url,
                    headers: signed.headers.into_iter().collect(),
                    expired_time: signed.expired_time as i64,
                })
                .collect(),
        })
    }

    async fn sign_upload_request(
        &self,
        claims: Claims,
        upload_id: String,
        body: CosRequestToSign,
    ) -> Result<CosAuthorization, ApiError> {
        let cos = &self.state.settings.cos;
        let asked = SdkRequest::read(body, &cos.bucket_with_appid(), &cos.region)?;
        if asked.sign_host == Some(false) {
            return Err(ApiError::invalid_request("ForceSignHost must be true"));
        }
        let signed = self
            .state
            .uploads
            .authorize(&claims.sub, &upload_id, asked.as_request(), unix_now())
            .await?;
        Ok(super::cos::authorization(signed))
    }

    async fn complete_upload(&self, claims: Claims, upload_id: String) -> Result<Upload, ApiError> {
        let session = self
            .state
            .uploads
            .complete(&claims.sub, &upload_id, unix_now())
            .await?;
        Ok(upload(session))
    }
}

fn upload(session: uploads::Session) -> Upload {
    let put = session.put.map(|put| SignedPut {
        url: put.url,
        method: super::enums::OneOf::listed("PUT"),
        headers: put.headers.into_iter().collect(),
        expired_time: put.expired_time as i64,
    });
    let mut body = record(session.row, session.parts_present);
    body.put = put;
    body.download_url = session.download.map(|d| d.url);
    body
}

fn record(row: UploadRow, parts_present: Option<Vec<u64>>) -> Upload {
    let multipart = (row.part_count > 1).then(|| MultipartPlan {
        upload_id: row.cos_upload_id.clone().unwrap_or_default(),
        part_size: row.part_size,
        part_count: row.part_count,
        parts_present: parts_present.map(|p| p.into_iter().map(|n| n as i64).collect()),
    });
    Upload {
        id: row.id,
        status: row.status.as_str().into(),
        key: row.object_key,
        filename: row.filename,
        size_bytes: row.size_bytes,
        content_type: row.content_type,
        content_md5: row.content_md5,
        profile: row.profile,
        created_time: row.created_at,
        expires_time: row.expires_at,
        completed_time: row.completed_at,
        etag: row.etag,
        crc64: row.crc64,
        reason: row.reason,
        review: row.review.state,
        moderation_label: row.review.label,
        download_url: None,
        put: None,
        multipart,
    }
}
