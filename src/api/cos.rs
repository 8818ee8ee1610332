//! Operations tagged `Cos`: COS signatures for direct uploads.
//!
//! Each handler reads as its steps: ask the signing policy what this caller
//! may sign (`crate::policy::signing`, the one place that decides), charge
//! the daily quota, sign exactly the grant, answer. Nothing reaches the
//! signer before the policy has accepted it.

use std::collections::BTreeMap;

use super::{
    CosApi, CosAuthorization, CosCredentials, CosRequestToSign, CredentialsRequest, Handlers,
    PostPolicy, PostPolicyRequest, PresignRequest, PresignedUrl, QCOSConfig,
    error::{ApiError, ErrorCode},
    security::Claims,
};
use crate::{
    clock::{random_below, unix_now},
    config::{CosSettings, SigningMode},
    policy::{
        CosDir, ObjectKey, ScopeError, UploadScope, cam,
        operation::{AllowedActions, CosAction, OperationRefusal},
        signing::{Refusal, RequestToSign},
    },
    signer::{
        v4,
        v5::{self, HeaderRule, KeyCondition, KeyTime, SignedPairs},
    },
    sts::StsError,
};

/// How far back v5 windows start, for phone clocks that run behind (the
/// Python SDK uses the same minute).
const CLOCK_SKEW: u64 = 60;
/// The most headers or query parameters one request may ask to sign.
const MAX_PAIRS: usize = 64;
/// The longest header or query value cosgate signs.
const MAX_VALUE_BYTES: usize = 8 * 1024;
const SECONDS_PER_DAY: u64 = 86_400;

impl CosApi for Handlers {
    async fn get_qc_cos_config(
        &self,
        claims: Claims,
        cos_path: Option<String>,
    ) -> Result<QCOSConfig, ApiError> {
        self.limit_signing(&claims.sub)?;
        let cos = self.cos();
        let dir = requested_dir(&cos.policy.scope, &claims.sub, cos_path.as_deref())?;
        let bytes = cos.policy.directory(&claims.sub, &dir).map_err(refused)?;
        self.charge_quota(&claims.sub, bytes).await?;
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
        self.state.metrics.signature("v4");
        Ok(QCOSConfig {
            sign: v4::sign(&cos.credentials, request),
            expired: request.expired() as i64,
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
        })
    }

