//! Unit tests of the generator: what it accepts, what it refuses and why, and
//! the shape of what it emits.

#![allow(clippy::unwrap_used)]

use cosgate_codegen::spec::{Method, ParamIn, PathTemplate, TypeRef};
use cosgate_codegen::{field_ident, generate, model as load, pascal, variant_ident};

/// A small but complete spec; each test edits one thing.
const MINIMAL: &str = r##"
openapi: 3.0.3
info: {title: t, version: "1"}
tags:
  - {name: Things, description: Things to do}
paths:
  /things/{thing_id}:
    get:
      tags: [Things]
      summary: Get a thing
      description: All of it.
      operationId: get_thing
      x-cosgate-scopes: [open]
      security: [{jwt: []}]
      parameters:
        - {name: thing_id, in: path, required: true, schema: {type: string}}
        - {name: limit, in: query, required: false, description: How many., schema: {type: integer, format: int32}}
      responses:
        '200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Thing'}}}}
        '400': {$ref: '#/components/responses/Err'}
        '401':
          description: no
          headers: {WWW-Authenticate: {required: true, schema: {type: string}}}
          content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}
        '403': {$ref: '#/components/responses/Err'}
        '500': {$ref: '#/components/responses/Err'}
components:
  securitySchemes:
    jwt: {type: http, scheme: bearer}
  responses:
    Err: {description: bad, content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}}
  schemas:
    Thing:
      type: object
      required: [id]
      properties:
        id: {type: string, description: The id.}
        type: {type: string}
        tagNames: {type: array, items: {type: string}}
        extra: {type: object, additionalProperties: {type: string}}
    Error:
      type: object
      required: [error_code]
      properties:
        error_code: {type: string}
"##;

fn load_err(spec: &str) -> String {
    load(spec).expect_err("the spec should be refused").0
}

#[test]
fn a_minimal_spec_loads_into_the_model() {
    let model = load(MINIMAL).expect("MINIMAL is valid");
    let [op] = model.operations.as_slice() else {
        panic!("one operation")
    };
    assert_eq!(op.operation_id, "get_thing");
    assert_eq!(op.method, Method::Get);
    assert_eq!(op.path.to_string(), "/things/{thing_id}");
    assert_eq!(op.scheme().map(|s| s.name), Some("jwt"));
    assert_eq!(op.required_scopes(), ["open"]);
    assert_eq!(op.params[0].location, ParamIn::Path);
    assert_eq!(op.params[1].ty, TypeRef::I32);
    assert!(!op.params[1].required);
    let statuses: Vec<u16> = op.responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 400, 401, 403, 500]);
    assert_eq!(
        op.responses[1].description, "bad",
        "response $refs are resolved"
    );
    assert_eq!(op.responses[2].headers[0].name, "WWW-Authenticate");

    let thing = &model.schemas[0];
    assert_eq!(
        thing.fields[2].ty,
        TypeRef::Array(Box::new(TypeRef::String))
    );
    assert_eq!(thing.fields[3].ty, TypeRef::Map(Box::new(TypeRef::String)));
    assert!(thing.fields[0].required && !thing.fields[1].required);
}

