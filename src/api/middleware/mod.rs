//! cosgate's two middlewares, with CORS between them when origins are
//! listed: [`front`] (request id, body limit, panics, metrics, access log)
//! outside, [`gate`] (WeChat's URL check, request data, login rate limit,
//! the contract's answers for unrouted requests) inside, so CORS headers
//! reach those answers too.
//! Each layer wraps the request's future in another, so there are as few as
//! the work needs.

mod front;
mod gate;

pub(crate) use front::{Front, RequestIds, front};
pub(crate) use gate::{Gate, cors, gate};