    async fn sign_cos_request(
        &self,
        claims: Claims,
        body: CosRequestToSign,
    ) -> Result<CosAuthorization, ApiError> {
        self.limit_signing(&claims.sub)?;
        let cos = self.cos();
        if body.sign_host == Some(false) {
            return Err(ApiError::invalid_request(
                "sign_host must be true: without the host the signature would work in every bucket of the account",
            ));
        }
        let headers = checked_pairs("headers", body.headers.unwrap_or_default())?;
        let query = checked_pairs("query", body.query.unwrap_or_default())?;
        let grant = cos
            .policy
            .request(
                &claims.sub,
                RequestToSign {
                    method: &body.method,
                    key: &body.key,
                    query: &query,
                    headers: &headers,
                },
            )
            .map_err(refused)?;
        self.charge_quota(&claims.sub, grant.content_length.unwrap_or(0))
            .await?;
        let signing = self.signing_key(&claims.sub).await?;
        let key_time = signing.window(unix_now(), cos.v5_ttl);

        // Sign what cos-js-sdk-v5 / cos-wx-sdk-v5 sign (Content-Length among
        // them, so the size is bound), and always this bucket's host in
        // place of any the client named.
        let signed_headers = headers
            .iter()
            .filter(|(name, value)| !value.is_empty() && !name.eq_ignore_ascii_case("host"))
            .filter(|(name, _)| HeaderRule::JsSdk.signs(name))
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .chain([("host", cos.host())]);
        let method = body.method.to_ascii_lowercase();
        let path = grant.path();
        let request = v5::Request {
            method: &method,
            path: &path,
            query: SignedPairs::new(query.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            headers: SignedPairs::new(signed_headers),
            key_time,
        };
        let authorization = v5::sign(&signing.credentials, &request);
        self.state.metrics.signature("v5_request");
        Ok(CosAuthorization {
            authorization: authorization.to_string(),
            start_time: key_time.start as i64,
            expired_time: key_time.end as i64,
            host: cos.host().to_string(),
            url: format!("{}{}", cos.endpoint, v5::encode_key_path(&path)),
            security_token: signing.token,
        })
    }

    async fn create_presigned_url(
        &self,
        claims: Claims,
        body: PresignRequest,
    ) -> Result<PresignedUrl, ApiError> {
        self.limit_signing(&claims.sub)?;
        let cos = self.cos();
        let method = parse_method(&body.method, &["put", "get"])?;
        let grant = cos
            .policy
            .presigned(&claims.sub, &method, &body.key, body.content_length)
            .map_err(refused)?;
        self.charge_quota(&claims.sub, grant.content_length.unwrap_or(0))
            .await?;
        let ttl = requested_ttl(body.expires_in, cos.v5_ttl)?;
        let signing = self.signing_key(&claims.sub).await?;
        let key_time = signing.window(unix_now(), ttl);
        let path = grant.key.path();
        let length = grant.content_length.map(|n| n.to_string());
        let headers = length
            .as_deref()
            .map(|n| ("content-length", n))
            .into_iter()
            .chain([("host", cos.host())]);
        let request = v5::Request {
            method: &method,
            path: &path,
            query: SignedPairs::new([]),
            headers: SignedPairs::new(headers),
            key_time,
        };
        let authorization = v5::sign(&signing.credentials, &request);
        self.state.metrics.signature("presigned");
        // The token rides along unsigned, as the SDKs' getObjectUrl sends it.
        let token = signing
            .token
            .map(|t| format!("&x-cos-security-token={}", v5::encode(&t)))
            .unwrap_or_default();
        Ok(PresignedUrl {
            url: format!(
                "{}?{}{token}",
                object_url(cos, &grant.key),
                authorization.query_string()
            ),
            start_time: key_time.start as i64,
            expired_time: key_time.end as i64,
        })
    }

    async fn create_post_policy(
        &self,
        claims: Claims,
        body: PostPolicyRequest,
    ) -> Result<PostPolicy, ApiError> {
        self.limit_signing(&claims.sub)?;
        let cos = self.cos();
        let max_size = match body.max_size_bytes {
            None => None,
            Some(n) if n > 0 => Some(n as u64),
            Some(_) => return Err(ApiError::invalid_request("max_size_bytes must be positive")),
        };
        let (key, max_size_bytes) = match (body.key, body.key_prefix) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_request(
                    "give key or key_prefix, not both",
                ));
            }
            (Some(key), None) => {
                let (key, max) = cos
                    .policy
                    .post_policy_key(&claims.sub, &key, max_size)
                    .map_err(refused)?;
                (KeyCondition::Exact(key.to_string()), max)
            }
            (None, prefix) => {
                let requested = prefix
                    .as_deref()
                    .map(CosDir::parse_prefix)
                    .transpose()
                    .map_err(|e| {
                        ApiError::bad_request(ErrorCode::InvalidKey, format!("key_prefix: {e}"))
                    })?;
                let (dir, max) = cos
                    .policy
                    .post_policy(&claims.sub, requested.as_ref(), max_size)
                    .map_err(refused)?;
                (KeyCondition::Prefix(dir.key_prefix()), max)
            }
        };
        let content_type_prefix = body.content_type_prefix.filter(|p| !p.is_empty());
        if let Some(p) = &content_type_prefix
            && (p.len() > 128 || p.chars().any(char::is_control))
        {
            return Err(ApiError::invalid_request(
                "content_type_prefix is not a media type prefix",
            ));
        }
        self.charge_quota(&claims.sub, max_size_bytes).await?;

        let signing = self.signing_key(&claims.sub).await?;
        let key_time = signing.window(unix_now(), cos.v5_ttl);
        let form = v5::PostPolicy {
            key_time,
            bucket: &cos.bucket_with_appid(),
            key,
            max_size_bytes,
            content_type_prefix: content_type_prefix.as_deref(),
            security_token: signing.token.as_deref(),
        }
        .sign(&signing.credentials);
        self.state.metrics.signature("post_policy");
        Ok(PostPolicy {
            url: format!("{}/", cos.endpoint),
            fields: form.fields,
            expired_time: key_time.end as i64,
            max_size_bytes: max_size_bytes as i64,
        })
    }

    async fn create_cos_credentials(
        &self,
        claims: Claims,
        body: CredentialsRequest,
    ) -> Result<CosCredentials, ApiError> {
        self.limit_signing(&claims.sub)?;
        self.credentials(&claims.sub, body).await
    }
}

