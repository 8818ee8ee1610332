//! cosgate's own conventions, checked on the loaded [`Model`] before anything
//! is emitted: names that become Rust identifiers, one tag and one security
//! scheme per operation, and every status the server can send declared in
//! the contract with the `Error` body.

use std::collections::BTreeSet;

use crate::CodegenError;
use crate::spec::{Model, Op, ParamIn, SecurityScheme};

/// Statuses every operation must declare because cosgate can always send
/// them: every operation can fail internally.
const ALWAYS_DECLARED: &[u16] = &[500];

fn err<T>(msg: impl Into<String>) -> Result<T, CodegenError> {
    Err(CodegenError(msg.into()))
}

/// Checks every rule; the first broken one is the error.
pub fn check(model: &Model) -> Result<(), CodegenError> {
    let mut seen = BTreeSet::new();
    for op in &model.operations {
        check_operation(model, op)?;
        if !seen.insert(op.operation_id.as_str()) {
            return err(format!("operationId {} is used twice", op.operation_id));
        }
    }
    Ok(())
}

fn check_operation(model: &Model, op: &Op) -> Result<(), CodegenError> {
    let id = &op.operation_id;
    let is_ident = id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && id.starts_with(|c: char| c.is_ascii_lowercase());
    if !is_ident {
        let here = format!("{} {}", op.method.as_str().to_uppercase(), op.path);
        return err(format!("{here}: operationId {id} must be snake_case"));
    }
    let here = op.here();
    let [tag] = op.tags.as_slice() else {
        return err(format!("{here}: exactly one tag is required"));
    };
    if !model.tags.iter().any(|t| &t.name == tag) {
        return err(format!(
            "{here}: tag {tag} is not declared in the top-level tags"
        ));
    }
    let secured = check_security(model, op, &here)?;
    let scopes = match &op.scopes {
        None => &[][..],
        Some(Ok(scopes)) => scopes.as_slice(),
        Some(Err(e)) => return err(format!("{here}: {e}")),
    };
    if !scopes.is_empty() && !secured {
        return err(format!(
            "{here}: x-cosgate-scopes needs a security requirement"
        ));
    }
    for param in &op.params {
        if param.name == "auth" || param.name == "body" {
            return err(format!(
                "{here}: parameter name {} is reserved by the generator",
                param.name
            ));
        }
    }
    for name in op.path.params() {
        if !op
            .params
            .iter()
            .any(|p| p.location == ParamIn::Path && p.name == name)
        {
            return err(format!("{here}: path parameter {name} is not declared"));
        }
    }
    if let Some(body) = &op.body
        && !body.required
        && let Some(schema) = model.schemas.iter().find(|s| s.name == body.schema)
        && schema.fields.iter().any(|f| f.required)
    {
        return err(format!(
            "{here}: an optional request body is read as {{}} when absent, so {} may have no required property",
            schema.name
        ));
    }
    check_responses(op, &here, secured, !scopes.is_empty())
}

/// At most one scheme, without OAuth-style scopes, known to the table.
/// Returns whether the operation is secured.
fn check_security(model: &Model, op: &Op, here: &str) -> Result<bool, CodegenError> {
    match op.security.as_slice() {
        [] => Ok(false),
        [requirement] if requirement.is_empty() => Ok(false),
        [requirement] if requirement.len() == 1 => {
            let (name, scopes) = &requirement[0];
            if !scopes.is_empty() {
                return err(format!(
                    "{here}: http schemes take no scopes in OpenAPI 3.0; use x-cosgate-scopes"
                ));
            }
            if !model.security_schemes.iter().any(|s| s.scheme.name == name) {
                return err(format!(
                    "{here}: security scheme {name} is not in components.securitySchemes"
                ));
            }
            if SecurityScheme::find(name).is_none() {
                return err(format!(
                    "{here}: security scheme {name} has no extractor in src/api/security.rs"
                ));
            }
            Ok(true)
        }
        _ => err(format!(
            "{here}: exactly one security scheme per operation is supported"
        )),
    }
}

/// Every status the server can send is declared, errors use `Error`.
fn check_responses(op: &Op, here: &str, secured: bool, scoped: bool) -> Result<(), CodegenError> {
    let mut required: Vec<u16> = ALWAYS_DECLARED.to_vec();
    if secured {
        // 400: a request with two Authorization headers.
        required.extend([400, 401]);
    }
    if scoped {
        required.push(403);
    }
    if !op.params.is_empty() || op.body.is_some() {
        required.push(400);
    }
    for status in required {
        if !op.responses.iter().any(|r| r.status == status) {
            return err(format!(
                "{here}: must declare a {status} response, which the server can send"
            ));
        }
    }
    if !op.responses.iter().any(|r| r.is_success()) {
        return err(format!("{here}: no success response"));
    }
    for r in &op.responses {
        if r.is_error() && r.schema.as_deref() != Some("Error") {
            return err(format!(
                "{here}: error response {} must use the Error schema",
                r.status
            ));
        }
        if !r.is_error() && !r.headers.is_empty() {
            return err(format!(
                "{here}: headers on success responses are not supported yet"
            ));
        }
    }
    Ok(())
}
