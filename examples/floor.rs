//! The framework's floor for `bench/http.sh`: one poem-openapi operation per
//! benchmarked route, with the same parameters and `Authorization` header as
//! cosgate's (a bearer token that is read, never verified), answering
//! constant values of cosgate's answers' shape (the same fields, about the
//! same bytes) through poem-openapi's own `Json`. What remains between
//! this and `examples/ceiling.rs` is poem-openapi's path; what remains
//! between cosgate and this is cosgate's own work.
//!
//! `cargo run --release --example floor -- 127.0.0.1:7793`

use std::collections::BTreeMap;

use poem::{Server, listener::TcpListener};
use poem_openapi::{
    Object, OpenApi, OpenApiService, SecurityScheme, auth, param::Query, payload::Json,
};

#[derive(SecurityScheme)]
#[oai(ty = "bearer")]
struct Jwt(#[allow(dead_code)] auth::Bearer);

/// cosgate's `QCOSConfig`, field for field.
#[derive(Object)]
struct Config {
    sign: String,
    cos_path: String,
    bucket: String,
    region: String,
    appid: String,
    upload_url: String,
    expired: i64,
}

#[derive(Object)]
struct ToSign {
    method: Option<String>,
    key: Option<String>,
    query: Option<BTreeMap<String, String>>,
    headers: Option<BTreeMap<String, String>>,
}

/// cosgate's answer to a v5 signing request, field for field.
#[derive(Object)]
struct Signed {
    authorization: String,
    start_time: i64,
    expired_time: i64,
    host: String,
    url: String,
}

struct Floor;

#[OpenApi]
impl Floor {
    #[oai(path = "/v1/qc_cos/config", method = "get")]
    async fn config(&self, _auth: Jwt, cos_path: Query<Option<String>>) -> Json<Config> {
        Json(Config {
            sign: "nSbfZlJrtTbRJ23yZxJDBZ0Fq4NhPTEyNTAwMDAwMDAmaz1BS0lERVhBTVBMRSZlPTE3MDAwMDM2MDAmdD0xNzAwMDAwMDAwJnI9MTIzNDU2Nzg5JmY9LzEyNTAwMDAwMDAvZXhhbXBsZWJ1Y2tldC91cGxvYWRzL2FjYzEmYj1leGFtcGxlYnVja2V0".into(),
            cos_path: cos_path.0.unwrap_or_else(|| "/uploads/bench".into()),
            bucket: "examplebucket".into(),
            region: "ap-guangzhou".into(),
            appid: "1250000000".into(),
            upload_url: "https://ap-guangzhou.file.myqcloud.com/files/v2/1250000000/examplebucket/uploads/bench".into(),
            expired: 1_700_003_600,
        })
    }

    #[oai(path = "/v1/qc_cos/authorization", method = "post")]
    async fn authorization(&self, _auth: Jwt, _body: Json<ToSign>) -> Json<Signed> {
        Json(Signed {
            authorization: "q-sign-algorithm=sha1&q-ak=AKIDEXAMPLE&q-sign-time=1700000000;1700000900&q-key-time=1700000000;1700000900&q-header-list=content-length;content-md5;host&q-url-param-list=partnumber;uploadid&q-signature=0123456789abcdef0123456789abcdef01234567".into(),
            start_time: 1_700_000_000,
            expired_time: 1_700_000_900,
            host: "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com".into(),
            url: "https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/uploads/bench/photo.jpg".into(),
        })
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7793".into());
    let api = OpenApiService::new(Floor, "floor", "1");
    Server::new(TcpListener::bind(addr)).run(api).await
}
