//! The part of an OpenAPI document the generator understands, resolved and
//! checked, so that emitting code cannot fail.

use openapiv3::{
    IntegerFormat, OpenAPI, Operation, Parameter, ParameterSchemaOrContent, ReferenceOr,
    RequestBody, Response, Schema, SchemaKind, StatusCode, Type, VariantOrUnknownOrEmpty,
};

use super::CodegenError;

/// Everything the emitter needs, in spec order.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub info: Info,
    /// `(name, description)` of each security scheme, for the hand-written
    /// extractors to register exactly what the spec says.
    pub security_schemes: Vec<(String, String)>,
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
    Array(Box<TypeRef>),
    /// A JSON object with arbitrary keys, `additionalProperties: {…}`.
    Map(Box<TypeRef>),
    /// A named schema from `components.schemas`.
    Named(String),
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

#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    pub operation_id: String,
    pub method: Method,
    /// The path as the spec writes it, `{x}` for path parameters.
    pub path: String,
    pub tag: String,
    pub summary: Option<String>,
    pub description: Option<String>,
    /// The security scheme that protects the operation, if any.
    pub security: Option<String>,
    /// Scopes the caller's token must carry (`x-cosgate-scopes`).
    pub scopes: Vec<String>,
    pub params: Vec<Param>,
    pub body: Option<Body>,
    pub responses: Vec<Resp>,
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
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resp {
    pub status: u16,
    pub description: String,
    /// The `application/json` schema, if the response has a body.
    pub schema: Option<String>,
    pub headers: Vec<RespHeader>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RespHeader {
    pub name: String,
    pub description: Option<String>,
    pub required: bool,
}

/// Security schemes the generator knows how to extract. Each maps to a
/// hand-written `ApiExtractor` in `src/api/security.rs`.
pub const KNOWN_SECURITY_SCHEMES: &[&str] = &["jwt", "oauth_client"];

/// Statuses an operation must declare because cosgate can always send them:
/// every operation can fail internally.
const ALWAYS_DECLARED: &[u16] = &[500];

fn err<T>(msg: impl Into<String>) -> Result<T, CodegenError> {
    Err(CodegenError(msg.into()))
}

/// Parses and checks an OpenAPI 3.0 document.
pub fn load(spec_yaml: &str) -> Result<Model, CodegenError> {
    let spec: OpenAPI = serde_yaml_ng::from_str(spec_yaml)
        .map_err(|e| CodegenError(format!("docs/v1.yml is not an OpenAPI 3.0 document: {e}")))?;
    if !spec.openapi.starts_with("3.0.") {
        return err(format!(
            "openapi: {} is not supported; use 3.0.x",
            spec.openapi
        ));
    }
    let loader = Loader { spec: &spec };

    let tags = spec
        .tags
        .iter()
        .map(|t| Tag {
            name: t.name.clone(),
            description: t.description.clone(),
        })
        .collect::<Vec<_>>();

    let mut schemas = Vec::new();
    if let Some(components) = &spec.components {
        for (name, schema) in &components.schemas {
            let ReferenceOr::Item(schema) = schema else {
                return err(format!("schema {name}: a top-level $ref is not supported"));
            };
            schemas.push(loader.object_schema(name, schema)?);
        }
    }

    let mut operations = Vec::new();
    for (path, item) in &spec.paths.paths {
        let ReferenceOr::Item(item) = item else {
            return err(format!("{path}: a path item $ref is not supported"));
        };
        if !item.parameters.is_empty() {
            return err(format!(
                "{path}: put parameters on each operation, not on the path"
            ));
        }
        let unsupported = [
            ("head", &item.head),
            ("options", &item.options),
            ("trace", &item.trace),
        ];
        for (method, op) in unsupported {
            if op.is_some() {
                return err(format!(
                    "{method} {path}: method not supported by the generator"
                ));
            }
        }
        let methods = [
            (Method::Get, &item.get),
            (Method::Put, &item.put),
            (Method::Post, &item.post),
            (Method::Delete, &item.delete),
            (Method::Patch, &item.patch),
        ];
        for (method, op) in methods {
            if let Some(op) = op {
                operations.push(loader.operation(method, path, op, &tags)?);
            }
        }
    }

    let mut seen = std::collections::BTreeSet::new();
    for op in &operations {
        if !seen.insert(op.operation_id.as_str()) {
            return err(format!("operationId {} is used twice", op.operation_id));
        }
    }

    let mut security_schemes = Vec::new();
    if let Some(components) = &spec.components {
        for (name, scheme) in &components.security_schemes {
            let description = match scheme {
                ReferenceOr::Item(openapiv3::SecurityScheme::HTTP { description, .. })
                | ReferenceOr::Item(openapiv3::SecurityScheme::APIKey { description, .. }) => {
                    description.clone()
                }
                _ => {
                    return err(format!(
                        "security scheme {name}: only http and apiKey schemes are supported"
                    ));
                }
            };
            security_schemes.push((name.clone(), description.unwrap_or_default()));
        }
    }
    let info = Info {
        title: spec.info.title.clone(),
        version: spec.info.version.clone(),
        description: spec.info.description.clone(),
    };

    Ok(Model {
        info,
        security_schemes,
        tags,
        schemas,
        operations,
    })
}

struct Loader<'a> {
    spec: &'a OpenAPI,
}

