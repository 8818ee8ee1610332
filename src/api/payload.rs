//! JSON request bodies and answers, declared in the served spec as
//! docs/v1.yml declares them, `application/json` (poem-openapi's `Json` says
//! `application/json; charset=utf-8`, which client generators that look for
//! `application/json` type as `never`).
//!
//! - [`JsonAnswer`]: every answer the generated operations give, written by
//!   serde straight to bytes.
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

/// A JSON answer with `T`'s schema, written by serde straight to bytes:
/// poem-openapi's `Json` builds a `serde_json::Value` tree of the answer
/// first (a map, and a copy of every key and string) and then writes that.
/// The generated types derive `Serialize` beside `Object`, with the same
/// names and absent optional fields; a test compares both writings.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonAnswer<T>(pub T);

impl<T: serde::Serialize + Send> poem::IntoResponse for JsonAnswer<T> {
    fn into_response(self) -> poem::Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => poem::Response::builder().content_type(JSON).body(body),
            // The generated types have string keys only; this cannot fail.
            Err(e) => poem::error::ResponseError::as_response(
                &crate::api::error::ApiError::internal(format!("an answer was not JSON: {e}")),
            ),
        }
    }
}

/// The media type both declare.
const JSON: &str = "application/json";

/// `Payload` for JSON wrappers of `T`: `application/json` (read as
/// poem-openapi's `Json` reads it), with `T`'s schema.
macro_rules! json_payload {
    ($($wrapper:ident),*) => {$(
        impl<T: Type> Payload for $wrapper<T> {
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
    )*};
}

json_payload!(JsonAnswer, JsonBody, OptionalJson);

/// A required JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonBody<T>(pub T);

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
        read_typed(request, body).await
    }
}

/// A required body `P` after checking its `Content-Type`, refused as
/// poem-openapi refuses one it does not read, or none.
async fn read_typed<P: Payload + ParsePayload>(
    request: &Request,
    body: &mut RequestBody,
) -> poem::Result<P> {
    match request.content_type() {
        Some(content_type) if P::check_content_type(content_type) => {
            P::from_request(request, body).await
        }
        Some(content_type) => Err(ContentTypeError::NotSupported {
            content_type: content_type.to_string(),
        }
        .into()),
        None => Err(ContentTypeError::ExpectContentType.into()),
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
        read_typed(request, body).await
    }
}

/// A JSON body; absent means `{}`.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionalJson<T>(pub T);

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

#[cfg(test)]
mod tests {
    use poem_openapi::types::ToJSON;
    use serde_json::json;

    use super::*;
    use crate::api::{CosAuthorization, Error, QCOSConfig, UploadList};

    /// `json` read as `T`, then written both ways: by serde (what
    /// [`JsonAnswer`] sends) and by poem-openapi (what `Json` sent).
    fn written_alike<T: ParseFromJSON + ToJSON + serde::Serialize>(json: Value) {
        let value = T::parse_from_json(Some(json.clone()))
            .unwrap_or_else(|e| panic!("{json} should parse: {}", e.into_message()));
        let by_serde = serde_json::to_value(&value).expect("serialisable");
        assert_eq!(by_serde, value.to_json().expect("a value"), "{json}");
        assert_eq!(by_serde, json, "written as read");
    }

    #[test]
    fn answers_written_by_serde_are_what_poem_openapi_writes() {
        written_alike::<QCOSConfig>(json!({
            "sign": "c2lnbg==", "expired": 1_700_000_900, "cos_path": "/uploads/acc1",
            "bucket": "examplebucket", "region": "ap-guangzhou", "appid": "1250000000",
            "upload_url": "https://ap-guangzhou.file.myqcloud.com/files/v2/1250000000/examplebucket/uploads/acc1",
        }));
        for token in [None, Some("sts-token")] {
            let mut answer = json!({
                "authorization": "q-sign-algorithm=sha1&…", "start_time": 1, "expired_time": 2,
                "host": "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com",
                "url": "https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/a.jpg",
            });
            if let Some(token) = token {
                answer["security_token"] = json!(token);
            }
            written_alike::<CosAuthorization>(answer);
        }
        // Optional fields absent and present, a nested object with a map,
        // an enum, a list of objects and of integers.
        written_alike::<UploadList>(json!({
            "uploads": [
                {
                    "id": "up_1", "status": "pending", "key": "uploads/acc1/up_1.jpg",
                    "filename": "a.jpg", "size_bytes": 3, "content_type": "image/jpeg",
                    "profile": "image", "created_time": 1, "expires_time": 2,
                    "put": {"url": "https://x/a.jpg", "method": "PUT", "expired_time": 2,
                            "headers": {"Content-Length": "3", "Content-Type": "image/jpeg"}},
                },
                {
                    "id": "up_2", "status": "pending", "key": "uploads/acc1/up_2.jpg",
                    "filename": "b.jpg", "size_bytes": 9_000_000, "content_type": "image/jpeg",
                    "content_md5": "mQ/fVh815F3k6TAUm8m0eg==", "profile": "image",
                    "created_time": 1, "expires_time": 2,
                    "multipart": {"upload_id": "17000", "part_size": 5_242_880, "part_count": 2,
                                  "parts_present": [1]},
                },
                {
                    "id": "up_3", "status": "completed", "review": "held",
                    "moderation_label": "Normal", "key": "uploads/acc1/up_3.jpg",
                    "filename": "c.jpg", "size_bytes": 3, "content_type": "image/jpeg",
                    "profile": "image", "created_time": 1, "expires_time": 2,
                    "completed_time": 2, "etag": "abc", "crc64": "123", "reason": "none",
                    "download_url": "https://x/c.jpg",
                },
            ],
            "next_cursor": "up_3",
        }));
        written_alike::<UploadList>(json!({"uploads": []}));
        written_alike::<Error>(json!({
            "error_code": "invalid_token", "message": "expired", "text": "expired",
        }));
        written_alike::<Error>(json!({
            "error_code": "invalid_client", "message": "unknown client", "text": "unknown client",
            "error": "invalid_client",
        }));
    }
}
