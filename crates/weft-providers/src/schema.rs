//! JSON Schema handling: lowering to Gemini's OpenAPI 3.0 subset, the
//! OpenAI strict-mode check, and client-side validation of answers.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// One change made while lowering a schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaChange {
    /// Where, as a JSON pointer into the original schema (`""` is the root).
    pub path: String,
    /// What was done (`dropped \`uniqueItems\``, `\`oneOf\` → \`anyOf\``).
    pub change: String,
    /// True when the lowered schema accepts values the original refused
    /// (or the reverse), so answers need client-side validation.
    pub lossy: bool,
}

/// A schema lowered to another dialect, with what changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Lowered {
    /// The lowered schema.
    pub schema: Value,
    /// What changed, in document order.
    pub changes: Vec<SchemaChange>,
}

impl Lowered {
    /// True when some change altered the schema's meaning.
    pub fn lossy(&self) -> bool {
        self.changes.iter().any(|c| c.lossy)
    }
}

/// Keywords Gemini's `Schema` object accepts.
const GEMINI_KEYWORDS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

/// Annotations whose loss changes no validation outcome.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "$defs",
    "definitions",
    "$anchor",
    "examples",
    "readOnly",
    "writeOnly",
    "deprecated",
    "contentMediaType",
    "contentEncoding",
    "$dynamicAnchor",
];

/// Nested `$ref`s are inlined this deep at most.
const MAX_DEPTH: usize = 24;

