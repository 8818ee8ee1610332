//! `LOCAL_COS*`: development's own bucket on loopback ([`crate::local_cos`]),
//! so `cargo run` uploads for real with no Tencent account.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use super::{Environment, placeholder, reader::Reader};

/// Where the local COS listens unless `LOCAL_COS_BIND` says otherwise.
const DEFAULT_BIND: &str = "127.0.0.1:7778";

#[derive(Debug, Clone)]
pub struct LocalCosSettings {
    /// `LOCAL_COS_BIND`: a loopback address.
    pub bind: SocketAddr,
    /// `LOCAL_COS_DIR`: where objects are kept; by default a folder next to
    /// the SQLite file, `<name>-cos`.
    pub dir: PathBuf,
}

impl LocalCosSettings {
    /// `LOCAL_COS`: `auto` (the default) serves a local COS in development
    /// when no real bucket is configured (no `QCOS_BUCKET_NAME` and no
    /// `QCOS_ENDPOINT`); `true` asks for it; `false` never. Production
    /// refuses `true`, so it cannot be turned on there.
    pub(super) fn read(
        r: &mut Reader<'_>,
        environment: Environment,
        database_url: &str,
    ) -> Option<Self> {
        let real_bucket = r
            .get("QCOS_BUCKET_NAME")
            .is_some_and(|b| !placeholder::looks_like_one(&b))
            || r.get("QCOS_ENDPOINT").is_some();
        let wanted = match r.get("LOCAL_COS").as_deref() {
            None | Some("auto") => environment == Environment::Development && !real_bucket,
            Some("true") => true,
            Some("false") => false,
            Some(other) => {
                r.problem(
                    "LOCAL_COS",
                    format!("{other:?} is none of `auto`, `true`, `false`"),
                );
                false
            }
        };
        if !wanted {
            return None;
        }
        if environment == Environment::Production {
            r.problem(
                "LOCAL_COS",
                "the local COS is for development only; production signs for a real bucket",
            );
            return None;
        }
        // Tencent's own STS endpoint (which `.env.example` once set) is
        // the default the local STS replaces, not a contradiction.
        let tencent_sts = r
            .get("TENCENT_STS_ENDPOINT")
            .is_some_and(|e| e.trim_end_matches('/') == super::defaults::TENCENT_STS_ENDPOINT);
        for name in ["QCOS_ENDPOINT", "TENCENT_STS_ENDPOINT"] {
            if r.get(name).is_some() && !(name == "TENCENT_STS_ENDPOINT" && tencent_sts) {
                r.problem(
                    name,
                    "is set while LOCAL_COS is on, which points it at the local COS; unset one of them",
                );
            }
        }
        let default: SocketAddr = DEFAULT_BIND.parse().expect("a valid literal address");
        let bind = r.parse("LOCAL_COS_BIND", default);
        if !bind.ip().is_loopback() {
            r.problem(
                "LOCAL_COS_BIND",
                format!("{bind} is not a loopback address; the local COS serves this machine only"),
            );
        }
        let dir = r
            .get("LOCAL_COS_DIR")
            .map_or_else(|| beside_the_database(database_url), PathBuf::from);
        Some(Self { bind, dir })
    }

    /// What cosgate's own settings point at: `http://{bind}`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.bind)
    }
}

/// `cosgate.db` → `cosgate-cos` beside it; `./local-cos` for PostgreSQL.
fn beside_the_database(database_url: &str) -> PathBuf {
    let file = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or_default())
        .filter(|f| !f.is_empty() && !f.starts_with(':'));
    match file.map(Path::new) {
        Some(path) => {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("cosgate");
            path.with_file_name(format!("{stem}-cos"))
        }
        None => PathBuf::from("local-cos"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_sits_beside_the_sqlite_file() {
        assert_eq!(
            beside_the_database("sqlite://cosgate.db"),
            PathBuf::from("cosgate-cos")
        );
        assert_eq!(
            beside_the_database("sqlite:///var/lib/x/app.db?mode=rwc"),
            PathBuf::from("/var/lib/x/app-cos")
        );
        assert_eq!(
            beside_the_database("postgres://u@h/db"),
            PathBuf::from("local-cos")
        );
    }
}
