//! Adapting requests to what a model accepts, and the `check` dry run.
//!
//! Requests are adapted, not rejected: a `tool_choice` the model refuses
//! becomes one it accepts plus an instruction, a JSON Schema answer becomes
//! a JSON-object answer (or a plain one) plus client-side validation with
//! one repair attempt, schemas are lowered to the model's dialect, fixed or
//! unsupported sampling parameters are dropped, out-of-range ones clamped,
//! and reasoning from other providers is dropped or kept as text. Every
//! change is listed in an [`Adaptation`]; [`check`] returns it without
//! sending anything. Only what cannot be emulated (tools offered to a model
//! without tool support, schemas that are not JSON) is
//! [`Action::Refused`], and the call then fails with
//! [`weft_model::ModelError::Unsupported`] before anything is sent.
//!
//! Planning is a fixed sequence of small passes, each making one kind of
//! change (thinking, reasoning replay, required fields, sampling, tools,
//! tool choice, response format, streaming); the order is documented where
//! the passes are listed.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use weft_model::types::{
    ChatRequest, JsonSchemaFormat, Message, ModelError, Part, ProviderOption, Reasoning,
    ResponseFormat, Role, ToolChoice,
};

use crate::catalog::{
    ModelCaps, Param, Profile, ReasoningReplay, SchemaDialect, Thinking, ToolChoiceMode, catalog,
};
use crate::config::{ForeignReasoning, ProviderConfig};
use crate::schema::{lower_to_openapi, strict_incompatibility};
use crate::wire_util::is_own;

/// The value Google documents for function calls that carry no thought
/// signature of their own (turns produced elsewhere), so Gemini 3 skips its
/// signature check instead of failing the request.
pub const GEMINI_SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// What was done to one aspect of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Removed: the model would reject or ignore it.
    Dropped,
    /// Moved into the accepted range.
    Clamped,
    /// Replaced by something the model accepts, with the same intent
    /// (an instruction, client-side validation).
    Emulated,
    /// Rewritten into the model's schema dialect.
    Lowered,
    /// Turned into another kind of content (foreign reasoning as text).
    Converted,
    /// Added because the provider requires it.
    Added,
    /// Cannot be emulated: the call fails before anything is sent.
    Refused,
}

/// One change made to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjustment {
    /// What was done.
    pub action: Action,
    /// What it was done to: `sampling.temperature`, `tool_choice`,
    /// `tools[search].input_schema/properties/x/uniqueItems`,
    /// `messages[3].parts[0]`, ...
    pub target: String,
    /// Why, and what was sent instead.
    pub detail: String,
}

/// The changes a model needs in a request: the report of [`check`] and of
/// every call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adaptation {
    /// The provider profile used.
    pub provider: String,
    /// The model.
    pub model: String,
    /// True when the capability table lists the model (otherwise the
    /// provider's defaults were assumed).
    pub known_model: bool,
    /// Whether the model thinks on this request.
    pub thinking: bool,
    /// True when the answer is checked client-side (JSON, schema), with one
    /// repair attempt.
    pub client_validation: bool,
    /// The changes, in the order they were made.
    pub adjustments: Vec<Adjustment>,
}

impl Adaptation {
    /// True when the request goes out unchanged.
    pub fn is_unchanged(&self) -> bool {
        self.adjustments.is_empty()
    }

    /// The first change that cannot be emulated, if any.
    pub fn refused(&self) -> Option<&Adjustment> {
        self.adjustments
            .iter()
            .find(|a| a.action == Action::Refused)
    }

    fn push(&mut self, action: Action, target: impl Into<String>, detail: impl Into<String>) {
        self.adjustments.push(Adjustment {
            action,
            target: target.into(),
            detail: detail.into(),
        });
    }
}

impl fmt::Display for Adaptation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}/{}{}{}",
            self.provider,
            self.model,
            if self.known_model {
                ""
            } else {
                " (not in the capability table: provider defaults assumed)"
            },
            if self.thinking { ", thinking" } else { "" }
        )?;
        if self.adjustments.is_empty() {
            return writeln!(f, "  no changes: the request is sent as written");
        }
        for a in &self.adjustments {
            let action = serde_json::to_value(a.action)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            writeln!(f, "  {action:<9} {}: {}", a.target, a.detail)?;
        }
        Ok(())
    }
}

/// How the answer is checked client-side.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Validation {
    /// It must be a JSON object.
    JsonObject,
    /// It must satisfy this schema (the original, not a lowered copy).
    Schema {
        /// The format's name.
        name: String,
        /// The schema.
        schema: Value,
    },
}

