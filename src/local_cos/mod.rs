//! Development only: a COS bucket on loopback, and the STS that issues
//! temporary credentials for it, so `cargo run` uploads for real with no
//! Tencent account (as MinIO and LocalStack do for S3).
//!
//! It serves the subset of COS's XML API that cosgate's clients use: PUT,
//! GET, HEAD and DELETE Object, POST Object (a browser form with a policy),
//! and the multipart operations (Initiate, UploadPart, ListParts, Complete,
//! Abort, ListMultipartUploads). Like COS it checks every request:
//!
//! - the v5 signature (document 436/7778), in the `Authorization` header or
//!   the query string, within its key time, with the root key or with
//!   temporary credentials and their `x-cos-security-token`;
//! - for temporary credentials, the CAM policy they were issued with: the
//!   action, the resource, `cos:content-length` ([`sts::allows`]);
//! - the signed headers' values, so a body of another length or type than
//!   was signed is refused, and `Content-MD5` against the body;
//! - for POST Object, the policy's signature, expiry and conditions
//!   (document 436/14690, [`form`]).
//!
//! Refusals are COS's XML errors with COS's codes (`SignatureDoesNotMatch`,
//! `AccessDenied`, `InvalidAccessKeyId`, `EntityTooLarge`, `BadDigest`,
//! `NoSuchKey`, `NoSuchUpload`, `InvalidPart`, …). CORS is open, for the
//! browser example. `POST /` with `X-TC-Action` is the local STS
//! ([`sts`]); cosgate's `TENCENT_STS_ENDPOINT` points here.
//!
//! Nothing here is on the production request path: it signs nothing, and it
//! shares with cosgate only the signer types it verifies with. Configuration
//! refuses it in production (`config::LocalCosSettings`).

mod disk;
mod form;
pub mod sts;
mod wire;

pub use wire::CosSpelling;

use std::{io, sync::Arc};

use poem::{
    Body, Endpoint, Request, Response,
    http::{HeaderMap, Method, StatusCode},
};

use crate::{
    clock::{random_bytes, unix_now},
    config::{LocalCosSettings, Settings},
    signer::{Credentials, hex, v5},
};
use disk::{Disk, ObjectMeta, UploadMeta};

/// The largest body the local bucket reads (it holds one in memory).
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;
/// The largest object a multipart upload assembles (in memory too).
const MAX_OBJECT_BYTES: u64 = 1024 * 1024 * 1024;
/// The largest STS request.
const STS_BODY_BYTES: usize = 64 * 1024;
/// COS's smallest part, except the last: 1 MB.
const MIN_PART_BYTES: u64 = 1024 * 1024;
/// How far in the future a key time may start (clock differences).
const START_SKEW: u64 = 60;

/// The bucket, its folder and its STS.
#[derive(Debug)]
pub struct LocalCos {
    /// `{bucket}-{appid}`.
    bucket: String,
    /// `qcs::cos:{region}:uid/{appid}:{bucket}-{appid}/`, a key's resource
    /// without the key.
    resource: String,
    root: Credentials,
    disk: Disk,
    sts: sts::Issuer,
    /// Where it listens, whose `Host` it answers.
    bind: std::net::SocketAddr,
}

/// A refusal, answered as COS's XML error.
#[derive(Debug)]
pub(crate) struct Fault {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Fault {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn internal(e: io::Error) -> Self {
        tracing::warn!(error = %e, "the local COS could not use its folder");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "the local bucket's folder failed",
        )
    }
}

/// What a request does, named by its CAM action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    PutObject,
    UploadPart,
    InitiateMultipartUpload,
    CompleteMultipartUpload,
    ListMultipartUploads,
    ListParts,
    GetObject,
    HeadObject,
    DeleteObject,
    AbortMultipartUpload,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::PutObject => "PutObject",
            Op::UploadPart => "UploadPart",
            Op::InitiateMultipartUpload => "InitiateMultipartUpload",
            Op::CompleteMultipartUpload => "CompleteMultipartUpload",
            Op::ListMultipartUploads => "ListMultipartUploads",
            Op::ListParts => "ListParts",
            Op::GetObject => "GetObject",
            Op::HeadObject => "HeadObject",
            Op::DeleteObject => "DeleteObject",
            Op::AbortMultipartUpload => "AbortMultipartUpload",
        }
    }
}

