//! COS v5 (XML API) request signatures and POST Object policy signatures,
//! as Tencent's "Request Signature" document (436/7778) and "POST Object"
//! (436/14690) define them and the official SDKs compute them.
//!
//! ```text
//! KeyTime       = "{start};{end}"
//! SignKey       = hex(HMAC-SHA1(SecretKey, KeyTime))
//! pairs         = for each header / query parameter:
//!                 (lower(encode(name)), encode(value)), sorted
//!                 encode keeps A-Za-z0-9 - _ . ~, else %XX (uppercase hex)
//! HttpString    = lower(method) \n UriPathname \n HttpParameters \n HttpHeaders \n
//! StringToSign  = "sha1" \n KeyTime \n hex(SHA1(HttpString)) \n
//! Signature     = hex(HMAC-SHA1(SignKey, StringToSign))
//! Authorization = q-sign-algorithm=sha1&q-ak=…&q-sign-time=KeyTime&q-key-time=KeyTime
//!                 &q-header-list=…&q-url-param-list=…&q-signature=…
//! ```
//!
//! `UriPathname` is the decoded object key with a leading `/`. Which headers
//! get signed is the signing policy's choice (`crate::policy::signing`,
//! which follows [`HeaderRule::JsSdk`]); this module signs exactly what it is
//! given.

use std::fmt::{self, Write as _};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::{Credentials, hex, hmac_sha1};

/// Bytes COS leaves unencoded in names and values: `A-Za-z0-9-_.~`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes `s` as COS signing does (a space is `%20`, `/` is `%2F`).
pub fn encode(s: &str) -> String {
    std::borrow::Cow::from(utf8_percent_encode(s, UNRESERVED)).into_owned()
}

/// Percent-encodes an object key for a URL path: as [`encode`], but `/`
/// stays a separator.
pub fn encode_key_path(key: &str) -> String {
    key.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// The signature's validity window, unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyTime {
    pub start: u64,
    pub end: u64,
}

impl fmt::Display for KeyTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{};{}", self.start, self.end)
    }
}

/// `SignKey = hex(HMAC-SHA1(SecretKey, KeyTime))`.
pub fn sign_key(credentials: &Credentials, key_time: KeyTime) -> String {
    hex(credentials
        .hmac_sha1(key_time.to_string().as_bytes())
        .as_ref())
}

/// Headers or query parameters, encoded and sorted as they are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPairs(Vec<(String, String)>);

impl SignedPairs {
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut encoded: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(k, v)| {
                let mut k = encode(k);
                k.make_ascii_lowercase();
                (k, encode(v))
            })
            .collect();
        encoded.sort();
        Self(encoded)
    }

    /// `k1;k2`, for `q-header-list` and `q-url-param-list`.
    pub fn list(&self) -> String {
        self.0
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// `k1=v1&k2=v2`, the `HttpParameters` / `HttpHeaders` of the HttpString.
impl fmt::Display for SignedPairs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_char('&')?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

/// Which headers an official SDK puts into a signature. Both sign `host`,
/// `x-cos-*`, `x-ci-*` and a list of standard headers; they differ on
/// `content-type`, which cos-python-sdk-v5 signs and cos-js-sdk-v5 (and
/// cos-wx-sdk-v5) leave out, because browsers and WeChat may rewrite it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderRule {
    /// cos-js-sdk-v5 1.10 `getSignHeaderObj` (cos-wx-sdk-v5 alike).
    JsSdk,
    /// cos-python-sdk-v5 1.9 `filter_headers`.
    PythonSdk,
}

const SDK_SIGNED_HEADERS: &[&str] = &[
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-length",
    "content-md5",
    "expect",
    "expires",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-unmodified-since",
    "origin",
    "range",
    "transfer-encoding",
    "pic-operations",
];

