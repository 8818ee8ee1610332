//! The COS signing service: what a logged-in account can get signed, one
//! method per capability (a v4 directory signature, a v5 request signature,
//! a presigned URL, a POST Object form, STS credentials).
//!
//! Each method runs the same steps in the same order: the account's rate
//! limit, then the signing policy ([`crate::policy::signing`], the one place
//! that decides), then the daily quota, then the key that signs (the root
//! key, or the account's STS credentials), then the signature of exactly
//! the [`Grant`] the policy returned. Nothing reaches a signer before the
//! policy has accepted it. Time is read once per request by the caller and
//! passed in. Knows no HTTP: the handlers in `src/api/cos.rs` translate
//! requests into these calls and [`SignError`] into the contract's answers.

mod error;

pub use error::SignError;

use std::{collections::BTreeMap, sync::Arc};

use secrecy::SecretString;

use crate::{
    clock::random_below,
    config::{CosSettings, Settings, SigningMode},
    metrics::Metrics,
    paths::{CosDir, ObjectKey},
    policy::{
        cam,
        operation::{AllowedActions, CosAction, OperationRefusal},
        signing::{Grant, RequestToSign},
    },
    ratelimit::Limits,
    signer::{
        Credentials, v4,
        v5::{self, KeyCondition, KeyTime, SignedPairs},
    },
    store::Store,
    sts::CredentialCache,
};

/// How far back v5 windows start, for phone clocks that run behind (the
/// Python SDK uses the same minute).
const CLOCK_SKEW: u64 = 60;
const SECONDS_PER_DAY: u64 = 86_400;
/// The cache key of the credentials cosgate signs with in STS mode: never
/// an action list, so never shared with credentials handed to a client.
const SIGNING_PURPOSE: &str = "sign";
/// The cache key of the credentials upload sessions are signed with.
const SESSION_PURPOSE: &str = "session";
/// The longest `content_type_prefix` a POST policy carries.
const MAX_CONTENT_TYPE_PREFIX: usize = 128;

/// Signs COS requests for accounts. Built once at start; cheap to share.
#[derive(Debug)]
pub struct Signing {
    cos: CosSettings,
    mode: SigningMode,
    /// `QCOS_STS_TTL`: the longest STS credentials live.
    sts_ttl: u64,
    sts: CredentialCache,
    store: Store,
    limits: Limits,
    metrics: Arc<Metrics>,
    /// A byte quota is on and the operator did not opt into grants that
    /// cannot be counted in bytes (`QCOS_ALLOW_UNMETERED_GRANTS`): those are
    /// refused, and uploads go through sessions.
    metered_only: bool,
}

/// A v4 multi-use signature for a directory (the 2017 API).
#[derive(Debug)]
pub struct V4Directory {
    pub sign: String,
    pub expired: u64,
    pub upload_url: String,
    pub dir: CosDir,
}

/// A v5 `Authorization` for one request.
#[derive(Debug)]
pub struct SignedRequest {
    pub authorization: String,
    pub key_time: KeyTime,
    /// The host the signature is for (the bucket's).
    pub host: String,
    /// The object's URL.
    pub url: String,
    /// The STS token that must travel with the signature, in STS mode.
    pub security_token: Option<String>,
}

/// A presigned URL and its window.
#[derive(Debug)]
pub struct Presigned {
    pub url: String,
    pub key_time: KeyTime,
}

/// A request an upload session decided on, to be signed as it is.
#[derive(Debug, Clone, Copy)]
pub struct ExactRequest<'a> {
    /// Lower case, as v5 signs it.
    pub method: &'a str,
    pub key: &'a ObjectKey,
    pub query: &'a [(&'a str, &'a str)],
    /// Without the host, which is always signed.
    pub headers: &'a [(&'a str, &'a str)],
    /// The session's directory: in STS mode the signing credentials are
    /// confined to it (and to `max_put` bytes per PUT).
    pub dir: &'a CosDir,
    pub max_put: u64,
}

/// What a POST Object form may upload, as the client asked.
#[derive(Debug, Default)]
pub struct PostPolicyAsk {
    pub key: Option<String>,
    pub key_prefix: Option<String>,
    pub max_size_bytes: Option<i64>,
    pub content_type_prefix: Option<String>,
}

