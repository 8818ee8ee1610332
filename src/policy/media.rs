//! Media types, as far as signing cares: which ones a browser renders as
//! active content (a page or a script running on the bucket's origin). A
//! signed `response-content-type` may not name one; the type an upload is
//! stored with is not signed by the per-request flows (the SDKs leave
//! `Content-Type` out of their signatures), which the upload sessions of a
//! later change close.

/// Types a browser runs or renders as a document with scripts.
const ACTIVE: &[&str] = &[
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "text/xsl",
    "application/xslt+xml",
    "text/javascript",
    "application/javascript",
    "application/ecmascript",
    "text/ecmascript",
    "application/x-javascript",
    "text/x-javascript",
    "text/jscript",
    "application/json+javascript",
    "multipart/x-mixed-replace",
    "application/pdf",
    "text/vtt",
    "application/x-shockwave-flash",
];

/// Whether a browser would render `content_type` (a `Content-Type` value,
/// parameters allowed) as active content. Anything naming a script, any
/// XML (`+xml` suffix included, which browsers may render with XSLT), and
/// values that are not a plain `type/subtype` are active: what cannot be
/// read is not trusted.
pub fn is_active(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let plain = essence.split_once('/').is_some_and(|(kind, sub)| {
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
        };
        token(kind) && token(sub)
    });
    !plain
        || ACTIVE.contains(&essence.as_str())
        || essence.ends_with("+xml")
        || essence.contains("script")
        || essence.contains("html")
}

#[cfg(test)]
mod tests {
    use super::is_active;

    #[test]
    fn pages_scripts_and_xml_are_active() {
        for t in [
            "text/html",
            "TEXT/HTML; charset=utf-8",
            " text/html",
            "image/svg+xml",
            "application/xhtml+xml",
            "application/javascript",
            "text/javascript;charset=utf-8",
            "application/rss+xml",
            "text/xml",
            "application/x-ecmascript",
            "text/html-sandboxed",
            "",
            "html",
            "text/",
            "text/plain, text/html",
            "image/png\r\nX-Injected: 1",
        ] {
            assert!(is_active(t), "{t:?} must count as active");
        }
    }

    #[test]
    fn images_video_and_downloads_are_not() {
        for t in [
            "image/jpeg",
            "image/png",
            "image/webp",
            "video/mp4",
            "application/octet-stream",
            "text/plain; charset=utf-8",
            "application/json",
        ] {
            assert!(!is_active(t), "{t:?} is passive");
        }
    }
}
