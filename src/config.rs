//! Settings from the environment (and `.env`, loaded by `main`).
//!
//! [`Settings::from_lookup`] reads every variable, validates it, and reports
//! every problem at once, naming each variable. Development mode fills in
//! what is missing so `cargo run` works on a fresh machine; production mode
//! refuses to start without real secrets. Secrets are `SecretString`s: their
//! `Debug` is redacted and they are exposed only where a key is built.

use std::{fmt, net::SocketAddr};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::SecretString;

use crate::policy::{CosDir, UploadScope};
use crate::signer::Credentials;

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
    /// The values production refuses, wherever they appear.
    pub const REFUSED: [&str; 7] = [
        APPID,
        SECRET_ID,
        SECRET_KEY,
        BUCKET,
        WXAPP_ID,
        WXAPP_SECRET,
        OAUTH_CLIENTS,
    ];
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
    /// `DATABASE_URL`: `sqlite://…` (the default) or `postgres://…`.
    pub database_url: String,
    /// Variables development mode filled in, for the startup banner.
    pub filled_in: Vec<&'static str>,
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub secret: SecretString,
    pub issuer: String,
    pub audience: String,
    /// Seconds of clock difference tolerated on `exp`, `iat` and `nbf`.
    pub leeway: u64,
    /// Lifetime of access tokens issued at login, seconds.
    pub access_ttl: u64,
    /// Lifetime of refresh tokens, seconds.
    pub refresh_ttl: u64,
}

#[derive(Debug, Clone)]
pub struct LoginSettings {
    pub wxapp_id: String,
    pub wxapp_secret: SecretString,
    /// Base URL of WeChat's API; tests point it at a fake on loopback.
    pub wechat_api_base: String,
    pub wechat_timeout_ms: u64,
    /// The first login creates the account; otherwise register explicitly.
    pub auto_register: bool,
    /// `code = dev-<name>` logs in without WeChat. Development only.
    pub dev_login: bool,
    /// `OAUTH_CLIENTS`: `(client_id, client_secret)`.
    pub oauth_clients: Vec<(String, SecretString)>,
}

#[derive(Debug, Clone)]
pub struct CosSettings {
    pub appid: String,
    pub credentials: Credentials,
    /// The bare bucket name, without `-appid`.
    pub bucket: String,
    pub region: String,
    /// How long a v4 signature from `/v1/qc_cos/config` is valid, seconds.
    pub sign_ttl: u64,
    pub scope: UploadScope,
    /// The longest a v5 signature, presigned URL or POST policy lives.
    pub v5_ttl: u64,
    /// The largest upload a POST policy allows, bytes.
    pub max_upload_bytes: u64,
    /// The bucket's v5 endpoint, `https://{bucket}-{appid}.cos.{region}.myqcloud.com`
    /// unless `QCOS_ENDPOINT` names another (a custom domain, or a fake COS).
    pub endpoint: String,
}

impl CosSettings {
    /// The `Host` the bucket is reached at, which v5 signatures sign.
    pub fn host(&self) -> &str {
        self.endpoint
            .split_once("://")
            .map_or(self.endpoint.as_str(), |(_, host)| host)
    }

    /// The bucket's name in v5 APIs, `{bucket}-{appid}`.
    pub fn bucket_with_appid(&self) -> String {
        format!("{}-{}", self.bucket, self.appid)
    }
}

