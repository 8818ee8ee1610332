//! cosgate's own calls to COS, for upload sessions: initiate, list the
//! parts of, complete and abort a multipart upload; HEAD and delete an
//! object. Each request is v5-signed with cosgate's key through the same
//! signer the clients' signatures come from, on the shared outbound HTTP
//! client with its timeouts; COS's XML is read with quick-xml. Knows no
//! HTTP server types and no store. A COS error's code goes to the log
//! (through [`CosError`]'s `Display`), never a secret.
//!
//! The CAM actions these calls need on the upload root:
//! `cos:InitiateMultipartUpload`, `cos:ListParts`,
//! `cos:CompleteMultipartUpload`, `cos:AbortMultipartUpload`,
//! `cos:HeadObject`, `cos:DeleteObject`; with moderation, `ci:CreateAuditingJob`
//! (Cloud Infinite's image check), and `cos:GetObject` and `cos:PutObject`
//! for the quarantine's copy.

use std::{fmt, time::Duration};

use serde::Deserialize;

use crate::{
    outbound::transport_error,
    signer::{
        Credentials,
        v5::{self, KeyTime, SignedPairs},
    },
};

/// How long each request's signature lives.
const SIGNATURE_TTL: u64 = 300;

/// Why COS gave no answer cosgate can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosError {
    /// No answer in time, a transport failure, or a 5xx.
    #[error("COS is unavailable: {0}")]
    Unavailable(String),
    /// COS refused cosgate's own request (its key, its CAM policy): an
    /// operator's problem.
    #[error("COS refused the request ({0})")]
    Refused(String),
    /// The multipart upload does not exist (any more).
    #[error("no such upload")]
    NoSuchUpload,
    /// COS answered something cosgate does not understand.
    #[error("COS gave an unexpected answer: {0}")]
    BadAnswer(String),
}

/// What HEAD says of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    pub size: u64,
    pub content_type: String,
    pub etag: String,
    /// `x-cos-hash-crc64ecma`, when COS sends it.
    pub crc64: Option<String>,
}

/// A multipart upload in progress, as ListMultipartUploads lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InProgress {
    pub key: String,
    pub upload_id: String,
    /// When it was initiated, unix seconds, if COS said.
    pub initiated: Option<u64>,
}

/// Cloud Infinite's verdict on an image (document 436/48537).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognition {
    /// 0 normal, 1 sensitive, 2 suspicious.
    pub result: u8,
    /// `Normal`, `Porn`, `Ads`, … as Cloud Infinite names it.
    pub label: String,
}

/// One uploaded part, as ListParts lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub number: u64,
    pub size: u64,
    pub etag: String,
}

/// A client for the bucket at `endpoint`.
pub struct CosClient {
    http: reqwest::Client,
    endpoint: String,
    host: String,
    credentials: Credentials,
}

