//! The served spec says the same as docs/v1.yml: paths, methods,
//! operationIds, parameters, request and response schemas, status codes,
//! headers, security and descriptions.
//!
//! Before comparing, both sides are normalised for what poem-openapi always
//! adds or writes differently, and for docs/v1.yml's conveniences:
//! - served: `deprecated: false`, `explode: true`, `style: form` on query
//!   parameters, schema `title`s, an empty `servers` list;
//! - docs: `$ref`s to `#/components/responses/…` are inlined, `x-webhooks`
//!   is compared with the served `webhooks`, other `x-` extensions (read by
//!   the generator, not served) are dropped;
//! - both: the `openapi` patch version, per-line whitespace in descriptions,
//!   and the order of tags.

use serde_json::{Map, Value};

use crate::helpers::*;

fn docs_spec() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/v1.yml")).unwrap();
    serde_yaml_ng::from_str(&text).expect("docs/v1.yml is YAML")
}

fn normalise_docs(mut spec: Value) -> Value {
    let responses = spec["components"]
        .as_object_mut()
        .and_then(|c| c.remove("responses"))
        .unwrap_or(Value::Null);
    inline_response_refs(&mut spec, &responses);
    // OpenAPI 3.0 has no `webhooks`: docs/v1.yml says `x-webhooks`, which
    // poem-openapi serves as `webhooks`.
    if let Some(hooks) = spec.as_object_mut().and_then(|s| s.remove("x-webhooks")) {
        spec["webhooks"] = hooks;
    }
    normalise(spec)
}

fn inline_response_refs(value: &mut Value, responses: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref")
                && let Some(name) = r.strip_prefix("#/components/responses/")
            {
                *value = responses[name].clone();
                return;
            }
            map.values_mut()
                .for_each(|v| inline_response_refs(v, responses));
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| inline_response_refs(v, responses)),
        _ => {}
    }
}

fn normalise(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, v) in map {
                let drop = key.starts_with("x-")
                    || (key == "servers" && v == Value::Array(Vec::new()))
                    // An explicit "no security" (for linters); poem-openapi
                    // leaves the key out, which means the same here (the
                    // document has no global security).
                    || (key == "security" && v == Value::Array(Vec::new()))
                    || key == "title"
                    || (key == "deprecated" && v == Value::Bool(false))
                    || (key == "explode" && v == Value::Bool(true))
                    || (key == "style" && v == "form");
                if drop {
                    continue;
                }
                let v = match key.as_str() {
                    "openapi" => Value::String(v.as_str().unwrap_or("").chars().take(3).collect()),
                    "tags" if v.as_array().is_some_and(|a| a.iter().all(Value::is_object)) => {
                        sort_by_name(v)
                    }
                    _ => v,
                };
                let v = if key == "description" {
                    trim_lines(v)
                } else {
                    normalise(v)
                };
                out.insert(key, v);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(normalise).collect()),
        other => other,
    }
}

fn sort_by_name(v: Value) -> Value {
    let mut items = v.as_array().cloned().unwrap_or_default();
    items.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Value::Array(items)
}

fn trim_lines(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(
            s.trim()
                .lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        other => other,
    }
}

/// Every place the two documents differ, as `path: docs … served …`.
fn diff(docs: &Value, served: &Value, path: &str, out: &mut Vec<String>) {
    match (docs, served) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    Some(w) => diff(v, w, &format!("{path}/{k}"), out),
                    None => out.push(format!("{path}/{k}: in docs/v1.yml, not served")),
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{path}/{k}: served, not in docs/v1.yml: {}", b[k]));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                diff(v, w, &format!("{path}/{i}"), out);
            }
        }
        (a, b) if a != b => out.push(format!("{path}: docs/v1.yml has {a}, served has {b}")),
        _ => {}
    }
}

fn differences(docs: Value, served: Value) -> Vec<String> {
    let mut out = Vec::new();
    diff(&normalise_docs(docs), &normalise(served), "", &mut out);
    out
}

async fn served_spec(app: &TestApp) -> Value {
    app.get("/openapi.json", None)
        .await
        .json()
        .await
        .expect("/openapi.json is JSON")
}

#[tokio::test]
async fn the_served_spec_says_what_docs_v1_says() {
    let app = spawn_app().await;
    let differences = differences(docs_spec(), served_spec(&app).await);
    assert!(
        differences.is_empty(),
        "the served spec differs from docs/v1.yml:\n{}",
        differences.join("\n")
    );
}

#[tokio::test]
async fn the_yaml_spec_is_the_same_document() {
    let app = spawn_app().await;
    let yaml = app.get("/openapi.yaml", None).await.text().await.unwrap();
    let yaml: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(yaml, served_spec(&app).await);
}

#[tokio::test]
async fn the_comparison_notices_a_changed_operation() {
    let app = spawn_app().await;
    let served = served_spec(&app).await;
    let mut docs = docs_spec();
    docs["paths"]["/v1/qc_cos/config"]["get"]["operationId"] = "renamed".into();
    docs["paths"]["/v1/qc_cos/config"]["get"]["responses"]["404"] =
        serde_json::json!({"description": "x"});
    docs["components"]["schemas"]["QCOSConfig"]["required"] = serde_json::json!(["sign"]);
    let found = differences(docs, served).join("\n");
    assert!(
        found.contains("/paths/~/v1/qc_cos/config/get/operationId")
            || found.contains("operationId"),
        "{found}"
    );
    assert!(found.contains("responses/404"), "{found}");
    assert!(found.contains("QCOSConfig/required"), "{found}");
}

/// Media types and header names are compared as written: a client generated
/// from the served spec looks them up by those exact strings.
#[tokio::test]
async fn the_comparison_notices_a_media_type_or_a_header_name() {
    let app = spawn_app().await;
    let served = served_spec(&app).await;
    let mut docs = docs_spec();
    let login = &mut docs["paths"]["/auth/oauth/token"]["post"];
    let body = login["requestBody"]["content"]["application/json"].take();
    login["requestBody"]["content"] = serde_json::json!({"application/json; charset=utf-8": body});
    let found = differences(docs, served.clone()).join("\n");
    assert!(found.contains("application/json; charset=utf-8"), "{found}");
    let mut docs = docs_spec();
    let retry = &mut docs["components"]["responses"]["TooManyRequests"]["headers"];
    let header = retry["Retry-After"].take();
    *retry = serde_json::json!({"RETRY-AFTER": header});
    let found = differences(docs, served).join("\n");
    assert!(found.contains("RETRY-AFTER"), "{found}");
}