/// Every problem found in the environment, one line per variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "cosgate cannot start; fix these settings:")?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, which returns a variable's value.
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader {
            lookup: &lookup,
            problems: Vec::new(),
            filled_in: Vec::new(),
        };

        let environment = match r.get("COSGATE_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                r.problem(format!(
                    "COSGATE_ENV: {other:?} is neither `development` nor `production`"
                ));
                Environment::Production
            }
        };
        let dev = environment == Environment::Development;

        let bind = r.parse(
            "COSGATE_BIND",
            "127.0.0.1:7777".parse().expect("a valid literal address"),
        );

        let secret = match r.get("JWT_SECRET") {
            Some(s) if s.len() < MIN_JWT_SECRET_BYTES && !dev => {
                r.problem(format!(
                    "JWT_SECRET: {} bytes is too short; use at least {MIN_JWT_SECRET_BYTES} random bytes (openssl rand -base64 48)",
                    s.len()
                ));
                SecretString::from(s)
            }
            Some(s) => SecretString::from(s),
            None if dev => {
                r.filled_in.push("JWT_SECRET");
                ephemeral_secret()
            }
            None => {
                r.problem(
                    "JWT_SECRET: not set; use at least 32 random bytes (openssl rand -base64 48)"
                        .into(),
                );
                SecretString::from(String::new())
            }
        };
        let leeway = r.parse("JWT_LEEWAY", 30u64);
        if leeway > MAX_JWT_LEEWAY {
            r.problem(format!(
                "JWT_LEEWAY: {leeway} is more than {MAX_JWT_LEEWAY} seconds"
            ));
        }
        let access_ttl = r.parse("JWT_ACCESS_TTL", 7200u64);
        if !(60..=MAX_ACCESS_TTL).contains(&access_ttl) {
            r.problem(format!(
                "JWT_ACCESS_TTL: {access_ttl} is not between 60 and {MAX_ACCESS_TTL} seconds"
            ));
        }
        let refresh_ttl = r.parse("REFRESH_TOKEN_TTL", 30 * 86_400u64);
        if !(access_ttl..=MAX_REFRESH_TTL).contains(&refresh_ttl) {
            r.problem(format!(
                "REFRESH_TOKEN_TTL: {refresh_ttl} is not between JWT_ACCESS_TTL and {MAX_REFRESH_TTL} seconds"
            ));
        }
        let jwt = JwtSettings {
            secret,
            issuer: r.get("JWT_ISSUER").unwrap_or_else(|| "cosgate".into()),
            audience: r.get("JWT_AUDIENCE").unwrap_or_else(|| "cosgate".into()),
            leeway,
            access_ttl,
            refresh_ttl,
        };

        let appid = r.secret_or_placeholder("QCOS_APPID", placeholder::APPID, dev);
        if !appid.is_empty() && !appid.bytes().all(|b| b.is_ascii_digit()) {
            r.problem(format!("QCOS_APPID: {appid:?} is not a number"));
        }
        let secret_id = r.secret_or_placeholder("QCOS_SECRET_ID", placeholder::SECRET_ID, dev);
        let secret_key = r.secret_or_placeholder("QCOS_SECRET_KEY", placeholder::SECRET_KEY, dev);
        let bucket = r.secret_or_placeholder("QCOS_BUCKET_NAME", placeholder::BUCKET, dev);
        if let Some(bare) = bucket
            .strip_suffix(&format!("-{appid}"))
            .filter(|_| !appid.is_empty())
        {
            r.problem(format!(
                "QCOS_BUCKET_NAME: use the bare name {bare:?}, without the -APPID suffix"
            ));
        }
        let region = r.secret_or_placeholder("QCOS_REGION", placeholder::REGION, dev);

        let sign_ttl = r.parse("QCOS_SIGN_TTL", 3600u64);
        if sign_ttl == 0 || sign_ttl > MAX_SIGN_TTL {
            r.problem(format!(
                "QCOS_SIGN_TTL: {sign_ttl} is not between 1 and {MAX_SIGN_TTL} seconds"
            ));
        }
        let root = r
            .get("QCOS_UPLOAD_ROOT")
            .unwrap_or_else(|| "/uploads".into());
        let root = CosDir::parse(&root).unwrap_or_else(|e| {
            r.problem(format!("QCOS_UPLOAD_ROOT: {e}"));
            CosDir::parse("/").expect("`/` is a directory")
        });
        let per_account = r.parse("QCOS_PER_ACCOUNT_DIRS", true);
        let v5_ttl = r.parse("QCOS_V5_TTL", 900u64);
        if !(60..=MAX_V5_TTL).contains(&v5_ttl) {
            r.problem(format!(
                "QCOS_V5_TTL: {v5_ttl} is not between 60 and {MAX_V5_TTL} seconds"
            ));
        }
        let max_upload_bytes = r.parse("QCOS_MAX_UPLOAD_BYTES", 10 * 1024 * 1024u64);
        if !(1..=MAX_UPLOAD_BYTES).contains(&max_upload_bytes) {
            r.problem(format!(
                "QCOS_MAX_UPLOAD_BYTES: {max_upload_bytes} is not between 1 and {MAX_UPLOAD_BYTES}"
            ));
        }
        let endpoint = r
            .get("QCOS_ENDPOINT")
            .unwrap_or_else(|| format!("https://{bucket}-{appid}.cos.{region}.myqcloud.com"));
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let host_ok = endpoint.split_once("://").is_some_and(|(scheme, host)| {
            (scheme == "https" || scheme == "http") && !host.is_empty() && !host.contains('/')
        });
        if !host_ok {
            r.problem(format!(
                "QCOS_ENDPOINT: {endpoint:?} is not scheme://host[:port]"
            ));
        }

        let wxapp_id = r.secret_or_placeholder("WXAPP_ID", placeholder::WXAPP_ID, dev);
        let wxapp_secret = r.secret_or_placeholder("WXAPP_SECRET", placeholder::WXAPP_SECRET, dev);
        let wechat_api_base = r
            .get("WECHAT_API_BASE")
            .unwrap_or_else(|| "https://api.weixin.qq.com".into());
        if !wechat_api_base.starts_with("https://") && !wechat_api_base.starts_with("http://") {
            r.problem(format!(
                "WECHAT_API_BASE: {wechat_api_base:?} is not an http(s) URL"
            ));
        }
        let wechat_timeout_ms = r.parse("WECHAT_TIMEOUT_MS", 5000u64);
        if !(100..=30_000).contains(&wechat_timeout_ms) {
            r.problem(format!(
                "WECHAT_TIMEOUT_MS: {wechat_timeout_ms} is not between 100 and 30000"
            ));
        }
        let clients = r.secret_or_placeholder("OAUTH_CLIENTS", placeholder::OAUTH_CLIENTS, dev);
        let oauth_clients = parse_oauth_clients(&clients, dev).unwrap_or_else(|e| {
            r.problem(format!("OAUTH_CLIENTS: {e}"));
            Vec::new()
        });
        let login = LoginSettings {
            wxapp_id,
            wxapp_secret: SecretString::from(wxapp_secret),
            wechat_api_base,
            wechat_timeout_ms,
            auto_register: r.parse("AUTO_REGISTER", true),
            dev_login: dev,
            oauth_clients,
        };
        let database_url = r
            .get("DATABASE_URL")
            .unwrap_or_else(|| "sqlite://cosgate.db".into());
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| database_url.starts_with(p))
        {
            r.problem("DATABASE_URL: use sqlite://FILE or postgres://…".into());
        }

        if !r.problems.is_empty() {
            return Err(ConfigError {
                problems: r.problems,
            });
        }
        Ok(Settings {
            environment,
            bind,
            jwt,
            cos: CosSettings {
                appid,
                credentials: Credentials::new(secret_id, SecretString::from(secret_key)),
                bucket,
                region,
                sign_ttl,
                scope: UploadScope { root, per_account },
                v5_ttl,
                max_upload_bytes,
                endpoint,
            },
            login,
            database_url,
            filled_in: r.filled_in,
        })
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }
}

struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<String>,
    filled_in: Vec<&'static str>,
}

impl Reader<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn problem(&mut self, p: String) {
        self.problems.push(p);
    }

    fn parse<T: std::str::FromStr>(&mut self, name: &str, default: T) -> T {
        match self.get(name) {
            None => default,
            Some(raw) => raw.parse().unwrap_or_else(|_| {
                self.problem(format!(
                    "{name}: {raw:?} is not a valid {}",
                    std::any::type_name::<T>()
                ));
                default
            }),
        }
    }

    /// A value production must set for real; development fills in
    /// `placeholder`. The value is never echoed in a problem.
    fn secret_or_placeholder(
        &mut self,
        name: &'static str,
        placeholder: &str,
        dev: bool,
    ) -> String {
        match self.get(name) {
            Some(v) if !dev && looks_like_placeholder(&v) => {
                self.problem(format!("{name}: is a placeholder; set the real value"));
                v
            }
            Some(v) => v,
            None if dev => {
                self.filled_in.push(name);
                placeholder.to_string()
            }
            None => {
                self.problem(format!("{name}: not set"));
                String::new()
            }
        }
    }
}

fn looks_like_placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    placeholder::REFUSED.contains(&value)
        || ["placeholder", "changeme", "change-me", "your-"]
            .iter()
            .any(|p| lower.contains(p))
}

