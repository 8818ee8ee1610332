//! `QCOS_*`: the bucket, its key, and the limits of what cosgate signs.

use secrecy::SecretString;

use super::{
    Environment, MAX_SIGN_TTL, MAX_UPLOAD_BYTES, MAX_V5_TTL, defaults, placeholder, reader::Reader,
};
use crate::{
    paths::{CosDir, UploadScope},
    policy::{operation::AllowedActions, signing::SigningPolicy},
    signer::Credentials,
};

#[derive(Debug, Clone)]
pub struct CosSettings {
    pub appid: String,
    pub credentials: Credentials,
    /// The bare bucket name, without `-appid`.
    pub bucket: String,
    pub region: String,
    /// How long a v4 signature from `/v1/qc_cos/config` is valid, seconds.
    pub sign_ttl: u64,
    /// `QCOS_V4_ENABLED`: whether `/v1/qc_cos/config` signs. Its signatures
    /// are made with the root key (v4 has no temporary credentials) and
    /// cover a whole directory with no size, so production has it off
    /// unless the operator names it.
    pub v4_enabled: bool,
    /// Who may sign which keys, which operations, how large.
    pub policy: SigningPolicy,
    /// `QCOS_DAILY_UPLOAD_BYTES_PER_ACCOUNT`: the bytes one account's
    /// signatures may allow per UTC day; `None` is no quota.
    pub daily_upload_bytes: Option<u64>,
    /// The longest a v5 signature, presigned URL or POST policy lives.
    pub v5_ttl: u64,
    /// The bucket's v5 endpoint, `https://{bucket}-{appid}.cos.{region}.myqcloud.com`
    /// unless `QCOS_ENDPOINT` names another (a custom domain, or a fake COS).
    pub endpoint: String,
}

impl CosSettings {
    /// `local`: the local COS's endpoint, the default of `QCOS_ENDPOINT`
    /// when it is on.
    pub(super) fn read(r: &mut Reader<'_>, environment: Environment, local: Option<&str>) -> Self {
        let appid = r.required("QCOS_APPID", placeholder::APPID);
        if !appid.is_empty() && !appid.bytes().all(|b| b.is_ascii_digit()) {
            r.problem("QCOS_APPID", format!("{appid:?} is not a number"));
        }
        let secret_id = r.required("QCOS_SECRET_ID", placeholder::SECRET_ID);
        let secret_key = r.required("QCOS_SECRET_KEY", placeholder::SECRET_KEY);
        let bucket = r.required("QCOS_BUCKET_NAME", placeholder::BUCKET);
        if let Some(bare) = bucket
            .strip_suffix(&format!("-{appid}"))
            .filter(|_| !appid.is_empty())
        {
            r.problem(
                "QCOS_BUCKET_NAME",
                format!("use the bare name {bare:?}, without the -APPID suffix"),
            );
        }
        let region = r.required("QCOS_REGION", placeholder::REGION);
        let sign_ttl = r.parse_within(
            "QCOS_SIGN_TTL",
            defaults::QCOS_SIGN_TTL,
            1..=MAX_SIGN_TTL,
            " seconds",
        );
        let root = r.text("QCOS_UPLOAD_ROOT", defaults::QCOS_UPLOAD_ROOT);
        let root = CosDir::parse(&root).unwrap_or_else(|e| {
            r.problem("QCOS_UPLOAD_ROOT", e);
            CosDir::parse("/").expect("`/` is a directory")
        });
        let per_account = r.parse("QCOS_PER_ACCOUNT_DIRS", defaults::QCOS_PER_ACCOUNT_DIRS);
        let v5_ttl = r.parse_within(
            "QCOS_V5_TTL",
            defaults::QCOS_V5_TTL,
            60..=MAX_V5_TTL,
            " seconds",
        );
        let max_upload_bytes = r.parse_within(
            "QCOS_MAX_UPLOAD_BYTES",
            defaults::QCOS_MAX_UPLOAD_BYTES,
            1..=MAX_UPLOAD_BYTES,
            " bytes",
        );
        let endpoint = read_endpoint(r, &bucket, &appid, &region, local);
        let allowed = r.text("QCOS_ALLOWED_ACTIONS", AllowedActions::DEFAULT);
        let allowed = AllowedActions::parse(&allowed).unwrap_or_else(|e| {
            r.problem("QCOS_ALLOWED_ACTIONS", e);
            AllowedActions::default()
        });
        let daily = r.parse_within(
            "QCOS_DAILY_UPLOAD_BYTES_PER_ACCOUNT",
            0,
            0..=u64::MAX / 2,
            " bytes (0 is no quota)",
        );
        Self {
            appid,
            credentials: Credentials::new(secret_id, SecretString::from(secret_key)),
            bucket,
            region,
            sign_ttl,
            v4_enabled: r.parse("QCOS_V4_ENABLED", environment == Environment::Development),
            policy: SigningPolicy {
                scope: UploadScope { root, per_account },
                allowed,
                max_upload_bytes,
                allow_pic_operations: r.parse("QCOS_ALLOW_PIC_OPERATIONS", false),
                host: host_of(&endpoint).to_string(),
            },
            daily_upload_bytes: (daily > 0).then_some(daily),
            v5_ttl,
            endpoint,
        }
    }

    /// Reaches the bucket at `endpoint` (`scheme://host[:port]`) from now on.
    pub fn point_at(&mut self, endpoint: &str) {
        self.endpoint = endpoint.to_string();
        self.policy.host = host_of(endpoint).to_string();
    }

    /// The `Host` the bucket is reached at, which v5 signatures sign.
    pub fn host(&self) -> &str {
        host_of(&self.endpoint)
    }

    /// The bucket's name in v5 APIs, `{bucket}-{appid}`.
    pub fn bucket_with_appid(&self) -> String {
        format!("{}-{}", self.bucket, self.appid)
    }
}

/// `host[:port]` of `scheme://host[:port]`.
fn host_of(endpoint: &str) -> &str {
    endpoint
        .split_once("://")
        .map_or(endpoint, |(_, host)| host)
}

/// `QCOS_ENDPOINT`, or the bucket's own host; `scheme://host[:port]`.
fn read_endpoint(
    r: &mut Reader<'_>,
    bucket: &str,
    appid: &str,
    region: &str,
    local: Option<&str>,
) -> String {
    let default = local.map_or_else(
        || format!("https://{bucket}-{appid}.cos.{region}.myqcloud.com"),
        str::to_string,
    );
    let endpoint = r.text("QCOS_ENDPOINT", &default);
    let endpoint = endpoint.trim_end_matches('/').to_string();
    let host_ok = endpoint.split_once("://").is_some_and(|(scheme, host)| {
        (scheme == "https" || scheme == "http") && !host.is_empty() && !host.contains('/')
    });
    if !host_ok {
        r.problem(
            "QCOS_ENDPOINT",
            format!("{endpoint:?} is not scheme://host[:port]"),
        );
    }
    endpoint
}
