//! `QCOS_SIGNING`, `QCOS_STS_TTL`, `TENCENT_STS_*`: temporary credentials
//! from Tencent Cloud STS, and whether v5 signatures are made with them.

use super::{Environment, defaults, reader::Reader};

/// The longest STS credentials live: GetFederationToken's own maximum.
pub const MAX_STS_TTL: u64 = 7200;

/// Which key signs v5 requests, presigned URLs and POST policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningMode {
    /// The caller's temporary credentials, confined by COS itself to the
    /// caller's directory and the allowed actions. Production's default.
    Sts,
    /// The root key. Development's default (no Tencent account needed); in
    /// production only when chosen explicitly.
    Root,
}

#[derive(Debug, Clone)]
pub struct StsSettings {
    pub signing: SigningMode,
    /// `TENCENT_STS_ENDPOINT`: tests point it at a fake on loopback.
    pub endpoint: String,
    /// `QCOS_STS_TTL`: the longest credentials cosgate asks for, seconds.
    pub ttl: u64,
    pub timeout_ms: u64,
    /// The most accounts whose credentials are kept at once.
    pub cache_entries: usize,
}

impl StsSettings {
    /// `local`: the local COS's endpoint, which also answers STS, the
    /// default of `TENCENT_STS_ENDPOINT` when it is on.
    pub(super) fn read(r: &mut Reader<'_>, environment: Environment, local: Option<&str>) -> Self {
        let signing = match r.get("QCOS_SIGNING").as_deref() {
            None if environment == Environment::Production => SigningMode::Sts,
            None => SigningMode::Root,
            Some("sts") => SigningMode::Sts,
            Some("root") => SigningMode::Root,
            Some(other) => {
                r.problem(
                    "QCOS_SIGNING",
                    format!("{other:?} is neither `sts` nor `root`"),
                );
                SigningMode::Sts
            }
        };
        let endpoint = match local {
            // The local STS replaces Tencent's (`config::LocalCosSettings`
            // refuses any other endpoint set alongside it).
            Some(local) => local.to_string(),
            None => r.text("TENCENT_STS_ENDPOINT", defaults::TENCENT_STS_ENDPOINT),
        };
        let endpoint = endpoint.trim_end_matches('/').to_string();
        if !endpoint.starts_with("https://") && !endpoint.starts_with("http://") {
            r.problem(
                "TENCENT_STS_ENDPOINT",
                format!("{endpoint:?} is not an http(s) URL"),
            );
        }
        Self {
            signing,
            endpoint,
            ttl: r.parse_within(
                "QCOS_STS_TTL",
                defaults::QCOS_STS_TTL,
                60..=MAX_STS_TTL,
                " seconds",
            ),
            timeout_ms: r.parse_within(
                "TENCENT_STS_TIMEOUT_MS",
                defaults::TENCENT_STS_TIMEOUT_MS,
                100..=30_000,
                " ms",
            ),
            cache_entries: r.parse_within(
                "QCOS_STS_CACHE_ENTRIES",
                defaults::QCOS_STS_CACHE_ENTRIES,
                1..=1_000_000,
                "",
            ),
        }
    }
}