impl Handlers {
    /// Temporary credentials for the caller: the actions asked for (all the
    /// server allows when none are named), on the caller's directory only.
    async fn credentials(
        &self,
        account: &str,
        body: CredentialsRequest,
    ) -> Result<CosCredentials, ApiError> {
        let cos = self.cos();
        let actions = requested_actions(&cos.policy.allowed, body.actions)?;
        let duration = requested_ttl(body.duration_seconds, self.state.settings.sts.ttl)?;
        let (dir, policy) = self.cam_policy(account, &actions)?;
        let names: Vec<&str> = actions.iter().map(|a| a.name()).collect();
        // A new grant counts its size against the quota, as any signature
        // that allows an upload does; a reused one is the same capability.
        let uploads = actions
            .iter()
            .any(|a| a.uploads_a_body() || *a == CosAction::PostObject);
        let charge = if uploads {
            cos.policy.max_upload_bytes
        } else {
            0
        };
        let issued = self
            .state
            .sts
            .get(
                account,
                &names.join(","),
                &policy,
                duration,
                unix_now(),
                || self.charge_quota(account, charge),
            )
            .await?;
        let granted = issued.credentials;
        self.state.metrics.signature("sts_credentials");
        Ok(CosCredentials {
            tmp_secret_id: granted.tmp_secret_id.clone(),
            tmp_secret_key: secrecy::ExposeSecret::expose_secret(&granted.tmp_secret_key)
                .to_string(),
            security_token: granted.token().to_string(),
            start_time: issued.start_time as i64,
            expired_time: granted.expired_time as i64,
            scope_limit: false,
            bucket: cos.bucket_with_appid(),
            region: cos.region.clone(),
            allow_prefix: format!("{}*", dir.key_prefix()),
        })
    }

    /// The CAM policy for `account`'s credentials, and the directory it
    /// confines them to.
    fn cam_policy(
        &self,
        account: &str,
        actions: &[CosAction],
    ) -> Result<(CosDir, String), ApiError> {
        let cos = self.cos();
        let dir = cos.policy.scope.allowed(account).map_err(scope_error)?;
        let bucket = cam::Bucket {
            region: &cos.region,
            appid: &cos.appid,
            name: &cos.bucket,
        };
        let policy = cam::policy(bucket, &dir, actions, cos.policy.max_upload_bytes)
            .map_err(|e| ApiError::forbidden(ErrorCode::PathNotAllowed, e.to_string()))?;
        let policy = serde_json::to_string(&policy).map_err(ApiError::internal)?;
        Ok((dir, policy))
    }

