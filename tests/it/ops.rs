//! What operators poll: liveness and readiness.

use crate::helpers::*;

#[tokio::test]
async fn readiness_follows_the_store_while_liveness_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ready.db");
    let url = format!("sqlite://{}", file.display());
    let app = spawn_app_with(&[("DATABASE_URL", url.as_str())]).await;

    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");

    // The store's file is gone (a directory stands in its place; root ignores
    // permissions, so making it unreadable would not do).
    std::fs::rename(&file, dir.path().join("moved.db")).unwrap();
    std::fs::create_dir(&file).unwrap();
    let body = assert_refused(app.get("/readyz", None).await, 503, "not_ready").await;
    assert_eq!(body["message"], "the store does not answer");
    assert_eq!(app.get("/healthz", None).await.status(), 200, "still alive");

    // Back in place: ready again within a few probes, as a load balancer
    // polls. On a loaded CI machine the first probe after the move once
    // answered 503 (cause not reproduced here); a probe that says "not yet"
    // is what readiness is for, a server that never recovers is the bug.
    std::fs::remove_dir(&file).unwrap();
    std::fs::rename(dir.path().join("moved.db"), &file).unwrap();
    let mut last = String::new();
    for _ in 0..50 {
        let ready = app.get("/readyz", None).await;
        if ready.status() == 200 {
            return;
        }
        last = format!("{} {}", ready.status(), ready.text().await.unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("never ready again within 5 s; last answer: {last}");
}

/// 16 clients logging in and refreshing at once: never a 5xx, and every
/// refresh token answered is still usable afterwards.
async fn login_storm(app: &TestApp, prefix: &str) {
    let runs = (0..16).map(|i| async move {
        let mut statuses = Vec::new();
        let mut last_refresh = None;
        for round in 0..12 {
            let login = app
                .post_as_client(
                    "/auth/oauth/token",
                    serde_json::json!({"code": format!("dev-{prefix}{}", (i + round) % 6)}),
                )
                .await;
            statuses.push(login.status().as_u16());
            let Ok(tokens) = login.json::<serde_json::Value>().await else {
                continue;
            };
            let mut refresh = tokens["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            for _ in 0..2 {
                let resp = app
                    .post_as_client(
                        "/auth/oauth/token/refresh",
                        serde_json::json!({"refresh_token": refresh}),
                    )
                    .await;
                statuses.push(resp.status().as_u16());
                if let Ok(next) = resp.json::<serde_json::Value>().await
                    && let Some(token) = next["refresh_token"].as_str()
                {
                    refresh = token.to_string();
                }
            }
            last_refresh = Some(refresh);
        }
        (statuses, last_refresh)
    });
    let results = futures_util::future::join_all(runs).await;
    let statuses: Vec<u16> = results.iter().flat_map(|(s, _)| s.clone()).collect();
    let server_errors = statuses.iter().filter(|s| **s >= 500).count();
    assert_eq!(
        server_errors,
        0,
        "{} requests, statuses {statuses:?}",
        statuses.len()
    );
    assert!(statuses.iter().filter(|s| **s == 200 || **s == 201).count() > 300);
    for (_, refresh) in results {
        let resp = app
            .post_as_client(
                "/auth/oauth/token/refresh",
                serde_json::json!({"refresh_token": refresh.unwrap()}),
            )
            .await;
        assert_eq!(resp.status(), 200, "an answered refresh token still works");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_and_refresh_storm_on_sqlite_gets_no_5xx() {
    let app = spawn_app().await;
    login_storm(&app, "storm").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_and_refresh_storm_on_postgres_gets_no_5xx() {
    let Ok(url) = std::env::var("COSGATE_TEST_POSTGRES_URL") else {
        skip("the login storm on PostgreSQL (set COSGATE_TEST_POSTGRES_URL)");
        return;
    };
    let app = spawn_app_with(&[("DATABASE_URL", url.as_str())]).await;
    login_storm(&app, &format!("pg{}-", now())).await;
}

#[tokio::test]
async fn cors_preflights_are_answered_only_for_the_listed_origins() {
    let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/v1/qc_cos/authorization", app.base),
            )
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization,content-type",
            )
            .send()
    };
    let ok = preflight("https://app.example.com").await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    let h = ok.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    let methods = h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_ascii_uppercase();
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );
    let headers = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );
    assert!(
        h.get("access-control-allow-credentials").is_none(),
        "no credentials mode"
    );

    let evil = preflight("https://evil.example").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());

    // The real request from the page carries the CORS headers too.
    let resp = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("Origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let exposed = resp.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");

    // With no origins configured there is no CORS at all.
    let plain = spawn_app().await;
    let resp = plain
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/qc_cos/authorization", plain.base),
        )
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn signing_is_rate_limited_per_account_and_recovers() {
    let app = spawn_app_with(&[("RATE_LIMIT_SIGN_PER_MIN", "60")]).await;
    let app = &app;
    let config = |account: &'static str| async move {
        let auth = format!("Bearer {}", token_for(account));
        app.get("/v1/qc_cos/config", Some(&auth)).await
    };
    for _ in 0..60 {
        assert_eq!(config("acc1").await.status(), 200);
    }
    let limited = config("acc1").await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body = assert_refused(limited, 429, "rate_limited").await;
    assert!(body.get("sign").is_none());
    assert_eq!(config("acc2").await.status(), 200, "per account");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(config("acc1").await.status(), 200, "one more a second");
}