/// `id:secret[,id:secret…]`. Secrets are never echoed in errors.
fn parse_oauth_clients(raw: &str, dev: bool) -> Result<Vec<(String, SecretString)>, String> {
    let mut clients = Vec::new();
    for (i, entry) in raw
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .enumerate()
    {
        let Some((id, secret)) = entry.split_once(':') else {
            return Err(format!("entry {} is not id:secret", i + 1));
        };
        if id.is_empty() || secret.is_empty() {
            return Err(format!("entry {} has an empty id or secret", i + 1));
        }
        if !dev && secret.len() < MIN_CLIENT_SECRET_BYTES {
            return Err(format!(
                "the secret of client {id:?} is shorter than {MIN_CLIENT_SECRET_BYTES} bytes"
            ));
        }
        if clients.iter().any(|(known, _)| known == id) {
            return Err(format!("client {id:?} is listed twice"));
        }
        clients.push((id.to_string(), SecretString::from(secret.to_string())));
    }
    if clients.is_empty() {
        return Err("no clients".into());
    }
    Ok(clients)
}

/// 32 random bytes for a development JWT secret that lives as long as the
/// process: tokens from a previous run stop working, which is the point.
fn ephemeral_secret() -> SecretString {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the OS random source is available");
    SecretString::from(URL_SAFE_NO_PAD.encode(bytes))
}

