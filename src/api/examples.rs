//! Development only: the example pages, served at `/examples`.

use poem::{Response, Route, http::StatusCode};

use crate::config::Settings;

/// Development only: the browser upload example at `/examples/upload`, its
/// settings filled in from this server's, and the SDK it loads from
/// `examples/browser/node_modules` (`npm install --prefix examples/browser`).
pub(crate) fn route(settings: &Settings) -> Route {
    const PAGE: &str = include_str!("../../examples/browser/upload.html");
    const SDK: &str = "node_modules/cos-js-sdk-v5/dist/cos-js-sdk-v5.min.js";
    let cos = &settings.cos;
    let default_endpoint = format!(
        "https://{}.cos.{}.myqcloud.com",
        cos.bucket_with_appid(),
        cos.region
    );
    let (client, secret) = settings
        .login
        .oauth_clients
        .first()
        .map(|(id, secret)| {
            (
                id.clone(),
                secrecy::ExposeSecret::expose_secret(secret).to_string(),
            )
        })
        .unwrap_or_default();
    let config = serde_json::json!({
        "client": client,
        "secret": secret,
        "bucket": cos.bucket_with_appid(),
        "region": cos.region,
        "domain": if cos.endpoint == default_endpoint { "" } else { cos.host() },
    });
    // `</` cannot end the script element the JSON sits in.
    let page = PAGE.replacen(
        "/*COSGATE_CONFIG*/{}",
        &config.to_string().replace("</", "<\\/"),
        1,
    );
    const SCRIPT: &str = include_str!("../../examples/browser/upload.js");
    const FETCH: &str = "node_modules/openapi-fetch/dist/index.mjs";
    let from_npm = |file: &'static str| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/browser/").to_string() + file;
        poem::endpoint::make_sync(move |_| match std::fs::read(&path) {
            Ok(js) => Response::builder()
                .content_type("text/javascript; charset=utf-8")
                .body(js),
            Err(_) => Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body("run `npm install --prefix examples/browser` to serve the example's scripts"),
        })
    };
    Route::new()
        .at(
            "/upload",
            poem::endpoint::make_sync(move |_| poem::web::Html(page.clone())),
        )
        .at(
            "/upload.js",
            poem::endpoint::make_sync(|_| {
                Response::builder()
                    .content_type("text/javascript; charset=utf-8")
                    .body(SCRIPT)
            }),
        )
        .at(format!("/{SDK}"), from_npm(SDK))
        .at(format!("/{FETCH}"), from_npm(FETCH))
}
