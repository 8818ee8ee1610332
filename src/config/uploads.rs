//! Upload sessions: the profiles (named kinds of upload with their types
//! and sizes), the part size of multipart plans, how long a session may
//! stay pending, the stored-bytes quota, and whether grants that cannot be
//! counted in bytes are still signed while a quota is on.
//!
//! `UPLOAD_PROFILES` reads as the rule it enforces, one profile per `;`:
//!
//! ```text
//! avatar=image/jpeg|image/png|image/webp:2MiB;photo=image/*:20MiB;video=video/mp4:512MiB
//! ```

use super::{Environment, reader::Reader};
use crate::{paths::CosDir, policy::media};

/// The profiles when `UPLOAD_PROFILES` is unset.
pub const DEFAULT_PROFILES: &str =
    "avatar=image/jpeg|image/png|image/webp:2MiB;photo=image/*:20MiB;video=video/mp4:512MiB";
/// The largest upload a profile may allow: 5 TiB (COS's own largest object
/// is 48.82 TiB).
const MAX_SESSION_BYTES: u64 = 5 * 1024 * 1024 * 1024 * 1024;

/// One named kind of upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    /// `type/subtype`, or `type/*` for any subtype; lower case.
    pub types: Vec<String>,
    pub max_bytes: u64,
}

impl Profile {
    /// Whether `content_type` (its essence, lower case) is one of this
    /// profile's. Active content never is, whatever the pattern says.
    pub fn accepts(&self, content_type: &str) -> bool {
        if media::is_active(content_type) {
            return false;
        }
        self.types.iter().any(|t| match t.strip_suffix("/*") {
            Some(kind) => content_type.split_once('/').is_some_and(|(k, _)| k == kind),
            None => t == content_type,
        })
    }
}

#[derive(Debug, Clone)]
pub struct UploadSettings {
    pub profiles: Vec<Profile>,
    /// `UPLOAD_DEFAULT_PROFILE`: for a session that names none.
    pub default_profile: String,
    /// `UPLOAD_PART_BYTES`: one PUT up to this size, parts of it above.
    pub part_bytes: u64,
    /// `UPLOAD_TTL`: how long a session may stay pending, seconds.
    pub ttl: u64,
    /// `UPLOAD_SWEEP_SECONDS`: how often expired sessions are cleaned and
    /// held bytes given back.
    pub sweep_seconds: u64,
    /// `UPLOAD_ORPHAN_SECONDS`: a multipart upload under the sessions' root
    /// that no pending session owns is aborted once this old.
    pub orphan_seconds: u64,
    /// `QCOS_STORAGE_BYTES_PER_ACCOUNT`: `None` is no quota.
    pub storage_bytes: Option<u64>,
    /// `UPLOAD_SESSION_ROOT`: where sessions' keys live, apart from the
    /// upload root every other grant writes in, so no other grant can
    /// replace an object a session verified.
    pub session_root: CosDir,
    /// `QCOS_ALLOW_UNMETERED_GRANTS`: with a quota on, still sign grants
    /// that allow uploads of unknown size and number (STS credentials,
    /// prefix POST policies, v4, per-request PUTs and parts).
    pub allow_unmetered_grants: bool,
}