struct Lowerer<'a> {
    root: &'a Value,
    changes: Vec<SchemaChange>,
    stack: Vec<String>,
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Lowerer<'_> {
    fn note(&mut self, path: &str, change: impl Into<String>, lossy: bool) {
        self.changes.push(SchemaChange {
            path: path.to_owned(),
            change: change.into(),
            lossy,
        });
    }

    fn resolve(&self, reference: &str) -> Option<&Value> {
        let pointer = reference.strip_prefix('#')?;
        if pointer.is_empty() {
            return Some(self.root);
        }
        let pointer = pointer.replace("%24", "$");
        self.root.pointer(&pointer)
    }

    fn lower(&mut self, node: &Value, path: &str) -> Value {
        let obj = match node {
            Value::Object(o) => o,
            Value::Bool(true) => return json!({}),
            Value::Bool(false) => {
                self.note(path, "`false` schema replaced by an empty schema", true);
                return json!({});
            }
            _ => {
                self.note(
                    path,
                    "a non-object schema was replaced by an empty one",
                    true,
                );
                return json!({});
            }
        };

        // Inline `$ref`s (siblings override the target's keywords).
        if let Some(Value::String(reference)) = obj.get("$ref") {
            let reference = reference.clone();
            let target = self.resolve(&reference).cloned();
            let recursive = self.stack.contains(&reference) || self.stack.len() >= MAX_DEPTH;
            let mut merged = match target {
                Some(Value::Object(t)) if !recursive => {
                    self.stack.push(reference.clone());
                    let lowered = self.lower(&Value::Object(t), path);
                    self.stack.pop();
                    match lowered {
                        Value::Object(m) => m,
                        _ => Map::new(),
                    }
                }
                Some(_) if recursive => {
                    self.note(
                        path,
                        format!("recursive `$ref` `{reference}` cut: an untyped schema stands in"),
                        true,
                    );
                    Map::new()
                }
                _ => {
                    self.note(
                        path,
                        format!("`$ref` `{reference}` cannot be resolved: dropped"),
                        true,
                    );
                    Map::new()
                }
            };
            let mut siblings = obj.clone();
            siblings.remove("$ref");
            if !siblings.is_empty()
                && let Value::Object(s) = self.lower(&Value::Object(siblings), path)
            {
                for (k, v) in s {
                    merged.insert(k, v);
                }
            }
            return Value::Object(merged);
        }

        let mut out = Map::new();
        // `type`: arrays become `nullable` or `anyOf`.
        match obj.get("type") {
            Some(Value::Array(types)) => {
                let mut names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
                if names.contains(&"null") {
                    names.retain(|t| *t != "null");
                    out.insert("nullable".into(), true.into());
                }
                match names.as_slice() {
                    [] => {}
                    [one] => {
                        out.insert("type".into(), (*one).into());
                    }
                    many => {
                        let alts: Vec<Value> = many.iter().map(|t| json!({"type": t})).collect();
                        out.insert("anyOf".into(), alts.into());
                        self.note(path, "`type` list → `anyOf` of types", false);
                    }
                }
            }
            Some(Value::String(t)) if t == "null" => {
                out.insert("nullable".into(), true.into());
                self.note(path, "`type: null` → `nullable`", true);
            }
            Some(t) => {
                out.insert("type".into(), t.clone());
            }
            None => {}
        }

        let ty = out.get("type").and_then(Value::as_str).map(str::to_owned);
        let mut keys: Vec<&String> = obj.keys().collect();
        keys.sort();
        for key in keys {
            let value = &obj[key];
            let here = format!("{path}/{}", escape(key));
            match key.as_str() {
                "type" => {}
                "properties" => {
                    if let Value::Object(props) = value {
                        let mut lowered = Map::new();
                        for (name, schema) in props {
                            let p = format!("{here}/{}", escape(name));
                            lowered.insert(name.clone(), self.lower(schema, &p));
                        }
                        out.insert("properties".into(), Value::Object(lowered));
                    }
                }
                "items" => match value {
                    Value::Array(_) => {
                        self.note(&here, "dropped tuple-form `items`", true);
                    }
                    other => {
                        let lowered = self.lower(other, &here);
                        out.insert("items".into(), lowered);
                    }
                },
                "anyOf" | "oneOf" => {
                    if let Value::Array(alts) = value {
                        let lowered: Vec<Value> = alts
                            .iter()
                            .enumerate()
                            .map(|(i, a)| self.lower(a, &format!("{here}/{i}")))
                            .collect();
                        if key == "oneOf" {
                            self.note(
                                &here,
                                "`oneOf` → `anyOf` (exactly-one no longer enforced)",
                                true,
                            );
                        }
                        match out.get_mut("anyOf") {
                            Some(Value::Array(existing)) => existing.extend(lowered),
                            _ => {
                                out.insert("anyOf".into(), lowered.into());
                            }
                        }
                    }
                }
                "allOf" => {
                    let Value::Array(parts) = value else { continue };
                    let mut mergeable = true;
                    let mut merged = Map::new();
                    for (i, part) in parts.iter().enumerate() {
                        match self.lower(part, &format!("{here}/{i}")) {
                            Value::Object(m) => {
                                for (k, v) in m {
                                    match (k.as_str(), merged.get_mut(&k), v) {
                                        (
                                            "properties",
                                            Some(Value::Object(a)),
                                            Value::Object(b),
                                        ) => a.extend(b),
                                        ("required", Some(Value::Array(a)), Value::Array(b)) => {
                                            for r in b {
                                                if !a.contains(&r) {
                                                    a.push(r);
                                                }
                                            }
                                        }
                                        (_, Some(existing), v) if *existing != v => {
                                            mergeable = false
                                        }
                                        (_, _, v) => {
                                            merged.insert(k, v);
                                        }
                                    }
                                }
                            }
                            _ => mergeable = false,
                        }
                    }
                    if mergeable {
                        self.note(&here, "`allOf` merged into the schema", false);
                        for (k, v) in merged {
                            out.entry(k).or_insert(v);
                        }
                    } else {
                        self.note(&here, "dropped `allOf` (its parts conflict)", true);
                    }
                }
                "const" => match value {
                    Value::String(s) => {
                        out.insert("enum".into(), json!([s]));
                        if ty.is_none() {
                            out.insert("type".into(), "string".into());
                        }
                        self.note(&here, "`const` → one-value `enum`", false);
                    }
                    _ => self.note(&here, "dropped `const` (not a string)", true),
                },
                "enum" => match value {
                    Value::Array(vals) if vals.iter().all(Value::is_string) => {
                        out.insert("enum".into(), value.clone());
                    }
                    Value::Array(vals)
                        if vals.iter().all(|v| v.is_string() || v.is_null())
                            && !vals.is_empty() =>
                    {
                        let strings: Vec<Value> =
                            vals.iter().filter(|v| v.is_string()).cloned().collect();
                        out.insert("enum".into(), strings.into());
                        out.insert("nullable".into(), true.into());
                        self.note(&here, "`null` in `enum` → `nullable`", false);
                    }
                    _ => self.note(&here, "dropped `enum` (only string enums exist)", true),
                },
                "exclusiveMinimum" | "exclusiveMaximum" => {
                    let bound = if key == "exclusiveMinimum" {
                        "minimum"
                    } else {
                        "maximum"
                    };
                    match value {
                        Value::Number(n) => {
                            out.insert(bound.into(), Value::Number(n.clone()));
                            self.note(&here, format!("`{key}` → inclusive `{bound}`"), true);
                        }
                        _ => self.note(&here, format!("dropped `{key}`"), true),
                    }
                }
                "format" => {
                    let f = value.as_str().unwrap_or_default();
                    let ok = matches!(
                        (ty.as_deref(), f),
                        (Some("string"), "enum" | "date-time")
                            | (Some("integer"), "int32" | "int64")
                            | (Some("number"), "float" | "double")
                    );
                    if ok {
                        out.insert("format".into(), value.clone());
                    } else {
                        self.note(&here, format!("dropped `format: {f}`"), true);
                    }
                }
                "required" => {
                    out.insert("required".into(), value.clone());
                }
                k if GEMINI_KEYWORDS.contains(&k) => {
                    out.insert(k.to_owned(), value.clone());
                }
                k if ANNOTATIONS.contains(&k) => {
                    if !(k == "$defs" || k == "definitions") || path.is_empty() {
                        self.note(&here, format!("dropped `{k}` (annotation)"), false);
                    }
                }
                k => self.note(&here, format!("dropped `{k}`"), true),
            }
        }
        Value::Object(out)
    }
}

