//! Paths and keys: what a client may name, parsed at the edge.
//!
//! Paths from clients are parsed into [`CosDir`] at the edge; a value of that
//! type is well-formed by construction (no `..`, no `//`, no control bytes, no
//! percent-encoded tricks), so nothing malformed can reach the signer. An
//! [`UploadScope`] then says whether a given account may sign a given
//! directory. This module knows nothing of HTTP.

use std::fmt;

use percent_encoding::percent_decode_str;

/// The longest path cosgate signs, in bytes. COS keys may be up to 850 bytes
/// of UTF-8 on some APIs; 1024 leaves room and still stops abuse.
pub const MAX_PATH_BYTES: usize = 1024;

/// Why a path was refused. `Display` says what is wrong in words a client
/// developer can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path is empty")]
    Empty,
    #[error("the path must start with `/`")]
    NotAbsolute,
    #[error("the path is {bytes} bytes long; at most {MAX_PATH_BYTES} are allowed")]
    TooLong { bytes: usize },
    #[error("the path contains an empty segment (`//`)")]
    EmptySegment,
    /// `.`, `..`, or a segment of dots and spaces only, which Windows
    /// strips to one of those (`...`, `.. `).
    #[error("the path contains a `.` or `..` segment, or one of dots and spaces only")]
    DotSegment,
    #[error("the path contains a backslash")]
    Backslash,
    #[error("the path contains a control character or NUL")]
    ControlCharacter,
    #[error(
        "the path contains a character that Unicode normalisation (NFKC) turns into `.`, `/`, `\\` or `%`, or that Unicode lists as confusable with one (UTS #39)"
    )]
    Lookalike,
    /// A bidirectional control or another character that displays as
    /// nothing (zero-width spaces and joiners, BOMs, fillers).
    #[error(
        "the path contains an invisible character (a bidirectional control, zero-width or other default-ignorable code point)"
    )]
    Invisible,
    /// `${`: COS's form upload replaces `${filename}` with the file's name,
    /// so the key signed would not be the key stored.
    #[error("the path contains `${{`, which COS's form upload replaces with the file's name")]
    Placeholder,
    /// A percent-encoded form of something refused above, or of `%` itself.
    #[error("the path contains a percent-encoded `.`, `/`, `\\`, `%` or control character")]
    EncodedTrick,
}

/// A well-formed absolute COS directory such as `/uploads/acc1/avatars`:
/// starts with `/`, has no trailing `/` (one is removed), and no segment is
/// empty, `.` or `..`. The root `/` itself is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosDir(String);

impl CosDir {
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        if raw.is_empty() {
            return Err(PathError::Empty);
        }
        if raw.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong { bytes: raw.len() });
        }
        let Some(rest) = raw.strip_prefix('/') else {
            return Err(PathError::NotAbsolute);
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() && raw != "/" {
            return Err(PathError::EmptySegment);
        }
        if !rest.is_empty() {
            for segment in rest.split('/') {
                check_segment(segment)?;
            }
        }
        Ok(Self(format!("/{rest}")))
    }

    /// A directory named as a key prefix, with or without the leading `/`:
    /// `uploads/acc1` and `/uploads/acc1/` are both `/uploads/acc1`.
    pub fn parse_prefix(raw: &str) -> Result<Self, PathError> {
        Self::parse(&format!("/{}", raw.trim_start_matches('/')))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The directory as a key prefix: `uploads/acc1/`, never `uploads/acc1`
    /// (which would also match `uploads/acc10/…`). The root is `""`.
    pub fn key_prefix(&self) -> String {
        match self.0.trim_start_matches('/') {
            "" => String::new(),
            dir => format!("{dir}/"),
        }
    }

    /// The directory `self/segment`, where `segment` must itself be a single
    /// well-formed segment (an account id, say).
    pub fn join(&self, segment: &str) -> Result<Self, PathError> {
        if segment.is_empty() || segment.contains('/') {
            return Err(PathError::EmptySegment);
        }
        check_segment(segment)?;
        let joined = match self.0.as_str() {
            "/" => format!("/{segment}"),
            dir => format!("{dir}/{segment}"),
        };
        if joined.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong {
                bytes: joined.len(),
            });
        }
        Ok(Self(joined))
    }

    /// Whether `self` is `dir` or lies below it.
    pub fn is_within(&self, dir: &CosDir) -> bool {
        match dir.0.as_str() {
            "/" => true,
            prefix => {
                self.0 == prefix
                    || (self.0.starts_with(prefix) && self.0.as_bytes()[prefix.len()] == b'/')
            }
        }
    }
}

