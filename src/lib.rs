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
//! - [`signing`]: the COS signing service: rate limit, policy, quota, the
//!   key that signs, the signature; one method per capability. No HTTP.
//! - [`uploads`]: upload sessions: the server chooses the key, signs the
//!   exact size and type, verifies the object at COS and counts real bytes.
//!   No HTTP.
//! - [`webhooks`]: upload events delivered from the outbox as Standard
//!   Webhooks (signed, at least once, retried with back-off).
//! - [`cos_client`]: cosgate's own calls to COS (multipart, HEAD, delete).
//!   No HTTP server types, no store.
//! - [`paths`]: client paths and keys parsed into well-formed types, and the
//!   per-account directory rule. No HTTP, no crypto.
//! - [`policy`]: names the COS operation a request performs and decides
//!   what an account may sign (keys, operations, sizes, the exact pairs),
//!   and the CAM policy of its STS credentials. No HTTP, no crypto.
//! - [`signer`]: COS v4 and v5 signatures, POST policies and TC3. Pure:
//!   time and nonces are arguments.
//! - [`tokens`]: cosgate's access tokens (JWT mint and verify) and their
//!   keys and JWKS. Time is an argument.
//! - [`sessions`]: which login sessions were logged out, so their access
//!   tokens stop working before `exp`. No HTTP.
//! - [`store`]: accounts and refresh tokens in SQLite or PostgreSQL. No HTTP.
//! - [`sts`]: Tencent Cloud STS `GetFederationToken`, signed with TC3, and
//!   the per-account credential cache. No HTTP server types, no store.
//! - [`wechat`]: `jscode2session` and `encryptedData` decryption. No HTTP
//!   server types, no store.
//! - [`media_check`]: WeChat's content security (`mediaCheckAsync`, its
//!   access token in the store, the pushed verdict's signature and
//!   decryption), for moderation. No HTTP server types.
//! - [`local_cos`]: development only: a COS bucket and STS on loopback that
//!   check signatures as Tencent's do, so `cargo run` uploads for real. Not
//!   on the production request path; configuration refuses it there.
//! - [`config`]: settings from the environment, validated at load.
//! - [`outbound`]: the HTTP client and failure wording WeChat and STS share.
//! - [`ratelimit`]: per-account and per-address rate limits. No HTTP.
//! - [`metrics`]: what `/metrics` exposes. No HTTP.
//! - [`log_writer`]: log lines written to stderr by a thread of their own,
//!   in batches.
//! - [`app`]: start-up wiring (the state, the listeners, shutdown);
//!   [`cli`]: the command line.
//! - [`clock`]: the only reader of the clock and the random source.

pub mod api;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod cos_client;
pub mod local_cos;
pub mod log_writer;
pub mod login;
pub mod media_check;
pub mod metrics;
pub mod outbound;
pub mod paths;
pub mod policy;
pub mod ratelimit;
pub mod sessions;
pub mod signer;
pub mod signing;
pub mod store;
pub mod sts;
pub mod tokens;
pub mod uploads;
pub mod webhooks;
pub mod wechat;

pub use app::Application;
pub use config::Settings;