/// A signed POST Object form.
#[derive(Debug)]
pub struct PostForm {
    /// Where the form is posted: the bucket's endpoint.
    pub url: String,
    pub fields: BTreeMap<String, String>,
    pub expired_time: u64,
    pub max_size_bytes: u64,
}

/// STS credentials for the caller, in the shape the SDKs'
/// `getAuthorization` callback takes.
#[derive(Debug)]
pub struct IssuedCredentials {
    pub tmp_secret_id: String,
    pub tmp_secret_key: SecretString,
    pub security_token: String,
    pub start_time: u64,
    pub expired_time: u64,
    /// `{bucket}-{appid}`.
    pub bucket: String,
    pub region: String,
    /// The keys the credentials can write, `dir/*`.
    pub allow_prefix: String,
}

impl Signing {
    /// The service for `settings`: their bucket, signing mode, STS
    /// lifetime, and whether a byte quota makes unmetered grants refused.
    pub fn new(
        settings: &Settings,
        sts: CredentialCache,
        store: Store,
        limits: Limits,
        metrics: Arc<Metrics>,
    ) -> Self {
        let quota =
            settings.cos.daily_upload_bytes.is_some() || settings.uploads.storage_bytes.is_some();
        Self {
            cos: settings.cos.clone(),
            mode: settings.sts.signing,
            sts_ttl: settings.sts.ttl,
            sts,
            store,
            limits,
            metrics,
            metered_only: quota && !settings.uploads.allow_unmetered_grants,
        }
    }

    /// A v4 multi-use signature for `cos_path` (the caller's own directory
    /// when none or an empty one is given), with the root key: v4 has no
    /// temporary credentials. Only where `QCOS_V4_ENABLED` allows it.
    pub async fn v4_directory(
        &self,
        account: &str,
        cos_path: Option<&str>,
        now: u64,
    ) -> Result<V4Directory, SignError> {
        if !self.cos.v4_enabled {
            return Err(SignError::V4Disabled);
        }
        if self.metered_only {
            return Err(SignError::SessionRequired("a v4 directory signature"));
        }
        self.limit(account).await?;
        // An empty `cos_path=` means the same as none: the 2017 server signed
        // the bucket root for it, which is never what a client wants.
        let dir = match cos_path.filter(|raw| !raw.is_empty()) {
            None => self.cos.policy.scope.home(account)?,
            Some(raw) => CosDir::parse(raw).map_err(SignError::InvalidPath)?,
        };
        let bytes = self.cos.policy.directory(account, &dir)?;
        self.charge_quota(account, bytes, now).await?;
        let cos = &self.cos;
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
        self.metrics.signature("v4");
        Ok(V4Directory {
            sign: v4::sign(&cos.credentials, request),
            expired: request.expired(),
            upload_url: format!(
                "https://{}.file.myqcloud.com/files/v2/{}/{}{}",
                cos.region,
                cos.appid,
                cos.bucket,
                v4::encode_path(dir.as_str())
            ),
            dir,
        })
    }

    /// A v5 `Authorization` for one request as the SDKs' `getAuthorization`
    /// describes it. `sign_host: false` is refused: without the host the
    /// signature would work in every bucket of the account.
    pub async fn sign_request(
        &self,
        account: &str,
        request: RequestToSign<'_>,
        sign_host: Option<bool>,
        now: u64,
    ) -> Result<SignedRequest, SignError> {
        if sign_host == Some(false) {
            return Err(SignError::InvalidRequest(
                "sign_host must be true: without the host the signature would work in every bucket of the account".into(),
            ));
        }
        // Classified first: part signatures have a budget of their own, so
        // a large file can always finish. A refused request still counts
        // against the account's signing budget.
        let grant = match self.cos.policy.request(account, request) {
            Ok(grant) => grant,
            Err(refusal) => {
                self.limit(account).await?;
                return Err(refusal.into());
            }
        };
        if grant.action == CosAction::UploadPart {
            self.limit_part(account).await?;
        } else {
            self.limit(account).await?;
        }
        if self.metered_only && writes(grant.action) {
            return Err(SignError::SessionRequired(
                "an upload or multipart signature outside an upload session",
            ));
        }
        self.charge_quota(account, grant.content_length.unwrap_or(0), now)
            .await?;
        let signing = self.signing_key(account, None, now).await?;
        let key_time = signing.window(now, self.cos.v5_ttl);
        let path = grant.path();
        let authorization = sign_grant(&signing.credentials, &grant, &path, key_time);
        self.metrics.signature("v5_request");
        Ok(SignedRequest {
            authorization: authorization.to_string(),
            key_time,
            host: self.cos.host().to_string(),
            url: format!("{}{}", self.cos.endpoint, v5::encode_key_path(&path)),
            security_token: signing.token,
        })
    }

