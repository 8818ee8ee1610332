//! Turns a checked [`Model`] into Rust tokens. Nothing here can fail: every
//! question about the spec was answered by the loader and the rules.

use heck::{ToSnakeCase, ToUpperCamelCase};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use crate::spec::{Body, Field, Model, ObjectSchema, Op, Param, ParamIn, Resp, Tag, TypeRef};

/// The error type every handler returns.
fn api_error() -> TokenStream {
    quote!(crate::api::error::ApiError)
}

pub fn emit(model: &Model) -> TokenStream {
    let tags = emit_tags(&model.tags);
    let schemas = model.schemas.iter().map(emit_schema);
    let enums = emit_enums(model);
    let responses = model.operations.iter().map(emit_response);
    let traits = model
        .tags
        .iter()
        .map(|tag| emit_trait(tag, &model.operations));
    let service = emit_service(model);
    let stub = emit_stub(model);
    let info = emit_info(model);
    quote! {
        #info
        #tags
        #(#schemas)*
        #enums
        #(#responses)*
        #(#traits)*
        #service
        #stub
    }
}

/// `#[doc = "…"]` attributes, one per line, so poem-openapi reads them back as
/// the same text.
fn docs(text: Option<&str>) -> TokenStream {
    let Some(text) = text else { return quote!() };
    let lines = text.trim().lines().map(|line| format!(" {line}"));
    quote!(#(#[doc = #lines])*)
}

/// Summary and description as one doc comment: poem-openapi splits them at the
/// first blank line.
fn op_docs(op: &Op) -> TokenStream {
    let text = match (&op.summary, &op.description) {
        (Some(s), Some(d)) => format!("{}\n\n{}", s.trim(), d.trim()),
        (Some(s), None) => s.trim().to_string(),
        (None, Some(d)) => format!("\n\n{}", d.trim()),
        (None, None) => String::new(),
    };
    docs((!text.is_empty()).then_some(text.as_str()))
}

/// `get_qc_cos_config` → `GetQcCosConfig`; `Cos` stays `Cos`.
pub fn pascal(name: &str) -> String {
    name.to_upper_camel_case()
}

/// A property or parameter name as a Rust identifier: `Content-Type` →
/// `content_type`, `type` → `r#type`.
pub fn field_ident(name: &str) -> Ident {
    let mut snake = name.to_snake_case();
    if snake.starts_with(|c: char| c.is_ascii_digit()) {
        snake.insert(0, '_');
    }
    if syn::parse_str::<Ident>(&snake).is_ok() {
        Ident::new(&snake, Span::call_site())
    } else {
        Ident::new_raw(&snake, Span::call_site())
    }
}

/// The name of a response variant: the status code's reason phrase.
pub fn variant_ident(status: u16) -> Ident {
    let name = match status {
        200 => "Ok",
        201 => "Created",
        202 => "Accepted",
        204 => "NoContent",
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        422 => "UnprocessableEntity",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        other => return format_ident!("Status{}", other),
    };
    Ident::new(name, Span::call_site())
}

pub fn response_ident(op: &Op) -> Ident {
    format_ident!("{}Response", pascal(&op.operation_id))
}

pub fn trait_ident(tag: &str) -> Ident {
    format_ident!("{}Api", pascal(tag))
}

fn rust_type(ty: &TypeRef) -> TokenStream {
    match ty {
        TypeRef::String => quote!(String),
        TypeRef::I32 => quote!(i32),
        TypeRef::I64 => quote!(i64),
        TypeRef::F64 => quote!(f64),
        TypeRef::Bool => quote!(bool),
        TypeRef::StringOrInteger => quote!(crate::api::json::StringOrInteger),
        TypeRef::Array(inner) => {
            let inner = rust_type(inner);
            quote!(Vec<#inner>)
        }
        TypeRef::Map(inner) => {
            let inner = rust_type(inner);
            quote!(::std::collections::BTreeMap<String, #inner>)
        }
        TypeRef::Named(name) => {
            let ident = format_ident!("{}", name);
            quote!(#ident)
        }
        TypeRef::Enum { name, .. } => {
            let ident = format_ident!("{}", name);
            quote!(crate::api::enums::OneOf<#ident>)
        }
    }
}

/// The value lists of every string enum, once each (`method` and `Method`
/// share theirs).
fn emit_enums(model: &Model) -> TokenStream {
    let mut seen = std::collections::BTreeMap::new();
    for field in model.schemas.iter().flat_map(|s| &s.fields) {
        if let TypeRef::Enum { name, values } = &field.ty {
            seen.entry(name.to_ascii_lowercase())
                .or_insert((name.clone(), values.clone()));
        }
    }
    let enums = seen.into_values().map(|(name, values)| {
        let ident = format_ident!("{}", name);
        let doc = format!(
            " The values docs/v1.yml allows for `{}`.",
            name.trim_end_matches("Values")
        );
        quote! {
            #[doc = #doc]
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub struct #ident;
            impl crate::api::enums::Values for #ident {
                const VALUES: &'static [&'static str] = &[#(#values),*];
            }
        }
    });
    quote!(#(#enums)*)
}

fn optional(ty: TokenStream, required: bool) -> TokenStream {
    if required { ty } else { quote!(Option<#ty>) }
}

/// A path from the security-scheme table as tokens.
fn type_path(path: &str) -> TokenStream {
    path.parse()
        .expect("the security-scheme table holds valid Rust paths")
}

fn emit_info(model: &Model) -> TokenStream {
    let title = &model.info.title;
    let version = &model.info.version;
    let description = model.info.description.as_deref().unwrap_or_default().trim();
    let schemes = model.security_schemes.iter().map(|used| {
        let extractor = type_path(used.scheme.extractor);
        let name = used.scheme.name;
        let description = used.description.trim();
        quote! {
            impl crate::api::security::DocumentedScheme for #extractor {
                const NAME: &'static str = #name;
                const DESCRIPTION: &'static str = #description;
            }
        }
    });
    let operations = model.operations.iter().map(|op| {
        let method = op.method.as_str().to_uppercase();
        let route = op.path.poem_route();
        let id = &op.operation_id;
        let scheme = op
            .security
            .first()
            .and_then(|alternative| alternative.first())
            .map_or("", |(name, _)| name.as_str());
        quote!((#method, #route, #id, #scheme))
    });
    let mut headers: Vec<&str> = model
        .operations
        .iter()
        .flat_map(|op| &op.responses)
        .flat_map(|resp| resp.headers.iter().map(|h| h.name.as_str()))
        .collect();
    headers.sort_unstable();
    headers.dedup();
    quote! {
        /// Every response header name in docs/v1.yml, spelt as it spells
        /// them (poem-openapi writes them upper-cased into the served spec).
        pub const RESPONSE_HEADERS: &[&str] = &[#(#headers),*];
        /// `(method, route, operationId, security scheme)` of every operation
        /// in docs/v1.yml, routes as poem writes them (`:x` for parameters),
        /// the scheme `""` when the operation is public; for `Allow` headers,
        /// metrics and the login rate limit.
        pub const OPERATIONS: &[(&str, &str, &str, &str)] = &[#(#operations),*];
        /// `info.title` of docs/v1.yml.
        pub const SPEC_TITLE: &str = #title;
        /// `info.version` of docs/v1.yml; a test keeps it equal to Cargo's.
        pub const SPEC_VERSION: &str = #version;
        /// `info.description` of docs/v1.yml.
        pub const SPEC_DESCRIPTION: &str = #description;
        #(#schemes)*
    }
}

fn emit_tags(tags: &[Tag]) -> TokenStream {
    let variants = tags.iter().map(|tag| {
        let doc = docs(tag.description.as_deref());
        let ident = format_ident!("{}", pascal(&tag.name));
        let name = &tag.name;
        quote!(#doc #[oai(rename = #name)] #ident)
    });
    quote! {
        /// The tags of docs/v1.yml; each groups operations in Swagger UI.
        #[derive(Debug, poem_openapi::Tags)]
        pub enum ApiTags { #(#variants),* }
    }
}

/// Whether a field holds strings that poem-openapi would otherwise coerce
/// from JSON numbers and booleans.
fn holds_strings(ty: &TypeRef) -> bool {
    match ty {
        TypeRef::String => true,
        TypeRef::Map(inner) | TypeRef::Array(inner) => **inner == TypeRef::String,
        _ => false,
    }
}

/// The strict parser a field needs, if any: strings refuse numbers, bools
/// and `null`; other optional fields refuse `null` (poem-openapi would take
/// it as absent, and the spec declares nothing nullable).
fn strict_parser(field: &Field) -> Option<TokenStream> {
    if holds_strings(&field.ty) {
        Some(quote!(crate::api::json::strings))
    } else if !field.required {
        Some(quote!(crate::api::json::not_null))
    } else {
        None
    }
}

fn emit_schema(schema: &ObjectSchema) -> TokenStream {
    let doc = docs(schema.description.as_deref());
    let ident = format_ident!("{}", schema.name);
    // Two spellings of one field (`method` and the SDKs' `Method`): the one
    // that is not snake_case keeps its own spelling as the Rust name.
    let snake: Vec<String> = schema
        .fields
        .iter()
        .map(|f| f.name.to_snake_case())
        .collect();
    let verbatim = |field: &Field| {
        let own = field.name.to_snake_case();
        field.name != own && snake.iter().filter(|s| **s == own).count() > 1
    };
    let any_verbatim = schema.fields.iter().any(verbatim);
    let field_name = |field: &Field| {
        if verbatim(field) {
            format_ident!("{}", field.name)
        } else {
            field_ident(&field.name)
        }
    };
    let strict = |field: &Field| {
        if verbatim(field) {
            format_ident!("json_{}", field.name)
        } else {
            format_ident!("json_{}", field.name.to_snake_case())
        }
    };
    let fields = schema.fields.iter().map(|field: &Field| {
        let doc = docs(field.description.as_deref());
        let ident = field_name(field);
        let name = &field.name;
        let rename =
            (ident != name).then(|| quote!(#[oai(rename = #name)] #[serde(rename = #name)]));
        let absent =
            (!field.required).then(|| quote!(#[serde(skip_serializing_if = "Option::is_none")]));
        let parse = strict_parser(field).map(|_| {
            let path = format!("Self::{}", strict(field));
            quote!(#[oai(deserialize_with = #path)])
        });
        let ty = optional(rust_type(&field.ty), field.required);
        quote!(#doc #rename #absent #parse pub #ident: #ty)
    });
    let parsers = schema
        .fields
        .iter()
        .filter_map(|field| {
            let check = strict_parser(field)?;
            let parser = strict(field);
            let name = &field.name;
            let ty = optional(rust_type(&field.ty), field.required);
            Some(quote! {
                fn #parser(
                    value: Option<serde_json::Value>,
                ) -> poem_openapi::types::ParseResult<#ty> {
                    #check(#name, value)
                }
            })
        })
        .collect::<Vec<_>>();
    let allow = any_verbatim.then(|| quote!(#[allow(non_snake_case)]));
    let strict_impl = (!parsers.is_empty()).then(|| {
        quote! {
            /// Strict JSON: a number or bool for a string, or a `null`, is
            /// refused, naming the field.
            #allow
            impl #ident { #(#parsers)* }
        }
    });
    quote! {
        #doc
        #allow
        #[derive(Debug, Clone, PartialEq, poem_openapi::Object, serde::Serialize)]
        // An optional property is absent, not `null`: the spec does not
        // declare any property nullable. A property the spec does not name is
        // refused, naming it, never silently dropped. Answers are written by
        // `Serialize` (`crate::api::payload::JsonAnswer`), with the same names.
        #[oai(skip_serializing_if_is_none, deny_unknown_fields)]
        pub struct #ident { #(#fields),* }
        #strict_impl
    }
}

fn emit_response(op: &Op) -> TokenStream {
    let ident = response_ident(op);
    let doc = format!(
        " Every answer `{}` can give, as docs/v1.yml lists them.",
        op.operation_id
    );
    let variants = op.responses.iter().map(|resp: &Resp| {
        let doc = docs(Some(&resp.description));
        let status = proc_macro2::Literal::u16_unsuffixed(resp.status);
        let variant = variant_ident(resp.status);
        let headers = resp.headers.iter().map(|h| {
            let doc = docs(h.description.as_deref());
            let name = &h.name;
            let ty = optional(quote!(String), h.required);
            quote!(#doc #[oai(header = #name)] #ty)
        });
        match &resp.schema {
            Some(schema) => {
                let schema = format_ident!("{}", schema);
                quote! {
                    #doc
                    #[oai(status = #status, content_type = "application/json")]
                    #variant(crate::api::payload::JsonAnswer<#schema> #(, #headers)*)
                }
            }
            None => quote!(#doc #[oai(status = #status)] #variant),
        }
    });
    let error_arms: Vec<_> = op.responses.iter().filter(|r| r.status >= 400 && r.status != 500).map(|resp| {
        let status = proc_macro2::Literal::u16_unsuffixed(resp.status);
        let variant = variant_ident(resp.status);
        let headers = resp.headers.iter().map(|h| {
            let name = &h.name;
            if h.required {
                quote!(err.header(#name).unwrap_or_default())
            } else {
                quote!(err.header(#name))
            }
        });
        quote!(#status => Self::#variant(crate::api::payload::JsonAnswer(err.body()) #(, #headers)*),)
    }).collect();
    let internal = quote!(Self::InternalServerError(crate::api::payload::JsonAnswer(
        err.into_internal().body()
    )));
    let body = if error_arms.is_empty() {
        internal
    } else {
        quote!(match err.status() { #(#error_arms)* _ => #internal, })
    };
    quote! {
        #[doc = #doc]
        #[derive(Debug, poem_openapi::ApiResponse)]
        #[oai(bad_request_handler = "crate::api::error::from_poem_error")]
        pub enum #ident { #(#variants),* }

        impl From<crate::api::error::ApiError> for #ident {
            fn from(err: crate::api::error::ApiError) -> Self {
                #body
            }
        }
    }
}

/// The arguments a handler receives: the caller's identity, then each
/// parameter as a plain value, then the body.
fn handler_args(op: &Op) -> Vec<(Ident, TokenStream)> {
    let mut args = Vec::new();
    if let Some(scheme) = op.scheme() {
        let arg = Ident::new(scheme.arg, Span::call_site());
        args.push((arg, type_path(scheme.yields)));
    }
    for param in &op.params {
        let ty = optional(rust_type(&param.ty), param.required);
        args.push((field_ident(&param.name), ty));
    }
    if let Some(body) = &op.body {
        let ty = rust_type(&TypeRef::Named(body.schema.clone()));
        args.push((Ident::new("body", Span::call_site()), ty));
    }
    args
}

/// What a handler returns: `Result<body, ApiError>` when the operation has
/// one success status (`()` if it has no body), else the response enum.
fn handler_output(op: &Op) -> TokenStream {
    let error = api_error();
    match op.single_success() {
        Some(Resp {
            schema: Some(schema),
            ..
        }) => {
            let schema = format_ident!("{}", schema);
            quote!(Result<#schema, #error>)
        }
        Some(_) => quote!(Result<(), #error>),
        None => {
            let response = response_ident(op);
            quote!(#response)
        }
    }
}

fn emit_trait(tag: &Tag, operations: &[Op]) -> TokenStream {
    let ident = trait_ident(&tag.name);
    let doc = format!(
        " The operations tagged `{}` in docs/v1.yml; `src/api/{}.rs` implements them.",
        tag.name,
        tag.name.to_snake_case()
    );
    let methods = operations
        .iter()
        .filter(|op| op.tag() == tag.name)
        .map(|op| {
            let doc = op_docs(op);
            let name = format_ident!("{}", op.operation_id);
            let args = handler_args(op)
                .into_iter()
                .map(|(arg, ty)| quote!(#arg: #ty));
            let output = handler_output(op);
            quote! {
                #doc
                fn #name(&self #(, #args)*) -> impl ::std::future::Future<Output = #output> + Send;
            }
        });
    quote! {
        #[doc = #doc]
        pub trait #ident: Send + Sync + 'static { #(#methods)* }
    }
}

fn emit_service(model: &Model) -> TokenStream {
    let bounds = model.tags.iter().map(|t| trait_ident(&t.name));
    let operations = model.operations.iter().map(emit_operation);
    quote! {
        /// Serves every operation in docs/v1.yml and forwards each to `T`, which
        /// implements one trait per tag. A new operation in the spec is a new
        /// trait method, so the build fails until a handler exists.
        #[derive(Debug)]
        pub struct CosgateApi<T>(pub T);

        #[poem_openapi::OpenApi]
        impl<T: #(#bounds)+*> CosgateApi<T> { #(#operations)* }
    }
}

/// Implements every trait with bodies that are never run, so
/// `CosgateApi<SpecOnly>` documents the API without settings or a database.
fn emit_stub(model: &Model) -> TokenStream {
    let impls = model.tags.iter().map(|tag| {
        let ident = trait_ident(&tag.name);
        let methods = model
            .operations
            .iter()
            .filter(|op| op.tag() == tag.name)
            .map(|op| {
                let name = format_ident!("{}", op.operation_id);
                let args = handler_args(op).into_iter().map(|(_, ty)| quote!(_: #ty));
                let output = handler_output(op);
                quote! {
                    async fn #name(&self #(, #args)*) -> #output {
                        unreachable!("SpecOnly documents the API and is never served")
                    }
                }
            });
        quote!(impl #ident for SpecOnly { #(#methods)* })
    });
    quote! {
        /// Implements every trait without serving anything, so the document
        /// can be built with no settings or database (`cosgate spec`).
        #[derive(Debug, Clone, Copy)]
        pub struct SpecOnly;
        #(#impls)*
    }
}

fn emit_operation(op: &Op) -> TokenStream {
    let doc = op_docs(op);
    let name = format_ident!("{}", op.operation_id);
    let path = op.path.poem_route();
    let method = op.method.as_str();
    let operation_id = &op.operation_id;
    let tag = format!("ApiTags::{}", pascal(op.tag()));
    let response = response_ident(op);
    let handler_trait = trait_ident(op.tag());

    let mut params = Vec::new();
    let mut forwarded = Vec::new();
    let mut checks = Vec::new();
    if let Some(scheme) = op.scheme() {
        let extractor = type_path(scheme.extractor);
        params.push(quote!(auth: #extractor));
        forwarded.push(quote!(auth.0));
        let scopes = op.required_scopes();
        if !scopes.is_empty() {
            checks.push(quote! {
                if let Err(err) = crate::api::security::require_scopes(&auth.0, &[#(#scopes),*]) {
                    return err.into();
                }
            });
        }
    }
    for param in &op.params {
        params.push(emit_param(param));
        let ident = field_ident(&param.name);
        forwarded.push(quote!(#ident.0));
    }
    if let Some(body) = &op.body {
        params.push(emit_body(body));
        forwarded.push(quote!(body.0));
    }
    let call = quote!(#handler_trait::#name(&self.0 #(, #forwarded)*).await);
    let answer = match op.single_success() {
        Some(success) => {
            let variant = variant_ident(success.status);
            let ok = match success.schema {
                Some(_) => {
                    quote!(Ok(body) => #response::#variant(crate::api::payload::JsonAnswer(body)))
                }
                None => quote!(Ok(()) => #response::#variant),
            };
            quote!(match #call { #ok, Err(err) => err.into() })
        }
        None => call,
    };
    quote! {
        #doc
        #[oai(path = #path, method = #method, operation_id = #operation_id, tag = #tag)]
        async fn #name(&self #(, #params)*) -> #response {
            #(#checks)*
            #answer
        }
    }
}

fn emit_param(param: &Param) -> TokenStream {
    let doc = docs(param.description.as_deref());
    let ident = field_ident(&param.name);
    let name = &param.name;
    let ty = optional(rust_type(&param.ty), param.required);
    let wrapper = match param.location {
        ParamIn::Query => quote!(poem_openapi::param::Query),
        ParamIn::Path => quote!(poem_openapi::param::Path),
        ParamIn::Header => quote!(poem_openapi::param::Header),
    };
    quote!(#doc #[oai(name = #name)] #ident: #wrapper<#ty>)
}

/// A required body is cosgate's `JsonBody` (poem-openapi's `Json`,
/// declared as docs/v1.yml declares it: `application/json`); an optional one
/// is cosgate's `OptionalJson`, which reads no body as `{}`.
fn emit_body(body: &Body) -> TokenStream {
    let doc = docs(body.description.as_deref());
    let ty = rust_type(&TypeRef::Named(body.schema.clone()));
    if body.form {
        quote!(#doc body: crate::api::payload::JsonOrForm<#ty>)
    } else if body.required {
        quote!(#doc body: crate::api::payload::JsonBody<#ty>)
    } else {
        quote!(#doc body: crate::api::payload::OptionalJson<#ty>)
    }
}