/// Lowers a JSON Schema to Gemini's OpenAPI 3.0 subset: `$ref`s into
/// `$defs`/`definitions` are inlined (recursive ones are cut), `type` lists
/// become `nullable`/`anyOf`, `oneOf` becomes `anyOf`, `allOf` is merged
/// where its parts agree, string `const` becomes a one-value `enum`,
/// exclusive bounds become inclusive ones, and every other keyword Gemini
/// does not know (`$schema`, `propertyNames`, `uniqueItems`,
/// `additionalProperties`, `patternProperties`, non-string enums,
/// unsupported `format`s, ...) is dropped. Every change is listed.
pub fn lower_to_openapi(schema: &Value) -> Lowered {
    let mut l = Lowerer {
        root: schema,
        changes: Vec::new(),
        stack: Vec::new(),
    };
    let lowered = l.lower(schema, "");
    Lowered {
        schema: lowered,
        changes: l.changes,
    }
}

/// Why a schema cannot be used with OpenAI's `strict: true`, if it cannot:
/// every object must set `additionalProperties: false` and list all its
/// properties in `required`.
pub fn strict_incompatibility(schema: &Value) -> Option<String> {
    fn walk(v: &Value, path: &str) -> Option<String> {
        let Value::Object(o) = v else { return None };
        let is_object = o.get("type").is_some_and(|t| {
            t == "object"
                || t.as_array()
                    .is_some_and(|a| a.iter().any(|x| x == "object"))
        }) || o.contains_key("properties");
        if is_object {
            if o.get("additionalProperties") != Some(&Value::Bool(false)) {
                return Some(format!(
                    "`{}` does not set `additionalProperties: false`",
                    if path.is_empty() { "/" } else { path }
                ));
            }
            if let Some(Value::Object(props)) = o.get("properties") {
                let required: Vec<&str> = o
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if let Some(missing) = props.keys().find(|k| !required.contains(&k.as_str())) {
                    return Some(format!(
                        "property `{missing}` of `{}` is not in `required`",
                        if path.is_empty() { "/" } else { path }
                    ));
                }
            }
        }
        for (k, child) in o {
            let here = format!("{path}/{}", escape(k));
            match (k.as_str(), child) {
                ("properties" | "$defs" | "definitions", Value::Object(m)) => {
                    for (name, s) in m {
                        if let Some(r) = walk(s, &format!("{here}/{}", escape(name))) {
                            return Some(r);
                        }
                    }
                }
                ("anyOf" | "allOf" | "oneOf", Value::Array(items)) => {
                    for (i, s) in items.iter().enumerate() {
                        if let Some(r) = walk(s, &format!("{here}/{i}")) {
                            return Some(r);
                        }
                    }
                }
                ("items", s) => {
                    if let Some(r) = walk(s, &here) {
                        return Some(r);
                    }
                }
                _ => {}
            }
        }
        None
    }
    walk(schema, "")
}