    /// The key v5 signatures for `account` are made with: its temporary
    /// credentials in STS mode (so COS itself confines what the signature
    /// can do, unsigned headers included), else the root key.
    async fn signing_key(&self, account: &str) -> Result<SigningKey, ApiError> {
        let cos = self.cos();
        if self.state.settings.sts.signing == SigningMode::Root {
            return Ok(SigningKey {
                credentials: cos.credentials.clone(),
                token: None,
                expires: u64::MAX,
            });
        }
        let actions: Vec<CosAction> = cos.policy.allowed.iter().collect();
        let (_, policy) = self.cam_policy(account, &actions)?;
        // Its own cache key: these credentials never leave the server, so
        // they are not charged to the quota (each signature is).
        let issued = self
            .state
            .sts
            .get(
                account,
                "sign",
                &policy,
                self.state.settings.sts.ttl,
                unix_now(),
                || async { Ok::<_, ApiError>(()) },
            )
            .await?;
        let granted = issued.credentials;
        Ok(SigningKey {
            credentials: granted.signing_credentials(),
            token: Some(granted.token().to_string()),
            expires: granted.expired_time,
        })
    }

    /// `RATE_LIMIT_SIGN_PER_MIN` for `account`: 429 `rate_limited` beyond.
    fn limit_signing(&self, account: &str) -> Result<(), ApiError> {
        self.state.limits.sign(account).map_err(|wait| {
            self.state.metrics.rate_limited("sign");
            ApiError::rate_limited(wait.0)
        })
    }

    fn cos(&self) -> &CosSettings {
        &self.state.settings.cos
    }

    /// Counts `bytes` against the caller's quota for today (UTC), if one is
    /// configured: 429 `quota_exceeded` until midnight once it is used up.
    async fn charge_quota(&self, account: &str, bytes: u64) -> Result<(), ApiError> {
        let Some(limit) = self.cos().daily_upload_bytes else {
            return Ok(());
        };
        let now = unix_now();
        let day = now / SECONDS_PER_DAY;
        let charged = self
            .state
            .store
            .charge_upload(account, day as i64, bytes as i64, limit as i64)
            .await
            .map_err(super::auth::store_error)?;
        if charged {
            return Ok(());
        }
        let midnight = (day + 1) * SECONDS_PER_DAY;
        Err(ApiError::too_many_requests(
            ErrorCode::QuotaExceeded,
            format!(
                "today's upload quota of {limit} bytes would be exceeded; it renews at 00:00 UTC"
            ),
        )
        .retry_after(midnight - now))
    }
}

/// The contract's answer to each refusal of the signing policy.
fn refused(refusal: Refusal) -> ApiError {
    let message = refusal.to_string();
    match refusal {
        Refusal::InvalidKey(_) => ApiError::bad_request(ErrorCode::InvalidKey, message),
        Refusal::OutsideScope(_) => ApiError::forbidden(ErrorCode::PathNotAllowed, message),
        Refusal::Operation(
            OperationRefusal::UnknownMethod | OperationRefusal::DuplicateQuery(_),
        )
        | Refusal::MissingContentLength(_)
        | Refusal::BadContentLength
        | Refusal::BadPartNumber => ApiError::invalid_request(message),
        Refusal::Operation(_) | Refusal::PicOperations(_) => {
            ApiError::forbidden(ErrorCode::OperationNotAllowed, message)
        }
        Refusal::TooLarge { .. } => ApiError::forbidden(ErrorCode::UploadTooLarge, message),
    }
}

/// What signs a v5 request, and the token that must go with it.
struct SigningKey {
    credentials: crate::signer::Credentials,
    token: Option<String>,
    /// When the credentials stop working: no signature outlives them.
    expires: u64,
}

impl SigningKey {
    /// `[now - skew, now + ttl]`, ending no later than the credentials.
    fn window(&self, now: u64, ttl: u64) -> KeyTime {
        let window = window(now, ttl);
        KeyTime {
            end: window.end.min(self.expires),
            ..window
        }
    }
}

/// The actions a client asked for: a subset of the allowed ones, never
/// more (403 naming the first that is not allowed).
fn requested_actions(
    allowed: &AllowedActions,
    asked: Option<Vec<String>>,
) -> Result<Vec<CosAction>, ApiError> {
    let Some(asked) = asked else {
        return Ok(allowed.iter().collect());
    };
    let asked = AllowedActions::parse(&asked.join(","))
        .map_err(|e| ApiError::invalid_request(format!("actions: {e}")))?;
    if let Some(extra) = asked.iter().find(|a| !allowed.contains(*a)) {
        return Err(ApiError::forbidden(
            ErrorCode::OperationNotAllowed,
            OperationRefusal::NotAllowed(extra).to_string(),
        ));
    }
    Ok(asked.iter().collect())
}

