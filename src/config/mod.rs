//! Settings from the environment (and `.env`, loaded by `main`).
//!
//! [`Settings::from_lookup`] reads every section through one reader that
//! reports every problem at once, naming each variable. Development mode
//! fills in what is missing so `cargo run` works on a fresh machine;
//! production refuses to start without real secrets; and a server that has
//! real credentials must say which mode it is in. Secrets are
//! `SecretString`s: their `Debug` is redacted and they are exposed only where
//! a key is built.
//!
//! One file per section: [`jwt`], [`cos`], [`login`]; the reader in
//! `reader.rs`, the tests in `tests.rs`.

mod cos;
mod jwt;
mod local_cos;
mod login;
mod moderation;
mod reader;
mod sts;
mod uploads;
mod webhooks;

use std::net::{IpAddr, SocketAddr};

pub use cos::CosSettings;
pub use jwt::{JwtAlgorithm, JwtSettings};
pub use local_cos::LocalCosSettings;
pub use login::LoginSettings;
pub use moderation::{
    ModerationSettings, Outcome as ModerationOutcome, Provider as ModerationProvider,
};
use reader::Reader;
pub use sts::{MAX_STS_TTL, SigningMode, StsSettings};
pub use uploads::{Profile, UploadSettings, parse_profiles};
pub use webhooks::WebhookSettings;

/// The longest a COS signature may be valid, whatever is configured: a day.
pub const MAX_SIGN_TTL: u64 = 86_400;
/// The longest an access token may live: a day.
pub const MAX_ACCESS_TTL: u64 = 86_400;
/// The longest a refresh token may live: a year.
pub const MAX_REFRESH_TTL: u64 = 365 * 86_400;
/// The shortest OAuth client secret production accepts.
pub const MIN_CLIENT_SECRET_BYTES: usize = 16;
/// The longest a v5 signature may live: two hours.
pub const MAX_V5_TTL: u64 = 7200;
/// The largest single upload COS accepts through POST Object: 5 GiB.
pub const MAX_UPLOAD_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// The most clock difference JWT checks may tolerate.
pub const MAX_JWT_LEEWAY: u64 = 300;
/// The shortest `JWT_SECRET` production accepts (HS256 wants 256 bits).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// Every default, in one place.
mod defaults {
    pub const BIND: &str = "127.0.0.1:7777";
    pub const MAX_REQUEST_BODY_BYTES: usize = 64 * 1024;
    pub const RATE_LIMIT_SIGN_PER_MIN: u32 = 120;
    pub const RATE_LIMIT_LOGIN_PER_MIN: u32 = 30;
    /// 20 parts a second: at the SDKs' 1 MiB parts, 1.2 GB a minute.
    pub const RATE_LIMIT_PARTS_PER_MIN: u32 = 1200;
    pub const DATABASE_URL: &str = "sqlite://cosgate.db";
    pub const JWT_ISSUER: &str = "cosgate";
    pub const JWT_AUDIENCE: &str = "cosgate";
    pub const JWT_LEEWAY: u64 = 30;
    /// Minutes, as the OAuth security BCP advises: a stolen access token
    /// (and the signing it allows) is short-lived.
    pub const JWT_ACCESS_TTL: u64 = 900;
    pub const REFRESH_TOKEN_TTL: u64 = 30 * 86_400;
    pub const QCOS_SIGN_TTL: u64 = 3600;
    pub const QCOS_UPLOAD_ROOT: &str = "/uploads";
    pub const QCOS_PER_ACCOUNT_DIRS: bool = true;
    pub const QCOS_V5_TTL: u64 = 900;
    pub const QCOS_MAX_UPLOAD_BYTES: u64 = 10 * 1024 * 1024;
    pub const WECHAT_API_BASE: &str = "https://api.weixin.qq.com";
    pub const WECHAT_TIMEOUT_MS: u64 = 5000;
    pub const AUTO_REGISTER: bool = true;
    pub const TENCENT_STS_ENDPOINT: &str = "https://sts.tencentcloudapi.com";
    pub const TENCENT_STS_TIMEOUT_MS: u64 = 5000;
    pub const QCOS_STS_TTL: u64 = 1800;
    pub const QCOS_STS_CACHE_ENTRIES: usize = 10_000;
    pub const SESSION_CHECK_SECONDS: u64 = 30;
}