#[test]
fn generated_code_has_a_trait_per_tag_a_response_per_operation_and_a_forwarding_impl() {
    let code = generate(MINIMAL).expect("MINIMAL generates");
    assert!(code.starts_with("// @generated"));
    assert!(code.contains("pub trait ThingsApi: Send + Sync + 'static"));
    assert!(
        code.contains(
            "fn get_thing(\n        &self,\n        claims: crate::api::security::Claims,"
        )
    );
    assert!(code.contains("pub enum GetThingResponse"));
    assert!(
        code.contains("-> impl ::std::future::Future<\n        Output = Result<Thing, crate::api::error::ApiError>,"),
        "one success status: the handler returns Result<body, ApiError>\n{code}"
    );
    assert!(
        code.contains("Ok(body) => GetThingResponse::Ok(crate::api::payload::JsonAnswer(body))"),
        "the generated impl wraps the handler's answer"
    );
    assert!(code.contains("impl ThingsApi for SpecOnly"));
    assert!(
        code.contains(
            "impl crate::api::security::DocumentedScheme for crate::api::security::JwtAuth"
        )
    );
    assert!(code.contains("impl<T: ThingsApi> CosgateApi<T>"));
    assert!(
        code.contains(r#"path = "/things/:thing_id""#),
        "path parameters use poem's syntax"
    );
    assert!(code.contains(r#"require_scopes(&auth.0, &["open"])"#));
    assert!(
        code.contains("pub r#type: Option<String>"),
        "keywords become raw identifiers"
    );
    assert!(
        code.contains(r#"#[oai(rename = "tagNames")]"#),
        "camelCase properties keep their JSON name"
    );
    assert!(code.contains("limit: poem_openapi::param::Query<Option<i32>>"));
    assert!(
        code.contains("/// How many."),
        "descriptions become doc comments"
    );
}

#[test]
fn generated_code_is_stable_for_the_same_spec() {
    assert_eq!(generate(MINIMAL), generate(MINIMAL));
}

#[test]
fn an_operation_without_an_operation_id_is_refused() {
    let spec = MINIMAL.replace("      operationId: get_thing\n", "");
    assert!(load_err(&spec).contains("operationId is required"));
}

#[test]
fn an_operation_id_that_is_not_snake_case_is_refused() {
    let spec = MINIMAL.replace("operationId: get_thing", "operationId: getThing");
    assert!(load_err(&spec).contains("must be snake_case"));
}

#[test]
fn a_secured_operation_must_declare_401() {
    let spec = MINIMAL.replace("'401':", "'402':");
    assert!(
        load_err(&spec).contains("must declare a 401 response"),
        "{}",
        load_err(&spec)
    );
}

#[test]
fn every_operation_must_declare_500() {
    let spec = MINIMAL.replace("'500':", "'503':");
    assert!(load_err(&spec).contains("must declare a 500 response"));
}

#[test]
fn error_responses_must_use_the_error_schema() {
    let spec = MINIMAL.replace(
        "Err: {description: bad, content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}}",
        "Err: {description: bad, content: {application/json: {schema: {$ref: '#/components/schemas/Thing'}}}}",
    );
    assert!(load_err(&spec).contains("must use the Error schema"));
}

#[test]
fn an_unknown_security_scheme_is_refused() {
    let spec = MINIMAL.replace("security: [{jwt: []}]", "security: [{apikey: []}]");
    assert!(
        load_err(&spec).contains("security scheme apikey is not in components.securitySchemes")
    );
}

#[test]
fn scopes_on_an_http_scheme_are_refused() {
    let spec = MINIMAL.replace("security: [{jwt: []}]", "security: [{jwt: [open]}]");
    assert!(load_err(&spec).contains("use x-cosgate-scopes"));
}

#[test]
fn an_integer_without_format_is_refused() {
    let spec = MINIMAL.replace("type: integer, format: int32", "type: integer");
    assert!(load_err(&spec).contains("integers need `format: int32` or `format: int64`"));
}

#[test]
fn a_dangling_schema_ref_is_refused() {
    let spec = MINIMAL.replace(
        "$ref: '#/components/schemas/Thing'",
        "$ref: '#/components/schemas/Nope'",
    );
    assert!(load_err(&spec).contains("names no schema"));
}

#[test]
fn an_undeclared_path_parameter_is_refused() {
    let spec = MINIMAL.replace("/things/{thing_id}", "/things/{id}");
    assert!(load_err(&spec).contains("path parameter id is not declared"));
}

#[test]
fn a_duplicated_operation_id_is_refused() {
    let spec = MINIMAL.replace(
        "  /things/{thing_id}:\n    get:",
        "  /other:\n    post:\n      operationId: get_thing\n      tags: [Things]\n      responses: {'200': {description: ok}, '500': {$ref: '#/components/responses/Err'}}\n  /things/{thing_id}:\n    get:",
    );
    assert!(load_err(&spec).contains("operationId get_thing is used twice"));
}

#[test]
fn swagger_2_documents_are_refused() {
    let err = generate("swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n").unwrap_err();
    assert!(err.0.contains("is not an OpenAPI 3.0 document"), "{err}");
}

#[test]
fn names_are_converted_to_rust_identifiers() {
    assert_eq!(pascal("get_qc_cos_config"), "GetQcCosConfig");
    assert_eq!(pascal("Cos"), "Cos");
    assert_eq!(field_ident("Content-Type").to_string(), "content_type");
    assert_eq!(field_ident("openId").to_string(), "open_id");
    assert_eq!(field_ident("type").to_string(), "r#type");
    assert_eq!(field_ident("cos_path").to_string(), "cos_path");
    assert_eq!(variant_ident(401).to_string(), "Unauthorized");
    assert_eq!(variant_ident(418).to_string(), "Status418");
}

#[test]
fn path_templates_render_as_the_spec_and_as_poem_write_them() {
    let path = PathTemplate::parse("/a/{id}/b/{name}");
    assert_eq!(path.to_string(), "/a/{id}/b/{name}");
    assert_eq!(path.poem_route(), "/a/:id/b/:name");
    assert_eq!(path.params().collect::<Vec<_>>(), ["id", "name"]);
    assert_eq!(PathTemplate::parse("/healthz").poem_route(), "/healthz");
}

#[test]
fn an_operation_with_two_success_statuses_returns_its_response_enum() {
    let spec = MINIMAL.replace(
        "        '400': {$ref: '#/components/responses/Err'}\n        '401':",
        "        '202': {description: later}\n        '400': {$ref: '#/components/responses/Err'}\n        '401':",
    );
    let code = generate(&spec).unwrap();
    assert!(code.contains("Output = GetThingResponse"), "{code}");
}

#[test]
fn parameter_and_request_body_refs_are_resolved() {
    let spec = MINIMAL
        .replace(
            "        - {name: limit, in: query, required: false, description: How many., schema: {type: integer, format: int32}}",
            "        - $ref: '#/components/parameters/Limit'",
        )
        .replace(
            "  responses:\n    Err:",
            "  parameters:\n    Limit: {name: limit, in: query, required: false, description: How many., schema: {type: integer, format: int32}}\n  responses:\n    Err:",
        );
    let model = load(&spec).unwrap();
    assert_eq!(model.operations[0].params[1].name, "limit");
    let dangling = spec.replace(
        "#/components/parameters/Limit'",
        "#/components/parameters/Nope'",
    );
    assert!(
        load_err(&dangling).contains("names no parameter"),
        "{}",
        load_err(&dangling)
    );
}

#[test]
fn a_security_scheme_without_an_extractor_is_refused() {
    let spec = MINIMAL.replace(
        "    jwt: {type: http, scheme: bearer}",
        "    jwt: {type: http, scheme: bearer}\n    apikey: {type: apiKey, in: header, name: X-Key}",
    );
    assert!(load_err(&spec).contains("security scheme apikey has no extractor"));
}

#[test]
fn a_string_or_integer_one_of_is_a_type_of_its_own_and_other_one_ofs_are_refused() {
    let spec = MINIMAL.replace(
        "extra: {type: object, additionalProperties: {type: string}}",
        "extra: {type: object, additionalProperties: {oneOf: [{type: string}, {type: integer, format: int64}]}}",
    );
    let model = load(&spec).unwrap();
    let thing = model.schemas.iter().find(|s| s.name == "Thing").unwrap();
    let extra = thing.fields.iter().find(|f| f.name == "extra").unwrap();
    assert_eq!(extra.ty, TypeRef::Map(Box::new(TypeRef::StringOrInteger)));
    assert!(
        generate(&spec)
            .unwrap()
            .contains("crate::api::json::StringOrInteger")
    );
    let other = MINIMAL.replace(
        "extra: {type: object, additionalProperties: {type: string}}",
        "extra: {oneOf: [{type: string}, {type: boolean}]}",
    );
    assert!(load_err(&other).contains("the one oneOf supported"));
}

#[test]
fn two_spellings_of_one_property_keep_apart() {
    let spec = MINIMAL.replace(
        "id: {type: string, description: The id.}",
        "id: {type: string, description: The id.}\n        Id: {type: string}",
    );
    let code = generate(&spec).unwrap();
    assert!(code.contains("pub id: String"), "{code}");
    assert!(code.contains("pub Id: Option<String>"), "{code}");
    assert!(code.contains("#[allow(non_snake_case)]"), "{code}");
}