/// The JSON value in a model's answer: the whole text, or the text inside a
/// Markdown code fence, or the outermost `{...}` / `[...]` span.
pub fn extract_json(text: &str) -> Result<Value, String> {
    let t = text.trim();
    if let Ok(v) = serde_json::from_str(t) {
        return Ok(v);
    }
    let fenced = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```JSON"))
        .or_else(|| t.strip_prefix("```"))
        .and_then(|rest| rest.trim_end().strip_suffix("```"));
    if let Some(inner) = fenced
        && let Ok(v) = serde_json::from_str(inner.trim())
    {
        return Ok(v);
    }
    for (open, close) in [('{', '}'), ('[', ']')] {
        if let (Some(a), Some(b)) = (t.find(open), t.rfind(close))
            && a < b
            && let Ok(v) = serde_json::from_str(&t[a..=b])
        {
            return Ok(v);
        }
    }
    match serde_json::from_str::<Value>(t) {
        Ok(v) => Ok(v),
        Err(e) => Err(format!("the answer is not JSON ({e})")),
    }
}

/// Checks an answer against `schema` (or, with `None`, that it is a JSON
/// object). Returns the parsed value, or up to five readable problems.
pub fn validate_answer(text: &str, schema: Option<&Value>) -> Result<Value, Vec<String>> {
    let value = extract_json(text).map_err(|e| vec![e])?;
    match schema {
        None => {
            if value.is_object() {
                Ok(value)
            } else {
                Err(vec!["the answer is JSON but not an object".into()])
            }
        }
        Some(schema) => {
            let validator = jsonschema::validator_for(schema)
                .map_err(|e| vec![format!("the schema itself is invalid: {e}")])?;
            let errors: Vec<String> = validator
                .iter_errors(&value)
                .take(5)
                .map(|e| {
                    let at = e.instance_path().as_str().to_owned();
                    if at.is_empty() {
                        format!("at the root: {e}")
                    } else {
                        format!("at `{at}`: {e}")
                    }
                })
                .collect();
            if errors.is_empty() {
                Ok(value)
            } else {
                Err(errors)
            }
        }
    }
}

