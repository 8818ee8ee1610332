//! Operations tagged `Ops`: what load balancers and operators poll.

use super::{Handlers, Health, OpsApi, error::ApiError};

impl OpsApi for Handlers {
    async fn get_health(&self) -> Result<Health, ApiError> {
        Ok(Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        })
    }
}