impl fmt::Debug for CosClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosClient")
            .field("endpoint", &self.endpoint)
            .field("credentials", &self.credentials)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InitiateResult {
    upload_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListPartsResult {
    #[serde(default)]
    part: Vec<ListedPart>,
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_part_number_marker: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedPart {
    part_number: u64,
    #[serde(rename = "ETag")]
    etag: String,
    size: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListUploadsResult {
    #[serde(default)]
    upload: Vec<ListedUpload>,
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_key_marker: Option<String>,
    #[serde(default)]
    next_upload_id_marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedUpload {
    key: String,
    upload_id: String,
    #[serde(default)]
    initiated: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CompleteResult {
    #[serde(rename = "ETag")]
    etag: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RecognitionResult {
    #[serde(default)]
    state: Option<String>,
    result: u8,
    #[serde(default)]
    label: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorAnswer {
    code: String,
}

impl CosClient {
    pub fn new(endpoint: &str, host: &str, credentials: Credentials, timeout: Duration) -> Self {
        Self {
            http: crate::outbound::client(timeout),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            host: host.to_string(),
            credentials,
        }
    }

    /// `POST /key?uploads` with the object's type: the new upload's id.
    pub async fn initiate(
        &self,
        key: &str,
        content_type: &str,
        now: u64,
    ) -> Result<String, CosError> {
        let body = self
            .send(
                "POST",
                key,
                &[("uploads", "")],
                &[("content-type", content_type)],
                None,
                now,
            )
            .await?;
        Ok(parse::<InitiateResult>(&body)?.upload_id)
    }

    /// `GET /key?uploadId`: every part COS holds, in order.
    pub async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
        now: u64,
    ) -> Result<Vec<Part>, CosError> {
        let mut parts = Vec::new();
        let mut marker = String::new();
        loop {
            let mut query = vec![("max-parts", "1000"), ("uploadId", upload_id)];
            if !marker.is_empty() {
                query.push(("part-number-marker", marker.as_str()));
            }
            let body = self.send("GET", key, &query, &[], None, now).await?;
            let page: ListPartsResult = parse(&body)?;
            parts.extend(page.part.into_iter().map(|p| Part {
                number: p.part_number,
                size: p.size,
                etag: p.etag,
            }));
            match page.next_part_number_marker {
                Some(next) if page.is_truncated => marker = next.to_string(),
                _ => return Ok(parts),
            }
        }
    }

    /// `GET /?uploads&prefix=`: the multipart uploads in progress below
    /// `prefix` (every page).
    pub async fn list_multipart_uploads(
        &self,
        prefix: &str,
        now: u64,
    ) -> Result<Vec<InProgress>, CosError> {
        let mut found = Vec::new();
        let (mut key_marker, mut id_marker) = (String::new(), String::new());
        loop {
            let mut query = vec![("max-uploads", "1000"), ("prefix", prefix), ("uploads", "")];
            if !key_marker.is_empty() {
                query.push(("key-marker", key_marker.as_str()));
                query.push(("upload-id-marker", id_marker.as_str()));
            }
            let body = self.send("GET", "", &query, &[], None, now).await?;
            let page: ListUploadsResult = parse(&body)?;
            found.extend(page.upload.into_iter().map(|u| InProgress {
                initiated: u.initiated.as_deref().and_then(unix_time),
                key: u.key,
                upload_id: u.upload_id,
            }));
            match (page.next_key_marker, page.next_upload_id_marker) {
                (Some(key), Some(id)) if page.is_truncated => {
                    key_marker = key;
                    id_marker = id;
                }
                _ => return Ok(found),
            }
        }
    }

    /// `POST /key?uploadId` with the parts' ETags: the object's ETag.
    pub async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[Part],
        now: u64,
    ) -> Result<String, CosError> {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for part in parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                part.number,
                escape(&part.etag)
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let body = self
            .send(
                "POST",
                key,
                &[("uploadId", upload_id)],
                &[("content-type", "application/xml")],
                Some(xml),
                now,
            )
            .await?;
        Ok(parse::<CompleteResult>(&body)?.etag)
    }

    /// `DELETE /key?uploadId`. An upload already gone is not an error.
    pub async fn abort(&self, key: &str, upload_id: &str, now: u64) -> Result<(), CosError> {
        match self
            .send("DELETE", key, &[("uploadId", upload_id)], &[], None, now)
            .await
        {
            Ok(_) | Err(CosError::NoSuchUpload) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `HEAD /key`: the object, or `None` if COS holds none at that key.
    pub async fn head(&self, key: &str, now: u64) -> Result<Option<ObjectHead>, CosError> {
        let resp = self.request("HEAD", key, &[], &[], None, now).await?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = ok(resp).await?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let size = header("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| CosError::BadAnswer("HEAD without Content-Length".into()))?;
        Ok(Some(ObjectHead {
            size,
            content_type: header("content-type").unwrap_or_default(),
            etag: header("etag").unwrap_or_default(),
            crc64: header("x-cos-hash-crc64ecma"),
        }))
    }

    /// `GET /key?ci-process=sensitive-content-recognition`: Cloud
    /// Infinite's synchronous image moderation of the object, with the
    /// operator's `biz-type` (its policy) when set.
    pub async fn sensitive_content(
        &self,
        key: &str,
        biz_type: Option<&str>,
        now: u64,
    ) -> Result<Recognition, CosError> {
        let mut query = vec![("ci-process", "sensitive-content-recognition")];
        if let Some(biz_type) = biz_type {
            query.push(("biz-type", biz_type));
        }
        let body = self.send("GET", key, &query, &[], None, now).await?;
        let answer: RecognitionResult = parse(&body)?;
        if answer
            .state
            .as_deref()
            .is_some_and(|s| !s.eq_ignore_ascii_case("success"))
        {
            return Err(CosError::Unavailable(format!(
                "Cloud Infinite's job state is {:?}",
                answer.state.unwrap_or_default()
            )));
        }
        Ok(Recognition {
            result: answer.result,
            label: answer.label,
        })
    }

    /// `PUT /to` with `x-cos-copy-source`: a server-side copy of `from`.
    pub async fn copy(&self, from: &str, to: &str, now: u64) -> Result<(), CosError> {
        let source = format!("{}{}", self.host, v5::encode_key_path(&format!("/{from}")));
        self.send("PUT", to, &[], &[("x-cos-copy-source", &source)], None, now)
            .await
            .map(|_| ())
    }

    /// `DELETE /key`. An object already gone is not an error.
    pub async fn delete(&self, key: &str, now: u64) -> Result<(), CosError> {
        let resp = self.request("DELETE", key, &[], &[], None, now).await?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        ok(resp).await.map(|_| ())
    }

    async fn send(
        &self,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Option<String>,
        now: u64,
    ) -> Result<String, CosError> {
        let resp = self.request(method, key, query, headers, body, now).await?;
        let resp = ok(resp).await?;
        resp.text()
            .await
            .map_err(|e| CosError::Unavailable(transport_error(&e.without_url())))
    }

    /// The request, signed over its method, path, query and headers (the
    /// host always among them).
    async fn request(
        &self,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Option<String>,
        now: u64,
    ) -> Result<reqwest::Response, CosError> {
        let path = format!("/{key}");
        let lower = method.to_ascii_lowercase();
        let key_time = KeyTime {
            start: now.saturating_sub(60),
            end: now + SIGNATURE_TTL,
        };
        let signed_headers = headers
            .iter()
            .copied()
            .chain([("host", self.host.as_str())]);
        let authorization = v5::sign(
            &self.credentials,
            &v5::Request {
                method: &lower,
                path: &path,
                query: SignedPairs::new(query.iter().copied()),
                headers: SignedPairs::new(signed_headers),
                key_time,
            },
        );
        let query_string: Vec<String> = query
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    v5::encode(k)
                } else {
                    format!("{}={}", v5::encode(k), v5::encode(v))
                }
            })
            .collect();
        let mut url = format!("{}{}", self.endpoint, v5::encode_key_path(&path));
        if !query_string.is_empty() {
            url = format!("{url}?{}", query_string.join("&"));
        }
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| CosError::BadAnswer("bad method".into()))?;
        let mut req = self
            .http
            .request(method, url)
            .header("Authorization", authorization.to_string());
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        req.send()
            .await
            .map_err(|e| CosError::Unavailable(transport_error(&e.without_url())))
    }
}

/// A 2xx as it is; anything else as the error COS named.
async fn ok(resp: reqwest::Response) -> Result<reqwest::Response, CosError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    let code = quick_xml::de::from_str::<ErrorAnswer>(&body)
        .map(|e| e.code)
        .unwrap_or_else(|_| format!("HTTP {}", status.as_u16()));
    if code == "NoSuchUpload" {
        return Err(CosError::NoSuchUpload);
    }
    if status.is_server_error() {
        return Err(CosError::Unavailable(code));
    }
    Err(CosError::Refused(code))
}

fn parse<T: for<'de> Deserialize<'de>>(xml: &str) -> Result<T, CosError> {
    quick_xml::de::from_str(xml).map_err(|e| CosError::BadAnswer(e.to_string()))
}

/// An RFC 3339 time (`2020-03-25T10:07:01.000Z`) as unix seconds.
fn unix_time(text: &str) -> Option<u64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp()).ok()
}

/// XML text escaping for an ETag (quotes are kept as entities).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cos_answers_parse_as_tencent_documents_them() {
        let initiated: InitiateResult = parse(
            "<InitiateMultipartUploadResult><Bucket>b-125</Bucket><Key>a/b.jpg</Key>\
             <UploadId>1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361</UploadId>\
             </InitiateMultipartUploadResult>",
        )
        .unwrap();
        assert!(initiated.upload_id.starts_with("1585130821"));
        let listed: ListPartsResult = parse(
            "<ListPartsResult><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId>\
             <Part><PartNumber>1</PartNumber><LastModified>2020-03-25T10:07:01.000Z</LastModified>\
             <ETag>&quot;aa&quot;</ETag><Size>1048576</Size></Part>\
             <Part><PartNumber>2</PartNumber><ETag>\"bb\"</ETag><Size>5</Size></Part>\
             <IsTruncated>false</IsTruncated></ListPartsResult>",
        )
        .unwrap();
        assert_eq!(listed.part.len(), 2);
        assert_eq!(listed.part[0].etag, "\"aa\"");
        assert_eq!(listed.part[1].size, 5);
        let empty: ListPartsResult =
            parse("<ListPartsResult><IsTruncated>false</IsTruncated></ListPartsResult>").unwrap();
        assert!(empty.part.is_empty());
        let error: ErrorAnswer = parse(
            "<Error><Code>NoSuchUpload</Code><Message>x</Message><RequestId>r</RequestId></Error>",
        )
        .unwrap();
        assert_eq!(error.code, "NoSuchUpload");
    }
}
