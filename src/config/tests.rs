//! Settings: defaults, every bad value named with its variable, production's
//! refusals, and secrets that never print.

use std::collections::HashMap;

use secrecy::ExposeSecret;

use super::*;
use crate::policy::operation::{AllowedActions, CosAction};

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
        ("METRICS_TOKEN", "metrics-token-0123456789"),
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
    assert_eq!(s.cos.policy.scope.root.as_str(), "/uploads");
    assert!(s.cos.policy.scope.per_account);
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
        (
            "JWT_LEEWAY",
            "3600",
            "JWT_LEEWAY: 3600 is not between 0 and 300 seconds",
        ),
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
    assert_eq!((s.jwt.access_ttl, s.jwt.refresh_ttl), (900, 30 * 86_400));
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
        (s.cos.v5_ttl, s.cos.policy.max_upload_bytes),
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

#[test]
fn production_refuses_the_jwt_secret_of_env_example() {
    let example = include_str!("../../.env.example");
    let secret = example
        .lines()
        .find_map(|line| line.strip_prefix("JWT_SECRET="))
        .expect(".env.example sets JWT_SECRET");
    let mut vars = production();
    vars[1] = ("JWT_SECRET", secret);
    let p = problems(&vars);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("JWT_SECRET: is a placeholder"), "{p:?}");
    assert!(!p[0].contains(secret), "the secret is not echoed");
    // Development accepts it: that is what it is for.
    assert!(load(&[("JWT_SECRET", secret)]).is_ok());
}

#[test]
fn real_credentials_without_cosgate_env_refuse_to_start() {
    let vars: Vec<_> = production()
        .into_iter()
        .filter(|(name, _)| *name != "COSGATE_ENV")
        .collect();
    let p = problems(&vars);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("COSGATE_ENV: not set, but real credentials are (QCOS_SECRET_ID, QCOS_SECRET_KEY, WXAPP_ID, WXAPP_SECRET)"), "{p:?}");
    assert!(!p[0].contains("realsecretkey"), "values are not echoed");
    let mut explicit = vars.clone();
    explicit.push(("COSGATE_ENV", "development"));
    assert!(load(&explicit).is_ok(), "explicit development is allowed");
    // Placeholders alone are what development is for.
    assert!(load(&[("QCOS_SECRET_KEY", "placeholder-secret-key")]).is_ok());
}

#[test]
fn development_listens_beyond_loopback_only_when_asked_explicitly() {
    let p = problems(&[("COSGATE_BIND", "0.0.0.0:7777")]);
    assert_eq!(p.len(), 1);
    assert!(
        p[0].starts_with("COSGATE_BIND: 0.0.0.0:7777 is not a loopback address"),
        "{p:?}"
    );
    assert!(
        load(&[
            ("COSGATE_BIND", "0.0.0.0:7777"),
            ("COSGATE_ENV", "development")
        ])
        .is_ok()
    );
    assert!(load(&[("COSGATE_BIND", "[::1]:7777")]).is_ok());
}

#[test]
fn production_without_oauth_clients_names_it_once() {
    let vars: Vec<_> = production()
        .into_iter()
        .filter(|(name, _)| *name != "OAUTH_CLIENTS")
        .collect();
    assert_eq!(problems(&vars), ["OAUTH_CLIENTS: not set"]);
}

#[test]
fn every_range_is_worded_the_same_way() {
    for (name, value, expected) in [
        (
            "JWT_ACCESS_TTL",
            "10",
            "JWT_ACCESS_TTL: 10 is not between 60 and 86400 seconds",
        ),
        (
            "REFRESH_TOKEN_TTL",
            "60",
            "REFRESH_TOKEN_TTL: 60 is not between 900 and 31536000 seconds",
        ),
        (
            "QCOS_SIGN_TTL",
            "0",
            "QCOS_SIGN_TTL: 0 is not between 1 and 86400 seconds",
        ),
        (
            "QCOS_V5_TTL",
            "9999",
            "QCOS_V5_TTL: 9999 is not between 60 and 7200 seconds",
        ),
        (
            "QCOS_MAX_UPLOAD_BYTES",
            "0",
            "QCOS_MAX_UPLOAD_BYTES: 0 is not between 1 and 5368709120 bytes",
        ),
        (
            "WECHAT_TIMEOUT_MS",
            "5",
            "WECHAT_TIMEOUT_MS: 5 is not between 100 and 30000 ms",
        ),
    ] {
        assert_eq!(problems(&[(name, value)]), [expected]);
    }
}

