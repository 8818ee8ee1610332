//! The part of an OpenAPI document the generator understands, resolved, in
//! spec order. The loader builds it, the rules check it, the emitter prints
//! it; nothing here reads YAML or writes Rust.

use std::fmt;

/// Everything the emitter needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub info: Info,
    /// Each scheme of `components.securitySchemes`, bound to its extractor.
    pub security_schemes: Vec<SchemeUse>,
    pub tags: Vec<Tag>,
    pub schemas: Vec<ObjectSchema>,
    pub operations: Vec<Op>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    pub title: String,
    pub version: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub name: String,
    pub description: Option<String>,
}

/// A named object schema from `components.schemas`.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectSchema {
    pub name: String,
    pub description: Option<String>,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub description: Option<String>,
    pub ty: TypeRef,
    pub required: bool,
}

/// The types a field, parameter or body can have.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeRef {
    String,
    I32,
    I64,
    F64,
    Bool,
    /// `oneOf: [{type: string}, {type: integer, format: int64}]`: what the
    /// COS SDKs pass as header and query values.
    StringOrInteger,
    Array(Box<TypeRef>),
    /// A JSON object with arbitrary keys, `additionalProperties: {…}`.
    Map(Box<TypeRef>),
    /// A named schema from `components.schemas`.
    Named(String),
    /// `type: string` with `enum`: one of these values. `name` names the
    /// Rust type listing them (`{Schema}{Property}Values`).
    Enum {
        name: String,
        values: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Put,
    Post,
    Delete,
    Patch,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Put => "put",
            Method::Post => "post",
            Method::Delete => "delete",
            Method::Patch => "patch",
        }
    }
}

/// A path as the spec writes it, `/a/{id}`, split into its segments. The
/// one place that knows both the spec's `{id}` and poem's `:id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Param(String),
}

impl PathTemplate {
    pub fn parse(path: &str) -> Self {
        let segments = path
            .split('/')
            .skip(1)
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(param) => Segment::Param(param.to_string()),
                    None => Segment::Literal(s.to_string()),
                },
            )
            .collect();
        Self { segments }
    }

    /// The names of the path parameters, in order.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// The route as poem writes it: `/a/:id`.
    pub fn poem_route(&self) -> String {
        self.render(|name| format!(":{name}"))
    }

    fn render(&self, param: impl Fn(&str) -> String) -> String {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(text) => format!("/{text}"),
                Segment::Param(name) => format!("/{}", param(name)),
            })
            .collect()
    }
}

/// As the spec writes it: `/a/{id}`.
impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(|name| format!("{{{name}}}")))
    }
}

/// A security scheme the server can check: the hand-written extractor in
/// `src/api/security.rs` that implements it, what it yields, and the
/// argument name handlers receive that by.
#[derive(Debug, PartialEq, Eq)]
pub struct SecurityScheme {
    /// The key in `components.securitySchemes`.
    pub name: &'static str,
    /// The `ApiExtractor`; a tuple struct whose `.0` is `yields`.
    pub extractor: &'static str,
    pub yields: &'static str,
    pub arg: &'static str,
}

/// Every scheme cosgate implements. A spec naming any other is refused.
pub const SECURITY_SCHEMES: &[SecurityScheme] = &[
    SecurityScheme {
        name: "jwt",
        extractor: "crate::api::security::JwtAuth",
        yields: "crate::api::security::Claims",
        arg: "claims",
    },
    SecurityScheme {
        name: "oauth_client",
        extractor: "crate::api::security::OAuthClient",
        yields: "crate::api::security::ClientId",
        arg: "client",
    },
];

impl SecurityScheme {
    pub fn find(name: &str) -> Option<&'static SecurityScheme> {
        SECURITY_SCHEMES.iter().find(|s| s.name == name)
    }
}

/// A scheme the spec declares, with the description Swagger UI shows.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemeUse {
    pub scheme: &'static SecurityScheme,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    pub operation_id: String,
    pub method: Method,
    pub path: PathTemplate,
    /// Every tag the operation lists; the rules require exactly one.
    pub tags: Vec<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    /// The security requirement, as `(scheme name, scopes)` alternatives.
    pub security: Vec<Vec<(String, Vec<String>)>>,
    /// Scopes the caller's token must carry (`x-cosgate-scopes`), if given.
    pub scopes: Option<Result<Vec<String>, String>>,
    pub params: Vec<Param>,
    pub body: Option<Body>,
    pub responses: Vec<Resp>,
}

impl Op {
    /// `GET /a/{id} (get_a)`, for messages.
    pub fn here(&self) -> String {
        format!(
            "{} {} ({})",
            self.method.as_str().to_uppercase(),
            self.path,
            self.operation_id
        )
    }

    /// The one tag, once the rules have checked there is exactly one.
    pub fn tag(&self) -> &str {
        self.tags.first().map_or("", String::as_str)
    }

    /// The scheme protecting the operation, once the rules have checked it.
    pub fn scheme(&self) -> Option<&'static SecurityScheme> {
        let name = &self.security.first()?.first()?.0;
        SecurityScheme::find(name)
    }

    /// The scopes from `x-cosgate-scopes`, once the rules have checked them.
    pub fn required_scopes(&self) -> &[String] {
        match &self.scopes {
            Some(Ok(scopes)) => scopes,
            _ => &[],
        }
    }

    /// The success response, when there is exactly one: its handler returns
    /// `Result<body, ApiError>`.
    pub fn single_success(&self) -> Option<&Resp> {
        let mut successes = self.responses.iter().filter(|r| r.is_success());
        match (successes.next(), successes.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamIn {
    Query,
    Path,
    Header,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub location: ParamIn,
    pub required: bool,
    pub description: Option<String>,
    pub ty: TypeRef,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    pub description: Option<String>,
    pub schema: String,
    pub required: bool,
    /// Also `application/x-www-form-urlencoded`, with the same schema (what
    /// RFC 6749 and RFC 7009 require of token requests).
    pub form: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resp {
    pub status: u16,
    pub description: String,
    /// The `application/json` schema, if the response has a body.
    pub schema: Option<String>,
    pub headers: Vec<RespHeader>,
}

impl Resp {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn is_error(&self) -> bool {
        self.status >= 400
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RespHeader {
    pub name: String,
    pub description: Option<String>,
    pub required: bool,
}