impl JwtSettings {
    pub fn keys(&self) -> crate::signer::jwt::JwtKeys {
        crate::signer::jwt::JwtKeys::new(&self.secret, &self.issuer, &self.audience, self.leeway)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    const GOOD_SECRET: &str = "b3a1c5e0f7d94e2a8c6b1f0e9d8c7b6a5f4e3d2c1b0a";

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    fn production() -> Vec<(&'static str, &'static str)> {
        vec![
            ("COSGATE_ENV", "production"),
            ("JWT_SECRET", GOOD_SECRET),
            ("QCOS_APPID", "1253000000"),
            ("QCOS_SECRET_ID", "AKIDrealrealrealreal"),
            ("QCOS_SECRET_KEY", "realsecretkeyrealsecretkey"),
            ("QCOS_BUCKET_NAME", "photos"),
            ("QCOS_REGION", "ap-shanghai"),
            ("WXAPP_ID", "wx1234567890abcdef"),
            ("WXAPP_SECRET", "wxappsecretwxappsecret"),
            ("OAUTH_CLIENTS", "miniprogram:client-secret-0123456789"),
        ]
    }

    fn problems(vars: &[(&str, &str)]) -> Vec<String> {
        load(vars).expect_err("should be refused").problems
    }

    #[test]
    fn development_starts_with_nothing_set_and_says_what_it_filled_in() {
        let s = load(&[]).unwrap();
        assert_eq!(s.environment, Environment::Development);
        assert_eq!(s.bind.to_string(), "127.0.0.1:7777");
        assert_eq!(s.cos.sign_ttl, 3600);
        assert_eq!(s.cos.scope.root.as_str(), "/uploads");
        assert!(s.cos.scope.per_account);
        assert!(
            s.jwt.secret.expose_secret().len() >= 32,
            "the ephemeral secret is strong"
        );
        assert!(s.filled_in.contains(&"JWT_SECRET") && s.filled_in.contains(&"QCOS_SECRET_KEY"));
    }

    #[test]
    fn two_development_starts_get_different_jwt_secrets() {
        let a = load(&[]).unwrap().jwt.secret;
        let b = load(&[]).unwrap().jwt.secret;
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn production_with_every_secret_starts() {
        let s = load(&production()).unwrap();
        assert!(s.is_production());
        assert!(s.filled_in.is_empty());
    }

    #[test]
    fn production_without_secrets_names_every_missing_variable_at_once() {
        let p = problems(&[("COSGATE_ENV", "production")]);
        let text = p.join("\n");
        for name in [
            "JWT_SECRET",
            "QCOS_APPID",
            "QCOS_SECRET_ID",
            "QCOS_SECRET_KEY",
            "QCOS_BUCKET_NAME",
            "QCOS_REGION",
            "WXAPP_ID",
            "WXAPP_SECRET",
            "OAUTH_CLIENTS",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }

    #[test]
    fn production_refuses_a_short_jwt_secret() {
        let mut vars = production();
        vars[1] = ("JWT_SECRET", "short-secret");
        assert_eq!(
            problems(&vars),
            [
                "JWT_SECRET: 12 bytes is too short; use at least 32 random bytes (openssl rand -base64 48)"
            ]
        );
    }

    #[test]
    fn production_refuses_placeholders_without_echoing_them() {
        let mut vars = production();
        vars[4] = ("QCOS_SECRET_KEY", "placeholder-secret-key");
        vars[3] = ("QCOS_SECRET_ID", "your-secret-id");
        let p = problems(&vars);
        assert_eq!(
            p,
            [
                "QCOS_SECRET_ID: is a placeholder; set the real value",
                "QCOS_SECRET_KEY: is a placeholder; set the real value"
            ]
        );
    }

    #[test]
    fn each_bad_value_is_reported_with_its_variable() {
        let cases: [(&str, &str, &str); 9] = [
            (
                "COSGATE_ENV",
                "staging",
                "COSGATE_ENV: \"staging\" is neither",
            ),
            (
                "COSGATE_BIND",
                "localhost",
                "COSGATE_BIND: \"localhost\" is not a valid",
            ),
            (
                "QCOS_SIGN_TTL",
                "0",
                "QCOS_SIGN_TTL: 0 is not between 1 and 86400",
            ),
            (
                "QCOS_SIGN_TTL",
                "86401",
                "QCOS_SIGN_TTL: 86401 is not between",
            ),
            (
                "QCOS_SIGN_TTL",
                "an hour",
                "QCOS_SIGN_TTL: \"an hour\" is not a valid u64",
            ),
            (
                "QCOS_UPLOAD_ROOT",
                "/a/../b",
                "QCOS_UPLOAD_ROOT: the path contains a `.` or `..` segment",
            ),
            (
                "QCOS_PER_ACCOUNT_DIRS",
                "yes",
                "QCOS_PER_ACCOUNT_DIRS: \"yes\" is not a valid bool",
            ),
            ("JWT_LEEWAY", "3600", "JWT_LEEWAY: 3600 is more than 300"),
            ("QCOS_APPID", "abc", "QCOS_APPID: \"abc\" is not a number"),
        ];
        for (name, value, expected) in cases {
            let p = problems(&[(name, value)]);
            assert!(p[0].starts_with(expected), "{name}={value}: {p:?}");
            // An unknown environment is treated as production, the strict
            // choice, so the missing secrets are reported with it.
            assert!(
                p.len() == 1 || name == "COSGATE_ENV",
                "{name}={value}: {p:?}"
            );
        }
    }

    #[test]
    fn a_bucket_with_the_appid_suffix_is_refused() {
        let p = problems(&[
            ("QCOS_APPID", "1250000000"),
            ("QCOS_BUCKET_NAME", "photos-1250000000"),
        ]);
        assert_eq!(
            p,
            ["QCOS_BUCKET_NAME: use the bare name \"photos\", without the -APPID suffix"]
        );
    }

    #[test]
    fn oauth_clients_parse_and_bad_lists_are_refused_without_echoing_secrets() {
        let s = load(&[("OAUTH_CLIENTS", "app:s3cret, web:other")]).unwrap();
        let ids: Vec<&str> = s
            .login
            .oauth_clients
            .iter()
            .map(|(id, _)| id.as_str())
            .collect();
        assert_eq!(ids, ["app", "web"]);
        for (bad, expected) in [
            ("app", "OAUTH_CLIENTS: entry 1 is not id:secret"),
            ("app:", "OAUTH_CLIENTS: entry 1 has an empty id or secret"),
            ("a:x,a:y", "OAUTH_CLIENTS: client \"a\" is listed twice"),
        ] {
            assert_eq!(problems(&[("OAUTH_CLIENTS", bad)]), [expected]);
        }
        let mut vars = production();
        vars.push(("OAUTH_CLIENTS", "app:short"));
        let p = problems(&vars);
        assert_eq!(
            p,
            ["OAUTH_CLIENTS: the secret of client \"app\" is shorter than 16 bytes"]
        );
    }

    #[test]
    fn development_allows_dev_logins_and_production_never_does() {
        assert!(load(&[]).unwrap().login.dev_login);
        assert!(!load(&production()).unwrap().login.dev_login);
    }

    #[test]
    fn login_settings_have_their_defaults() {
        let s = load(&[]).unwrap();
        assert_eq!(s.database_url, "sqlite://cosgate.db");
        assert!(s.login.auto_register);
        assert_eq!(s.login.wechat_api_base, "https://api.weixin.qq.com");
        assert_eq!((s.jwt.access_ttl, s.jwt.refresh_ttl), (7200, 30 * 86_400));
        let p = problems(&[("JWT_ACCESS_TTL", "10")]);
        assert!(
            p[0].starts_with("JWT_ACCESS_TTL: 10 is not between"),
            "{p:?}"
        );
        let p = problems(&[("DATABASE_URL", "mysql://x")]);
        assert_eq!(p, ["DATABASE_URL: use sqlite://FILE or postgres://…"]);
    }

    #[test]
    fn the_v5_endpoint_defaults_to_the_buckets_host() {
        let s = load(&production()).unwrap();
        assert_eq!(
            s.cos.endpoint,
            "https://photos-1253000000.cos.ap-shanghai.myqcloud.com"
        );
        assert_eq!(
            s.cos.host(),
            "photos-1253000000.cos.ap-shanghai.myqcloud.com"
        );
        assert_eq!(
            (s.cos.v5_ttl, s.cos.max_upload_bytes),
            (900, 10 * 1024 * 1024)
        );
        let s = load(&[("QCOS_ENDPOINT", "http://127.0.0.1:9000/")]).unwrap();
        assert_eq!(
            (s.cos.endpoint.as_str(), s.cos.host()),
            ("http://127.0.0.1:9000", "127.0.0.1:9000")
        );
        assert_eq!(
            problems(&[("QCOS_ENDPOINT", "ftp://x")]),
            ["QCOS_ENDPOINT: \"ftp://x\" is not scheme://host[:port]"]
        );
        assert!(
            problems(&[("QCOS_V5_TTL", "9999")])[0].starts_with("QCOS_V5_TTL: 9999 is not between")
        );
    }

    #[test]
    fn debug_output_never_contains_a_secret() {
        let s = load(&production()).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains(GOOD_SECRET), "JWT secret leaked: {shown}");
        assert!(
            !shown.contains("realsecretkeyrealsecretkey"),
            "COS key leaked: {shown}"
        );
        assert!(
            shown.contains("AKIDrealrealrealreal"),
            "the SecretId is public and helps debugging"
        );
    }
}