/// Development stand-ins. Production refuses any of them.
mod placeholder {
    pub const APPID: &str = "1250000000";
    pub const SECRET_ID: &str = "AKIDplaceholder";
    pub const SECRET_KEY: &str = "placeholder-secret-key";
    pub const BUCKET: &str = "examplebucket";
    pub const WXAPP_ID: &str = "wx0000000000000000";
    pub const WXAPP_SECRET: &str = "placeholder-wxapp-secret";
    pub const OAUTH_CLIENTS: &str = "dev-client:dev-secret";
    /// A real region, so production accepts it when set explicitly.
    pub const REGION: &str = "ap-guangzhou";
    /// `.env.example`'s development JWT secret.
    pub const JWT_SECRET: &str = "dev-only-secret-do-not-use-in-production-0123456789";
    /// The values production refuses, wherever they appear.
    const REFUSED: [&str; 8] = [
        APPID,
        SECRET_ID,
        SECRET_KEY,
        BUCKET,
        WXAPP_ID,
        WXAPP_SECRET,
        OAUTH_CLIENTS,
        JWT_SECRET,
    ];

    pub fn looks_like_one(value: &str) -> bool {
        let lower = value.to_ascii_lowercase();
        REFUSED.contains(&value)
            || [
                "placeholder",
                "changeme",
                "change-me",
                "your-",
                "do-not-use",
            ]
            .iter()
            .any(|p| lower.contains(p))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub bind: SocketAddr,
    pub jwt: JwtSettings,
    pub cos: CosSettings,
    pub login: LoginSettings,
    pub sts: StsSettings,
    pub uploads: UploadSettings,
    pub webhooks: WebhookSettings,
    /// `MODERATION`: a content check before an upload completes; `None`
    /// is off.
    pub moderation: Option<ModerationSettings>,
    /// `LOCAL_COS`: development's own bucket (and STS) on loopback, which
    /// `cos.endpoint` and `sts.endpoint` then point at.
    pub local_cos: Option<LocalCosSettings>,
    /// `DATABASE_URL`: `sqlite://…` (the default) or `postgres://…`.
    pub database_url: String,
    /// `MAX_REQUEST_BODY_BYTES`: larger bodies are refused unread (413).
    pub max_body_bytes: usize,
    /// `RATE_LIMIT_SIGN_PER_MIN` (per account) and `RATE_LIMIT_LOGIN_PER_MIN`
    /// (per client address); 0 turns one off.
    pub rate_limit_sign_per_min: u32,
    pub rate_limit_login_per_min: u32,
    /// `RATE_LIMIT_PARTS_PER_MIN` (per account): `UploadPart` signatures,
    /// counted apart from the other signatures; 0 counts them with those.
    pub rate_limit_parts_per_min: u32,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// `METRICS_TOKEN`: the bearer token `/metrics` asks for, if set.
    pub metrics_token: Option<secrecy::SecretString>,
    /// `METRICS_BIND`: serve `/metrics` on this address instead of on the
    /// API's (e.g. a port only the scraper reaches).
    pub metrics_bind: Option<SocketAddr>,
    /// `CORS_ALLOWED_ORIGINS`: web origins that may call the API from a
    /// browser; `["*"]` for any (development only); empty for none.
    pub cors_origins: Vec<String>,
    /// `REDIS_URL`: rate limits shared by every replica; `None` is per
    /// replica. Never logged (it may hold a password).
    pub redis_url: Option<secrecy::SecretString>,
    /// `DATABASE_MIGRATE_ON_START`: `serve` brings the schema up to date
    /// (default); `false` leaves that to `cosgate migrate` and refuses to
    /// start on an older schema.
    pub migrate_on_start: bool,
    /// `SESSION_CHECK_SECONDS`: how long a replica trusts what it learnt of
    /// a login session, so the bound within which a logout on another
    /// replica stops that session's access tokens.
    pub session_check_seconds: u64,
    /// Variables development mode filled in, for the startup banner.
    pub filled_in: Vec<&'static str>,
}

/// Every problem found in the environment, one line per variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cosgate cannot start; fix these settings:\n{}", bullets(.problems))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

fn bullets(problems: &[String]) -> String {
    problems.iter().map(|p| format!("  - {p}\n")).collect()
}

/// Credentials that only a real deployment has. Set for real while
/// `COSGATE_ENV` is not, they mean someone forgot to say "production".
const REAL_CREDENTIALS: [&str; 4] = [
    "QCOS_SECRET_ID",
    "QCOS_SECRET_KEY",
    "WXAPP_ID",
    "WXAPP_SECRET",
];

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, which returns a variable's value.
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader::new(&lookup);
        let environment = read_environment(&mut r);
        let bind = read_bind(&mut r, environment);
        let jwt = JwtSettings::read(&mut r);
        let database_url = r.text("DATABASE_URL", defaults::DATABASE_URL);
        let local_cos = LocalCosSettings::read(&mut r, environment, &database_url);
        let local_endpoint = local_cos.as_ref().map(LocalCosSettings::endpoint);
        let cos = CosSettings::read(&mut r, environment, local_endpoint.as_deref());
        let login = LoginSettings::read(&mut r);
        let sts = StsSettings::read(&mut r, environment, local_endpoint.as_deref());
        let uploads = UploadSettings::read(&mut r, environment);
        let webhooks = WebhookSettings::read(&mut r);
        let moderation = ModerationSettings::read(&mut r, environment);
        if moderation.is_some()
            && environment == Environment::Production
            && sts.signing == SigningMode::Root
        {
            // With the root key, a client's signed PUT can carry an unsigned
            // `x-cos-copy-source` naming a key in review or in quarantine.
            r.problem(
                "MODERATION",
                "needs QCOS_SIGNING=sts in production: with the root key an upload can copy content in review or in quarantine into a readable key",
            );
        }
        check_roots_apart(&mut r, &cos, &uploads, moderation.as_ref());
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| database_url.starts_with(p))
        {
            r.problem("DATABASE_URL", "use sqlite://FILE or postgres://…");
        }
        let migrate_on_start = r.parse("DATABASE_MIGRATE_ON_START", true);
        let redis_url = r.get("REDIS_URL");
        if let Some(url) = &redis_url
            && redis::Client::open(url.as_str()).is_err()
        {
            // Never echoed: it may hold a password.
            r.problem("REDIS_URL", "is not a redis:// URL");
        }
        let redis_url = redis_url.map(secrecy::SecretString::from);
        let cors_origins = read_cors_origins(&mut r, environment);
        let rate_limit_sign_per_min = r.parse_within(
            "RATE_LIMIT_SIGN_PER_MIN",
            defaults::RATE_LIMIT_SIGN_PER_MIN,
            0..=1_000_000,
            " (0 is no limit)",
        );
        let rate_limit_login_per_min = r.parse_within(
            "RATE_LIMIT_LOGIN_PER_MIN",
            defaults::RATE_LIMIT_LOGIN_PER_MIN,
            0..=1_000_000,
            " (0 is no limit)",
        );
        let rate_limit_parts_per_min = r.parse_within(
            "RATE_LIMIT_PARTS_PER_MIN",
            defaults::RATE_LIMIT_PARTS_PER_MIN,
            0..=1_000_000,
            " (0 counts parts with the other signatures)",
        );
        let trusted_proxies = r
            .text("TRUSTED_PROXIES", "")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .filter_map(|p| {
                p.parse()
                    .map_err(|_| {
                        r.problem("TRUSTED_PROXIES", format!("{p:?} is not an IP address"))
                    })
                    .ok()
            })
            .collect();
        let max_body_bytes = r.parse_within(
            "MAX_REQUEST_BODY_BYTES",
            defaults::MAX_REQUEST_BODY_BYTES,
            1024..=1024 * 1024,
            " bytes",
        );
        let metrics_bind = read_metrics_bind(&mut r);
        let session_check_seconds = r.parse_within(
            "SESSION_CHECK_SECONDS",
            defaults::SESSION_CHECK_SECONDS,
            1..=300,
            " seconds",
        );
        let metrics_token = read_metrics_token(&mut r, environment, metrics_bind);
        if !r.problems.is_empty() {
            return Err(ConfigError {
                problems: r.problems,
            });
        }
        Ok(Settings {
            environment,
            bind,
            jwt,
            cos,
            login,
            sts,
            uploads,
            webhooks,
            moderation,
            local_cos,
            database_url,
            migrate_on_start,
            redis_url,
            max_body_bytes,
            cors_origins,
            rate_limit_sign_per_min,
            rate_limit_login_per_min,
            rate_limit_parts_per_min,
            trusted_proxies,
            metrics_token,
            metrics_bind,
            session_check_seconds,
            filled_in: r.filled_in,
        })
    }

    /// Points the bucket and STS at the local COS where it really listens
    /// (its port is known only once bound, `LOCAL_COS_BIND=127.0.0.1:0`).
    pub fn use_local_cos_at(&mut self, addr: SocketAddr) {
        let Some(local) = &mut self.local_cos else {
            return;
        };
        local.bind = addr;
        let endpoint = local.endpoint();
        self.cos.point_at(&endpoint);
        self.sts.endpoint = endpoint;
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// Production signing v4 directories with the root key, chosen
    /// explicitly: worth a warning at every start.
    pub fn signs_v4_in_production(&self) -> bool {
        self.is_production() && self.cos.v4_enabled
    }

    /// Production signing with the root key, chosen explicitly: worth a
    /// warning at every start.
    pub fn signs_with_root_in_production(&self) -> bool {
        self.is_production() && self.sts.signing == SigningMode::Root
    }
}

