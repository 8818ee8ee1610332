//! The ceiling for `bench/http.sh`: a bare poem server answering
//! `GET /v1/qc_cos/config` and `POST /v1/qc_cos/authorization` with constant
//! JSON of the size cosgate's answers have, on the same runtime and the same
//! poem, with no middleware, no authentication and no signing. cosgate's
//! throughput is reported as a ratio of this one's.
//!
//! `cargo run --release --example ceiling -- 127.0.0.1:7790`

use poem::{Route, Server, get, handler, listener::TcpListener, post, web::Json};
use serde_json::{Value, json};

#[handler]
fn config() -> Json<Value> {
    Json(json!({
        "sign": "nSbfZlJrtTbRJ23yZxJDBZ0Fq4NhPTEyNTAwMDAwMDAmaz1BS0lERVhBTVBMRSZlPTE3MDAwMDM2MDAmdD0xNzAwMDAwMDAwJnI9MTIzNDU2Nzg5JmY9LzEyNTAwMDAwMDAvZXhhbXBsZWJ1Y2tldC91cGxvYWRzL2FjYzEmYj1leGFtcGxlYnVja2V0",
        "cos_path": "/uploads/acc1",
        "bucket": "examplebucket",
        "region": "ap-guangzhou",
        "expired": 1_700_003_600u64
    }))
}

#[handler]
fn authorization() -> Json<Value> {
    Json(json!({
        "authorization": "q-sign-algorithm=sha1&q-ak=AKIDEXAMPLE&q-sign-time=1700000000;1700000900&q-key-time=1700000000;1700000900&q-header-list=content-length;host&q-url-param-list=partnumber;uploadid&q-signature=0123456789abcdef0123456789abcdef01234567",
        "start_time": 1_700_000_000u64,
        "expired_time": 1_700_000_900u64
    }))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7790".into());
    let app = Route::new()
        .at("/v1/qc_cos/config", get(config))
        .at("/v1/qc_cos/authorization", post(authorization));
    Server::new(TcpListener::bind(addr)).run(app).await
}
