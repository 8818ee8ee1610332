//! Operations tagged `Ops`: what load balancers and operators poll.

use super::{
    Handlers, Health, OpsApi,
    error::{ApiError, ErrorCode},
};

impl OpsApi for Handlers {
    async fn get_health(&self) -> Result<Health, ApiError> {
        Ok(Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        })
    }

    async fn get_readiness(&self) -> Result<Health, ApiError> {
        self.state
            .store
            .readiness()
            .await
            .map_err(|why| ApiError::new(ErrorCode::NotReady, why))?;
        Ok(Health {
            status: "ready".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        })
    }
}