#[test]
fn allowed_actions_default_to_uploads_and_reads_and_unknown_names_stop_the_start() {
    let s = load(&[]).unwrap();
    assert_eq!(s.cos.policy.allowed, AllowedActions::default());
    assert!(!s.cos.policy.allow_pic_operations);
    assert_eq!(s.cos.daily_upload_bytes, None);
    let p = problems(&[("QCOS_ALLOWED_ACTIONS", "PutObject,PutObjectAcl")]);
    assert_eq!(p.len(), 1);
    assert!(
        p[0].starts_with("QCOS_ALLOWED_ACTIONS: \"PutObjectAcl\" is not an action cosgate signs"),
        "{p:?}"
    );
    let s = load(&[
        ("QCOS_ALLOWED_ACTIONS", "PutObject,DeleteObject"),
        ("QCOS_DAILY_UPLOAD_BYTES_PER_ACCOUNT", "1000000"),
        ("QCOS_ALLOW_PIC_OPERATIONS", "true"),
    ])
    .unwrap();
    assert!(s.cos.policy.allowed.contains(CosAction::DeleteObject));
    assert!(!s.cos.policy.allowed.contains(CosAction::GetObject));
    assert_eq!(s.cos.daily_upload_bytes, Some(1_000_000));
    assert!(s.cos.policy.allow_pic_operations);
}

#[test]
fn env_example_runs_as_is_in_development() {
    let vars: Vec<(&str, &str)> = include_str!("../../.env.example")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .collect();
    assert!(vars.iter().any(|(k, _)| *k == "QCOS_ALLOWED_ACTIONS"));
    let s = load(&vars).expect(".env.example loads");
    assert_eq!(s.environment, Environment::Development);
    assert_eq!(s.cos.policy.allowed, AllowedActions::default());
    assert_eq!(s.max_body_bytes, 65536);
}

#[test]
fn signing_defaults_to_sts_in_production_and_root_in_development() {
    assert_eq!(load(&production()).unwrap().sts.signing, SigningMode::Sts);
    assert_eq!(load(&[]).unwrap().sts.signing, SigningMode::Root);
    let mut root = production();
    root.push(("QCOS_SIGNING", "root"));
    let s = load(&root).unwrap();
    assert!(s.signs_with_root_in_production());
    let s = load(&[("LOCAL_COS", "false")]).unwrap();
    assert_eq!(s.sts.endpoint, "https://sts.tencentcloudapi.com");
    assert_eq!(s.sts.ttl, 1800);
    assert_eq!(
        problems(&[("QCOS_SIGNING", "both")]),
        ["QCOS_SIGNING: \"both\" is neither `sts` nor `root`"]
    );
    assert_eq!(
        problems(&[("QCOS_STS_TTL", "7201")]),
        ["QCOS_STS_TTL: 7201 is not between 60 and 7200 seconds"]
    );
}

#[test]
fn cors_origins_are_exact_and_any_origin_is_refused_in_production() {
    assert!(load(&[]).unwrap().cors_origins.is_empty());
    let s = load(&[(
        "CORS_ALLOWED_ORIGINS",
        "https://app.example.com, http://127.0.0.1:8080",
    )])
    .unwrap();
    assert_eq!(
        s.cors_origins,
        ["https://app.example.com", "http://127.0.0.1:8080"]
    );
    assert_eq!(
        problems(&[("CORS_ALLOWED_ORIGINS", "https://app.example.com/path")]),
        [
            "CORS_ALLOWED_ORIGINS: \"https://app.example.com/path\" is not an origin (scheme://host[:port])"
        ]
    );
    assert!(load(&[("CORS_ALLOWED_ORIGINS", "*")]).is_ok());
    let mut vars = production();
    vars.push(("CORS_ALLOWED_ORIGINS", "*"));
    assert_eq!(
        problems(&vars),
        ["CORS_ALLOWED_ORIGINS: `*` is refused in production; list the origins"]
    );
}

#[test]
fn previous_jwt_secrets_are_held_to_production_standards_and_never_echoed() {
    let s = load(&[("JWT_PREVIOUS_SECRETS", "a-b, c-d")]).unwrap();
    assert_eq!(s.jwt.previous.len(), 2);
    let mut vars = production();
    vars.push(("JWT_PREVIOUS_SECRETS", "short-old-secret"));
    let p = problems(&vars);
    assert_eq!(
        p,
        ["JWT_PREVIOUS_SECRETS: entry 1 is shorter than 32 bytes or a placeholder"]
    );
    assert!(!p[0].contains("short-old-secret"));
}