    /// A presigned URL: GET, or PUT of exactly `content_length` bytes,
    /// living `expires_in` seconds (never more than `QCOS_V5_TTL`).
    pub async fn presign(
        &self,
        account: &str,
        method: &str,
        key: &str,
        content_length: Option<i64>,
        expires_in: Option<i64>,
        now: u64,
    ) -> Result<Presigned, SignError> {
        self.limit(account).await?;
        if !["put", "get"]
            .iter()
            .any(|m| m.eq_ignore_ascii_case(method))
        {
            return Err(SignError::InvalidRequest(
                "method must be one of put, get".into(),
            ));
        }
        let grant = self
            .cos
            .policy
            .presigned(account, method, key, content_length)?;
        if self.metered_only && writes(grant.action) {
            return Err(SignError::SessionRequired(
                "a presigned PUT, whose bytes no session reserves",
            ));
        }
        self.charge_quota(account, grant.content_length.unwrap_or(0), now)
            .await?;
        let ttl = requested_ttl(expires_in, self.cos.v5_ttl)?;
        let signing = self.signing_key(account, None, now).await?;
        let key_time = signing.window(now, ttl);
        let authorization = sign_grant(&signing.credentials, &grant, &grant.path(), key_time);
        self.metrics.signature("presigned");
        // The token rides along unsigned, as the SDKs' getObjectUrl sends it.
        let token = signing
            .token
            .map(|t| format!("&x-cos-security-token={}", v5::encode(&t)))
            .unwrap_or_default();
        Ok(Presigned {
            url: format!(
                "{}?{}{token}",
                self.object_url(&grant.key),
                authorization.query_string()
            ),
            key_time,
        })
    }

    /// A POST Object form for one key, or for any key below a directory of
    /// the caller's, with a size limit and optionally a content-type prefix.
    pub async fn post_policy(
        &self,
        account: &str,
        ask: PostPolicyAsk,
        now: u64,
    ) -> Result<PostForm, SignError> {
        self.limit(account).await?;
        if self.metered_only {
            return Err(SignError::SessionRequired(
                "a POST policy, whose bytes no session reserves",
            ));
        }
        let policy = &self.cos.policy;
        let max_size = match ask.max_size_bytes {
            None => None,
            Some(n) if n > 0 => Some(n as u64),
            Some(_) => {
                return Err(SignError::InvalidRequest(
                    "max_size_bytes must be positive".into(),
                ));
            }
        };
        let (key, max_size_bytes) = match (ask.key, ask.key_prefix) {
            (Some(_), Some(_)) => {
                return Err(SignError::InvalidRequest(
                    "give key or key_prefix, not both".into(),
                ));
            }
            (Some(key), None) => {
                let (key, max) = policy.post_policy_key(account, &key, max_size)?;
                (KeyCondition::Exact(key.to_string()), max)
            }
            (None, prefix) => {
                let requested = prefix
                    .as_deref()
                    .map(CosDir::parse_prefix)
                    .transpose()
                    .map_err(SignError::InvalidKeyPrefix)?;
                let (dir, max) = policy.post_policy(account, requested.as_ref(), max_size)?;
                (KeyCondition::Prefix(dir.key_prefix()), max)
            }
        };
        let content_type_prefix = ask.content_type_prefix.filter(|p| !p.is_empty());
        if let Some(p) = &content_type_prefix
            && (p.len() > MAX_CONTENT_TYPE_PREFIX || p.chars().any(char::is_control))
        {
            return Err(SignError::InvalidRequest(
                "content_type_prefix is not a media type prefix".into(),
            ));
        }
        self.charge_quota(account, max_size_bytes, now).await?;
        let signing = self.signing_key(account, None, now).await?;
        let key_time = signing.window(now, self.cos.v5_ttl);
        let form = v5::PostPolicy {
            key_time,
            bucket: &self.cos.bucket_with_appid(),
            key,
            max_size_bytes,
            content_type_prefix: content_type_prefix.as_deref(),
            security_token: signing.token.as_deref(),
        }
        .sign(&signing.credentials);
        self.metrics.signature("post_policy");
        Ok(PostForm {
            url: format!("{}/", self.cos.endpoint),
            fields: form.fields,
            expired_time: key_time.end,
            max_size_bytes,
        })
    }