#[tokio::test]
async fn logins_are_rate_limited_per_address_and_proxies_are_trusted_only_when_listed() {
    let app = spawn_app_with(&[("RATE_LIMIT_LOGIN_PER_MIN", "2")]).await;
    let login = |forwarded: &'static str| {
        app.client
            .post(format!("{}/auth/oauth/token", app.base))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .header("X-Forwarded-For", forwarded)
            .json(&serde_json::json!({"code": "dev-rl"}))
            .send()
    };
    assert_eq!(login("203.0.113.1").await.unwrap().status(), 200);
    assert_eq!(login("203.0.113.2").await.unwrap().status(), 200);
    // An untrusted peer's X-Forwarded-For is ignored: it is one address.
    assert_refused(login("203.0.113.3").await.unwrap(), 429, "rate_limited").await;

    let behind_proxy = spawn_app_with(&[
        ("RATE_LIMIT_LOGIN_PER_MIN", "1"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let login = |forwarded: &'static str| {
        behind_proxy
            .client
            .post(format!("{}/auth/oauth/token", behind_proxy.base))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .header("X-Forwarded-For", forwarded)
            .json(&serde_json::json!({"code": "dev-rl"}))
            .send()
    };
    assert_eq!(login("203.0.113.1").await.unwrap().status(), 200);
    assert_eq!(
        login("203.0.113.2").await.unwrap().status(),
        200,
        "another client"
    );
    let again = login("198.51.100.9, 203.0.113.1").await.unwrap();
    assert_eq!(
        again.status(),
        429,
        "the nearest untrusted hop counts, not a spoofed first entry"
    );
}

/// The value of the sample `name{labels}` in Prometheus text, if present.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            let matches = metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            matches.then(|| value.parse().ok()).flatten()
        })
}