#[test]
fn eddsa_needs_a_private_key_file_in_production_and_makes_one_up_in_development() {
    let dev = load(&[("JWT_ALGORITHM", "EdDSA")]).unwrap();
    assert_eq!(dev.jwt.algorithm, JwtAlgorithm::EdDsa);
    assert_eq!(dev.jwt.keys().public_keys().len(), 1);
    assert!(dev.filled_in.contains(&"JWT_PRIVATE_KEY_FILE"));

    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("jwt.pem");
    std::fs::write(
        &private,
        include_str!("../../tests/vectors/rfc8037-ed25519.pem"),
    )
    .unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a key MC4CAQ").unwrap();
    let (private, garbage) = (private.to_str().unwrap(), garbage.to_str().unwrap());

    // Production without JWT_SECRET is fine with EdDSA and a key file.
    let mut vars: Vec<_> = production()
        .into_iter()
        .filter(|(k, _)| *k != "JWT_SECRET")
        .collect();
    vars.extend([
        ("JWT_ALGORITHM", "EdDSA"),
        ("JWT_PRIVATE_KEY_FILE", private),
    ]);
    let s = load(&vars).unwrap();
    assert_eq!(
        s.jwt.keys().public_keys()[0].x,
        "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    );

    vars.pop();
    assert_eq!(
        problems(&vars),
        [
            "JWT_PRIVATE_KEY_FILE: not set with JWT_ALGORITHM=EdDSA; openssl genpkey -algorithm ed25519 -out jwt-ed25519.pem"
        ]
    );
    vars.extend([
        ("JWT_PRIVATE_KEY_FILE", garbage),
        ("JWT_PREVIOUS_KEY_FILES", "/nonexistent/old.pem"),
    ]);
    let p = problems(&vars);
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[0].starts_with("JWT_PRIVATE_KEY_FILE: ") && p[0].contains("not an Ed25519 key"));
    assert!(p[1].starts_with("JWT_PREVIOUS_KEY_FILES: cannot read /nonexistent/old.pem"));
    assert!(p.iter().all(|p| !p.contains("MC4CAQ")), "{p:?}");
    assert_eq!(
        problems(&[("JWT_ALGORITHM", "RS256")]),
        ["JWT_ALGORITHM: \"RS256\" is not HS256 or EdDSA"]
    );
}

#[test]
fn metrics_bind_is_an_address_or_refused() {
    assert_eq!(load(&[]).unwrap().metrics_bind, None);
    let s = load(&[("METRICS_BIND", "127.0.0.1:9100")]).unwrap();
    assert_eq!(s.metrics_bind.map(|a| a.port()), Some(9100));
    assert_eq!(
        problems(&[("METRICS_BIND", "9100")]),
        ["METRICS_BIND: \"9100\" is not an address:port"]
    );
}

#[test]
fn production_needs_a_metrics_token_or_its_own_address() {
    let without: Vec<_> = production()
        .into_iter()
        .filter(|(k, _)| *k != "METRICS_TOKEN")
        .collect();
    let refused = problems(&without);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].starts_with("METRICS_TOKEN: production needs METRICS_TOKEN")
            && refused[0].contains("METRICS_BIND"),
        "{refused:?}"
    );
    let mut with_bind = without.clone();
    with_bind.push(("METRICS_BIND", "127.0.0.1:9100"));
    assert!(load(&with_bind).is_ok());
    let mut private = without.clone();
    private.push(("METRICS_BIND", "10.1.2.3:9100"));
    assert!(load(&private).is_ok());
    let mut open = without.clone();
    open.push(("METRICS_BIND", "0.0.0.0:9100"));
    assert!(problems(&open)[0].starts_with("METRICS_TOKEN: production needs"));
    let mut weak = without.clone();
    weak.push(("METRICS_TOKEN", "x"));
    assert_eq!(
        problems(&weak),
        ["METRICS_TOKEN: is a placeholder or shorter than 16 bytes"]
    );
    assert!(
        load(&[]).unwrap().metrics_token.is_none(),
        "development needs neither"
    );
}

#[test]
fn v4_is_on_in_development_and_off_in_production_unless_named() {
    assert!(load(&[]).unwrap().cos.v4_enabled);
    assert!(
        !load(&[("QCOS_V4_ENABLED", "false")])
            .unwrap()
            .cos
            .v4_enabled
    );
    let s = load(&production()).unwrap();
    assert!(!s.cos.v4_enabled && !s.signs_v4_in_production());
    let mut named = production();
    named.push(("QCOS_V4_ENABLED", "true"));
    let s = load(&named).unwrap();
    assert!(s.cos.v4_enabled && s.signs_v4_in_production());
}