    /// Temporary credentials for the caller: the actions asked for (all the
    /// server allows when none are named), on the caller's directory only,
    /// living `duration` seconds (never more than `QCOS_STS_TTL`).
    pub async fn credentials(
        &self,
        account: &str,
        actions: Option<Vec<String>>,
        duration: Option<i64>,
        now: u64,
    ) -> Result<IssuedCredentials, SignError> {
        self.limit(account).await?;
        let actions = requested_actions(&self.cos.policy.allowed, actions)?;
        let duration = requested_ttl(duration, self.sts_ttl)?;
        let dir = self.cos.policy.scope.allowed(account)?;
        let names: Vec<&str> = actions.iter().map(|a| a.name()).collect();
        // A new grant counts its size against the quota, as any signature
        // that allows an upload does; a reused one is the same capability.
        let uploads = actions
            .iter()
            .any(|a| a.uploads_a_body() || *a == CosAction::PostObject);
        if self.metered_only && actions.iter().any(|a| writes(*a)) {
            return Err(SignError::SessionRequired(
                "STS credentials that can upload any number of files",
            ));
        }
        let charge = if uploads {
            self.cos.policy.max_upload_bytes
        } else {
            0
        };
        // Keyed by the actions only: the lifetime is the server's, and a
        // client that asked for less gets the same credentials with its
        // window clipped (they work until STS's expiry either way).
        let issued = self
            .sts
            .get(
                account,
                &names.join(","),
                || self.cam_policy(&dir, &actions, self.cos.policy.max_upload_bytes),
                now,
                || self.charge_quota(account, charge, now),
            )
            .await?;
        let granted = issued.credentials;
        self.metrics.signature("sts_credentials");
        Ok(IssuedCredentials {
            security_token: granted.token().to_string(),
            tmp_secret_id: granted.tmp_secret_id,
            tmp_secret_key: granted.tmp_secret_key,
            start_time: issued.start_time,
            expired_time: granted.expired_time.min(now + duration),
            bucket: self.cos.bucket_with_appid(),
            region: self.cos.region.clone(),
            allow_prefix: format!("{}*", dir.key_prefix()),
        })
    }

    /// Forgets what was cached for `account`'s signing (at logout): its STS
    /// credentials are not handed out again.
    pub fn forget(&self, account: &str) {
        self.sts.forget(account);
    }

    /// The CAM policy confining credentials to `dir` and `actions`, as the
    /// JSON STS takes. Built only when STS is about to be called.
    fn cam_policy(
        &self,
        dir: &CosDir,
        actions: &[CosAction],
        max_put: u64,
    ) -> Result<String, SignError> {
        let cos = &self.cos;
        let bucket = cam::Bucket {
            region: &cos.region,
            appid: &cos.appid,
            name: &cos.bucket,
        };
        let policy = cam::policy(bucket, dir, actions, max_put)?;
        serde_json::to_string(&policy).map_err(|e| SignError::Internal(e.to_string()))
    }