/// `COSGATE_ENV`. Unset means development, unless real credentials are set:
/// then it must be said explicitly, so that a real deployment never serves
/// development's conveniences (dev logins, the example page with a client
/// secret) by accident.
fn read_environment(r: &mut Reader<'_>) -> Environment {
    let environment = match r.get("COSGATE_ENV").as_deref() {
        Some("development") => Environment::Development,
        Some("production") => Environment::Production,
        None => {
            let real: Vec<&str> = REAL_CREDENTIALS
                .into_iter()
                .filter(|name| {
                    r.get(name)
                        .is_some_and(|v| !placeholder::looks_like_one(&v))
                })
                .collect();
            if !real.is_empty() {
                r.problem(
                    "COSGATE_ENV",
                    format!(
                        "not set, but real credentials are ({}); set COSGATE_ENV=production (or development) explicitly",
                        real.join(", ")
                    ),
                );
            }
            Environment::Development
        }
        Some(other) => {
            r.problem(
                "COSGATE_ENV",
                format!("{other:?} is neither `development` nor `production`"),
            );
            // The strict choice: the missing secrets are reported too.
            Environment::Production
        }
    };
    r.dev = environment == Environment::Development;
    environment
}

/// Upload sessions' keys and quarantined content must lie where no other
/// grant reaches: with `QCOS_PER_ACCOUNT_DIRS=false` every key below
/// `QCOS_UPLOAD_ROOT` is signable by any account, so neither may be below
/// it; and quarantine must not hold or be held by sessions' keys.
fn check_roots_apart(
    r: &mut Reader<'_>,
    cos: &CosSettings,
    uploads: &UploadSettings,
    moderation: Option<&ModerationSettings>,
) {
    let within = |inner: &crate::paths::CosDir, outer: &crate::paths::CosDir| {
        inner.key_prefix().starts_with(&outer.key_prefix())
    };
    let scope = &cos.policy.scope;
    if !scope.per_account && within(&uploads.session_root, &scope.root) {
        r.problem(
            "UPLOAD_SESSION_ROOT",
            "lies below QCOS_UPLOAD_ROOT, where with QCOS_PER_ACCOUNT_DIRS=false any account may sign; choose a directory apart",
        );
    }
    // With moderation, an upload in review must be readable through no
    // grant at all, its owner's included.
    if moderation.is_some()
        && (within(&uploads.session_root, &scope.root)
            || within(&scope.root, &uploads.session_root))
    {
        r.problem(
            "UPLOAD_SESSION_ROOT",
            "overlaps QCOS_UPLOAD_ROOT while MODERATION is on: uploads in review would be readable through other grants; choose a directory apart",
        );
    }
    if let Some(quarantine) = moderation.and_then(|m| m.quarantine_root.as_ref()) {
        if within(quarantine, &scope.root) || within(&scope.root, quarantine) {
            r.problem(
                "MODERATION_QUARANTINE_ROOT",
                "overlaps QCOS_UPLOAD_ROOT, where accounts sign; choose a directory apart",
            );
        }
        if within(quarantine, &uploads.session_root) || within(&uploads.session_root, quarantine) {
            r.problem(
                "MODERATION_QUARANTINE_ROOT",
                "overlaps UPLOAD_SESSION_ROOT; choose a directory apart",
            );
        }
    }
}