/// A request ready for one provider's wire builder.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The adapted request.
    pub request: ChatRequest,
    /// What was changed.
    pub adaptation: Adaptation,
    /// Client-side validation of the answer, if needed.
    pub validation: Option<Validation>,
    /// A streamed call must be made unstreamed (validation, or a server
    /// that drops streamed tool calls).
    pub buffer_stream: bool,
    /// Streamed calls with tools are made unstreamed by this profile.
    pub unstreamed_tools: bool,
}

/// The provider options that apply to `provider`, merged (`*` first).
pub(crate) fn merged_options(req: &ChatRequest, provider: &str) -> Map<String, Value> {
    let mut out = Map::new();
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
        if let Ok(Value::Object(patch)) = serde_json::from_str::<Value>(&opt.json) {
            crate::wire_util::merge(&mut out, patch);
        }
    }
    out
}

/// Whether a provider option turns thinking on (`Some(true)`) or off.
fn thinking_option(opts: &Map<String, Value>) -> Option<bool> {
    if let Some(t) = opts.get("thinking") {
        match t {
            Value::Bool(b) => return Some(*b),
            Value::Object(o) => {
                if let Some(kind) = o.get("type").and_then(Value::as_str) {
                    return Some(kind != "disabled");
                }
            }
            _ => {}
        }
    }
    if let Some(b) = opts.get("enable_thinking").and_then(Value::as_bool) {
        return Some(b);
    }
    if let Some(budget) = opts
        .get("generationConfig")
        .and_then(|g| g.get("thinkingConfig"))
        .and_then(|t| t.get("thinkingBudget"))
        .and_then(Value::as_i64)
    {
        return Some(budget != 0);
    }
    None
}

fn add_instruction(req: &mut ChatRequest, text: &str) {
    match req.messages.first_mut() {
        Some(m) if m.role == Role::System => m.parts.push(Part::Text(format!("\n\n{text}"))),
        _ => req.messages.insert(0, Message::system(text)),
    }
}

fn sampling_value(req: &ChatRequest, p: Param) -> Option<String> {
    let s = &req.sampling;
    match p {
        Param::Temperature => s.temperature.map(|v| v.to_string()),
        Param::TopP => s.top_p.map(|v| v.to_string()),
        Param::TopK => s.top_k.map(|v| v.to_string()),
        Param::Seed => s.seed.map(|v| v.to_string()),
        Param::FrequencyPenalty => s.frequency_penalty.map(|v| v.to_string()),
        Param::PresencePenalty => s.presence_penalty.map(|v| v.to_string()),
        Param::N => None,
        Param::Stop => (!req.stop.is_empty()).then(|| format!("{:?}", req.stop)),
    }
}

fn clear_param(req: &mut ChatRequest, p: Param) {
    let s = &mut req.sampling;
    match p {
        Param::Temperature => s.temperature = None,
        Param::TopP => s.top_p = None,
        Param::TopK => s.top_k = None,
        Param::Seed => s.seed = None,
        Param::FrequencyPenalty => s.frequency_penalty = None,
        Param::PresencePenalty => s.presence_penalty = None,
        Param::N => {}
        Param::Stop => req.stop.clear(),
    }
}

fn target_of(p: Param) -> String {
    match p {
        Param::Stop => "stop".into(),
        p => format!("sampling.{}", p.name()),
    }
}

/// A request being adapted: what the passes read, and what they change.
struct Planning<'a> {
    /// The request as the caller wrote it.
    original: &'a ChatRequest,
    /// The provider name that tags its own reasoning.
    provider: &'a str,
    /// The provider's wire quirks.
    profile: &'a Profile,
    /// What the model accepts.
    caps: &'a ModelCaps,
    /// What to do with other providers' reasoning.
    foreign: ForeignReasoning,
    /// Whether the model thinks on this request.
    thinking: bool,
    /// The request as adapted so far.
    request: ChatRequest,
    /// The changes made so far.
    adaptation: Adaptation,
    /// Client-side validation of the answer, once a pass asks for it.
    validation: Option<Validation>,
    /// Streamed calls with tools are made unstreamed.
    unstreamed_tools: bool,
}

