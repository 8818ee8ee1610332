//! JSON request bodies, declared in the served spec as docs/v1.yml declares
//! them, `application/json` (poem-openapi's `Json` says
//! `application/json; charset=utf-8`, which client generators that look for
//! `application/json` type as `never`).
//!
//! - [`JsonBody`]: a required body, read by poem-openapi's `Json`.
//! - [`OptionalJson`]: a body that may be left out: poem-openapi's `Json`
//!   needs a body and a `Content-Type`, so an operation whose body fields are
//!   all optional could not be called with no body at all. It reads no body
//!   (and no `Content-Type`) as `{}`. The generator uses it for request
//!   bodies docs/v1.yml marks `required: false`.

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    error::{ContentTypeError, ParseRequestPayloadError},
    payload::{Json, ParsePayload, Payload},
    registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry},
    types::{ParseFromJSON, Type},
};
use serde_json::Value;

/// The media type both declare.
const JSON: &str = "application/json";

/// A required JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonBody<T>(pub T);

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = JSON;

    fn check_content_type(content_type: &str) -> bool {
        Json::<T>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        <Json<T> as ParsePayload>::from_request(request, body)
            .await
            .map(|json| Self(json.0))
    }
}

impl<'a, T: ParseFromJSON> ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: JSON,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(content_type) if Self::check_content_type(content_type) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            Some(content_type) => Err(ContentTypeError::NotSupported {
                content_type: content_type.to_string(),
            }
            .into()),
            None => Err(ContentTypeError::ExpectContentType.into()),
        }
    }
}

/// A required body as JSON or, as RFC 6749 (§6) and RFC 7009 (§2.1)
/// require of token requests, `application/x-www-form-urlencoded` with the
/// same fields (every value a string; a name given twice is refused).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonOrForm<T>(pub T);

const FORM: &str = "application/x-www-form-urlencoded";

impl<T: Type> Payload for JsonOrForm<T> {
    const CONTENT_TYPE: &'static str = JSON;

    fn check_content_type(content_type: &str) -> bool {
        is_form(content_type) || Json::<T>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

fn is_form(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(FORM))
}

impl<T: ParseFromJSON> ParsePayload for JsonOrForm<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        if !request.content_type().is_some_and(is_form) {
            return <Json<T> as ParsePayload>::from_request(request, body)
                .await
                .map(|json| Self(json.0));
        }
        let data = <Vec<u8> as FromRequest>::from_request(request, body).await?;
        let mut fields = serde_json::Map::new();
        for (name, value) in form_urlencoded::parse(&data) {
            if fields
                .insert(name.to_string(), Value::String(value.into_owned()))
                .is_some()
            {
                return Err(ParseRequestPayloadError {
                    reason: format!("the form gives {name} twice"),
                }
                .into());
            }
        }
        T::parse_from_json(Some(Value::Object(fields)))
            .map(Self)
            .map_err(|err| {
                ParseRequestPayloadError {
                    reason: err.into_message(),
                }
                .into()
            })
    }
}

impl<'a, T: ParseFromJSON> ApiExtractor<'a> for JsonOrForm<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        let schema = <Self as Payload>::schema_ref();
        Some(MetaRequest {
            description: None,
            content: vec![
                MetaMediaType {
                    content_type: JSON,
                    schema: schema.clone(),
                },
                MetaMediaType {
                    content_type: FORM,
                    schema,
                },
            ],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(content_type) if Self::check_content_type(content_type) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            Some(content_type) => Err(ContentTypeError::NotSupported {
                content_type: content_type.to_string(),
            }
            .into()),
            None => Err(ContentTypeError::ExpectContentType.into()),
        }
    }
}

/// A JSON body; absent means `{}`.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionalJson<T>(pub T);

impl<T: Type> Payload for OptionalJson<T> {
    const CONTENT_TYPE: &'static str = JSON;

    fn check_content_type(content_type: &str) -> bool {
        Json::<T>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for OptionalJson<T> {
    const IS_REQUIRED: bool = false;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let data = <Vec<u8> as FromRequest>::from_request(request, body).await?;
        let value = if data.is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(&data).map_err(|err| ParseRequestPayloadError {
                reason: err.to_string(),
            })?
        };
        T::parse_from_json(Some(value)).map(Self).map_err(|err| {
            ParseRequestPayloadError {
                reason: err.into_message(),
            }
            .into()
        })
    }
}

impl<'a, T: ParseFromJSON> ApiExtractor<'a> for OptionalJson<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(content_type) if !Self::check_content_type(content_type) => {
                Err(ContentTypeError::NotSupported {
                    content_type: content_type.to_string(),
                }
                .into())
            }
            // With no Content-Type, only an empty body is accepted (as `{}`).
            None if !is_empty(request) => Err(ContentTypeError::ExpectContentType.into()),
            _ => <Self as ParsePayload>::from_request(request, body).await,
        }
    }
}

/// No body: no `Content-Length`, or `Content-Length: 0`, and not chunked.
fn is_empty(request: &Request) -> bool {
    let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
    let chunked = header(poem::http::header::TRANSFER_ENCODING).is_some();
    let length = header(poem::http::header::CONTENT_LENGTH).map(str::trim);
    !chunked && matches!(length, None | Some("0"))
}
