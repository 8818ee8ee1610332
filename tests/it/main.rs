//! cosgate's one integration test binary (one binary links once, which
//! matters on two cores). Most tests start the real server on a loopback port
//! through the same `Application` the binary uses and talk real HTTP to it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fakes;
mod hardening;
mod helpers;
mod js_sdk;
mod jwks;
mod least_privilege;
mod local_cos;

mod bearer;
mod binary;
mod codegen;
mod conformance;
mod login;
mod miniprogram;
mod moderation;
mod oauth;
mod ops;
mod qc_cos_config;
mod replicas;
mod sts;
mod swagger_ui;
mod uploads;
mod v4_vectors;
mod v5_endpoints;
mod v5_vectors;
mod webhooks;