/// One request, decoded.
struct Incoming<'a> {
    method: &'a Method,
    /// The decoded key, without the leading `/`.
    key: String,
    /// Decoded query pairs, the signature's own parameters removed.
    query: Vec<(String, String)>,
    headers: &'a HeaderMap,
    /// The `q-…` parameters and the session token, from the header or the
    /// query string.
    auth: Option<Vec<(String, String)>>,
    token: Option<String>,
}

impl Incoming<'_> {
    /// A parameter by name, in any case (cosgate's own classifier reads
    /// them so; a signature made for `UploadId` is one for `uploadId`).
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.param(name).is_some()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Who signed a request.
enum Principal {
    Root,
    Temporary(sts::Grant),
}

/// `k=v&k=v` split and percent-decoded (`+` is a plus, as COS reads it).
fn pairs(text: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// Compares two secrets' texts in time that depends only on their lengths.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

const SIGN_PARAMS: [&str; 7] = [
    "q-sign-algorithm",
    "q-ak",
    "q-sign-time",
    "q-key-time",
    "q-header-list",
    "q-url-param-list",
    "q-signature",
];

impl LocalCos {
    /// Development's placeholder root key is public; with the local COS on
    /// cosgate and the bucket share a random one instead, kept in the
    /// folder (`root.key`), so only cosgate can sign as the bucket's owner.
    /// A key set in the environment is kept.
    pub fn own_root_key(local: &LocalCosSettings, settings: &mut Settings) -> io::Result<()> {
        if !settings.filled_in.contains(&"QCOS_SECRET_KEY") {
            return Ok(());
        }
        let secret = hex(&Disk::open(&local.dir)?.secret("root.key")?);
        let id = settings.cos.credentials.secret_id.clone();
        settings.cos.credentials = Credentials::new(id, secrecy::SecretString::from(secret));
        Ok(())
    }

    /// Opens the bucket's folder for `settings`' bucket and root key.
    pub fn open(local: &LocalCosSettings, settings: &Settings) -> io::Result<Self> {
        let cos = &settings.cos;
        let disk = Disk::open(&local.dir)?;
        let sts = sts::Issuer::new(&disk.secret("sts.key")?, cos.credentials.clone());
        Ok(Self {
            bucket: cos.bucket_with_appid(),
            resource: format!(
                "qcs::cos:{}:uid/{}:{}/",
                cos.region,
                cos.appid,
                cos.bucket_with_appid()
            ),
            root: cos.credentials.clone(),
            disk,
            sts,
            bind: local.bind,
        })
    }

    /// Only this bucket's own `Host` is served: a page on another name that
    /// resolves to loopback (DNS rebinding) is refused.
    fn check_host(&self, req: &Request) -> Result<(), Fault> {
        let host = req
            .headers()
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let port = self.bind.port();
        let ours = [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ];
        if ours.iter().any(|o| o.eq_ignore_ascii_case(host)) {
            Ok(())
        } else {
            Err(Fault::new(
                StatusCode::BAD_REQUEST,
                "InvalidHost",
                format!("the local bucket answers at 127.0.0.1:{port}, not {host:?}"),
            ))
        }
    }

    /// The folder objects are kept in.
    pub fn dir(&self) -> &std::path::Path {
        self.disk.dir()
    }

    /// The HTTP endpoint: every request, answered.
    pub fn endpoint(self: Arc<Self>) -> impl Endpoint {
        poem::endpoint::make(move |req: Request| {
            let cos = self.clone();
            async move { cos.handle(req).await }
        })
    }

    async fn handle(&self, mut req: Request) -> Response {
        let request_id = hex(&random_bytes::<12>());
        let resource = req.uri().path().to_string();
        let mut resp = match self.answer(&mut req).await {
            Ok(resp) => resp,
            Err(fault) => {
                tracing::info!(
                    method = %req.method(), path = %resource, code = fault.code,
                    reason = %fault.message, "local COS refused a request"
                );
                xml_error(&fault, &resource, &request_id)
            }
        };
        let headers = resp.headers_mut();
        for (name, value) in [
            ("access-control-allow-origin", "*"),
            (
                "access-control-expose-headers",
                "ETag, Content-Length, x-cos-request-id, x-cos-hash-crc64ecma",
            ),
            ("x-content-type-options", "nosniff"),
        ] {
            headers.insert(name, value.parse().expect("a valid header value"));
        }
        if let Ok(id) = request_id.parse() {
            headers.insert("x-cos-request-id", id);
        }
        resp
    }

    async fn answer(&self, req: &mut Request) -> Result<Response, Fault> {
        let now = unix_now();
        self.check_host(req)?;
        if req.method() == Method::OPTIONS {
            return Ok(preflight(req.headers()));
        }
        // Read only once the request is known to be signed, where the
        // signature is in the headers (a form's is in its body).
        let body = req.take_body();
        let path = req.uri().path();
        if req.method() == Method::POST && req.headers().contains_key("x-tc-action") {
            if path != "/" {
                return Err(Fault::bad("InvalidURI", "the STS answers at /"));
            }
            let body = read(body, STS_BODY_BYTES).await?;
            let headers = req.headers().clone();
            let header = move |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let answer = self.sts.answer(header, &body, now);
            return Ok(Response::builder()
                .content_type("application/json")
                .body(answer.to_string()));
        }
        let key = percent_encoding::percent_decode_str(path.strip_prefix('/').unwrap_or(path))
            .decode_utf8()
            .map_err(|_| Fault::bad("InvalidURI", "the path is not UTF-8"))?
            .into_owned();
        if req.method() == Method::POST && key.is_empty() && req.uri().query().is_none() {
            let body = read(body, MAX_BODY_BYTES).await?;
            return form::post_object(self, req, body, now).await;
        }
        let mut query = pairs(req.uri().query().unwrap_or_default());
        let header_auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(pairs_raw);
        let (auth, mut token) = match header_auth {
            Some(auth) => (Some(auth), None),
            None => {
                let signed: Vec<(String, String)> = query
                    .iter()
                    .filter(|(k, _)| SIGN_PARAMS.contains(&k.as_str()))
                    .cloned()
                    .collect();
                let token = query
                    .iter()
                    .find(|(k, _)| k == "x-cos-security-token")
                    .map(|(_, v)| v.clone());
                // The token stays a parameter: cos-python-sdk-v5 signs it
                // as one (`Params`), cos-js-sdk-v5 appends it unsigned.
                query.retain(|(k, _)| !SIGN_PARAMS.contains(&k.as_str()));
                ((!signed.is_empty()).then_some(signed), token)
            }
        };
        if let Some(header_token) = req.headers().get("x-cos-security-token") {
            token = header_token.to_str().ok().map(str::to_string);
        }
        let incoming = Incoming {
            method: req.method(),
            key,
            query,
            headers: req.headers(),
            auth,
            token,
        };
        let op = classify(&incoming)?;
        let principal = self.authenticate(&incoming, now)?;
        let body = read(body, MAX_BODY_BYTES).await?;
        if let Some(signed) = incoming.header("content-length")
            && signed != body.len().to_string()
        {
            return Err(Fault::bad(
                "IncompleteBody",
                "the body's length is not its Content-Length",
            ));
        }
        if let Principal::Temporary(grant) = &principal {
            self.authorize(grant, op, &incoming, body.len() as u64)?;
        }
        self.perform(op, &incoming, &body, now).await
    }

    /// Checks the request's v5 signature: who signed it.
    fn authenticate(&self, r: &Incoming<'_>, now: u64) -> Result<Principal, Fault> {
        let Some(auth) = &r.auth else {
            return Err(Fault::denied("Access Denied: the request is not signed"));
        };
        let get = |name: &str| {
            auth.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if get("q-sign-algorithm") != Some("sha1") {
            return Err(Fault::denied("q-sign-algorithm must be sha1"));
        }
        let key_time = get("q-key-time")
            .and_then(|t| t.split_once(';'))
            .and_then(|(s, e)| {
                Some(v5::KeyTime {
                    start: s.parse().ok()?,
                    end: e.parse().ok()?,
                })
            })
            .ok_or_else(|| Fault::denied("q-key-time is not start;end"))?;
        if now > key_time.end {
            return Err(Fault::denied("Request has expired"));
        }
        if key_time.start > now + START_SKEW {
            return Err(Fault::denied(
                "Request is not valid yet (q-key-time starts later)",
            ));
        }
        let ak = get("q-ak").unwrap_or_default();
        let (credentials, principal) = if ak == self.root.secret_id {
            (self.root.clone(), Principal::Root)
        } else if sts::Issuer::issued(ak) {
            let token = r.token.as_deref().ok_or_else(|| {
                Fault::denied("temporary credentials need their x-cos-security-token")
            })?;
            let grant = self
                .sts
                .open(ak, token, now)
                .map_err(|why| Fault::new(StatusCode::FORBIDDEN, "InvalidAccessKeyId", why))?;
            let secret = self.sts.secret_key(ak);
            (Credentials::new(ak, secret), Principal::Temporary(grant))
        } else {
            return Err(Fault::new(
                StatusCode::FORBIDDEN,
                "InvalidAccessKeyId",
                "the SecretId is neither the bucket's nor one the local STS issued",
            ));
        };
        let header_list = get("q-header-list").unwrap_or_default();
        let mut headers = Vec::new();
        for name in header_list.split(';').filter(|n| !n.is_empty()) {
            let value = r
                .headers
                .iter()
                .find(|(k, _)| v5::encode(k.as_str()).eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.to_str().ok())
                .ok_or_else(|| {
                    Fault::new(
                        StatusCode::FORBIDDEN,
                        "SignatureDoesNotMatch",
                        format!("the signed header {name} was not sent"),
                    )
                })?;
            headers.push((name.to_string(), value.to_string()));
        }
        let param_list = get("q-url-param-list").unwrap_or_default();
        let mut params = Vec::new();
        for name in param_list.split(';').filter(|n| !n.is_empty()) {
            let value = r
                .query
                .iter()
                .find(|(k, _)| v5::encode(k).eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
                .ok_or_else(|| {
                    Fault::new(
                        StatusCode::FORBIDDEN,
                        "SignatureDoesNotMatch",
                        format!("the signed parameter {name} was not sent"),
                    )
                })?;
            params.push((name.to_string(), value.to_string()));
        }
        let path = format!("/{}", r.key);
        let signature_for = |headers: &[(String, String)]| {
            let request = v5::Request {
                method: r.method.as_str(),
                path: &path,
                query: v5::SignedPairs::new(params.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                headers: v5::SignedPairs::new(
                    headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                ),
                key_time,
            };
            let expected = v5::sign(&credentials, &request);
            same(&expected.header_list, header_list)
                && same(&expected.url_param_list, param_list)
                && same(&expected.signature, get("q-signature").unwrap_or_default())
        };
        // cos-python-sdk-v5 signs the URL's hostname without its port (COS's
        // own hosts have none); a signed `host` may name this bucket either
        // way.
        let without_port: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| match (k.as_str(), v.rsplit_once(':')) {
                ("host", Some((host, port))) if port.bytes().all(|b| b.is_ascii_digit()) => {
                    (k.clone(), host.to_string())
                }
                _ => (k.clone(), v.clone()),
            })
            .collect();
        if !signature_for(&headers) && (without_port == headers || !signature_for(&without_port)) {
            return Err(Fault::new(
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "The Signature you specified does not match what we calculated",
            ));
        }
        Ok(principal)
    }

    /// What temporary credentials' CAM policy allows, as COS evaluates it.
    fn authorize(
        &self,
        grant: &sts::Grant,
        op: Op,
        r: &Incoming<'_>,
        length: u64,
    ) -> Result<(), Fault> {
        let key = if op == Op::ListMultipartUploads {
            r.param("prefix").unwrap_or_default()
        } else {
            &r.key
        };
        let sized = matches!(op, Op::PutObject).then_some(length);
        let allowed = |action: &str, key: &str, size: Option<u64>| {
            sts::allows(
                &grant.policy,
                action,
                &format!("{}{key}", self.resource),
                size,
            )
        };
        if !allowed(op.name(), key, sized) {
            return Err(Fault::denied(format!(
                "the temporary credentials' policy does not allow {} on {key}",
                op.name()
            )));
        }
        let acl = r.headers.keys().any(|k| {
            let k = k.as_str();
            k == "x-cos-acl" || k.starts_with("x-cos-grant-")
        });
        // A copy reads its source: COS asks for GetObject on it too.
        if let Some(source) = r.header("x-cos-copy-source") {
            let source = percent_encoding::percent_decode_str(source).decode_utf8_lossy();
            let source_key = source.split_once('/').map_or("", |(_, k)| k);
            if !allowed("GetObject", source_key, None) {
                return Err(Fault::denied(format!(
                    "the temporary credentials' policy does not allow GetObject on the copy source {source_key}"
                )));
            }
        }
        if acl && !allowed("PutObjectACL", key, None) {
            return Err(Fault::denied(
                "the temporary credentials' policy does not allow PutObjectACL",
            ));
        }
        Ok(())
    }

    async fn perform(
        &self,
        op: Op,
        r: &Incoming<'_>,
        body: &[u8],
        now: u64,
    ) -> Result<Response, Fault> {
        match op {
            Op::PutObject => self.put_object(r, body, now).await,
            Op::GetObject | Op::HeadObject => {
                let found = self.disk.get(&r.key).await.map_err(Fault::internal)?;
                let Some((meta, data)) = found else {
                    return Err(Fault::new(
                        StatusCode::NOT_FOUND,
                        "NoSuchKey",
                        "The specified key does not exist.",
                    ));
                };
                // Stored content never runs as a page of this origin.
                let resp = Response::builder()
                    .content_type(meta.content_type.clone())
                    .header("content-security-policy", "sandbox")
                    .header("etag", meta.etag.clone())
                    .header("last-modified", http_date(meta.modified));
                Ok(if op == Op::HeadObject {
                    resp.header("content-length", meta.size).body(Body::empty())
                } else {
                    resp.body(data)
                })
            }
            Op::DeleteObject => {
                if self.disk.delete(&r.key).await.map_err(Fault::internal)? {
                    tracing::info!(key = %r.key, "local COS deleted an object");
                }
                Ok(no_content())
            }
            Op::InitiateMultipartUpload => {
                let meta = UploadMeta {
                    key: r.key.clone(),
                    content_type: content_type(r),
                    initiated: now,
                };
                let id = self.disk.initiate(&meta).await.map_err(Fault::internal)?;
                Ok(xml(format!(
                    "<InitiateMultipartUploadResult><Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>",
                    self.bucket,
                    escape(&r.key)
                )))
            }
            Op::UploadPart => {
                let (id, _) = self.upload_of(r).await?;
                let number: u32 = r
                    .param("partNumber")
                    .and_then(|n| n.parse().ok())
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| {
                        Fault::bad("InvalidArgument", "partNumber must lie between 1 and 10000")
                    })?;
                check_md5(r, body)?;
                self.disk
                    .put_part(&id, number, body)
                    .await
                    .map_err(Fault::internal)?;
                Ok(Response::builder()
                    .header("etag", format!("\"{}\"", disk::md5_hex(body)))
                    .body(Body::empty()))
            }
            Op::ListParts => {
                let (id, _) = self.upload_of(r).await?;
                let parts = self.disk.parts(&id).await.map_err(Fault::internal)?;
                let listed: String = parts
                    .iter()
                    .map(|p| {
                        format!(
                            "<Part><PartNumber>{}</PartNumber><ETag>&quot;{}&quot;</ETag><Size>{}</Size></Part>",
                            p.number, p.md5, p.size
                        )
                    })
                    .collect();
                Ok(xml(format!(
                    "<ListPartsResult><Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId><StorageClass>STANDARD</StorageClass><MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated>{listed}</ListPartsResult>",
                    self.bucket,
                    escape(&r.key)
                )))
            }
            Op::CompleteMultipartUpload => self.complete(r, body, now).await,
            Op::AbortMultipartUpload => {
                let (id, _) = self.upload_of(r).await?;
                self.disk.end_upload(&id).await.map_err(Fault::internal)?;
                Ok(no_content())
            }
            Op::ListMultipartUploads => {
                let prefix = r.param("prefix").unwrap_or_default();
                let uploads = self.disk.uploads().await.map_err(Fault::internal)?;
                let listed: String = uploads
                    .iter()
                    .filter(|(_, u)| u.key.starts_with(prefix))
                    .map(|(id, u)| {
                        format!(
                            "<Upload><Key>{}</Key><UploadId>{id}</UploadId><StorageClass>STANDARD</StorageClass><Initiated>{}</Initiated></Upload>",
                            escape(&u.key),
                            iso_time(u.initiated)
                        )
                    })
                    .collect();
                Ok(xml(format!(
                    "<ListMultipartUploadsResult><Bucket>{}</Bucket><Prefix>{}</Prefix><IsTruncated>false</IsTruncated>{listed}</ListMultipartUploadsResult>",
                    self.bucket,
                    escape(prefix)
                )))
            }
        }
    }

    async fn put_object(&self, r: &Incoming<'_>, body: &[u8], now: u64) -> Result<Response, Fault> {
        if r.header("x-cos-copy-source").is_some() {
            return Err(Fault::new(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                "the local bucket does not copy objects",
            ));
        }
        check_md5(r, body)?;
        self.refuse_overwrite(r, &r.key).await?;
        let etag = format!("\"{}\"", disk::md5_hex(body));
        let meta = ObjectMeta {
            key: r.key.clone(),
            content_type: content_type(r),
            size: body.len() as u64,
            etag: etag.clone(),
            modified: now,
        };
        self.disk.put(&meta, body).await.map_err(Fault::internal)?;
        tracing::info!(key = %r.key, bytes = body.len(), "local COS stored an object");
        Ok(Response::builder().header("etag", etag).body(Body::empty()))
    }

    /// `x-cos-forbid-overwrite: true` over an existing object: 409.
    async fn refuse_overwrite(&self, r: &Incoming<'_>, key: &str) -> Result<(), Fault> {
        let forbidden = r
            .header("x-cos-forbid-overwrite")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if forbidden
            && self
                .disk
                .head(key)
                .await
                .map_err(Fault::internal)?
                .is_some()
        {
            return Err(Fault::new(
                StatusCode::CONFLICT,
                "FileAlreadyExists",
                "an object already exists at this key and x-cos-forbid-overwrite is true",
            ));
        }
        Ok(())
    }

    /// The multipart upload `uploadId` names, which must be of this key.
    async fn upload_of(&self, r: &Incoming<'_>) -> Result<(String, UploadMeta), Fault> {
        let id = r.param("uploadId").unwrap_or_default().to_string();
        match self.disk.upload(&id).await.map_err(Fault::internal)? {
            Some(meta) if meta.key == r.key => Ok((id, meta)),
            _ => Err(Fault::new(
                StatusCode::NOT_FOUND,
                "NoSuchUpload",
                "The specified multipart upload does not exist.",
            )),
        }
    }

    async fn complete(&self, r: &Incoming<'_>, body: &[u8], now: u64) -> Result<Response, Fault> {
        let (id, upload) = self.upload_of(r).await?;
        #[derive(serde::Deserialize)]
        struct Listed {
            #[serde(rename = "Part", default)]
            part: Vec<ListedPart>,
        }
        #[derive(serde::Deserialize)]
        struct ListedPart {
            #[serde(rename = "PartNumber")]
            number: u32,
            #[serde(rename = "ETag")]
            etag: String,
        }
        let listed: Listed = std::str::from_utf8(body)
            .ok()
            .and_then(|text| quick_xml::de::from_str(text).ok())
            .ok_or_else(|| Fault::bad("MalformedXML", "the body is not CompleteMultipartUpload"))?;
        if listed.part.is_empty() {
            return Err(Fault::bad("MalformedXML", "no part is listed"));
        }
        if listed.part.windows(2).any(|w| w[0].number >= w[1].number) {
            return Err(Fault::bad(
                "InvalidPartOrder",
                "the parts must be listed in ascending order",
            ));
        }
        let held = self.disk.parts(&id).await.map_err(Fault::internal)?;
        let mut chosen = Vec::new();
        for (i, part) in listed.part.iter().enumerate() {
            let found = held.iter().find(|p| p.number == part.number);
            let Some(found) = found.filter(|p| p.md5 == part.etag.trim_matches('"')) else {
                return Err(Fault::bad(
                    "InvalidPart",
                    format!("part {} was not uploaded, or its ETag differs", part.number),
                ));
            };
            if i + 1 < listed.part.len() && found.size < MIN_PART_BYTES {
                return Err(Fault::bad(
                    "EntityTooSmall",
                    format!("part {} is smaller than 1 MB and not the last", part.number),
                ));
            }
            chosen.push(found.clone());
        }
        if chosen.iter().map(|p| p.size).sum::<u64>() > MAX_OBJECT_BYTES {
            return Err(Fault::bad(
                "EntityTooLarge",
                format!("the local bucket assembles objects of at most {MAX_OBJECT_BYTES} bytes"),
            ));
        }
        self.refuse_overwrite(r, &upload.key).await?;
        let mut data = Vec::new();
        let mut md5s = Vec::new();
        for part in &chosen {
            data.extend(
                self.disk
                    .part(&id, part.number)
                    .await
                    .map_err(Fault::internal)?,
            );
            md5s.extend(
                (0..part.md5.len())
                    .step_by(2)
                    .filter_map(|i| u8::from_str_radix(&part.md5[i..i + 2], 16).ok()),
            );
        }
        let etag = format!("\"{}-{}\"", disk::md5_hex(&md5s), chosen.len());
        let meta = ObjectMeta {
            key: upload.key.clone(),
            content_type: upload.content_type,
            size: data.len() as u64,
            etag: etag.clone(),
            modified: now,
        };
        self.disk.put(&meta, &data).await.map_err(Fault::internal)?;
        self.disk.end_upload(&id).await.map_err(Fault::internal)?;
        tracing::info!(key = %upload.key, bytes = data.len(), parts = chosen.len(), "local COS completed a multipart upload");
        Ok(xml(format!(
            "<CompleteMultipartUploadResult><Location>{}/{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></CompleteMultipartUploadResult>",
            self.bucket,
            escape(&upload.key),
            self.bucket,
            escape(&upload.key),
            escape(&etag)
        )))
    }
}

/// The body, at most `limit` bytes.
async fn read(body: Body, limit: usize) -> Result<bytes::Bytes, Fault> {
    body.into_bytes_limit(limit).await.map_err(|e| match e {
        poem::error::ReadBodyError::PayloadTooLarge => Fault::bad(
            "EntityTooLarge",
            format!("the local bucket takes bodies of at most {limit} bytes"),
        ),
        other => Fault::bad(
            "IncompleteBody",
            format!("the body could not be read: {other}"),
        ),
    })
}

/// `Authorization: q-a=b&q-c=d` (unencoded values, as the SDKs send it).
fn pairs_raw(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The CAM action of a request, as COS names them.
fn classify(r: &Incoming<'_>) -> Result<Op, Fault> {
    let mut names: Vec<String> = r
        .query
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect();
    names.sort();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(Fault::bad(
            "InvalidArgument",
            "a query parameter is given twice",
        ));
    }
    let bucket = r.key.is_empty();
    let op = match *r.method {
        Method::PUT if r.has("partNumber") && r.has("uploadId") => Op::UploadPart,
        Method::PUT if !bucket => Op::PutObject,
        Method::POST if r.has("uploads") && !bucket => Op::InitiateMultipartUpload,
        Method::POST if r.has("uploadId") && !bucket => Op::CompleteMultipartUpload,
        Method::GET if r.has("uploads") && bucket => Op::ListMultipartUploads,
        Method::GET if r.has("uploadId") && !bucket => Op::ListParts,
        Method::GET if !bucket => Op::GetObject,
        Method::HEAD if !bucket => Op::HeadObject,
        Method::DELETE if r.has("uploadId") && !bucket => Op::AbortMultipartUpload,
        Method::DELETE if !bucket => Op::DeleteObject,
        _ => {
            return Err(Fault::new(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                format!(
                    "the local bucket does not serve {} {} (see src/local_cos)",
                    r.method,
                    if bucket {
                        "on the bucket"
                    } else {
                        "on an object"
                    }
                ),
            ));
        }
    };
    Ok(op)
}

fn content_type(r: &Incoming<'_>) -> String {
    r.header("content-type")
        .unwrap_or("application/octet-stream")
        .to_string()
}

/// A `Content-MD5` must be the body's: `BadDigest` otherwise.
fn check_md5(r: &Incoming<'_>, body: &[u8]) -> Result<(), Fault> {
    use base64::{Engine, engine::general_purpose::STANDARD};
    use md5::{Digest, Md5};
    let Some(given) = r.header("content-md5") else {
        return Ok(());
    };
    let given = STANDARD
        .decode(given)
        .map_err(|_| Fault::bad("InvalidDigest", "Content-MD5 is not base64"))?;
    if given[..] != Md5::digest(body)[..] {
        return Err(Fault::bad(
            "BadDigest",
            "The Content-MD5 you specified did not match what was received.",
        ));
    }
    Ok(())
}

/// A CORS preflight: any origin, the asked method and headers.
fn preflight(headers: &HeaderMap) -> Response {
    let asked = headers
        .get("access-control-request-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*")
        .to_string();
    Response::builder()
        .header(
            "access-control-allow-methods",
            "GET, PUT, POST, DELETE, HEAD",
        )
        .header("access-control-allow-headers", asked)
        .header("access-control-max-age", "600")
        .body(Body::empty())
}

fn no_content() -> Response {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::empty())
}

fn xml(body: String) -> Response {
    Response::builder()
        .content_type("application/xml")
        .body(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"
        ))
}

fn xml_error(fault: &Fault, resource: &str, request_id: &str) -> Response {
    let mut resp = xml(format!(
        "<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource><RequestId>{request_id}</RequestId></Error>",
        fault.code,
        escape(&fault.message),
        escape(resource)
    ));
    resp.set_status(fault.status);
    resp
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

fn iso_time(unix: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// RFC 7231's date, from RFC 2822's (the same but for the zone's name).
fn http_date(unix: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc2822)
                .ok()
        })
        .map(|d| d.replace("+0000", "GMT"))
        .unwrap_or_default()
}