#[test]
fn access_tokens_live_fifteen_minutes_by_default() {
    assert_eq!(load(&[]).unwrap().jwt.access_ttl, 900);
}

#[test]
fn webhook_and_redis_urls_and_secrets_are_checked_without_being_echoed() {
    let found = problems(&[
        ("WEBHOOK_URL", "ftp://user:hunter2@example.com/hook"),
        ("WEBHOOK_SECRETS", "whsec_c2hvcnQ=,plain-hunter3"),
        ("REDIS_URL", "http://:hunter4@example.com"),
        ("UPLOAD_ORPHAN_SECONDS", "60"),
        ("WEBHOOK_RETRY_BASE_MS", "5"),
    ]);
    let text = found.join("\n");
    for name in [
        "WEBHOOK_URL",
        "WEBHOOK_SECRETS: secret 1",
        "WEBHOOK_SECRETS: secret 2",
        "REDIS_URL",
        "UPLOAD_ORPHAN_SECONDS",
        "WEBHOOK_RETRY_BASE_MS",
    ] {
        assert!(text.contains(name), "{name} in {text}");
    }
    for secret in ["hunter2", "hunter3", "hunter4", "c2hvcnQ"] {
        assert!(!text.contains(secret), "{secret} echoed: {text}");
    }
    // A URL without a secret is refused too: nothing to sign with.
    let unsigned = problems(&[("WEBHOOK_URL", "https://app.example.com/hook")]);
    assert!(
        unsigned.iter().any(|p| p.starts_with("WEBHOOK_SECRETS")),
        "{unsigned:?}"
    );
    let good = load(&[
        ("WEBHOOK_URL", "https://app.example.com/hook"),
        ("WEBHOOK_SECRETS", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ("REDIS_URL", "redis://127.0.0.1:6379"),
    ])
    .unwrap();
    assert_eq!(good.webhooks.secrets.len(), 1);
    assert!(good.redis_url.is_some());
    assert!(
        !format!("{good:?}").contains("app.example.com"),
        "the URL stays out of Debug"
    );
}

#[test]
fn the_local_cos_serves_development_without_a_bucket_and_never_production() {
    // `cargo run` with nothing set: on, and cosgate points at it.
    let s = load(&[]).unwrap();
    let local = s.local_cos.as_ref().expect("on by default in development");
    assert_eq!(local.bind.to_string(), "127.0.0.1:7778");
    assert_eq!(local.dir, std::path::PathBuf::from("cosgate-cos"));
    assert_eq!(s.cos.endpoint, "http://127.0.0.1:7778");
    assert_eq!(s.cos.policy.host, "127.0.0.1:7778");
    assert_eq!(s.sts.endpoint, "http://127.0.0.1:7778");
    // A real bucket (or endpoint) named: off, unless asked for.
    assert!(
        load(&[("QCOS_BUCKET_NAME", "photos")])
            .unwrap()
            .local_cos
            .is_none()
    );
    assert!(
        load(&[("QCOS_ENDPOINT", "http://127.0.0.1:9")])
            .unwrap()
            .local_cos
            .is_none()
    );
    assert!(load(&[("LOCAL_COS", "false")]).unwrap().local_cos.is_none());
    let asked = load(&[("QCOS_BUCKET_NAME", "photos"), ("LOCAL_COS", "true")]).unwrap();
    assert!(asked.local_cos.is_some());
    // Production: off by default, and cannot be turned on.
    assert!(load(&production()).unwrap().local_cos.is_none());
    let mut on = production();
    on.push(("LOCAL_COS", "true"));
    assert_eq!(
        problems(&on),
        ["LOCAL_COS: the local COS is for development only; production signs for a real bucket"]
    );
    // Loopback only; no endpoint it would override.
    assert_eq!(
        problems(&[("LOCAL_COS", "true"), ("LOCAL_COS_BIND", "0.0.0.0:7778")]),
        [
            "LOCAL_COS_BIND: 0.0.0.0:7778 is not a loopback address; the local COS serves this machine only"
        ]
    );
    assert_eq!(
        problems(&[
            ("LOCAL_COS", "true"),
            ("QCOS_ENDPOINT", "http://127.0.0.1:9")
        ]),
        [
            "QCOS_ENDPOINT: is set while LOCAL_COS is on, which points it at the local COS; unset one of them"
        ]
    );
    assert_eq!(
        problems(&[("LOCAL_COS", "maybe")]),
        ["LOCAL_COS: \"maybe\" is none of `auto`, `true`, `false`"]
    );
}

#[test]
fn moderation_is_off_by_default_and_its_settings_are_checked() {
    assert!(load(&[]).unwrap().moderation.is_none());
    let s = load(&[("MODERATION", "cloud_infinite"), ("CI_BIZ_TYPE", "p1")]).unwrap();
    let m = s.moderation.expect("on");
    assert_eq!(m.suspicious, super::ModerationOutcome::Hold);
    assert_eq!(m.uncheckable, super::ModerationOutcome::Hold);
    assert_eq!(m.quarantine_root.unwrap().as_str(), "/quarantine");
    assert_eq!(m.biz_type.as_deref(), Some("p1"));
    let deleting = load(&[
        ("MODERATION", "cloud_infinite"),
        ("MODERATION_QUARANTINE", "delete"),
    ]);
    assert!(
        deleting
            .unwrap()
            .moderation
            .unwrap()
            .quarantine_root
            .is_none()
    );
    assert_eq!(
        problems(&[("MODERATION", "wechat-maybe")]),
        ["MODERATION: \"wechat-maybe\" is none of `off`, `cloud_infinite`, `wechat`"]
    );
    // WeChat's needs its push token; safe mode a real EncodingAESKey.
    assert_eq!(
        problems(&[("MODERATION", "wechat")]),
        [
            "WECHAT_PUSH_TOKEN: MODERATION=wechat needs the message push's Token: 3 to 32 letters and digits"
        ]
    );
    assert_eq!(
        problems(&[
            ("MODERATION", "wechat"),
            ("WECHAT_PUSH_TOKEN", "pushtoken1"),
            ("WECHAT_PUSH_AES_KEY", "short")
        ]),
        ["WECHAT_PUSH_AES_KEY: is not an EncodingAESKey (43 characters of base64)"]
    );
    let wechat = load(&[
        ("MODERATION", "wechat"),
        ("WECHAT_PUSH_TOKEN", "pushtoken1"),
    ])
    .unwrap();
    let wechat = wechat.moderation.unwrap().wechat.unwrap();
    assert_eq!(wechat.scene, 2);
    let settings = load(&[
        ("MODERATION", "wechat"),
        ("WECHAT_PUSH_TOKEN", "pushtoken1"),
    ])
    .unwrap();
    let moderation = settings.moderation.unwrap();
    assert_eq!(moderation.timeout_seconds, 1800);
    assert_eq!(moderation.timeout_outcome, super::ModerationOutcome::Hold);
    // Production: safe mode only, and never with the root key.
    let mut production_wechat = production();
    production_wechat.extend([
        ("MODERATION", "wechat"),
        ("WECHAT_PUSH_TOKEN", "pushtoken1"),
    ]);
    assert_eq!(
        problems(&production_wechat),
        [
            "WECHAT_PUSH_AES_KEY: production needs WeChat's safe mode (the EncodingAESKey): a plain push's body is not signed"
        ]
    );
    let mut production_root = production();
    production_root.extend([("MODERATION", "cloud_infinite"), ("QCOS_SIGNING", "root")]);
    assert_eq!(
        problems(&production_root),
        [
            "MODERATION: needs QCOS_SIGNING=sts in production: with the root key an upload can copy content in review or in quarantine into a readable key"
        ]
    );
    assert_eq!(
        problems(&[
            ("MODERATION", "cloud_infinite"),
            ("MODERATION_SUSPICIOUS", "complete")
        ]),
        ["MODERATION_SUSPICIOUS: \"complete\" is none of hold, reject"]
    );
    // In review, nothing but the session may read a key: the sessions'
    // root apart from the signable root, the quarantine apart from both.
    assert_eq!(
        problems(&[
            ("MODERATION", "cloud_infinite"),
            ("UPLOAD_SESSION_ROOT", "/uploads/s")
        ]),
        [
            "UPLOAD_SESSION_ROOT: overlaps QCOS_UPLOAD_ROOT while MODERATION is on: uploads in review would be readable through other grants; choose a directory apart"
        ]
    );
    assert_eq!(
        problems(&[
            ("MODERATION", "cloud_infinite"),
            ("MODERATION_QUARANTINE_ROOT", "/sessions/q")
        ]),
        ["MODERATION_QUARANTINE_ROOT: overlaps UPLOAD_SESSION_ROOT; choose a directory apart"]
    );
    assert_eq!(
        problems(&[
            ("QCOS_PER_ACCOUNT_DIRS", "false"),
            ("QCOS_UPLOAD_ROOT", "/")
        ]),
        [
            "UPLOAD_SESSION_ROOT: lies below QCOS_UPLOAD_ROOT, where with QCOS_PER_ACCOUNT_DIRS=false any account may sign; choose a directory apart"
        ]
    );
}