impl HeaderRule {
    /// Whether this SDK signs the header `name`.
    pub fn signs(self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        let listed = SDK_SIGNED_HEADERS.contains(&name.as_str());
        match self {
            // The JS SDK tests `indexOf('x-cos-') > -1`: anywhere in the name.
            HeaderRule::JsSdk => listed || name.contains("x-cos-") || name.contains("x-ci-"),
            HeaderRule::PythonSdk => {
                listed
                    || name == "content-type"
                    || name.starts_with("x-cos-")
                    || name.starts_with("x-ci-")
            }
        }
    }
}

/// One request to sign.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// Any case; signed lower-cased.
    pub method: &'a str,
    /// The decoded object key with its leading `/`, as COS will see it.
    pub path: &'a str,
    pub query: SignedPairs,
    pub headers: SignedPairs,
    pub key_time: KeyTime,
}

/// `lower(method)\npath\nparams\nheaders\n`.
#[derive(Debug)]
pub struct HttpString<'a>(pub &'a Request<'a>);

impl fmt::Display for HttpString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        write!(
            f,
            "{}\n{}\n{}\n{}\n",
            r.method.to_ascii_lowercase(),
            r.path,
            r.query,
            r.headers
        )
    }
}

/// `sha1\nKeyTime\nhex(SHA1(text))\n`: the same shape for requests (over the
/// HttpString) and, with the SHA-1 taken alone, for POST policies.
#[derive(Debug)]
pub struct StringToSign {
    pub key_time: KeyTime,
    pub sha1_hex: String,
}

impl StringToSign {
    pub fn of(key_time: KeyTime, text: &str) -> Self {
        Self {
            key_time,
            sha1_hex: sha1_hex(text),
        }
    }
}

impl fmt::Display for StringToSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha1\n{}\n{}\n", self.key_time, self.sha1_hex)
    }
}

pub fn sha1_hex(text: &str) -> String {
    use sha1::Digest;
    hex(&sha1::Sha1::digest(text.as_bytes()))
}

/// `hex(HMAC-SHA1(SignKey, message))`; the SignKey is used as its hex text.
pub fn signature(sign_key: &str, message: &str) -> String {
    hex(&hmac_sha1(sign_key.as_bytes(), message.as_bytes()))
}

/// A signed request: what goes into the `Authorization` header, or into the
/// query string of a presigned URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub secret_id: String,
    pub key_time: KeyTime,
    pub header_list: String,
    pub url_param_list: String,
    pub signature: String,
}

impl Authorization {
    /// The `q-…` parameters in the documented order.
    pub fn params(&self) -> [(&'static str, String); 7] {
        [
            ("q-sign-algorithm", "sha1".to_string()),
            ("q-ak", self.secret_id.clone()),
            ("q-sign-time", self.key_time.to_string()),
            ("q-key-time", self.key_time.to_string()),
            ("q-header-list", self.header_list.clone()),
            ("q-url-param-list", self.url_param_list.clone()),
            ("q-signature", self.signature.clone()),
        ]
    }

    /// The same parameters percent-encoded for a URL query (`;` → `%3B`).
    pub fn query_string(&self) -> String {
        self.params()
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// The `Authorization` header value.
impl fmt::Display for Authorization {
    /// The [`params`](Authorization::params) joined with `&`, unencoded,
    /// written without copying them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            secret_id,
            key_time,
            header_list,
            url_param_list,
            signature,
        } = self;
        write!(
            f,
            "q-sign-algorithm=sha1&q-ak={secret_id}&q-sign-time={key_time}&q-key-time={key_time}\
             &q-header-list={header_list}&q-url-param-list={url_param_list}&q-signature={signature}"
        )
    }
}

/// Signs `request`.
pub fn sign(credentials: &Credentials, request: &Request<'_>) -> Authorization {
    let key = sign_key(credentials, request.key_time);
    let to_sign = StringToSign::of(request.key_time, &HttpString(request).to_string());
    Authorization {
        secret_id: credentials.secret_id.clone(),
        key_time: request.key_time,
        header_list: request.headers.list(),
        url_param_list: request.query.list(),
        signature: signature(&key, &to_sign.to_string()),
    }
}

/// Which keys a POST Object policy allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCondition {
    /// Exactly this key: `{"key": …}`.
    Exact(String),
    /// Any key starting with this: `["starts-with", "$key", …]`.
    Prefix(String),
}