impl Loader<'_> {
    fn object_schema(&self, name: &str, schema: &Schema) -> Result<ObjectSchema, CodegenError> {
        let SchemaKind::Type(Type::Object(object)) = &schema.schema_kind else {
            return err(format!(
                "schema {name}: only `type: object` schemas can be named"
            ));
        };
        if object.additional_properties.is_some() {
            return err(format!(
                "schema {name}: additionalProperties on a named schema"
            ));
        }
        for required in &object.required {
            if !object.properties.contains_key(required) {
                return err(format!(
                    "schema {name}: required property {required} is not defined"
                ));
            }
        }
        let fields = object
            .properties
            .iter()
            .map(|(field, prop)| {
                let context = format!("schema {name}, property {field}");
                let description = match prop {
                    ReferenceOr::Item(s) => s.schema_data.description.clone(),
                    ReferenceOr::Reference { .. } => None,
                };
                Ok(Field {
                    name: field.clone(),
                    description,
                    ty: self.type_ref(&context, &prop.clone().unbox())?,
                    required: object.required.contains(field),
                })
            })
            .collect::<Result<_, CodegenError>>()?;
        Ok(ObjectSchema {
            name: name.to_string(),
            description: schema.schema_data.description.clone(),
            fields,
        })
    }

    fn type_ref(
        &self,
        context: &str,
        schema: &ReferenceOr<Schema>,
    ) -> Result<TypeRef, CodegenError> {
        let schema = match schema {
            ReferenceOr::Reference { reference } => {
                return Ok(TypeRef::Named(self.schema_name(context, reference)?));
            }
            ReferenceOr::Item(schema) => schema,
        };
        if schema.schema_data.nullable {
            return err(format!(
                "{context}: nullable is not supported; leave the property out of `required` instead"
            ));
        }
        Ok(match &schema.schema_kind {
            SchemaKind::Type(Type::String(s)) => {
                if !s.enumeration.is_empty() {
                    return err(format!("{context}: string enums are not supported yet"));
                }
                TypeRef::String
            }
            SchemaKind::Type(Type::Integer(i)) => match &i.format {
                VariantOrUnknownOrEmpty::Item(IntegerFormat::Int32) => TypeRef::I32,
                VariantOrUnknownOrEmpty::Item(IntegerFormat::Int64) => TypeRef::I64,
                _ => {
                    return err(format!(
                        "{context}: integers need `format: int32` or `format: int64`"
                    ));
                }
            },
            SchemaKind::Type(Type::Number(_)) => TypeRef::F64,
            SchemaKind::Type(Type::Boolean(_)) => TypeRef::Bool,
            SchemaKind::Type(Type::Array(a)) => {
                let Some(items) = &a.items else {
                    return err(format!("{context}: arrays need `items`"));
                };
                TypeRef::Array(Box::new(self.type_ref(context, &items.clone().unbox())?))
            }
            SchemaKind::Type(Type::Object(o)) if o.properties.is_empty() => {
                match &o.additional_properties {
                    Some(openapiv3::AdditionalProperties::Schema(inner)) => {
                        TypeRef::Map(Box::new(self.type_ref(context, inner)?))
                    }
                    _ => {
                        return err(format!(
                            "{context}: inline objects need `additionalProperties: {{schema}}`; name the schema instead"
                        ));
                    }
                }
            }
            _ => {
                return err(format!(
                    "{context}: unsupported schema; use a $ref to a named object or a scalar"
                ));
            }
        })
    }

    fn schema_name(&self, context: &str, reference: &str) -> Result<String, CodegenError> {
        let Some(name) = reference.strip_prefix("#/components/schemas/") else {
            return err(format!(
                "{context}: $ref {reference} must point into #/components/schemas/"
            ));
        };
        let exists = self
            .spec
            .components
            .as_ref()
            .is_some_and(|c| c.schemas.contains_key(name));
        if !exists {
            return err(format!("{context}: $ref {reference} names no schema"));
        }
        Ok(name.to_string())
    }

    fn operation(
        &self,
        method: Method,
        path: &str,
        op: &Operation,
        tags: &[Tag],
    ) -> Result<Op, CodegenError> {
        let here = format!("{} {path}", method.as_str().to_uppercase());
        let Some(operation_id) = op.operation_id.clone() else {
            return err(format!("{here}: operationId is required"));
        };
        let is_ident = operation_id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && operation_id.starts_with(|c: char| c.is_ascii_lowercase());
        if !is_ident {
            return err(format!(
                "{here}: operationId {operation_id} must be snake_case"
            ));
        }
        let here = format!("{here} ({operation_id})");
        let [tag] = op.tags.as_slice() else {
            return err(format!("{here}: exactly one tag is required"));
        };
        if !tags.iter().any(|t| &t.name == tag) {
            return err(format!(
                "{here}: tag {tag} is not declared in the top-level tags"
            ));
        }

        let security = self.security(&here, op)?;
        let scopes = match op.extensions.get("x-cosgate-scopes") {
            None => Vec::new(),
            Some(value) => value
                .as_array()
                .and_then(|list| {
                    list.iter()
                        .map(|v| v.as_str().map(String::from))
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| {
                    CodegenError(format!(
                        "{here}: x-cosgate-scopes must be a list of strings"
                    ))
                })?,
        };
        if !scopes.is_empty() && security.is_none() {
            return err(format!(
                "{here}: x-cosgate-scopes needs a security requirement"
            ));
        }

        let params = op
            .parameters
            .iter()
            .map(|p| self.parameter(&here, p))
            .collect::<Result<Vec<_>, _>>()?;
        for param in &params {
            if param.name == "auth" || param.name == "body" {
                return err(format!(
                    "{here}: parameter name {} is reserved by the generator",
                    param.name
                ));
            }
        }
        for segment in path.split('/').filter(|s| s.starts_with('{')) {
            let name = segment.trim_start_matches('{').trim_end_matches('}');
            if !params
                .iter()
                .any(|p| p.location == ParamIn::Path && p.name == name)
            {
                return err(format!("{here}: path parameter {name} is not declared"));
            }
        }

        let body = match &op.request_body {
            None => None,
            Some(body) => Some(self.request_body(&here, body)?),
        };

        if op.responses.default.is_some() {
            return err(format!(
                "{here}: a `default` response cannot be generated; list each status"
            ));
        }
        let mut responses = Vec::new();
        for (status, resp) in &op.responses.responses {
            let StatusCode::Code(status) = status else {
                return err(format!("{here}: status ranges like 4XX are not supported"));
            };
            responses.push(self.response(&format!("{here}, response {status}"), *status, resp)?);
        }
        let mut required: Vec<u16> = ALWAYS_DECLARED.to_vec();
        if security.is_some() {
            required.push(401);
        }
        if !scopes.is_empty() {
            required.push(403);
        }
        if !params.is_empty() || body.is_some() {
            required.push(400);
        }
        for status in required {
            if !responses.iter().any(|r| r.status == status) {
                return err(format!(
                    "{here}: must declare a {status} response, which the server can send"
                ));
            }
        }
        if !responses.iter().any(|r| (200..300).contains(&r.status)) {
            return err(format!("{here}: no success response"));
        }
        for r in &responses {
            let is_error = r.status >= 400;
            if is_error && r.schema.as_deref() != Some("Error") {
                return err(format!(
                    "{here}: error response {} must use the Error schema",
                    r.status
                ));
            }
            if !is_error && !r.headers.is_empty() {
                return err(format!(
                    "{here}: headers on success responses are not supported yet"
                ));
            }
        }

        Ok(Op {
            operation_id,
            method,
            path: path.to_string(),
            tag: tag.clone(),
            summary: op.summary.clone(),
            description: op.description.clone(),
            security,
            scopes,
            params,
            body,
            responses,
        })
    }

    fn security(&self, here: &str, op: &Operation) -> Result<Option<String>, CodegenError> {
        let requirements = op.security.as_ref().or(self.spec.security.as_ref());
        let Some(requirements) = requirements else {
            return Ok(None);
        };
        match requirements.as_slice() {
            [] => Ok(None),
            [requirement] if requirement.len() == 1 => {
                let (name, scopes) = requirement.iter().next().expect("len checked above");
                if !scopes.is_empty() {
                    return err(format!(
                        "{here}: http schemes take no scopes in OpenAPI 3.0; use x-cosgate-scopes"
                    ));
                }
                let declared = self
                    .spec
                    .components
                    .as_ref()
                    .is_some_and(|c| c.security_schemes.contains_key(name));
                if !declared {
                    return err(format!(
                        "{here}: security scheme {name} is not in components.securitySchemes"
                    ));
                }
                if !KNOWN_SECURITY_SCHEMES.contains(&name.as_str()) {
                    return err(format!(
                        "{here}: security scheme {name} has no extractor in src/api/security.rs"
                    ));
                }
                Ok(Some(name.clone()))
            }
            _ => err(format!(
                "{here}: exactly one security scheme per operation is supported"
            )),
        }
    }

    fn parameter(&self, here: &str, param: &ReferenceOr<Parameter>) -> Result<Param, CodegenError> {
        let ReferenceOr::Item(param) = param else {
            return err(format!(
                "{here}: parameter $refs are not supported; write parameters inline"
            ));
        };
        let (location, data) = match param {
            Parameter::Query { parameter_data, .. } => (ParamIn::Query, parameter_data),
            Parameter::Path { parameter_data, .. } => (ParamIn::Path, parameter_data),
            Parameter::Header { parameter_data, .. } => (ParamIn::Header, parameter_data),
            Parameter::Cookie { parameter_data, .. } => {
                return err(format!(
                    "{here}: cookie parameter {} is not supported",
                    parameter_data.name
                ));
            }
        };
        let context = format!("{here}, parameter {}", data.name);
        let ParameterSchemaOrContent::Schema(schema) = &data.format else {
            return err(format!("{context}: use `schema`, not `content`"));
        };
        let ty = self.type_ref(&context, schema)?;
        if matches!(ty, TypeRef::Named(_) | TypeRef::Map(_)) {
            return err(format!("{context}: parameters must be scalars or arrays"));
        }
        Ok(Param {
            name: data.name.clone(),
            location,
            required: data.required,
            description: data.description.clone(),
            ty,
        })
    }

    fn request_body(
        &self,
        here: &str,
        body: &ReferenceOr<RequestBody>,
    ) -> Result<Body, CodegenError> {
        let ReferenceOr::Item(body) = body else {
            return err(format!("{here}: requestBody $refs are not supported"));
        };
        let (Some(media), 1) = (body.content.get("application/json"), body.content.len()) else {
            return err(format!(
                "{here}: the request body must be application/json only"
            ));
        };
        let Some(ReferenceOr::Reference { reference }) = &media.schema else {
            return err(format!(
                "{here}: the request body must be a $ref to a named schema"
            ));
        };
        if !body.required {
            return err(format!(
                "{here}: optional request bodies are not supported; mark it `required: true`"
            ));
        }
        Ok(Body {
            description: body.description.clone(),
            schema: self.schema_name(here, reference)?,
        })
    }

    fn response(
        &self,
        here: &str,
        status: u16,
        resp: &ReferenceOr<Response>,
    ) -> Result<Resp, CodegenError> {
        let resp = match resp {
            ReferenceOr::Item(resp) => resp,
            ReferenceOr::Reference { reference } => {
                let name = reference.strip_prefix("#/components/responses/");
                let found = name.and_then(|n| self.spec.components.as_ref()?.responses.get(n));
                match found {
                    Some(ReferenceOr::Item(resp)) => resp,
                    _ => {
                        return err(format!(
                            "{here}: $ref {reference} names no response in #/components/responses/"
                        ));
                    }
                }
            }
        };
        let schema = match resp.content.len() {
            0 => None,
            1 => {
                let Some(media) = resp.content.get("application/json") else {
                    return err(format!("{here}: responses must be application/json"));
                };
                match &media.schema {
                    Some(ReferenceOr::Reference { reference }) => {
                        Some(self.schema_name(here, reference)?)
                    }
                    _ => {
                        return err(format!(
                            "{here}: the response body must be a $ref to a named schema"
                        ));
                    }
                }
            }
            _ => return err(format!("{here}: one media type per response")),
        };
        let headers = resp
            .headers
            .iter()
            .map(|(name, header)| match header {
                ReferenceOr::Item(h) => Ok(RespHeader {
                    name: name.clone(),
                    description: h.description.clone(),
                    required: h.required,
                }),
                ReferenceOr::Reference { .. } => {
                    err(format!("{here}: header $refs are not supported"))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Resp {
            status,
            description: resp.description.clone(),
            schema,
            headers,
        })
    }
}
