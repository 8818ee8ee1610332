//! Reads an OpenAPI 3.0 document into the [`Model`]: every `$ref` resolved
//! through one lookup, every type mapped to one the emitter can print.
//! Refuses only what the generator cannot express; cosgate's own
//! conventions are checked afterwards, in `rules.rs`.

use openapiv3::{
    Components, Header, IntegerFormat, OpenAPI, Operation, Parameter, ParameterSchemaOrContent,
    ReferenceOr, RequestBody, Response, Schema, SchemaKind, StatusCode, Type,
    VariantOrUnknownOrEmpty,
};

use crate::CodegenError;
use crate::spec::{
    Body, Field, Info, Method, Model, ObjectSchema, Op, Param, ParamIn, PathTemplate, Resp,
    RespHeader, SchemeUse, SecurityScheme, Tag, TypeRef,
};

fn err<T>(msg: impl Into<String>) -> Result<T, CodegenError> {
    Err(CodegenError(msg.into()))
}

/// Parses an OpenAPI 3.0 document into the model.
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
    Ok(Model {
        info: Info {
            title: spec.info.title.clone(),
            version: spec.info.version.clone(),
            description: spec.info.description.clone(),
        },
        security_schemes: loader.security_schemes()?,
        tags: spec
            .tags
            .iter()
            .map(|t| Tag {
                name: t.name.clone(),
                description: t.description.clone(),
            })
            .collect(),
        schemas: loader.schemas()?,
        operations: loader.operations()?,
    })
}

/// Something that can live in `components` and be named by a `$ref`.
trait Component: Sized {
    /// The folder under `#/components/`.
    const KIND: &'static str;
    fn lookup<'a>(components: &'a Components, name: &str) -> Option<&'a ReferenceOr<Self>>;
}

macro_rules! component {
    ($ty:ty, $kind:literal, $field:ident) => {
        impl Component for $ty {
            const KIND: &'static str = $kind;
            fn lookup<'a>(c: &'a Components, name: &str) -> Option<&'a ReferenceOr<Self>> {
                c.$field.get(name)
            }
        }
    };
}

component!(Schema, "schemas", schemas);
component!(Response, "responses", responses);
component!(Parameter, "parameters", parameters);
component!(RequestBody, "requestBodies", request_bodies);
component!(Header, "headers", headers);

struct Loader<'a> {
    spec: &'a OpenAPI,
}

impl<'a> Loader<'a> {
    /// The name a `$ref` points at, checked to exist under `T`'s folder.
    fn ref_name<T: Component>(&self, here: &str, reference: &str) -> Result<String, CodegenError> {
        let prefix = format!("#/components/{}/", T::KIND);
        let Some(name) = reference.strip_prefix(&prefix) else {
            return err(format!("{here}: $ref {reference} must point into {prefix}"));
        };
        let exists = self
            .spec
            .components
            .as_ref()
            .is_some_and(|c| T::lookup(c, name).is_some());
        if !exists {
            return err(format!(
                "{here}: $ref {reference} names no {}",
                T::KIND.trim_end_matches('s')
            ));
        }
        Ok(name.to_string())
    }