    /// The key v5 signatures for `account` are made with: its temporary
    /// credentials in STS mode (so COS itself confines what the signature
    /// can do, unsigned headers included), else the root key.
    /// `session` confines them to an upload session's directory instead
    /// (reads and uploads only, PUTs up to its size).
    async fn signing_key(
        &self,
        account: &str,
        session: Option<(&CosDir, u64)>,
        now: u64,
    ) -> Result<SigningKey, SignError> {
        if self.mode == SigningMode::Root {
            return Ok(SigningKey {
                credentials: self.cos.credentials.clone(),
                token: None,
                expires: u64::MAX,
            });
        }
        let (purpose, dir, actions, max_put) = match session {
            None => (
                SIGNING_PURPOSE,
                self.cos.policy.scope.allowed(account)?,
                self.cos.policy.allowed.iter().collect::<Vec<_>>(),
                self.cos.policy.max_upload_bytes,
            ),
            Some((dir, max_put)) => (
                SESSION_PURPOSE,
                dir.clone(),
                vec![
                    CosAction::PutObject,
                    CosAction::UploadPart,
                    CosAction::GetObject,
                    CosAction::HeadObject,
                ],
                max_put,
            ),
        };
        // Their own cache keys: these credentials never leave the server, so
        // they are not charged to the quota (each signature is).
        let issued = self
            .sts
            .get(
                account,
                purpose,
                || self.cam_policy(&dir, &actions, max_put),
                now,
                || async { Ok::<_, SignError>(()) },
            )
            .await?;
        let granted = issued.credentials;
        Ok(SigningKey {
            credentials: granted.signing_credentials(),
            token: Some(granted.token().to_string()),
            expires: granted.expired_time,
        })
    }

    /// A presigned request for an upload session: exactly `method` on
    /// `key` with `query`, and `headers` (plus the bucket's host) signed,
    /// with the account's signing key (its STS credentials in STS mode, so
    /// COS confines even unsigned headers), living `ttl` seconds. The
    /// session decided what is signed; no policy is asked.
    pub(crate) async fn presign_exact(
        &self,
        account: &str,
        request: ExactRequest<'_>,
        ttl: u64,
        now: u64,
    ) -> Result<Presigned, SignError> {
        let (authorization, key_time, token) = self.sign_exact(account, request, ttl, now).await?;
        let mut url = self.object_url(request.key);
        url.push('?');
        for (name, value) in request.query {
            url.push_str(&format!("{}={}&", v5::encode(name), v5::encode(value)));
        }
        url.push_str(&authorization.query_string());
        if let Some(token) = token {
            url.push_str(&format!("&x-cos-security-token={}", v5::encode(&token)));
        }
        Ok(Presigned { url, key_time })
    }

    /// [`presign_exact`](Self::presign_exact) as an `Authorization` header,
    /// for an SDK's `getAuthorization`.
    pub(crate) async fn authorize_exact(
        &self,
        account: &str,
        request: ExactRequest<'_>,
        ttl: u64,
        now: u64,
    ) -> Result<SignedRequest, SignError> {
        let (authorization, key_time, token) = self.sign_exact(account, request, ttl, now).await?;
        Ok(SignedRequest {
            authorization: authorization.to_string(),
            key_time,
            host: self.cos.host().to_string(),
            url: self.object_url(request.key),
            security_token: token,
        })
    }

    async fn sign_exact(
        &self,
        account: &str,
        request: ExactRequest<'_>,
        ttl: u64,
        now: u64,
    ) -> Result<(v5::Authorization, KeyTime, Option<String>), SignError> {
        let signing = self
            .signing_key(account, Some((request.dir, request.max_put)), now)
            .await?;
        let key_time = signing.window(now, ttl);
        let path = request.key.path();
        let signed = v5::Request {
            method: request.method,
            path: &path,
            query: SignedPairs::new(request.query.iter().copied()),
            headers: SignedPairs::new(
                request
                    .headers
                    .iter()
                    .copied()
                    .chain([("host", self.cos.host())]),
            ),
            key_time,
        };
        let authorization = v5::sign(&signing.credentials, &signed);
        self.metrics.signature("upload_session");
        Ok((authorization, key_time, signing.token))
    }