/// `CORS_ALLOWED_ORIGINS`: exact origins, `scheme://host[:port]`, comma
/// separated. `*` (any origin) is refused in production.
fn read_cors_origins(r: &mut Reader<'_>, environment: Environment) -> Vec<String> {
    let Some(raw) = r.get("CORS_ALLOWED_ORIGINS") else {
        return Vec::new();
    };
    let mut origins = Vec::new();
    for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if origin == "*" {
            if environment == Environment::Production {
                r.problem(
                    "CORS_ALLOWED_ORIGINS",
                    "`*` is refused in production; list the origins",
                );
            }
            origins.push(origin.to_string());
            continue;
        }
        let well_formed = origin.split_once("://").is_some_and(|(scheme, host)| {
            (scheme == "https" || scheme == "http")
                && !host.is_empty()
                && !host.contains(['/', '?', '#', '*'])
        });
        if !well_formed {
            r.problem(
                "CORS_ALLOWED_ORIGINS",
                format!("{origin:?} is not an origin (scheme://host[:port])"),
            );
        }
        origins.push(origin.to_ascii_lowercase());
    }
    origins
}

/// `COSGATE_BIND`. Development listens beyond loopback only when
/// `COSGATE_ENV=development` says so explicitly.
fn read_bind(r: &mut Reader<'_>, environment: Environment) -> SocketAddr {
    let default: SocketAddr = defaults::BIND.parse().expect("a valid literal address");
    let bind = r.parse("COSGATE_BIND", default);
    let explicit = r.get("COSGATE_ENV").is_some();
    if environment == Environment::Development && !explicit && !bind.ip().is_loopback() {
        r.problem(
            "COSGATE_BIND",
            format!(
                "{bind} is not a loopback address; development mode listens beyond this machine only with COSGATE_ENV=development set explicitly"
            ),
        );
    }
    bind
}