/// Why `value` does not match `validator`'s schema: up to five problems,
/// each naming its field (`(root)` or a JSON pointer in backticks), joined
/// with `; `. `None` when it matches. Hosts use it to check tool arguments
/// before a tool runs, natively and in the browser alike.
pub fn argument_problems(validator: &jsonschema::Validator, value: &Value) -> Option<String> {
    // Valid arguments are the common case: check without collecting errors.
    if validator.is_valid(value) {
        return None;
    }
    let problems: Vec<String> = validator
        .iter_errors(value)
        .take(5)
        .map(|e| {
            let path = e.instance_path().to_string();
            let field = if path.is_empty() {
                "(root)".to_string()
            } else {
                format!("`{path}`")
            };
            format!("{field}: {e}")
        })
        .collect();
    (!problems.is_empty()).then(|| problems.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowers_to_the_gemini_subset_and_reports() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {"city": {"type": "string", "minLength": 1}},
            "properties": {
                "city": {"$ref": "#/$defs/city", "description": "The city"},
                "days": {"type": "integer", "exclusiveMinimum": 0, "maximum": 14},
                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
                "unit": {"oneOf": [{"const": "C"}, {"const": "F"}]},
                "note": {"type": ["string", "null"], "format": "email"},
                "meta": {"type": "object", "propertyNames": {"pattern": "^x"}, "additionalProperties": false},
            },
            "required": ["city"],
        });
        let l = lower_to_openapi(&schema);
        let s = &l.schema;
        assert_eq!(
            s["properties"]["city"],
            json!({"type": "string", "minLength": 1, "description": "The city"})
        );
        assert_eq!(s["properties"]["days"]["minimum"], 0);
        assert!(s["properties"]["days"].get("exclusiveMinimum").is_none());
        assert!(s["properties"]["tags"].get("uniqueItems").is_none());
        assert_eq!(
            s["properties"]["unit"]["anyOf"],
            json!([{"type": "string", "enum": ["C"]}, {"type": "string", "enum": ["F"]}])
        );
        assert_eq!(
            s["properties"]["note"],
            json!({"type": "string", "nullable": true})
        );
        assert!(s.get("$schema").is_none() && s.get("$defs").is_none());
        assert!(s["properties"]["meta"].get("propertyNames").is_none());
        let text = serde_json::to_string(s).unwrap();
        for banned in [
            "$ref",
            "$schema",
            "exclusiveMinimum",
            "propertyNames",
            "uniqueItems",
            "oneOf",
            "additionalProperties",
        ] {
            assert!(!text.contains(banned), "{banned} in {text}");
        }
        assert!(l.lossy());
        let changes: Vec<String> = l
            .changes
            .iter()
            .map(|c| format!("{} {}", c.path, c.change))
            .collect();
        let joined = changes.join("\n");
        for needle in [
            "/properties/days/exclusiveMinimum",
            "/properties/tags/uniqueItems",
            "/properties/unit/oneOf",
            "/properties/meta/propertyNames",
            "/$schema",
            "format: email",
        ] {
            assert!(joined.contains(needle), "{needle} missing from\n{joined}");
        }
    }

    #[test]
    fn recursive_refs_are_cut_not_looped() {
        let schema = json!({
            "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
            "$ref": "#/$defs/node",
        });
        let l = lower_to_openapi(&schema);
        assert_eq!(l.schema["type"], "object");
        assert!(l.changes.iter().any(|c| c.change.contains("recursive")));
    }

    #[test]
    fn strict_check() {
        assert!(
            strict_incompatibility(&json!({
                "type": "object", "additionalProperties": false,
                "properties": {"a": {"type": "string"}}, "required": ["a"]
            }))
            .is_none()
        );
        let why = strict_incompatibility(&json!({
            "type": "object", "additionalProperties": false,
            "properties": {"a": {"type": "object", "properties": {}}}, "required": ["a"]
        }))
        .unwrap();
        assert!(why.contains("/properties/a"), "{why}");
    }

    #[test]
    fn validation() {
        let schema =
            json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]});
        assert!(validate_answer("```json\n{\"n\": 3}\n```", Some(&schema)).is_ok());
        assert!(validate_answer("Sure! {\"n\": 3} Done.", Some(&schema)).is_ok());
        let errs = validate_answer("{\"n\": \"x\"}", Some(&schema)).unwrap_err();
        assert!(errs[0].contains("/n"), "{errs:?}");
        assert!(validate_answer("[1]", None).is_err());
        assert!(validate_answer("nope", None).is_err());
    }
}