    /// `RATE_LIMIT_SIGN_PER_MIN` for `account`.
    pub(crate) async fn limit(&self, account: &str) -> Result<(), SignError> {
        self.limits.sign(account).await.map_err(|wait| {
            self.metrics.rate_limited("sign");
            SignError::RateLimited {
                retry_after: wait.0,
            }
        })
    }

    /// `RATE_LIMIT_PARTS_PER_MIN` for `account`'s part signatures.
    pub(crate) async fn limit_part(&self, account: &str) -> Result<(), SignError> {
        self.limits.part(account).await.map_err(|wait| {
            self.metrics.rate_limited("parts");
            SignError::RateLimited {
                retry_after: wait.0,
            }
        })
    }

    /// Counts `bytes` against the caller's quota for today (UTC), if one is
    /// configured; refused until midnight once it is used up.
    async fn charge_quota(&self, account: &str, bytes: u64, now: u64) -> Result<(), SignError> {
        let Some(limit) = self.cos.daily_upload_bytes else {
            return Ok(());
        };
        let day = now / SECONDS_PER_DAY;
        let charged = self
            .store
            .charge_upload(account, day as i64, bytes as i64, limit as i64)
            .await?;
        if charged {
            return Ok(());
        }
        Err(SignError::QuotaExceeded {
            limit,
            retry_after: (day + 1) * SECONDS_PER_DAY - now,
        })
    }

    /// The object's URL at the bucket's endpoint, the key percent-encoded.
    fn object_url(&self, key: &ObjectKey) -> String {
        format!(
            "{}/{}",
            self.cos.endpoint,
            v5::encode_key_path(key.as_str())
        )
    }
}

/// Whether `action` writes to the bucket: what, while a byte quota is on,
/// only upload sessions sign.
fn writes(action: CosAction) -> bool {
    matches!(
        action,
        CosAction::PutObject
            | CosAction::PostObject
            | CosAction::UploadPart
            | CosAction::InitiateMultipartUpload
            | CosAction::CompleteMultipartUpload
            | CosAction::AbortMultipartUpload
            | CosAction::DeleteObject
    )
}

/// The v5 signature of exactly what `grant` allows, on `path`.
fn sign_grant(
    credentials: &Credentials,
    grant: &Grant,
    path: &str,
    key_time: KeyTime,
) -> v5::Authorization {
    let pairs = |pairs: &'_ [(String, String)]| {
        SignedPairs::new(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    };
    let request = v5::Request {
        method: &grant.method,
        path,
        query: pairs(&grant.query),
        headers: pairs(&grant.headers),
        key_time,
    };
    v5::sign(credentials, &request)
}

/// What signs a v5 request, and the token that must go with it.
struct SigningKey {
    credentials: Credentials,
    token: Option<String>,
    /// When the credentials stop working: no signature outlives them.
    expires: u64,
}

impl SigningKey {
    /// `[now - skew, now + ttl]`, ending no later than the credentials.
    fn window(&self, now: u64, ttl: u64) -> KeyTime {
        KeyTime {
            start: now.saturating_sub(CLOCK_SKEW),
            end: (now + ttl).min(self.expires),
        }
    }
}

/// The actions a client asked for: a subset of the allowed ones, never
/// more (refused naming the first that is not allowed).
fn requested_actions(
    allowed: &AllowedActions,
    asked: Option<Vec<String>>,
) -> Result<Vec<CosAction>, SignError> {
    let Some(asked) = asked else {
        return Ok(allowed.iter().collect());
    };
    let asked = AllowedActions::parse(&asked.join(","))
        .map_err(|e| SignError::InvalidRequest(format!("actions: {e}")))?;
    if let Some(extra) = asked.iter().find(|a| !allowed.contains(*a)) {
        return Err(OperationRefusal::NotAllowed(extra).into());
    }
    Ok(asked.iter().collect())
}

/// The lifetime a client asked for, never more than the server allows.
fn requested_ttl(asked: Option<i64>, limit: u64) -> Result<u64, SignError> {
    match asked {
        None => Ok(limit),
        Some(n) if n > 0 => Ok((n as u64).min(limit)),
        Some(_) => Err(SignError::InvalidRequest(
            "expires_in must be positive".into(),
        )),
    }
}
