//! The ceiling for `bench/http.sh`: a bare poem server answering
//! `GET /v1/qc_cos/config` and `POST /v1/qc_cos/authorization` with constant
//! bytes — exactly the bytes cosgate answered on the same routes, read once
//! from the files `bench/http.sh` saved — on the same runtime and the same
//! poem, with no middleware, no authentication, no signing and no
//! per-request allocation of the body (a `Bytes` clone is a reference
//! count). cosgate's throughput is reported as a ratio of this one's.
//!
//! `cargo run --release --example ceiling -- 127.0.0.1:7790 CONFIG.json AUTHORIZATION.json`

use bytes::Bytes;
use poem::{Body, Response, Route, Server, get, listener::TcpListener, post};

fn constant(bytes: Bytes) -> impl Fn() -> Response + Clone {
    move || {
        Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(Body::from(bytes.clone()))
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7790".into());
    let read = |path: Option<String>| -> std::io::Result<Bytes> {
        let path = path.ok_or_else(|| std::io::Error::other("give the answers' files"))?;
        Ok(Bytes::from(std::fs::read(path)?))
    };
    let config = constant(read(args.next())?);
    let authorization = constant(read(args.next())?);
    let app = Route::new()
        .at(
            "/v1/qc_cos/config",
            get(poem::endpoint::make_sync(move |_| config())),
        )
        .at(
            "/v1/qc_cos/authorization",
            post(poem::endpoint::make_sync(move |_| authorization())),
        );
    Server::new(TcpListener::bind(addr)).run(app).await
}
