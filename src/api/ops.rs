//! Operations tagged `Ops`: what load balancers and operators poll.

use poem_openapi::payload::Json;

use super::{GetHealthResponse, Handlers, Health, OpsApi};

impl OpsApi for Handlers {
    async fn get_health(&self) -> GetHealthResponse {
        GetHealthResponse::Ok(Json(Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }))
    }
}