/// What a POST Object policy pins.
#[derive(Debug, Clone)]
pub struct PostPolicy<'a> {
    pub key_time: KeyTime,
    /// `{bucket}-{appid}`.
    pub bucket: &'a str,
    pub key: KeyCondition,
    pub max_size_bytes: u64,
    pub content_type_prefix: Option<&'a str>,
    /// With temporary credentials: their session token, a condition of the
    /// policy and a field of the form.
    pub security_token: Option<&'a str>,
}

impl PostPolicy<'_> {
    /// The policy's JSON text, `expiration` at the end of the key time.
    /// `q-sign-algorithm`, `q-ak` and `q-sign-time` are conditions, as COS
    /// requires.
    pub fn to_json(&self, secret_id: &str) -> String {
        use serde_json::{Value, json};
        let expiration = time::OffsetDateTime::from_unix_timestamp(self.key_time.end as i64)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
        let mut conditions: Vec<Value> = vec![
            json!({"q-sign-algorithm": "sha1"}),
            json!({"q-ak": secret_id}),
            json!({"q-sign-time": self.key_time.to_string()}),
            json!({"bucket": self.bucket}),
            match &self.key {
                KeyCondition::Exact(key) => json!({"key": key}),
                KeyCondition::Prefix(prefix) => json!(["starts-with", "$key", prefix]),
            },
            json!(["content-length-range", 0, self.max_size_bytes]),
        ];
        if let Some(prefix) = self.content_type_prefix {
            conditions.push(json!(["starts-with", "$Content-Type", prefix]));
        }
        if let Some(token) = self.security_token {
            conditions.push(json!({"x-cos-security-token": token}));
        }
        json!({"expiration": expiration, "conditions": conditions}).to_string()
    }
}

/// A signed POST Object policy: `q-signature` over `hex(SHA1(policy JSON))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySignature {
    pub string_to_sign: String,
    pub signature: String,
}

/// Signs the exact bytes of `policy_json` (not its base64).
pub fn sign_post_policy(
    credentials: &Credentials,
    key_time: KeyTime,
    policy_json: &str,
) -> PolicySignature {
    let key = sign_key(credentials, key_time);
    let string_to_sign = sha1_hex(policy_json);
    let signature = signature(&key, &string_to_sign);
    PolicySignature {
        string_to_sign,
        signature,
    }
}

/// The form fields a browser sends before the file, by their COS names:
/// `key`, `policy`, `q-sign-algorithm`, `q-ak`, `q-key-time`,
/// `q-signature` (aws-sigv4's `SigningInstructions`, for forms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedForm {
    pub fields: std::collections::BTreeMap<String, String>,
}

