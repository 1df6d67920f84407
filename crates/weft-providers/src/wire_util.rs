//! Small helpers shared by the wire builders and parsers.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use weft_model::types::{ChatRequest, ModelError, Reasoning, ToolSpec};

use crate::de::from_str_lenient;
use crate::http_error::truncate;

/// A request this crate cannot express for the provider.
pub(crate) fn invalid(msg: String) -> ModelError {
    ModelError::Unsupported(msg)
}

/// True when `provider` produced `r`: its own reasoning, which it may take
/// back.
pub(crate) fn is_own(r: &Reasoning, provider: &str) -> bool {
    r.provider
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case(provider))
}

/// Reads a whole (unstreamed) response body into the provider's wire type,
/// leniently; text that is not JSON is an error quoting it.
pub(crate) fn read_body<T: DeserializeOwned + Default>(
    provider: &str,
    body: &str,
) -> Result<T, ModelError> {
    from_str_lenient(body).map_err(|e| {
        ModelError::Transport(format!(
            "{provider}: invalid response: not JSON ({e}): {}",
            truncate(body, 500)
        ))
    })
}

/// A tool's input schema as JSON; none at all is an object schema without
/// properties.
pub(crate) fn input_schema(t: &ToolSpec) -> Result<Value, ModelError> {
    if t.input_schema.trim().is_empty() {
        return Ok(json!({"type": "object", "properties": {}}));
    }
    parse_json_text(
        &format!("the input schema of tool `{}`", t.name),
        &t.input_schema,
    )
}

/// Merges `patch` into `base`: objects merge recursively, `null` removes a
/// key, anything else replaces.
pub(crate) fn merge(base: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (k, v) in patch {
        match v {
            Value::Null => {
                base.remove(&k);
            }
            Value::Object(p) => match base.get_mut(&k) {
                Some(Value::Object(b)) => merge(b, p),
                _ => {
                    let mut fresh = Map::new();
                    merge(&mut fresh, p);
                    base.insert(k, Value::Object(fresh));
                }
            },
            v => {
                base.insert(k, v);
            }
        }
    }
}

/// Merges the request's provider options for `provider` into `body`: `*`
/// first, then the provider's own, in order.
pub(crate) fn apply_provider_options(
    body: &mut Map<String, Value>,
    req: &ChatRequest,
    provider: &str,
) -> Result<(), ModelError> {
    let applicable = req
        .provider_options
        .iter()
        .filter(|o| o.provider == "*")
        .chain(
            req.provider_options
                .iter()
                .filter(|o| o.provider != "*" && o.provider.eq_ignore_ascii_case(provider)),
        );
    for opt in applicable {
        match parse_json_text(
            &format!("the provider option for `{}`", opt.provider),
            &opt.json,
        )? {
            Value::Object(patch) => merge(body, patch),
            _ => {
                return Err(ModelError::Unsupported(format!(
                    "the provider option for `{}` is not a JSON object",
                    opt.provider
                )));
            }
        }
    }
    Ok(())
}

/// Parses JSON text from the request, naming it in the error.
pub(crate) fn parse_json_text(what: &str, text: &str) -> Result<Value, ModelError> {
    serde_json::from_str(text)
        .map_err(|e| ModelError::Unsupported(format!("{what} is not valid JSON: {e}")))
}

/// An `f32` as the number a person would write (`0.7`, not
/// `0.699999988079071`); `None` for what JSON cannot hold (NaN, infinity).
pub(crate) fn f32_wire(x: f32) -> Option<f64> {
    let f: f64 = x.to_string().parse().unwrap_or(f64::from(x));
    f.is_finite().then_some(f)
}

/// A typed request body as a JSON object, ready for provider options to
/// be merged in (its keys end up sorted, as `serde_json` keeps them).
pub(crate) fn to_object<T: Serialize>(body: &T) -> Result<Map<String, Value>, ModelError> {
    match serde_json::to_value(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ModelError::Unsupported(format!(
            "the request body is not a JSON object: {other}"
        ))),
        Err(e) => Err(ModelError::Unsupported(format!(
            "the request body could not be written: {e}"
        ))),
    }
}

/// The value at a dotted path (`prompt_tokens_details.cached_tokens`).
pub(crate) fn at_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for key in path.split('.') {
        cur = cur.get(key)?;
    }
    Some(cur)
}

/// The first unsigned integer found at one of `paths`.
pub(crate) fn first_u64(v: &Value, paths: &[String]) -> Option<u64> {
    paths
        .iter()
        .find_map(|p| at_path(v, p).and_then(Value::as_u64))
}

/// Tool-call arguments as they go into a [`weft_model::ToolCall`]: empty
/// becomes `{}`, anything else must parse as JSON.
pub(crate) fn finish_arguments(
    provider: &str,
    id: &str,
    name: &str,
    arguments: String,
    cut_at_limit: bool,
) -> Result<String, ModelError> {
    if arguments.trim().is_empty() {
        return Ok("{}".into());
    }
    match serde_json::from_str::<serde::de::IgnoredAny>(&arguments) {
        Ok(_) => Ok(arguments),
        Err(e) => {
            let hint = if cut_at_limit {
                " (generation stopped at the token limit)"
            } else {
                ""
            };
            Err(ModelError::Transport(format!(
                "{provider}: invalid response: tool call `{name}` (id `{id}`) has arguments that are not valid JSON{hint}: {e}; arguments: {}",
                crate::http_error::truncate(&arguments, 300)
            )))
        }
    }
}

/// A JSON body as bytes.
pub(crate) fn body_bytes(body: &Value) -> bytes::Bytes {
    bytes::Bytes::from(body.to_string())
}