/// The shortest `METRICS_TOKEN` production accepts.
const MIN_METRICS_TOKEN_BYTES: usize = 16;

/// `METRICS_TOKEN`. Production needs one, strong and not a placeholder,
/// unless `/metrics` listens on its own loopback or private address.
fn read_metrics_token(
    r: &mut Reader<'_>,
    environment: Environment,
    bind: Option<SocketAddr>,
) -> Option<secrecy::SecretString> {
    let token = r.get("METRICS_TOKEN");
    if environment != Environment::Production {
        return token.map(secrecy::SecretString::from);
    }
    match &token {
        Some(t) if t.len() < MIN_METRICS_TOKEN_BYTES || placeholder::looks_like_one(t) => {
            r.problem(
                "METRICS_TOKEN",
                format!("is a placeholder or shorter than {MIN_METRICS_TOKEN_BYTES} bytes"),
            );
        }
        Some(_) => {}
        None if bind.is_some_and(|a| reachable_only_inside(a.ip())) => {}
        None => r.problem(
            "METRICS_TOKEN",
            "production needs METRICS_TOKEN (a bearer token /metrics asks for), or METRICS_BIND on a loopback or private address (/metrics on an address only the scraper reaches): metrics name every operation's traffic",
        ),
    }
    token.map(secrecy::SecretString::from)
}

/// Loopback, or a private range (RFC 1918, IPv6 unique local).
fn reachable_only_inside(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

fn read_metrics_bind(r: &mut Reader<'_>) -> Option<SocketAddr> {
    let raw = r.get("METRICS_BIND")?;
    match raw.parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            r.problem("METRICS_BIND", format!("{raw:?} is not an address:port"));
            None
        }
    }
}

#[cfg(test)]
mod tests;