impl PostPolicy<'_> {
    /// Signs the policy and returns the form fields that carry it. For a
    /// prefix, `key` is `{prefix}${filename}`, which COS fills in.
    pub fn sign(&self, credentials: &Credentials) -> SignedForm {
        use base64::{Engine, engine::general_purpose::STANDARD};
        let policy = self.to_json(&credentials.secret_id);
        let signed = sign_post_policy(credentials, self.key_time, &policy);
        let key = match &self.key {
            KeyCondition::Exact(key) => key.clone(),
            KeyCondition::Prefix(prefix) => format!("{prefix}${{filename}}"),
        };
        let fields = [
            ("key", key),
            ("policy", STANDARD.encode(&policy)),
            ("q-sign-algorithm", "sha1".to_string()),
            ("q-ak", credentials.secret_id.clone()),
            ("q-key-time", self.key_time.to_string()),
            ("q-signature", signed.signature),
        ];
        let token = self
            .security_token
            .map(|t| ("x-cos-security-token", t.to_string()));
        SignedForm {
            fields: fields
                .into_iter()
                .chain(token)
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    /// The credentials of Tencent's worked examples in document 436/7778.
    fn tencent() -> Credentials {
        Credentials::new(
            "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q",
            SecretString::from("BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"),
        )
    }

    const HOST: &str = "examplebucket-1250000000.cos.ap-beijing.myqcloud.com";

    #[test]
    fn tencents_put_example_matches_stage_by_stage() {
        let request = Request {
            method: "PUT",
            path: "/exampleobject(腾讯云)",
            query: SignedPairs::new([]),
            headers: SignedPairs::new([
                ("Date", "Thu, 16 May 2019 06:45:51 GMT"),
                ("Host", HOST),
                ("Content-Type", "text/plain"),
                ("Content-Length", "13"),
                ("Content-MD5", "mQ/fVh815F3k6TAUm8m0eg=="),
                ("x-cos-acl", "private"),
                ("x-cos-grant-read", "uin=\"100000000011\""),
            ]),
            key_time: KeyTime {
                start: 1_557_989_151,
                end: 1_557_996_351,
            },
        };
        assert_eq!(
            request.key_time.to_string(),
            "1557989151;1557996351",
            "KeyTime"
        );
        assert_eq!(
            request.headers.list(),
            "content-length;content-md5;content-type;date;host;x-cos-acl;x-cos-grant-read",
            "HeaderList"
        );
        assert_eq!(
            request.headers.to_string(),
            "content-length=13&content-md5=mQ%2FfVh815F3k6TAUm8m0eg%3D%3D&content-type=text%2Fplain\
             &date=Thu%2C%2016%20May%202019%2006%3A45%3A51%20GMT&host=examplebucket-1250000000.cos.ap-beijing.myqcloud.com\
             &x-cos-acl=private&x-cos-grant-read=uin%3D%22100000000011%22",
            "HttpHeaders"
        );
        let http_string = HttpString(&request).to_string();
        assert_eq!(
            sha1_hex(&http_string),
            "8b2751e77f43a0995d6e9eb9477f4b685cca4172",
            "SHA1(HttpString)"
        );
        let auth = sign(&tencent(), &request);
        assert_eq!(
            auth.signature, "3b8851a11a569213c17ba8fa7dcf2abec6935172",
            "Signature"
        );
        assert_eq!(
            auth.to_string(),
            "q-sign-algorithm=sha1&q-ak=AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q&q-sign-time=1557989151;1557996351\
             &q-key-time=1557989151;1557996351&q-header-list=content-length;content-md5;content-type;date;host;x-cos-acl;x-cos-grant-read\
             &q-url-param-list=&q-signature=3b8851a11a569213c17ba8fa7dcf2abec6935172",
            "Authorization"
        );
    }

    #[test]
    fn tencents_get_example_with_query_parameters_matches() {
        let request = Request {
            method: "GET",
            path: "/exampleobject(腾讯云)",
            query: SignedPairs::new([
                ("response-content-type", "application/octet-stream"),
                ("response-cache-control", "max-age=600"),
            ]),
            headers: SignedPairs::new([("Date", "Thu, 16 May 2019 06:55:53 GMT"), ("Host", HOST)]),
            key_time: KeyTime {
                start: 1_557_989_753,
                end: 1_557_996_953,
            },
        };
        assert_eq!(
            request.query.list(),
            "response-cache-control;response-content-type",
            "UrlParamList"
        );
        assert_eq!(
            request.query.to_string(),
            "response-cache-control=max-age%3D600&response-content-type=application%2Foctet-stream",
            "HttpParameters"
        );
        assert_eq!(
            sign(&tencent(), &request).signature,
            "01681b8c9d798a678e43b685a9f1bba0f6c0e012"
        );
    }

    #[test]
    fn tencents_post_policy_example_matches_from_the_sign_key_on() {
        let key_time = KeyTime {
            start: 1_567_150_692,
            end: 1_567_157_892,
        };
        let key = sign_key(&tencent(), key_time);
        assert_eq!(key, "39acc8c9f34ba5b19bce4e965b370cd3f62d2fba", "SignKey");
        assert_eq!(
            signature(&key, "d5d903b8360468bc81c1311f134989bc8c8b5b89"),
            "7758dc9a832e9d301dca704cacbf9d9f8172fdef",
            "Signature over the document's StringToSign"
        );
    }

    #[test]
    fn names_are_encoded_then_lowercased_and_values_keep_uppercase_hex() {
        let pairs = SignedPairs::new([("X-COS-Meta-A b", "ü/x y"), ("acl", "")]);
        assert_eq!(pairs.to_string(), "acl=&x-cos-meta-a%20b=%C3%BC%2Fx%20y");
        assert_eq!(pairs.list(), "acl;x-cos-meta-a%20b");
    }

    #[test]
    fn a_post_policy_pins_bucket_key_size_and_type() {
        let policy = PostPolicy {
            key_time: KeyTime {
                start: 1_700_000_000,
                end: 1_700_000_900,
            },
            bucket: "examplebucket-1250000000",
            key: KeyCondition::Prefix("uploads/acc1/".into()),
            max_size_bytes: 1024,
            content_type_prefix: Some("image/"),
            security_token: None,
        };
        assert_eq!(
            policy.to_json("AKID"),
            r#"{"conditions":[{"q-sign-algorithm":"sha1"},{"q-ak":"AKID"},{"q-sign-time":"1700000000;1700000900"},{"bucket":"examplebucket-1250000000"},["starts-with","$key","uploads/acc1/"],["content-length-range",0,1024],["starts-with","$Content-Type","image/"]],"expiration":"2023-11-14T22:28:20Z"}"#
        );
    }

    #[test]
    fn the_sdks_differ_only_on_content_type() {
        for name in [
            "Host",
            "Content-Length",
            "x-cos-acl",
            "x-ci-process",
            "Range",
            "Cache-Control",
        ] {
            assert!(
                HeaderRule::JsSdk.signs(name) && HeaderRule::PythonSdk.signs(name),
                "{name}"
            );
        }
        assert!(
            HeaderRule::PythonSdk.signs("Content-Type") && !HeaderRule::JsSdk.signs("Content-Type")
        );
        for name in ["User-Agent", "Accept", "Authorization", "Date", "Cookie"] {
            assert!(
                !HeaderRule::JsSdk.signs(name) && !HeaderRule::PythonSdk.signs(name),
                "{name}"
            );
        }
    }

    #[test]
    fn keys_are_encoded_for_urls_with_slashes_kept() {
        assert_eq!(
            encode_key_path("uploads/a b/图+(1).png"),
            "uploads/a%20b/%E5%9B%BE%2B%281%29.png"
        );
    }

    #[test]
    fn a_presigned_query_string_encodes_the_semicolons() {
        let auth = Authorization {
            secret_id: "AKID".into(),
            key_time: KeyTime { start: 1, end: 2 },
            header_list: "host".into(),
            url_param_list: String::new(),
            signature: "abc".into(),
        };
        assert_eq!(
            auth.query_string(),
            "q-sign-algorithm=sha1&q-ak=AKID&q-sign-time=1%3B2&q-key-time=1%3B2&q-header-list=host&q-url-param-list=&q-signature=abc"
        );
    }

    #[test]
    fn the_authorization_text_is_its_params_joined() {
        let auth = Authorization {
            secret_id: "AKIDEXAMPLE".into(),
            key_time: KeyTime { start: 1, end: 2 },
            header_list: "content-length;host".into(),
            url_param_list: "partnumber;uploadid".into(),
            signature: "0123abcd".into(),
        };
        let joined: Vec<String> = auth
            .params()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(auth.to_string(), joined.join("&"));
    }
}
