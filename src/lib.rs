//! cosgate: a spec-first authorization server for front ends that upload
//! straight to Tencent Cloud COS.
//!
//! The folder layout is the architecture; each module says what it must not
//! do:
//!
//! - [`api`]: the HTTP edge, generated from `docs/v1.yml` (by `build.rs` and
//!   the `cosgate-codegen` crate in `codegen/`) plus one hand-written file per
//!   tag. The only module that knows HTTP.
//! - [`login`]: WeChat login, registration, refresh-token rotation and token
//!   issue, over the store, the WeChat client and the JWT keys. No HTTP.
//! - [`policy`]: parses client paths into well-formed types, names the COS
//!   operation a request performs, and decides what an account may sign
//!   (keys, operations, sizes). No HTTP, no crypto.
//! - [`signer`]: COS v4 and v5 signatures, POST policies and cosgate's JWTs.
//!   Pure: time and nonces are arguments.
//! - [`store`]: accounts and refresh tokens in SQLite or PostgreSQL. No HTTP.
//! - [`sts`]: Tencent Cloud STS `GetFederationToken`, signed with TC3. No
//!   HTTP server types, no store.
//! - [`wechat`]: `jscode2session` and `encryptedData` decryption. No HTTP
//!   server types, no store.
//! - [`config`]: settings from the environment, validated at load.
//! - [`outbound`]: the HTTP client and failure wording WeChat and STS share.
//! - [`ratelimit`]: per-account and per-address rate limits. No HTTP.
//! - [`metrics`]: what `/metrics` exposes. No HTTP.
//! - [`app`]: assembles the service; [`cli`]: the command line.
//! - [`clock`]: the only reader of the clock and the random source.

pub mod api;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod login;
pub mod metrics;
pub mod outbound;
pub mod policy;
pub mod ratelimit;
pub mod signer;
pub mod store;
pub mod sts;
pub mod wechat;

pub use app::Application;
pub use config::Settings;