impl UploadSettings {
    pub(super) fn read(r: &mut Reader<'_>, _environment: Environment) -> Self {
        let raw = r.text("UPLOAD_PROFILES", DEFAULT_PROFILES);
        let profiles = match parse_profiles(&raw) {
            Ok(profiles) => profiles,
            Err(problems) => {
                for problem in problems {
                    r.problem("UPLOAD_PROFILES", problem);
                }
                Vec::new()
            }
        };
        let default_profile = r.text("UPLOAD_DEFAULT_PROFILE", "photo");
        if !profiles.is_empty() && !profiles.iter().any(|p| p.name == default_profile) {
            r.problem(
                "UPLOAD_DEFAULT_PROFILE",
                format!("{default_profile:?} is not one of UPLOAD_PROFILES"),
            );
        }
        let part_bytes = r.parse_within(
            "UPLOAD_PART_BYTES",
            8 * 1024 * 1024,
            1024 * 1024..=5 * 1024 * 1024 * 1024,
            " bytes",
        );
        let storage = r.parse_within(
            "QCOS_STORAGE_BYTES_PER_ACCOUNT",
            0,
            0..=u64::MAX / 2,
            " bytes (0 is no quota)",
        );
        let session_root = r.text("UPLOAD_SESSION_ROOT", "/sessions");
        let session_root = CosDir::parse(&session_root).unwrap_or_else(|e| {
            r.problem("UPLOAD_SESSION_ROOT", e);
            CosDir::parse("/sessions").expect("a directory")
        });
        Self {
            session_root,
            profiles,
            default_profile,
            part_bytes,
            ttl: r.parse_within("UPLOAD_TTL", 3600, 1..=7 * 86_400, " seconds"),
            sweep_seconds: r.parse_within("UPLOAD_SWEEP_SECONDS", 60, 1..=3600, " seconds"),
            orphan_seconds: r.parse_within(
                "UPLOAD_ORPHAN_SECONDS",
                86_400,
                3600..=30 * 86_400,
                " seconds",
            ),
            storage_bytes: (storage > 0).then_some(storage),
            allow_unmetered_grants: r.parse("QCOS_ALLOW_UNMETERED_GRANTS", false),
        }
    }

    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }
}

/// `name=type|type:size;…`, every problem reported.
pub fn parse_profiles(raw: &str) -> Result<Vec<Profile>, Vec<String>> {
    let mut profiles: Vec<Profile> = Vec::new();
    let mut problems = Vec::new();
    for entry in raw.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((name, rule)) = entry.split_once('=') else {
            problems.push(format!("{entry:?} is not name=types:size"));
            continue;
        };
        let name = name.trim();
        let Some((types, size)) = rule.rsplit_once(':') else {
            problems.push(format!("{name}: {rule:?} is not types:size"));
            continue;
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            problems.push(format!(
                "{name:?} is not a profile name (letters, digits, _ and -)"
            ));
            continue;
        }
        if profiles.iter().any(|p| p.name == name) {
            problems.push(format!("{name} is named twice"));
            continue;
        }
        let types: Vec<String> = types
            .split('|')
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        if let Some(bad) = types.iter().find(|t| {
            let pattern_ok = t
                .split_once('/')
                .is_some_and(|(k, s)| !k.is_empty() && !s.is_empty() && !k.contains('*'));
            !pattern_ok || (!t.ends_with("/*") && media::is_active(t))
        }) {
            problems.push(format!(
                "{name}: {bad:?} is not a type/subtype (or type/*) a browser renders passively"
            ));
            continue;
        }
        match parse_size(size.trim()) {
            Some(max_bytes) if max_bytes > 0 && max_bytes <= MAX_SESSION_BYTES => {
                profiles.push(Profile {
                    name: name.to_string(),
                    types,
                    max_bytes,
                });
            }
            _ => problems.push(format!(
                "{name}: {size:?} is not a size such as 512KiB, 20MiB or 1GiB"
            )),
        }
    }
    if profiles.is_empty() && problems.is_empty() {
        problems.push("no profile is defined".to_string());
    }
    if problems.is_empty() {
        Ok(profiles)
    } else {
        Err(problems)
    }
}

/// `123`, `123B`, `512KiB`, `20MiB`, `1GiB`.
fn parse_size(text: &str) -> Option<u64> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let unit = match unit {
        "" | "B" => 1,
        "KiB" => 1024,
        "MiB" => 1024 * 1024,
        "GiB" => 1024 * 1024 * 1024,
        _ => return None,
    };
    number.checked_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_profiles_read_as_written() {
        let profiles = parse_profiles(DEFAULT_PROFILES).unwrap();
        let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["avatar", "photo", "video"]);
        assert_eq!(profiles[0].max_bytes, 2 * 1024 * 1024);
        assert!(profiles[1].accepts("image/heic"));
        assert!(
            !profiles[1].accepts("image/svg+xml"),
            "active, though image/*"
        );
        assert!(!profiles[0].accepts("image/gif"));
        assert!(profiles[2].accepts("video/mp4"));
    }

    #[test]
    fn bad_profiles_are_each_named() {
        let problems =
            parse_profiles("a=image/png:2MiB;a=image/png:1MiB;b=text/html:1MiB;c=image:1MiB;d=image/png:lots;e f=x/y:1")
                .unwrap_err();
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("\"text/html\"")));
    }
}