#[tokio::test]
async fn metrics_count_requests_signatures_refusals_and_limits_without_identities() {
    let app = spawn_app_with(&[
        ("METRICS_TOKEN", "scrape-me-please"),
        ("RATE_LIMIT_SIGN_PER_MIN", "3"),
    ])
    .await;
    let bearer = format!("Bearer {}", token_for("acc_metrics"));
    for _ in 0..2 {
        assert_eq!(app.get("/healthz", None).await.status(), 200);
    }
    for _ in 0..3 {
        assert_eq!(
            app.get("/v1/qc_cos/config", Some(&bearer)).await.status(),
            200
        );
    }
    assert_eq!(
        app.get("/v1/qc_cos/config", Some(&bearer)).await.status(),
        429
    );
    assert_eq!(
        app.get("/v1/qc_cos/config", Some("Bearer nope"))
            .await
            .status(),
        401
    );
    assert_eq!(app.get("/etc/passwd", None).await.status(), 404);

    // METRICS_TOKEN is required.
    assert_refused(app.get("/metrics", None).await, 401, "invalid_token").await;
    let scraped = app.get("/metrics", Some("Bearer scrape-me-please")).await;
    assert_eq!(
        scraped.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        "labelled as what it is (CI parses it with prometheus_client's strict parser)"
    );
    let text = scraped.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let count = |name: &str, labels: &[(&str, &str)]| sample(&text, name, labels).unwrap_or(0.0);
    assert_eq!(
        count(
            "cosgate_requests_total",
            &[("operation", "get_health"), ("status", "200")]
        ),
        2.0,
        "{text}"
    );
    assert_eq!(
        count(
            "cosgate_requests_total",
            &[("operation", "get_qc_cos_config"), ("status", "200")]
        ),
        3.0
    );
    assert_eq!(
        count(
            "cosgate_requests_total",
            &[("operation", "get_qc_cos_config"), ("status", "429")]
        ),
        1.0
    );
    assert_eq!(
        count(
            "cosgate_requests_total",
            &[("operation", "none"), ("status", "404")]
        ),
        1.0
    );
    assert_eq!(count("cosgate_signatures_total", &[("kind", "v4")]), 3.0);
    assert_eq!(
        count("cosgate_refusals_total", &[("error_code", "rate_limited")]),
        1.0
    );
    // The bad token, and the scrape without METRICS_TOKEN.
    assert_eq!(
        count("cosgate_refusals_total", &[("error_code", "invalid_token")]),
        2.0
    );
    assert_eq!(
        count("cosgate_refusals_total", &[("error_code", "not_found")]),
        1.0
    );
    assert_eq!(
        count("cosgate_rate_limited_total", &[("scope", "sign")]),
        1.0
    );
    assert_eq!(
        count(
            "cosgate_request_duration_seconds_count",
            &[("operation", "get_qc_cos_config")]
        ),
        5.0
    );
    for identity in ["acc_metrics", "/etc/passwd", "nope", "scrape-me-please"] {
        assert!(!text.contains(identity), "{identity} in the metrics");
    }
}

#[tokio::test]
async fn metrics_bind_moves_metrics_off_the_api_and_store_latency_is_recorded() {
    let app = spawn_app_with(&[
        ("METRICS_BIND", "127.0.0.1:0"),
        ("QCOS_DAILY_UPLOAD_BYTES_PER_ACCOUNT", "1000000"),
        ("QCOS_ALLOW_UNMETERED_GRANTS", "true"),
    ])
    .await;
    let login = app
        .post_as_client(
            "/auth/oauth/token",
            serde_json::json!({"code": "dev-metrics"}),
        )
        .await;
    assert_eq!(login.status(), 200);
    let tokens: serde_json::Value = login.json().await.unwrap();
    let refresh = app
        .post_as_client(
            "/auth/oauth/token/refresh",
            serde_json::json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(refresh.status(), 200);
    let signed = app
        .client
        .post(format!("{}/v1/qc_cos/authorization", app.base))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .json(&serde_json::json!({
            "method": "PUT",
            "key": format!("/uploads/{}/a.png", tokens["account_id"].as_str().unwrap()),
            "headers": {"Content-Length": "100"},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200, "{}", signed.text().await.unwrap());

    // Not on the API's port.
    assert_refused(app.get("/metrics", None).await, 404, "not_found").await;
    let scraper = app.metrics_base.as_deref().expect("a metrics port");
    let text = app
        .client
        .get(format!("{scraper}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |query: &str| {
        sample(
            &text,
            "cosgate_store_query_duration_seconds_count",
            &[("query", query)],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(count("login"), 1.0, "{text}");
    assert_eq!(count("add_refresh_token"), 1.0);
    assert_eq!(count("rotate_refresh_token"), 1.0);
    assert_eq!(count("charge_upload"), 1.0);
    assert!(
        sample(
            &text,
            "cosgate_store_query_duration_seconds_sum",
            &[("query", "login")]
        )
        .unwrap()
            > 0.0
    );
    assert_eq!(
        sample(
            &text,
            "cosgate_requests_total",
            &[("operation", "sign_cos_request"), ("status", "200")]
        ),
        Some(1.0)
    );
}