/// STS's failures, as the contract answers them. The reason goes to the
/// log; the client learns only that STS could not help.
impl From<StsError> for ApiError {
    fn from(err: StsError) -> Self {
        tracing::error!(reason = %err, "no STS credentials");
        let message = "temporary credentials are not available right now";
        match err {
            StsError::LimitExceeded | StsError::Unavailable(_) => {
                ApiError::service_unavailable(ErrorCode::StsUnavailable, message).retry_after(5)
            }
            StsError::Refused(_) | StsError::BadAnswer(_) => {
                ApiError::bad_gateway(ErrorCode::StsUnavailable, message)
            }
        }
    }
}

/// `[now - skew, now + ttl]`.
fn window(now: u64, ttl: u64) -> KeyTime {
    KeyTime {
        start: now.saturating_sub(CLOCK_SKEW),
        end: now + ttl,
    }
}

/// The lifetime a client asked for, never more than the server allows.
fn requested_ttl(asked: Option<i64>, limit: u64) -> Result<u64, ApiError> {
    match asked {
        None => Ok(limit),
        Some(n) if n > 0 => Ok((n as u64).min(limit)),
        Some(_) => Err(ApiError::invalid_request("expires_in must be positive")),
    }
}

fn parse_method(raw: &str, allowed: &[&str]) -> Result<String, ApiError> {
    let method = raw.to_ascii_lowercase();
    if allowed.contains(&method.as_str()) {
        Ok(method)
    } else {
        Err(ApiError::invalid_request(format!(
            "method must be one of {}",
            allowed.join(", ")
        )))
    }
}

/// At most [`MAX_PAIRS`] names, none empty, too long or given twice (in any
/// case: COS would see one name, cosgate two).
fn checked_pairs(
    what: &str,
    pairs: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ApiError> {
    if pairs.len() > MAX_PAIRS {
        return Err(ApiError::invalid_request(format!(
            "at most {MAX_PAIRS} {what}"
        )));
    }
    let bad = pairs
        .iter()
        .find(|(k, v)| k.is_empty() || k.len() > 256 || v.len() > MAX_VALUE_BYTES);
    if let Some((name, _)) = bad {
        return Err(ApiError::invalid_request(format!(
            "{what}: {name:?} is empty or too long"
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(name) = pairs.keys().find(|k| !seen.insert(k.to_ascii_lowercase())) {
        return Err(ApiError::invalid_request(format!(
            "{what}: {name:?} is given twice"
        )));
    }
    Ok(pairs)
}

/// The object's URL at the bucket's endpoint, the key percent-encoded.
fn object_url(cos: &CosSettings, key: &ObjectKey) -> String {
    format!("{}/{}", cos.endpoint, v5::encode_key_path(key.as_str()))
}

/// The directory to sign: the one asked for, or the caller's own; refused if
/// malformed (400) or not the caller's to sign (403).
fn requested_dir(
    scope: &UploadScope,
    account: &str,
    requested: Option<&str>,
) -> Result<CosDir, ApiError> {
    // An empty `cos_path=` means the same as none: the 2017 server signed
    // the bucket root for it, which is never what a client wants.
    match requested.filter(|raw| !raw.is_empty()) {
        None => scope.home(account).map_err(scope_error),
        Some(raw) => CosDir::parse(raw)
            .map_err(|e| ApiError::bad_request(ErrorCode::InvalidPath, format!("cos_path: {e}"))),
    }
}

fn scope_error(err: ScopeError) -> ApiError {
    ApiError::forbidden(ErrorCode::PathNotAllowed, err.to_string())
}