/// One adaptation pass.
type Pass = fn(&mut Planning<'_>);

/// The adaptation passes, in the order they run. Each makes one kind of
/// change and lists it in the [`Adaptation`]. The order matters where a
/// pass reads what an earlier one decided, and it fixes the order of the
/// report and of the instructions added to the system message:
///
/// 1. [`thinking_off_for_unsigned_tool_turn`] may turn thinking off, which
///    the passes after it read;
/// 2. [`replay_reasoning`] drops or converts reasoning before
///    [`add_fields_required_on_tool_call_turns`] looks at what is left;
/// 3. the sampling passes ([`drop_unaccepted_sampling`],
///    [`clamp_temperature`], [`clamp_output_limit`]);
/// 4. [`check_and_lower_tools`] before [`adapt_tool_choice`], which checks
///    a named choice against the tools (and may narrow them);
/// 5. [`adapt_tool_choice`] before [`adapt_response_format`]: both may add
///    an instruction, in that order;
/// 6. [`buffer_streams`] last: it reads the validation and the final tools.
const PASSES: &[Pass] = &[
    thinking_off_for_unsigned_tool_turn,
    replay_reasoning,
    add_fields_required_on_tool_call_turns,
    drop_unaccepted_sampling,
    clamp_temperature,
    clamp_output_limit,
    check_and_lower_tools,
    adapt_tool_choice,
    adapt_response_format,
    buffer_streams,
];

/// Plans `req` for `caps` at the provider named `provider` (the name that
/// tags its own reasoning) with `profile`'s wire quirks: the [`PASSES`],
/// in order.
pub(crate) fn plan(
    req: &ChatRequest,
    provider: &str,
    profile: &Profile,
    caps: &ModelCaps,
    foreign: ForeignReasoning,
) -> Plan {
    let options = merged_options(req, provider);
    let thinking = match caps.thinking {
        Thinking::Never => false,
        Thinking::Always => true,
        Thinking::DefaultOn => thinking_option(&options) != Some(false),
        Thinking::DefaultOff => thinking_option(&options) == Some(true),
    };
    let mut p = Planning {
        original: req,
        provider,
        profile,
        caps,
        foreign,
        thinking,
        request: req.clone(),
        adaptation: Adaptation {
            provider: caps.provider.clone(),
            model: caps.model.clone(),
            known_model: caps.known,
            thinking,
            client_validation: false,
            adjustments: Vec::new(),
        },
        validation: None,
        unstreamed_tools: false,
    };
    for pass in PASSES {
        pass(&mut p);
    }
    Plan {
        buffer_stream: p.validation.is_some(),
        request: p.request,
        adaptation: p.adaptation,
        validation: p.validation,
        unstreamed_tools: p.unstreamed_tools,
    }
}

/// Anthropic: with thinking on, the assistant turn a tool result answers
/// must start with its signed thinking. A turn from elsewhere has none, so
/// thinking is turned off for this request.
fn thinking_off_for_unsigned_tool_turn(p: &mut Planning<'_>) {
    if !(p.thinking && p.caps.reasoning_replay == ReasoningReplay::AnthropicThinking) {
        return;
    }
    let messages = &p.original.messages;
    let Some(i) = messages.iter().rposition(|m| m.role == Role::Assistant) else {
        return;
    };
    let m = &messages[i];
    let has_calls = m.parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
    let signed = matches!(m.parts.first(), Some(Part::Reasoning(r))
        if is_own(r, p.provider) && r.signature.is_some());
    if has_calls && !signed {
        p.request.provider_options.push(ProviderOption {
            provider: p.provider.to_owned(),
            json: r#"{"thinking":null}"#.into(),
        });
        p.thinking = false;
        p.adaptation.thinking = false;
        p.adaptation.push(
            Action::Dropped,
            "provider_options.thinking",
            format!(
                "messages[{i}] calls tools without this provider's signed thinking \
                 (a turn from another provider); thinking is off for this request"
            ),
        );
    }
}

/// Reasoning: foreign parts are dropped or become text; own parts the
/// model cannot take back are dropped.
fn replay_reasoning(p: &mut Planning<'_>) {
    let (provider, caps) = (p.provider, p.caps);
    for (mi, m) in p.request.messages.iter_mut().enumerate() {
        if m.role != Role::Assistant {
            continue;
        }
        let mut parts = Vec::with_capacity(m.parts.len());
        for (pi, part) in std::mem::take(&mut m.parts).into_iter().enumerate() {
            let Part::Reasoning(r) = part else {
                parts.push(part);
                continue;
            };
            let target = format!("messages[{mi}].parts[{pi}]");
            let origin = r
                .provider
                .clone()
                .unwrap_or_else(|| "an unknown provider".into());
            if !is_own(&r, provider) {
                if p.foreign == ForeignReasoning::AsText && !r.redacted && !r.text.is_empty() {
                    p.adaptation.push(
                        Action::Converted,
                        target,
                        format!("reasoning from {origin} sent as text"),
                    );
                    parts.push(Part::Text(format!(
                        "<reasoning provider=\"{origin}\">{}</reasoning>",
                        r.text
                    )));
                } else {
                    p.adaptation.push(
                        Action::Dropped,
                        target,
                        format!(
                            "reasoning from {origin} cannot be replayed to {}",
                            caps.provider
                        ),
                    );
                }
                continue;
            }
            let keep = match caps.reasoning_replay {
                ReasoningReplay::None => {
                    p.adaptation.push(
                        Action::Dropped,
                        target,
                        format!("{} takes no reasoning back", caps.model),
                    );
                    false
                }
                ReasoningReplay::AnthropicThinking if r.signature.is_none() => {
                    p.adaptation.push(
                        Action::Dropped,
                        target,
                        "thinking without a signature cannot be replayed",
                    );
                    false
                }
                _ => true,
            };
            if keep {
                parts.push(Part::Reasoning(r));
            }
        }
        m.parts = parts;
    }
}

/// Fields the provider requires on assistant turns that call tools: an
/// empty `reasoning_content` while thinking (DeepSeek, Kimi), and a thought
/// signature before the first call (Gemini 3).
fn add_fields_required_on_tool_call_turns(p: &mut Planning<'_>) {
    let (provider, caps) = (p.provider, p.caps);
    for (mi, m) in p.request.messages.iter_mut().enumerate() {
        if m.role != Role::Assistant {
            continue;
        }
        let first_call = m.parts.iter().position(|p| matches!(p, Part::ToolCall(_)));
        let Some(first_call) = first_call else {
            continue;
        };
        let has_reasoning = m.parts.iter().any(|p| matches!(p, Part::Reasoning(_)));
        if p.thinking
            && caps.reasoning_required
            && caps.reasoning_replay == ReasoningReplay::ReasoningContent
            && !has_reasoning
        {
            m.parts.insert(
                0,
                Part::Reasoning(Reasoning {
                    provider: Some(provider.to_owned()),
                    ..Default::default()
                }),
            );
            p.adaptation.push(
                Action::Added,
                format!("messages[{mi}].reasoning_content"),
                "an empty reasoning field: the provider requires one on tool-call turns while thinking",
            );
        }
        if caps.thought_signature_required {
            let signed = first_call > 0
                && matches!(&m.parts[first_call - 1], Part::Reasoning(r)
                    if r.signature.is_some() && r.text.is_empty());
            if !signed {
                m.parts.insert(
                    first_call,
                    Part::Reasoning(Reasoning {
                        signature: Some(GEMINI_SKIP_SIGNATURE.into()),
                        provider: Some(provider.to_owned()),
                        ..Default::default()
                    }),
                );
                p.adaptation.push(
                    Action::Added,
                    format!("messages[{mi}].parts[{first_call}].thoughtSignature"),
                    format!("`{GEMINI_SKIP_SIGNATURE}`: the call has no signature of this model's"),
                );
            }
        }
    }
}

/// Sampling parameters the model fixes, does not support, or ignores
/// while it thinks are dropped.
fn drop_unaccepted_sampling(p: &mut Planning<'_>) {
    let caps = p.caps;
    let mut drops: Vec<(Param, &str)> = Vec::new();
    for param in &caps.fixed_params {
        drops.push((*param, "fixed by the model: any value is rejected"));
    }
    for param in &caps.unsupported_params {
        drops.push((*param, "not supported by the model"));
    }
    if p.thinking {
        for param in &caps.ignored_params_thinking {
            drops.push((*param, "ignored or rejected while the model thinks"));
        }
    }
    for (param, why) in drops {
        if let Some(v) = sampling_value(&p.request, param) {
            clear_param(&mut p.request, param);
            p.adaptation
                .push(Action::Dropped, target_of(param), format!("{v}: {why}"));
        }
    }
}

/// A temperature outside the model's range is clamped into it.
fn clamp_temperature(p: &mut Planning<'_>) {
    if let (Some(range), Some(t)) = (p.caps.temperature, p.request.sampling.temperature)
        && let Some(clamped) = range.clamp(t)
    {
        p.request.sampling.temperature = Some(clamped);
        p.adaptation.push(
            Action::Clamped,
            "sampling.temperature",
            format!("{t} → {clamped}: accepted range {}", range.describe()),
        );
    }
}

/// An output token limit above the model's is lowered to it.
fn clamp_output_limit(p: &mut Planning<'_>) {
    if let (Some(limit), Some(max)) = (p.caps.max_output_tokens, p.request.max_output_tokens)
        && max > limit
    {
        p.request.max_output_tokens = Some(limit);
        p.adaptation.push(
            Action::Clamped,
            "max_output_tokens",
            format!("{max} → {limit}: the model's output limit"),
        );
    }
}

/// Tools offered to a model without tool support, and input schemas that
/// are not JSON, are refused; schemas are lowered to the model's dialect.
fn check_and_lower_tools(p: &mut Planning<'_>) {
    let caps = p.caps;
    if !p.request.tools.is_empty() && !caps.tools {
        p.adaptation.push(
            Action::Refused,
            "tools",
            format!("{} does not accept tools", caps.model),
        );
    }
    for tool in &mut p.request.tools {
        if tool.input_schema.trim().is_empty() {
            continue;
        }
        let schema: Value = match serde_json::from_str(&tool.input_schema) {
            Ok(v) => v,
            Err(e) => {
                p.adaptation.push(
                    Action::Refused,
                    format!("tools[{}].input_schema", tool.name),
                    format!("not valid JSON: {e}"),
                );
                continue;
            }
        };
        if caps.schema_dialect == SchemaDialect::OpenapiSubset {
            let lowered = lower_to_openapi(&schema);
            for c in &lowered.changes {
                p.adaptation.push(
                    Action::Lowered,
                    format!("tools[{}].input_schema{}", tool.name, c.path),
                    c.change.clone(),
                );
            }
            if !lowered.changes.is_empty() {
                tool.input_schema = lowered.schema.to_string();
            }
        }
    }
}

/// A forced tool choice without tools, or naming a tool not offered, is
/// refused; one the model does not accept is emulated
/// ([`emulate_tool_choice`]).
fn adapt_tool_choice(p: &mut Planning<'_>) {
    let modes = p.caps.tool_choice_modes(p.thinking);
    let requested = ToolChoiceMode::of(&p.request.tool_choice);
    let out = &mut p.request;
    if out.tools.is_empty() {
        match &out.tool_choice {
            ToolChoice::Required | ToolChoice::Named(_) => p.adaptation.push(
                Action::Refused,
                "tool_choice",
                "a forced tool choice needs at least one tool",
            ),
            _ => out.tool_choice = ToolChoice::Auto,
        }
    } else if let ToolChoice::Named(name) = &out.tool_choice
        && !out.tools.iter().any(|t| &t.name == name)
    {
        p.adaptation.push(
            Action::Refused,
            "tool_choice",
            format!("names tool `{name}`, which is not among the request's tools"),
        );
    } else if !modes.contains(&requested) {
        emulate_tool_choice(p, modes);
    }
}

/// A tool choice the model does not accept becomes one it does, plus an
/// instruction: `required` → `auto`; a named tool → only that tool offered,
/// `required` (or `auto`); `none` → `auto`.
fn emulate_tool_choice(p: &mut Planning<'_>, modes: &[ToolChoiceMode]) {
    let why = if p.thinking && p.caps.tool_choice_thinking.is_some() {
        "while thinking the model accepts only"
    } else {
        "the model accepts only"
    };
    let accepted: Vec<String> = modes
        .iter()
        .map(|m| format!("{m:?}").to_lowercase())
        .collect();
    let accepted = accepted.join(", ");
    let out = &mut p.request;
    match out.tool_choice.clone() {
        ToolChoice::Required => {
            out.tool_choice = ToolChoice::Auto;
            add_instruction(
                out,
                "You must call at least one of the available tools in this answer.",
            );
            p.adaptation.push(
                Action::Emulated,
                "tool_choice",
                format!("required → auto plus an instruction to call a tool ({why} {accepted})"),
            );
        }
        ToolChoice::Named(name) => {
            let before = out.tools.len();
            out.tools.retain(|t| t.name == name);
            let forced = if modes.contains(&ToolChoiceMode::Required) {
                out.tool_choice = ToolChoice::Required;
                "required"
            } else {
                out.tool_choice = ToolChoice::Auto;
                add_instruction(
                    out,
                    &format!("You must call the tool `{name}` in this answer."),
                );
                "auto plus an instruction to call it"
            };
            p.adaptation.push(
                Action::Emulated,
                "tool_choice",
                format!(
                    "named `{name}` → only that tool offered ({} of {before}) and {forced} ({why} {accepted})",
                    out.tools.len()
                ),
            );
        }
        ToolChoice::None => {
            out.tool_choice = ToolChoice::Auto;
            add_instruction(out, "Do not call any tool in this answer; answer in text.");
            p.adaptation.push(
                Action::Emulated,
                "tool_choice",
                format!("none → auto plus an instruction not to call tools ({why} {accepted})"),
            );
        }
        ToolChoice::Auto => {}
    }
}

/// A JSON answer the model cannot give natively is asked for by
/// instruction and validated client-side ([`adapt_json_schema`] for
/// schemas).
fn adapt_response_format(p: &mut Planning<'_>) {
    match p.request.response_format.clone() {
        ResponseFormat::Text => {}
        ResponseFormat::JsonObject => {
            if !p.caps.json_object {
                p.request.response_format = ResponseFormat::Text;
                add_instruction(
                    &mut p.request,
                    "Answer with a single JSON object and nothing else: no prose, no Markdown code fence.",
                );
                p.validation = Some(Validation::JsonObject);
                p.adaptation.push(
                    Action::Emulated,
                    "response_format",
                    "json_object → an instruction plus client-side JSON validation with one repair attempt",
                );
            }
        }
        ResponseFormat::JsonSchema(f) => adapt_json_schema(p, f),
    }
}

/// A JSON Schema answer: refused when the schema is not JSON; else lowered
/// to the model's dialect, made not strict where the model cannot be, or
/// emulated (`json_object` or text plus the schema as an instruction),
/// with client-side validation wherever the model alone would not
/// guarantee the schema.
fn adapt_json_schema(p: &mut Planning<'_>, mut f: JsonSchemaFormat) {
    let caps = p.caps;
    let schema: Value = match serde_json::from_str(&f.schema) {
        Ok(v) => v,
        Err(e) => {
            p.adaptation.push(
                Action::Refused,
                format!("response_format.json_schema[{}]", f.name),
                format!("the schema is not valid JSON: {e}"),
            );
            return;
        }
    };
    if schema.is_null() {
        return;
    }
    let check = Validation::Schema {
        name: f.name.clone(),
        schema: schema.clone(),
    };
    if caps.json_schema {
        if caps.schema_dialect == SchemaDialect::OpenapiSubset {
            let lowered = lower_to_openapi(&schema);
            for c in &lowered.changes {
                p.adaptation.push(
                    Action::Lowered,
                    format!("response_format.json_schema[{}]{}", f.name, c.path),
                    c.change.clone(),
                );
            }
            if lowered.lossy() {
                p.validation = Some(check.clone());
            }
            if !lowered.changes.is_empty() {
                f.schema = lowered.schema.to_string();
            }
        }
        if f.strict && !caps.strict {
            f.strict = false;
            p.validation = Some(check.clone());
            p.adaptation.push(
                Action::Emulated,
                "response_format.strict",
                "strict → not strict plus client-side schema validation",
            );
        } else if f.strict
            && caps.schema_dialect == SchemaDialect::JsonSchema
            && let Some(why) = strict_incompatibility(&schema)
        {
            f.strict = false;
            p.validation = Some(check.clone());
            p.adaptation.push(
                Action::Emulated,
                "response_format.strict",
                format!("strict → not strict plus client-side validation: {why}"),
            );
        }
        p.request.response_format = ResponseFormat::JsonSchema(f);
    } else {
        let instruction = format!(
            "Answer with a single JSON object that conforms to this JSON Schema, and nothing else (no prose, no Markdown code fence):\n{schema}"
        );
        add_instruction(&mut p.request, &instruction);
        p.validation = Some(check);
        if caps.json_object {
            p.request.response_format = ResponseFormat::JsonObject;
            p.adaptation.push(
                Action::Emulated,
                "response_format",
                "json_schema → json_object plus the schema as an instruction and client-side validation with one repair attempt",
            );
        } else {
            p.request.response_format = ResponseFormat::Text;
            p.adaptation.push(
                Action::Emulated,
                "response_format",
                "json_schema → the schema as an instruction plus client-side validation with one repair attempt",
            );
        }
    }
}

/// Streams that must be whole before they are delivered: an answer that
/// is validated client-side is assembled in full; a profile that drops
/// streamed tool calls makes calls with tools unstreamed.
fn buffer_streams(p: &mut Planning<'_>) {
    p.unstreamed_tools = !p.request.tools.is_empty() && !p.profile.stream_with_tools;
    if p.validation.is_some() {
        p.adaptation.client_validation = true;
        p.adaptation.push(
            Action::Emulated,
            "stream",
            "streamed answers are assembled in full and validated before they are delivered",
        );
    } else if p.unstreamed_tools {
        p.adaptation.push(
            Action::Emulated,
            "stream",
            format!(
                "{} drops streamed tool calls: streamed calls with tools are made unstreamed",
                p.profile.name
            ),
        );
    }
}

impl Plan {
    /// The error for a plan that cannot be sent.
    pub(crate) fn refusal(&self) -> Option<ModelError> {
        self.adaptation.refused().map(|r| {
            ModelError::Unsupported(format!(
                "{}/{}: {}: {}",
                self.adaptation.provider, self.adaptation.model, r.target, r.detail
            ))
        })
    }
}

/// The dry run: what `provider`/`model` would need changed in `request`,
/// with the default configuration (foreign reasoning dropped). Nothing is
/// sent. Unknown providers are planned with the `generic` profile.
pub fn check(request: &ChatRequest, provider: &str, model: &str) -> Adaptation {
    let config = ProviderConfig::new("http://unused.invalid", model).with_provider_name(provider);
    check_with(request, &config)
}

/// [`check`] for a full configuration (its capability override, its
/// foreign-reasoning rule).
pub fn check_with(request: &ChatRequest, config: &ProviderConfig) -> Adaptation {
    let profile = catalog().profile_or_generic(&config.provider_name);
    let caps = config.resolved_capabilities();
    plan(
        request,
        &config.provider_name,
        profile,
        &caps,
        config.foreign_reasoning,
    )
    .adaptation
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_model::types::{JsonSchemaFormat, ToolCall, ToolSpec};

    fn tools() -> Vec<ToolSpec> {
        vec![
            ToolSpec {
                name: "search".into(),
                description: "Search".into(),
                input_schema: r#"{"type":"object","properties":{"q":{"type":"string","minLength":1}},"required":["q"],"additionalProperties":false}"#.into(),
                output_schema: None,
            },
            ToolSpec {
                name: "fetch".into(),
                description: "Fetch".into(),
                input_schema: r#"{"type":"object","properties":{"url":{"type":"string","format":"uri"}}}"#.into(),
                output_schema: None,
            },
        ]
    }

    fn actions(a: &Adaptation) -> Vec<(Action, String)> {
        a.adjustments
            .iter()
            .map(|x| (x.action, x.target.clone()))
            .collect()
    }

    #[test]
    fn kimi_fixed_params_and_required_tool_choice() {
        let mut req = ChatRequest::new(vec![Message::user("hi")])
            .with_tools(tools())
            .with_tool_choice(ToolChoice::Required);
        req.sampling.temperature = Some(0.3);
        req.sampling.top_p = Some(0.9);
        let a = check(&req, "kimi", "kimi-k2.6");
        let got = actions(&a);
        assert!(
            got.contains(&(Action::Dropped, "sampling.temperature".into())),
            "{a}"
        );
        assert!(
            got.contains(&(Action::Dropped, "sampling.top_p".into())),
            "{a}"
        );
        assert!(
            got.contains(&(Action::Emulated, "tool_choice".into())),
            "{a}"
        );
        let p = plan(
            &req,
            "kimi",
            catalog().profile_or_generic("kimi"),
            &catalog().lookup("kimi", "kimi-k2.6"),
            ForeignReasoning::Drop,
        );
        assert_eq!(p.request.tool_choice, ToolChoice::Auto);
        assert_eq!(p.request.messages[0].role, Role::System);
        assert!(p.request.messages[0].text().contains("must call"));
        assert!(p.request.sampling.temperature.is_none());
        // Serialisable for `weft check`.
        let j = serde_json::to_value(&a).unwrap();
        assert_eq!(j["provider"], "kimi");
        assert!(a.to_string().contains("emulated"));
    }

    #[test]
    fn json_schema_emulated_on_deepseek_and_native_on_openai() {
        let req = ChatRequest::new(vec![Message::system("s"), Message::user("x")])
            .with_response_format(ResponseFormat::JsonSchema(JsonSchemaFormat {
                name: "out".into(),
                schema: r#"{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"],"additionalProperties":false}"#.into(),
                strict: true,
            }));
        let a = check(&req, "deepseek", "deepseek-v4-pro");
        assert!(a.client_validation, "{a}");
        assert!(
            actions(&a).contains(&(Action::Emulated, "response_format".into())),
            "{a}"
        );
        let a = check(&req, "openai", "gpt-5.5");
        assert!(a.is_unchanged(), "{a}");
        let a = check(&req, "minimax", "MiniMax-M3");
        assert!(a.client_validation);
        let a = check(&req, "gemini", "gemini-3.1-pro");
        assert!(
            actions(&a)
                .iter()
                .any(|(x, t)| *x == Action::Lowered && t.contains("additionalProperties")),
            "{a}"
        );
    }

    #[test]
    fn gemini_lowering_reported_per_tool() {
        let req = ChatRequest::new(vec![Message::user("x")]).with_tools(tools());
        let a = check(&req, "gemini", "gemini-3.1-pro");
        let t: Vec<String> = a.adjustments.iter().map(|x| x.target.clone()).collect();
        assert!(
            t.contains(&"tools[search].input_schema/additionalProperties".to_owned()),
            "{a}"
        );
        assert!(
            t.contains(&"tools[fetch].input_schema/properties/url/format".to_owned()),
            "{a}"
        );
    }

    #[test]
    fn foreign_reasoning_dropped_or_text_and_required_fields_added() {
        let req = ChatRequest::new(vec![
            Message::user("q"),
            Message::new(
                Role::Assistant,
                vec![
                    Part::Reasoning(Reasoning {
                        text: "claude thinks".into(),
                        signature: Some("sig".into()),
                        provider: Some("anthropic".into()),
                        redacted: false,
                    }),
                    Part::ToolCall(ToolCall::new("t1", "search", r#"{"q":"x"}"#)),
                ],
            ),
            Message::tool_results([weft_model::ToolResult::ok("t1", "[]")]),
        ])
        .with_tools(tools());
        let a = check(&req, "deepseek", "deepseek-v4-pro");
        let got = actions(&a);
        assert!(
            got.contains(&(Action::Dropped, "messages[1].parts[0]".into())),
            "{a}"
        );
        assert!(
            got.contains(&(Action::Added, "messages[1].reasoning_content".into())),
            "{a}"
        );

        let cfg = ProviderConfig::new("http://x", "gemini-3.1-pro")
            .with_provider_name("gemini")
            .with_foreign_reasoning(ForeignReasoning::AsText);
        let a = check_with(&req, &cfg);
        let got = actions(&a);
        assert!(
            got.contains(&(Action::Converted, "messages[1].parts[0]".into())),
            "{a}"
        );
        assert!(
            got.iter()
                .any(|(x, t)| *x == Action::Added && t.contains("thoughtSignature")),
            "{a}"
        );

        // Anthropic with thinking on, answering a foreign tool turn.
        let mut req = req;
        if let Part::Reasoning(r) = &mut req.messages[1].parts[0] {
            r.provider = Some("deepseek".into());
        }
        let req = req.with_provider_option(
            "anthropic",
            r#"{"thinking":{"type":"enabled","budget_tokens":1024}}"#,
        );
        let a = check(&req, "anthropic", "claude-opus-4-5");
        assert!(!a.thinking, "{a}");
        assert!(actions(&a).contains(&(Action::Dropped, "provider_options.thinking".into())));
    }

    #[test]
    fn refusals() {
        let req = ChatRequest::new(vec![Message::user("x")])
            .with_tool_choice(ToolChoice::Named("nope".into()))
            .with_tools(tools());
        assert!(check(&req, "openai", "gpt-5.5").refused().is_some());
        let mut caps = catalog().lookup("openai", "gpt-5.5");
        caps.tools = false;
        let cfg = ProviderConfig::new("http://x", "m").with_capabilities(caps);
        let req = ChatRequest::new(vec![Message::user("x")]).with_tools(tools());
        assert!(check_with(&req, &cfg).refused().is_some());
    }

    #[test]
    fn minimax_temperature_clamped_and_glm_none_emulated() {
        let mut req = ChatRequest::new(vec![Message::user("x")])
            .with_tools(tools())
            .with_tool_choice(ToolChoice::None);
        req.sampling.temperature = Some(0.0);
        let a = check(&req, "minimax", "MiniMax-M3");
        assert!(
            actions(&a).contains(&(Action::Clamped, "sampling.temperature".into())),
            "{a}"
        );
        let a = check(&req, "glm", "glm-5.3");
        assert!(
            actions(&a).contains(&(Action::Emulated, "tool_choice".into())),
            "{a}"
        );
        let req = ChatRequest::new(vec![Message::user("x")])
            .with_tools(tools())
            .with_tool_choice(ToolChoice::Named("fetch".into()));
        let p = plan(
            &req,
            "glm",
            catalog().profile_or_generic("glm"),
            &catalog().lookup("glm", "glm-5.3"),
            ForeignReasoning::Drop,
        );
        assert_eq!(p.request.tools.len(), 1);
        assert_eq!(p.request.tools[0].name, "fetch");
    }
}