    /// The item itself, following `$ref`s into `components`.
    fn resolve<T: Component>(
        &self,
        here: &str,
        mut item: &'a ReferenceOr<T>,
    ) -> Result<&'a T, CodegenError> {
        // A chain longer than this is a cycle.
        for _ in 0..8 {
            match item {
                ReferenceOr::Item(found) => return Ok(found),
                ReferenceOr::Reference { reference } => {
                    let name = self.ref_name::<T>(here, reference)?;
                    let components = self.spec.components.as_ref();
                    item = components
                        .and_then(|c| T::lookup(c, &name))
                        .expect("ref_name checked that it exists");
                }
            }
        }
        err(format!("{here}: $ref chain too long (a cycle?)"))
    }

    fn security_schemes(&self) -> Result<Vec<SchemeUse>, CodegenError> {
        let Some(components) = &self.spec.components else {
            return Ok(Vec::new());
        };
        components
            .security_schemes
            .iter()
            .map(|(name, scheme)| {
                let description = match scheme {
                    ReferenceOr::Item(openapiv3::SecurityScheme::HTTP { description, .. })
                    | ReferenceOr::Item(openapiv3::SecurityScheme::APIKey {
                        description, ..
                    }) => description.clone(),
                    _ => {
                        return err(format!(
                            "security scheme {name}: only http and apiKey schemes are supported"
                        ));
                    }
                };
                let Some(scheme) = SecurityScheme::find(name) else {
                    return err(format!(
                        "security scheme {name} has no extractor in src/api/security.rs"
                    ));
                };
                Ok(SchemeUse {
                    scheme,
                    description: description.unwrap_or_default(),
                })
            })
            .collect()
    }

    fn schemas(&self) -> Result<Vec<ObjectSchema>, CodegenError> {
        let Some(components) = &self.spec.components else {
            return Ok(Vec::new());
        };
        components
            .schemas
            .iter()
            .map(|(name, schema)| match schema {
                ReferenceOr::Item(schema) => self.object_schema(name, schema),
                ReferenceOr::Reference { .. } => {
                    err(format!("schema {name}: a top-level $ref is not supported"))
                }
            })
            .collect()
    }

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
                let ty = match string_enum(prop) {
                    Some(values) => TypeRef::Enum {
                        name: format!(
                            "{}{}Values",
                            name,
                            heck::ToUpperCamelCase::to_upper_camel_case(field.as_str())
                        ),
                        values,
                    },
                    None => self.type_ref(&context, &prop.clone().unbox())?,
                };
                Ok(Field {
                    name: field.clone(),
                    description,
                    ty,
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

    /// (An inline string enum on a property is read by [`string_enum`].)
    fn type_ref(
        &self,
        context: &str,
        schema: &ReferenceOr<Schema>,
    ) -> Result<TypeRef, CodegenError> {
        let schema = match schema {
            ReferenceOr::Reference { reference } => {
                return Ok(TypeRef::Named(self.ref_name::<Schema>(context, reference)?));
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
            SchemaKind::OneOf { one_of } => {
                let kinds: Vec<Option<&SchemaKind>> = one_of
                    .iter()
                    .map(|s| s.as_item().map(|s| &s.schema_kind))
                    .collect();
                let string_or_integer = matches!(
                    kinds.as_slice(),
                    [
                        Some(SchemaKind::Type(Type::String(s))),
                        Some(SchemaKind::Type(Type::Integer(i)))
                    ] if s.enumeration.is_empty()
                        && matches!(s.format, VariantOrUnknownOrEmpty::Empty)
                        && matches!(i.format, VariantOrUnknownOrEmpty::Item(IntegerFormat::Int64))
                );
                if !string_or_integer {
                    return err(format!(
                        "{context}: the one oneOf supported is [{{type: string}}, {{type: integer, format: int64}}]"
                    ));
                }
                TypeRef::StringOrInteger
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

    fn operations(&self) -> Result<Vec<Op>, CodegenError> {
        let mut operations = Vec::new();
        for (path, item) in &self.spec.paths.paths {
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
            if let Some((method, _)) = unsupported.iter().find(|(_, op)| op.is_some()) {
                return err(format!(
                    "{method} {path}: method not supported by the generator"
                ));
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
                    operations.push(self.operation(method, path, op)?);
                }
            }
        }
        Ok(operations)
    }

    fn operation(&self, method: Method, path: &str, op: &Operation) -> Result<Op, CodegenError> {
        let here = format!("{} {path}", method.as_str().to_uppercase());
        let Some(operation_id) = op.operation_id.clone() else {
            return err(format!("{here}: operationId is required"));
        };
        let here = format!("{here} ({operation_id})");
        if op.responses.default.is_some() {
            return err(format!(
                "{here}: a `default` response cannot be generated; list each status"
            ));
        }
        let security = op
            .security
            .as_ref()
            .or(self.spec.security.as_ref())
            .map(|alternatives| {
                alternatives
                    .iter()
                    .map(|req| req.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .collect()
            })
            .unwrap_or_default();
        let scopes = op.extensions.get("x-cosgate-scopes").map(|value| {
            value
                .as_array()
                .and_then(|list| list.iter().map(|v| v.as_str().map(String::from)).collect())
                .ok_or_else(|| "x-cosgate-scopes must be a list of strings".to_string())
        });
        let params = op
            .parameters
            .iter()
            .map(|p| self.parameter(&here, p))
            .collect::<Result<Vec<_>, _>>()?;
        let body = match &op.request_body {
            None => None,
            Some(body) => Some(self.request_body(&here, body)?),
        };
        let responses = op
            .responses
            .responses
            .iter()
            .map(|(status, resp)| {
                let StatusCode::Code(status) = status else {
                    return err(format!("{here}: status ranges like 4XX are not supported"));
                };
                self.response(&format!("{here}, response {status}"), *status, resp)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Op {
            operation_id,
            method,
            path: PathTemplate::parse(path),
            tags: op.tags.clone(),
            summary: op.summary.clone(),
            description: op.description.clone(),
            security,
            scopes,
            params,
            body,
            responses,
        })
    }

    fn parameter(&self, here: &str, param: &ReferenceOr<Parameter>) -> Result<Param, CodegenError> {
        let (location, data) = match self.resolve(here, param)? {
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
        let body = self.resolve(here, body)?;
        const FORM: &str = "application/x-www-form-urlencoded";
        let form = body.content.get(FORM);
        let expected = 1 + usize::from(form.is_some());
        let (Some(media), true) = (
            body.content.get("application/json"),
            body.content.len() == expected,
        ) else {
            return err(format!(
                "{here}: the request body must be application/json (and optionally {FORM}, with the same schema)"
            ));
        };
        let Some(ReferenceOr::Reference { reference }) = &media.schema else {
            return err(format!(
                "{here}: the request body must be a $ref to a named schema"
            ));
        };
        if let Some(form) = form
            && form.schema != media.schema
        {
            return err(format!(
                "{here}: the {FORM} body must have application/json's schema"
            ));
        }
        Ok(Body {
            description: body.description.clone(),
            schema: self.ref_name::<Schema>(here, reference)?,
            required: body.required,
            form: form.is_some(),
        })
    }

    fn response(
        &self,
        here: &str,
        status: u16,
        resp: &ReferenceOr<Response>,
    ) -> Result<Resp, CodegenError> {
        let resp = self.resolve(here, resp)?;
        let schema = match resp.content.len() {
            0 => None,
            1 => {
                let Some(media) = resp.content.get("application/json") else {
                    return err(format!("{here}: responses must be application/json"));
                };
                match &media.schema {
                    Some(ReferenceOr::Reference { reference }) => {
                        Some(self.ref_name::<Schema>(here, reference)?)
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
            .map(|(name, header)| {
                let header = self.resolve(here, header)?;
                Ok(RespHeader {
                    name: name.clone(),
                    description: header.description.clone(),
                    required: header.required,
                })
            })
            .collect::<Result<_, CodegenError>>()?;
        Ok(Resp {
            status,
            description: resp.description.clone(),
            schema,
            headers,
        })
    }
}

/// The values of an inline `type: string` property with `enum`, if it is one.
fn string_enum(prop: &ReferenceOr<Box<Schema>>) -> Option<Vec<String>> {
    let ReferenceOr::Item(schema) = prop else {
        return None;
    };
    let SchemaKind::Type(Type::String(s)) = &schema.schema_kind else {
        return None;
    };
    if s.enumeration.is_empty() {
        return None;
    }
    Some(s.enumeration.iter().flatten().cloned().collect())
}