impl fmt::Display for CosDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A well-formed COS object key such as `uploads/acc1/photo.png`: no
/// leading `/` (one is removed), no trailing `/`, no empty, `.` or `..`
/// segment. It is the key COS stores, byte for byte: `+`, spaces, CJK and a
/// literal `%20` stay as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        let key = raw.strip_prefix('/').unwrap_or(raw);
        if key.is_empty() {
            return Err(PathError::Empty);
        }
        if key.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong { bytes: key.len() });
        }
        for segment in key.split('/') {
            check_segment(segment)?;
        }
        Ok(Self(key.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as a path, `/uploads/acc1/photo.png`: what v5 signatures sign.
    pub fn path(&self) -> String {
        format!("/{}", self.0)
    }

    /// Whether the object lies strictly below `dir`.
    pub fn is_below(&self, dir: &CosDir) -> bool {
        match dir.as_str() {
            "/" => true,
            prefix => self
                .path()
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/')),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The one rule for a segment of a path or key: refused when any program
/// along the way could read it as something else. COS stores keys byte for
/// byte, but browsers, CDNs, download tools and filesystems decode and
/// normalise them: a segment that one of them turns into a dot-segment or a
/// separator could name another directory there, and one that displays
/// differently from its bytes could pass for another name.
fn check_segment(segment: &str) -> Result<(), PathError> {
    if segment.is_empty() {
        return Err(PathError::EmptySegment);
    }
    check_text(segment)?;
    // `%2e%2e`, `%2F`, `%00`, `%25` (double encoding), `%e2%80%ae`: whatever
    // a lenient decoder, applied until nothing changes, turns into something
    // refused above is refused too, whoever decodes it later.
    let mut text = std::borrow::Cow::Borrowed(segment);
    for _ in 0..MAX_DECODINGS {
        if has_iis_escape(&text) {
            return Err(PathError::EncodedTrick);
        }
        // Bytes that are not UTF-8 once decoded (overlong `%c0%ae`, which
        // lenient decoders read as `.`) are a trick, not a name.
        let Ok(decoded) = percent_decode_str(&text).decode_utf8() else {
            return Err(PathError::EncodedTrick);
        };
        if decoded == *text {
            break;
        }
        if decoded.contains(['%', '/']) || check_text(&decoded).is_err() {
            return Err(PathError::EncodedTrick);
        }
        text = std::borrow::Cow::Owned(decoded.into_owned());
    }
    Ok(())
}

/// How many percent-decodings a segment is followed through.
const MAX_DECODINGS: usize = 4;

/// `%u002e`: IIS's escape of a UTF-16 unit, which some decoders expand.
fn has_iis_escape(text: &str) -> bool {
    text.as_bytes().windows(6).any(|w| {
        w[0] == b'%' && w[1].eq_ignore_ascii_case(&b'u') && w[2..].iter().all(u8::is_ascii_hexdigit)
    })
}

/// The checks of [`check_segment`] on one reading of a segment.
fn check_text(text: &str) -> Result<(), PathError> {
    use unicode_normalization::UnicodeNormalization;
    if text.chars().all(dots_and_spaces) {
        return Err(PathError::DotSegment);
    }
    if text.contains("${") {
        return Err(PathError::Placeholder);
    }
    if text.contains('\\') {
        return Err(PathError::Backslash);
    }
    if text.chars().any(char::is_control) {
        return Err(PathError::ControlCharacter);
    }
    // Nothing below refuses an ASCII character that the checks above let
    // through (a test walks all 128 through them): a plain name is spared
    // normalisation and the confusable tables.
    if text.is_ascii() {
        return Ok(());
    }
    if text.chars().any(is_invisible) {
        return Err(PathError::Invisible);
    }
    // Fullwidth `／`, `＼`, `％`, U+2215 `∕`, U+2044 `⁄`, U+29F8 `⧸` and the
    // like: NFKC (which some clients and CDNs apply and COS does not) or a
    // confusable-folding filter turns them into a separator or an escape,
    // so the key one side checks would not be the key the other sees.
    if text.chars().any(is_separator_lookalike) {
        return Err(PathError::Lookalike);
    }
    // Dot look-alikes (`．`, U+2024 `․`, the Arabic zero `٠`) and spaces
    // other than ASCII's matter only where they fold into a dot-segment:
    // `٢٠٢٤.jpg` is a name, `٠٠` would read as `..`.
    if text.nfkc().all(dots_and_spaces) || unicode_security::skeleton(text).all(dots_and_spaces) {
        return Err(PathError::Lookalike);
    }
    Ok(())
}

/// A dot, a space, or what becomes one: Windows strips trailing dots and
/// spaces from a name, so `...` and `.. ` become `..` on a disk; a form
/// decoder reads `+` as a space, and NFKC turns no-break and ideographic
/// spaces into one.
fn dots_and_spaces(c: char) -> bool {
    c == '.' || c == '+' || c.is_whitespace()
}

/// A character that displays as nothing: Unicode's default-ignorable code
/// points (bidirectional controls, zero-width spaces, word joiners, BOM,
/// fillers), which UTS #39's skeleton drops. The zero-width joiner and
/// non-joiner and the variation selectors are kept: emoji (`❤️`, family
/// sequences) and Persian names need them, and they shape what is next to
/// them rather than hide anything.
fn is_invisible(c: char) -> bool {
    let shaping =
        matches!(c, '\u{200C}' | '\u{200D}' | '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}');
    !c.is_ascii()
        && !shaping
        && unicode_security::skeleton(c.encode_utf8(&mut [0; 4]))
            .next()
            .is_none()
}

/// A non-ASCII character whose NFKC form, or whose UTS #39 confusable
/// prototype, holds a path separator or a percent sign.
fn is_separator_lookalike(c: char) -> bool {
    use unicode_normalization::char::decompose_compatible;
    if c.is_ascii() {
        return false;
    }
    let special = |d: char| matches!(d, '/' | '\\' | '%');
    let mut found = false;
    decompose_compatible(c, |d| found |= special(d));
    found || unicode_security::skeleton(c.encode_utf8(&mut [0; 4])).any(special)
}

/// Which directories an account may sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadScope {
    /// `QCOS_UPLOAD_ROOT`, for example `/uploads`.
    pub root: CosDir,
    /// `QCOS_PER_ACCOUNT_DIRS`: each account only below `{root}/{account}`.
    /// Off: anything below the root (the 2017 server's behaviour).
    pub per_account: bool,
}

/// Why an account may not sign a directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// The account id cannot name a directory (it is not a single segment).
    #[error("the account id cannot name a directory: {0}")]
    UnusableAccountId(PathError),
    #[error("you may only sign paths within {allowed}")]
    OutsideAllowed { allowed: CosDir },
}

impl UploadScope {
    /// The account's own directory, `{root}/{account}`: where its uploads go
    /// when it names no directory.
    pub fn home(&self, account: &str) -> Result<CosDir, ScopeError> {
        self.root
            .join(account)
            .map_err(ScopeError::UnusableAccountId)
    }

    /// The directory below which `account` may sign.
    pub fn allowed(&self, account: &str) -> Result<CosDir, ScopeError> {
        if self.per_account {
            self.home(account)
        } else {
            Ok(self.root.clone())
        }
    }

    /// Checks that `account` may sign the object `key`.
    pub fn check_key(&self, account: &str, key: &ObjectKey) -> Result<(), ScopeError> {
        let allowed = self.allowed(account)?;
        if key.is_below(&allowed) {
            Ok(())
        } else {
            Err(ScopeError::OutsideAllowed { allowed })
        }
    }

    /// The directory a form upload may write below: the one asked for
    /// (checked), or everything the account may sign.
    pub fn prefix_dir(
        &self,
        account: &str,
        requested: Option<&CosDir>,
    ) -> Result<CosDir, ScopeError> {
        match requested {
            Some(dir) => {
                self.check(account, dir)?;
                Ok(dir.clone())
            }
            None => self.allowed(account),
        }
    }

    /// Checks that `account` may sign `dir`.
    pub fn check(&self, account: &str, dir: &CosDir) -> Result<(), ScopeError> {
        let allowed = self.allowed(account)?;
        if dir.is_within(&allowed) {
            Ok(())
        } else {
            Err(ScopeError::OutsideAllowed { allowed })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(s: &str) -> CosDir {
        CosDir::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    #[test]
    fn no_ascii_character_is_refused_by_the_unicode_checks() {
        // What lets check_text stop early on ASCII: each of these checks
        // reads a text one character at a time (NFKC leaves ASCII as it
        // is; the skeleton of an ASCII text is its characters' skeletons
        // one after another, `m` → `rn`), so agreeing on every single ASCII
        // character is agreeing on every ASCII text.
        use unicode_normalization::UnicodeNormalization;
        for c in (0u8..128).map(char::from) {
            let one = c.to_string();
            assert!(!is_invisible(c), "{c:?}");
            assert!(!is_separator_lookalike(c), "{c:?}");
            assert_eq!(one.nfkc().collect::<String>(), one, "{c:?}");
            assert_eq!(
                unicode_security::skeleton(&one).all(dots_and_spaces),
                dots_and_spaces(c),
                "{c:?}"
            );
        }
    }

    #[test]
    fn characters_that_nfkc_turns_into_separators_are_refused() {
        for key in [
            "uploads/acc1/．．/acc2/x",
            "uploads/acc1／x",
            "uploads/acc1/a＼b",
            "uploads/acc1/100％",
            "uploads/acc1/\u{2024}\u{2024}/x",
            "uploads/acc1/\u{FE52}",
            "uploads/acc1/\u{2025}",
        ] {
            assert_eq!(ObjectKey::parse(key), Err(PathError::Lookalike), "{key}");
        }
        assert_eq!(
            CosDir::parse("/uploads/acc1/．．"),
            Err(PathError::Lookalike)
        );
        // Other compatibility characters and CJK are ordinary.
        for key in [
            "uploads/acc1/照片①.png",
            "uploads/acc1/ｆｕｌｌ.png",
            "uploads/acc1/a。b",
        ] {
            assert!(ObjectKey::parse(key).is_ok(), "{key}");
        }
    }

    #[test]
    fn a_directory_is_a_key_prefix_with_a_trailing_slash() {
        assert_eq!(dir("/uploads/acc1").key_prefix(), "uploads/acc1/");
        assert_eq!(dir("/").key_prefix(), "");
        assert_eq!(
            CosDir::parse_prefix("uploads/acc1/").unwrap(),
            dir("/uploads/acc1")
        );
    }

    #[test]
    fn well_formed_directories_parse() {
        assert_eq!(dir("/uploads/acc1").as_str(), "/uploads/acc1");
        assert_eq!(
            dir("/uploads/acc1/").as_str(),
            "/uploads/acc1",
            "one trailing slash is dropped"
        );
        assert_eq!(dir("/").as_str(), "/");
        assert_eq!(dir("/上传/a b+c(1)").as_str(), "/上传/a b+c(1)");
        assert_eq!(
            dir("/a/100%").as_str(),
            "/a/100%",
            "a lone % that decodes to nothing is literal"
        );
    }

    #[test]
    fn each_malformed_path_is_refused_with_its_reason() {
        let cases = [
            ("", PathError::Empty),
            ("uploads/a", PathError::NotAbsolute),
            ("/uploads/../etc", PathError::DotSegment),
            ("/uploads/./a", PathError::DotSegment),
            ("/uploads/..", PathError::DotSegment),
            ("/uploads//a", PathError::EmptySegment),
            ("//", PathError::EmptySegment),
            ("/a//", PathError::EmptySegment),
            ("/uploads\\a", PathError::Backslash),
            ("/uploads/a\0b", PathError::ControlCharacter),
            ("/uploads/a\nb", PathError::ControlCharacter),
            ("/uploads/%2e%2e/x", PathError::EncodedTrick),
            ("/uploads/%2E", PathError::EncodedTrick),
            ("/uploads/a%2fb", PathError::EncodedTrick),
            ("/uploads/a%5Cb", PathError::EncodedTrick),
            ("/uploads/a%00", PathError::EncodedTrick),
            ("/uploads/%252e%252e", PathError::EncodedTrick),
            // What other decoders and filesystems rewrite.
            ("/uploads/...", PathError::DotSegment),
            ("/uploads/.. ", PathError::DotSegment),
            ("/uploads/ ", PathError::DotSegment),
            ("/uploads/%2e%2e%20", PathError::EncodedTrick),
            ("/uploads/%25ef%25bc%258e", PathError::EncodedTrick),
            ("/uploads/a\u{2215}b", PathError::Lookalike),
            ("/uploads/a\u{2044}b", PathError::Lookalike),
            ("/uploads/a\u{29F8}b", PathError::Lookalike),
            ("/uploads/\u{FF0E}\u{FF0E}", PathError::Lookalike),
            ("/uploads/a%e2%88%95b", PathError::EncodedTrick),
            ("/uploads/a\u{202E}gpj.exe", PathError::Invisible),
            ("/uploads/a\u{200B}b", PathError::Invisible),
            ("/uploads/\u{FEFF}a", PathError::Invisible),
            ("/uploads/a\u{2066}b", PathError::Invisible),
            ("/uploads/a%e2%80%8bb", PathError::EncodedTrick),
            ("/uploads/..\u{00A0}", PathError::DotSegment),
            ("/uploads/..\u{3000}", PathError::DotSegment),
            ("/uploads/\u{0660}\u{0660}", PathError::Lookalike),
            ("/uploads/..+", PathError::DotSegment),
            ("/uploads/%c0%ae%c0%ae", PathError::EncodedTrick),
            ("/uploads/%u002e%u002e", PathError::EncodedTrick),
            ("/uploads/${filename}", PathError::Placeholder),
        ];
        for (raw, expected) in cases {
            assert_eq!(CosDir::parse(raw), Err(expected), "{raw:?}");
        }
        let long = format!("/{}", "a".repeat(MAX_PATH_BYTES));
        assert_eq!(
            CosDir::parse(&long),
            Err(PathError::TooLong {
                bytes: MAX_PATH_BYTES + 1
            })
        );
    }

    #[test]
    fn names_in_every_script_are_kept() {
        for name in [
            "我的 照片+(1).txt",
            "café au lait.jpg",
            "Фото 2024.png",
            "写真・休暇.jpg",
            "صورة.png",
            "😀 party.png",
            "a-b_c~d (2).png",
            "v1.2.3",
            "...a",
            "a...b",
            "❤️ love.png",
            "👩\u{200D}👩\u{200D}👧.jpg",
            "می\u{200C}خواهم.jpg",
            "صورة ٢٠٢٤.jpg",
            "a．b.png",
        ] {
            let raw = format!("/uploads/{name}");
            assert!(
                CosDir::parse(&raw).is_ok(),
                "{name:?}: {:?}",
                CosDir::parse(&raw)
            );
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(
            PathError::DotSegment.to_string(),
            "the path contains a `.` or `..` segment, or one of dots and spaces only"
        );
        assert!(
            PathError::TooLong { bytes: 2000 }
                .to_string()
                .contains("2000 bytes")
        );
    }

    #[test]
    fn within_means_the_same_directory_or_below_never_a_sibling_prefix() {
        let home = dir("/uploads/acc1");
        assert!(dir("/uploads/acc1").is_within(&home));
        assert!(dir("/uploads/acc1/x/y").is_within(&home));
        assert!(
            !dir("/uploads/acc10").is_within(&home),
            "a shared prefix is not containment"
        );
        assert!(!dir("/uploads").is_within(&home));
        assert!(dir("/anything").is_within(&dir("/")));
    }

    #[test]
    fn per_account_scope_allows_only_the_account_directory() {
        let scope = UploadScope {
            root: dir("/uploads"),
            per_account: true,
        };
        assert_eq!(scope.home("acc1").unwrap(), dir("/uploads/acc1"));
        assert!(scope.check("acc1", &dir("/uploads/acc1/avatars")).is_ok());
        assert_eq!(
            scope.check("acc1", &dir("/uploads/acc2")),
            Err(ScopeError::OutsideAllowed {
                allowed: dir("/uploads/acc1")
            })
        );
        assert!(scope.check("acc1", &dir("/uploads")).is_err());
    }

    #[test]
    fn shared_scope_allows_anything_below_the_root() {
        let scope = UploadScope {
            root: dir("/uploads"),
            per_account: false,
        };
        assert!(scope.check("acc1", &dir("/uploads/acc2")).is_ok());
        assert!(scope.check("acc1", &dir("/uploads")).is_ok());
        assert!(scope.check("acc1", &dir("/elsewhere")).is_err());
    }

    #[test]
    fn object_keys_parse_as_cos_stores_them() {
        for (raw, key) in [
            ("uploads/acc1/a.png", "uploads/acc1/a.png"),
            ("/uploads/acc1/a.png", "uploads/acc1/a.png"),
            ("uploads/acc1/a+b (1).png", "uploads/acc1/a+b (1).png"),
            ("uploads/acc1/我的 照片.png", "uploads/acc1/我的 照片.png"),
            ("uploads/acc1/a%20b.png", "uploads/acc1/a%20b.png"),
        ] {
            assert_eq!(ObjectKey::parse(raw).unwrap().as_str(), key, "{raw}");
        }
        assert_eq!(ObjectKey::parse("a/b").unwrap().path(), "/a/b");
        for (raw, err) in [
            ("", PathError::Empty),
            ("/", PathError::Empty),
            ("uploads/acc1/", PathError::EmptySegment),
            ("uploads//a", PathError::EmptySegment),
            ("uploads/../acc2/a", PathError::DotSegment),
            ("uploads/acc1/%2e%2e/a", PathError::EncodedTrick),
            ("uploads\\acc1", PathError::Backslash),
            ("uploads/a\u{7}", PathError::ControlCharacter),
        ] {
            assert_eq!(ObjectKey::parse(raw), Err(err), "{raw:?}");
        }
    }

    #[test]
    fn an_account_may_sign_only_objects_below_its_directory() {
        let scope = UploadScope {
            root: dir("/uploads"),
            per_account: true,
        };
        let key = |k| ObjectKey::parse(k).unwrap();
        assert!(scope.check_key("acc1", &key("uploads/acc1/a.png")).is_ok());
        assert!(
            scope
                .check_key("acc1", &key("uploads/acc1/x/y/z.png"))
                .is_ok()
        );
        for other in [
            "uploads/acc2/a.png",
            "uploads/acc10/a.png",
            "uploads/acc1",
            "elsewhere/acc1/a.png",
            "a.png",
        ] {
            assert!(scope.check_key("acc1", &key(other)).is_err(), "{other}");
        }
    }

    #[test]
    fn an_account_id_that_is_not_one_segment_has_no_directory() {
        let scope = UploadScope {
            root: dir("/uploads"),
            per_account: true,
        };
        for bad in ["", "..", "a/b", "a\\b", "%2e%2e"] {
            assert!(
                matches!(scope.home(bad), Err(ScopeError::UnusableAccountId(_))),
                "{bad:?}"
            );
        }
    }
}
