//! Provider profiles and per-model capabilities, read from data files.
//!
//! `data/providers.toml` describes how to talk to each provider (its
//! [`Profile`]: base URL, auth style, field names, quirks, error codes);
//! `data/models.toml` lists what each model can do (its [`ModelCaps`]). Both
//! are embedded at compile time and parsed once by [`catalog`]; their
//! headers document every key. A model the table does not list gets its
//! provider's defaults ([`ModelCaps::known`] is then false).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use weft_model::ErrorKind;
use weft_model::types::{Capabilities, ToolChoice};

/// The embedded provider profiles.
pub const PROVIDERS_TOML: &str = include_str!("../data/providers.toml");
/// The embedded model capability table.
pub const MODELS_TOML: &str = include_str!("../data/models.toml");

/// The wire dialect a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireKind {
    /// OpenAI Chat Completions (and every compatible server).
    Openai,
    /// Anthropic Messages.
    Anthropic,
    /// Gemini `generateContent`.
    Gemini,
}

/// How the API key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthStyle {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `x-api-key: <key>` (Anthropic).
    XApiKey,
    /// `x-goog-api-key: <key>` (Gemini).
    XGoogApiKey,
    /// A `key=<key>` query parameter (Gemini's older style).
    QueryKey,
    /// The server normally needs no key (local servers); one that is
    /// configured anyway is sent as a bearer token.
    None,
}

/// Dotted paths read for each usage bucket; the first present wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsageFields {
    /// Prompt tokens (cache hits included).
    pub input: Vec<String>,
    /// Generated tokens (reasoning included).
    pub output: Vec<String>,
    /// Prompt tokens served from cache.
    pub cache_read: Vec<String>,
    /// Prompt tokens written to cache.
    pub cache_write: Vec<String>,
    /// Reasoning tokens.
    pub reasoning: Vec<String>,
}

impl Default for UsageFields {
    fn default() -> Self {
        let v = |xs: &[&str]| xs.iter().map(|s| (*s).to_owned()).collect();
        Self {
            input: v(&["prompt_tokens"]),
            output: v(&["completion_tokens"]),
            cache_read: v(&[
                "prompt_tokens_details.cached_tokens",
                "prompt_cache_hit_tokens",
                "cached_tokens",
            ]),
            cache_write: v(&[
                "prompt_tokens_details.cache_write_tokens",
                "prompt_tokens_details.cache_creation_tokens",
            ]),
            reasoning: v(&["completion_tokens_details.reasoning_tokens"]),
        }
    }
}

/// How to talk to one provider: an entry of `data/providers.toml`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// The profile's name (`deepseek`, `anthropic`, `generic`, ...).
    pub name: String,
    /// Other names accepted for it (`moonshot` for `kimi`, ...).
    pub aliases: Vec<String>,
    /// The wire dialect.
    pub kind: WireKind,
    /// The default API root.
    pub base_url: String,
    /// Other API roots by region (`cn`, `intl`).
    pub regions: BTreeMap<String, String>,
    /// How the key is sent.
    pub auth: AuthStyle,
    /// A server that normally runs on the user's machine.
    pub local: bool,
    /// Fixed headers sent with every request.
    pub headers: BTreeMap<String, String>,
    /// The body field for the output token limit (openai kind).
    pub max_tokens_field: String,
    /// Ask for usage in streams (`stream_options.include_usage`).
    pub stream_usage: bool,
    /// Send `tool_stream: true` when streaming with tools (GLM).
    pub tool_stream: bool,
    /// Send `parallel_tool_calls: true` when tools are offered.
    pub parallel_tool_calls_param: bool,
    /// False: streamed calls with tools are made unstreamed.
    pub stream_with_tools: bool,
    /// Reasoning arrives in `content` as `<think>...</think>`.
    pub think_tags: bool,
    /// Where usage buckets are read from.
    pub usage: UsageFields,
    /// Provider error identifiers mapped to kinds (`*` suffix: prefix).
    pub errors: BTreeMap<String, ErrorKind>,
    /// HTTP statuses mapped to kinds, overriding the generic reading.
    pub status: BTreeMap<u16, ErrorKind>,
    /// Capability defaults for models of this provider.
    #[serde(skip)]
    pub defaults: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    #[serde(default)]
    aliases: Vec<String>,
    kind: WireKind,
    base_url: String,
    #[serde(default)]
    regions: BTreeMap<String, String>,
    auth: AuthStyle,
    #[serde(default)]
    local: bool,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    max_tokens_field: Option<String>,
    #[serde(default)]
    stream_usage: Option<bool>,
    #[serde(default)]
    tool_stream: bool,
    #[serde(default)]
    parallel_tool_calls_param: bool,
    #[serde(default)]
    stream_with_tools: Option<bool>,
    #[serde(default)]
    think_tags: bool,
    #[serde(default)]
    usage: Option<toml::Table>,
    #[serde(default)]
    errors: BTreeMap<String, ErrorKind>,
    #[serde(default)]
    status: BTreeMap<String, ErrorKind>,
    #[serde(default)]
    defaults: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProvidersFile {
    version: String,
    provider: BTreeMap<String, ProfileFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelsFile {
    version: String,
    #[serde(default)]
    model: Vec<toml::Table>,
}

/// A `tool_choice` mode, as the capability table names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoiceMode {
    /// The model decides.
    Auto,
    /// No tool calls.
    None,
    /// At least one tool call.
    Required,
    /// A named tool.
    Named,
}

impl ToolChoiceMode {
    /// The mode of a request's tool choice.
    pub fn of(choice: &ToolChoice) -> Self {
        match choice {
            ToolChoice::Auto => Self::Auto,
            ToolChoice::None => Self::None,
            ToolChoice::Required => Self::Required,
            ToolChoice::Named(_) => Self::Named,
        }
    }
}

/// A request parameter the capability table can fix, reject or ignore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Param {
    /// `sampling.temperature`.
    Temperature,
    /// `sampling.top_p`.
    TopP,
    /// `sampling.top_k`.
    TopK,
    /// `sampling.seed`.
    Seed,
    /// `sampling.frequency_penalty`.
    FrequencyPenalty,
    /// `sampling.presence_penalty`.
    PresencePenalty,
    /// The number of choices (never sent by Weft; listed for completeness).
    N,
    /// `stop`.
    Stop,
}

impl Param {
    /// The parameter's name in a request (`temperature`, `top_p`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Param::Temperature => "temperature",
            Param::TopP => "top_p",
            Param::TopK => "top_k",
            Param::Seed => "seed",
            Param::FrequencyPenalty => "frequency_penalty",
            Param::PresencePenalty => "presence_penalty",
            Param::N => "n",
            Param::Stop => "stop",
        }
    }
}

/// An accepted numeric range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// The lower bound.
    pub min: f32,
    /// The upper bound.
    pub max: f32,
    /// The lower bound itself is not accepted.
    #[serde(default)]
    pub min_exclusive: bool,
    /// The upper bound itself is not accepted.
    #[serde(default)]
    pub max_exclusive: bool,
}

impl Range {
    /// `v` moved into the range (exclusive bounds are approached by 0.01),
    /// or `None` when it already fits.
    pub fn clamp(&self, v: f32) -> Option<f32> {
        if !v.is_finite() {
            return Some(if self.min_exclusive {
                self.min + 0.01
            } else {
                self.min
            });
        }
        if v < self.min || (self.min_exclusive && v <= self.min) {
            return Some(if self.min_exclusive {
                self.min + 0.01
            } else {
                self.min
            });
        }
        if v > self.max || (self.max_exclusive && v >= self.max) {
            return Some(if self.max_exclusive {
                self.max - 0.01
            } else {
                self.max
            });
        }
        None
    }

    /// The range in interval notation: `(0, 1]`.
    pub fn describe(&self) -> String {
        format!(
            "{}{}, {}{}",
            if self.min_exclusive { "(" } else { "[" },
            self.min,
            self.max,
            if self.max_exclusive { ")" } else { "]" }
        )
    }
}

/// When a model thinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Thinking {
    /// Never.
    #[default]
    Never,
    /// Always.
    Always,
    /// Unless a provider option turns it off.
    DefaultOn,
    /// Only when a provider option turns it on.
    DefaultOff,
}

/// How a model's own reasoning goes back to it on later turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReasoningReplay {
    /// It takes no reasoning back; reasoning parts are not sent.
    #[default]
    None,
    /// As `reasoning_content` on the assistant message (DeepSeek, Kimi, GLM).
    ReasoningContent,
    /// Inside `content` as `<think>...</think>`, or as `reasoning_details`
    /// when it arrived split (MiniMax).
    ThinkTags,
    /// As signed `thinking` / `redacted_thinking` blocks (Anthropic).
    AnthropicThinking,
    /// As thought parts and `thoughtSignature`s on parts (Gemini).
    GeminiThoughtSignature,
}

/// The JSON Schema dialect a model accepts for tools and response formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SchemaDialect {
    /// JSON Schema as written.
    #[default]
    JsonSchema,
    /// Gemini's OpenAPI 3.0 subset.
    OpenapiSubset,
}

/// What one model can do: an entry of `data/models.toml` laid over its
/// provider's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelCaps {
    /// The provider profile.
    pub provider: String,
    /// The model name (or the `*` pattern that matched it).
    pub model: String,
    /// True when the table lists this model; false when only the provider's
    /// defaults apply.
    #[serde(skip_deserializing)]
    pub known: bool,
    /// Where the figures come from.
    pub source: Option<String>,
    /// It accepts tools.
    pub tools: bool,
    /// It may call several tools in one turn.
    pub parallel_tools: bool,
    /// The `tool_choice` modes it accepts.
    pub tool_choice: Vec<ToolChoiceMode>,
    /// The modes it accepts while thinking, where narrower.
    pub tool_choice_thinking: Option<Vec<ToolChoiceMode>>,
    /// Native `json_object` response format.
    pub json_object: bool,
    /// Native `json_schema` response format.
    pub json_schema: bool,
    /// It honours `strict` schemas.
    pub strict: bool,
    /// The schema dialect for tools and response formats.
    pub schema_dialect: SchemaDialect,
    /// Parameters it fixes (any value sent is an error).
    pub fixed_params: Vec<Param>,
    /// Parameters it rejects.
    pub unsupported_params: Vec<Param>,
    /// Parameters it ignores or rejects while thinking.
    pub ignored_params_thinking: Vec<Param>,
    /// The accepted temperature range.
    pub temperature: Option<Range>,
    /// It produces reasoning.
    pub reasoning: bool,
    /// When it thinks.
    pub thinking: Thinking,
    /// How its reasoning goes back to it.
    pub reasoning_replay: ReasoningReplay,
    /// Assistant tool-call turns must carry the reasoning field while
    /// thinking.
    pub reasoning_required: bool,
    /// Function calls must carry a thought signature (Gemini 3).
    pub thought_signature_required: bool,
    /// Context window in tokens.
    pub context_window: Option<u32>,
    /// Output token limit.
    pub max_output_tokens: Option<u32>,
    /// It streams.
    pub streaming: bool,
}

impl Default for ModelCaps {
    fn default() -> Self {
        Self {
            provider: String::new(),
            model: String::new(),
            known: false,
            source: None,
            tools: true,
            parallel_tools: true,
            tool_choice: vec![ToolChoiceMode::Auto],
            tool_choice_thinking: None,
            json_object: true,
            json_schema: false,
            strict: false,
            schema_dialect: SchemaDialect::JsonSchema,
            fixed_params: Vec::new(),
            unsupported_params: Vec::new(),
            ignored_params_thinking: Vec::new(),
            temperature: None,
            reasoning: false,
            thinking: Thinking::Never,
            reasoning_replay: ReasoningReplay::None,
            reasoning_required: false,
            thought_signature_required: false,
            context_window: None,
            max_output_tokens: None,
            streaming: true,
        }
    }
}

impl ModelCaps {
    /// The `tool_choice` modes accepted, given whether the model thinks on
    /// this request.
    pub fn tool_choice_modes(&self, thinking: bool) -> &[ToolChoiceMode] {
        match (&self.tool_choice_thinking, thinking) {
            (Some(modes), true) => modes,
            _ => &self.tool_choice,
        }
    }

    /// These capabilities as the WIT `capabilities` record, for
    /// `provider_name`/`model` (JSON support is reported as native support;
    /// the providers emulate the rest).
    pub fn to_capabilities(&self, provider_name: &str, model: &str) -> Capabilities {
        let mut c = Capabilities::new(provider_name, model);
        c.tools = self.tools;
        c.parallel_tool_calls = self.tools && self.parallel_tools;
        c.streaming = self.streaming;
        c.json_object = self.json_object;
        c.json_schema = self.json_schema;
        c.reasoning = self.reasoning;
        c.context_window = self.context_window;
        c.max_output_tokens = self.max_output_tokens;
        c
    }
}

/// Why the data files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A file is not valid TOML or does not match the expected shape.
    #[error("{file}: {reason}")]
    Invalid {
        /// Which file.
        file: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Debug, Clone)]
struct ModelEntry {
    provider: String,
    pattern: String,
    table: toml::Table,
}

/// The parsed profiles and capability table; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The version (date) of `providers.toml`.
    pub providers_version: String,
    /// The version (date) of `models.toml`.
    pub models_version: String,
    profiles: BTreeMap<String, Profile>,
    models: Vec<ModelEntry>,
}

fn merge_tables(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        base.insert(k.clone(), v.clone());
    }
}

impl Catalog {
    /// Parses the two data files (the text of `providers.toml` and
    /// `models.toml`), checking every entry.
    pub fn from_toml(providers: &str, models: &str) -> Result<Self, CatalogError> {
        let invalid = |file: &str, reason: String| CatalogError::Invalid {
            file: file.into(),
            reason,
        };
        let pf: ProvidersFile =
            toml::from_str(providers).map_err(|e| invalid("providers.toml", e.to_string()))?;
        let mut profiles = BTreeMap::new();
        for (name, p) in pf.provider {
            let mut usage = UsageFields::default();
            if let Some(t) = p.usage {
                let over: UsageFields = toml::Value::Table(t)
                    .try_into()
                    .map_err(|e| invalid("providers.toml", format!("{name}.usage: {e}")))?;
                let d = UsageFields::default();
                let pick = |o: Vec<String>, d: Vec<String>| if o.is_empty() { d } else { o };
                // Only the buckets the file names replace the defaults.
                usage = UsageFields {
                    input: pick(over.input.clone(), d.input),
                    output: pick(over.output.clone(), d.output),
                    cache_read: pick(over.cache_read.clone(), d.cache_read),
                    cache_write: pick(over.cache_write.clone(), d.cache_write),
                    reasoning: pick(over.reasoning.clone(), d.reasoning),
                };
            }
            let mut status = BTreeMap::new();
            for (k, v) in p.status {
                let code: u16 = k.parse().map_err(|_| {
                    invalid(
                        "providers.toml",
                        format!("{name}.status: `{k}` is not an HTTP status"),
                    )
                })?;
                status.insert(code, v);
            }
            let profile = Profile {
                name: name.clone(),
                aliases: p.aliases,
                kind: p.kind,
                base_url: p.base_url,
                regions: p.regions,
                auth: p.auth,
                local: p.local,
                headers: p.headers,
                max_tokens_field: p.max_tokens_field.unwrap_or_else(|| "max_tokens".into()),
                stream_usage: p.stream_usage.unwrap_or(true),
                tool_stream: p.tool_stream,
                parallel_tool_calls_param: p.parallel_tool_calls_param,
                stream_with_tools: p.stream_with_tools.unwrap_or(true),
                think_tags: p.think_tags,
                usage,
                errors: p.errors,
                status,
                defaults: p.defaults,
            };
            // The defaults must read as capabilities on their own.
            caps_from(&profile.defaults, &name, "*")
                .map_err(|e| invalid("providers.toml", format!("{name}.defaults: {e}")))?;
            profiles.insert(name, profile);
        }
        if !profiles.contains_key("generic") {
            return Err(invalid(
                "providers.toml",
                "a `generic` profile is required".into(),
            ));
        }

        let mf: ModelsFile =
            toml::from_str(models).map_err(|e| invalid("models.toml", e.to_string()))?;
        let mut entries = Vec::with_capacity(mf.model.len());
        for (i, mut table) in mf.model.into_iter().enumerate() {
            let provider = match table.remove("provider") {
                Some(toml::Value::String(s)) => s,
                _ => return Err(invalid("models.toml", format!("model {i}: no `provider`"))),
            };
            let pattern = match table.remove("model") {
                Some(toml::Value::String(s)) => s,
                _ => return Err(invalid("models.toml", format!("model {i}: no `model`"))),
            };
            let Some(profile) = profiles.get(&provider) else {
                return Err(invalid(
                    "models.toml",
                    format!("model `{pattern}`: unknown provider `{provider}`"),
                ));
            };
            let mut merged = profile.defaults.clone();
            merge_tables(&mut merged, &table);
            caps_from(&merged, &provider, &pattern)
                .map_err(|e| invalid("models.toml", format!("model `{pattern}`: {e}")))?;
            entries.push(ModelEntry {
                provider,
                pattern,
                table,
            });
        }
        Ok(Self {
            providers_version: pf.version,
            models_version: mf.version,
            profiles,
            models: entries,
        })
    }

    /// The profile named `name` or one of its aliases (case-insensitive).
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        let n = name.trim().to_ascii_lowercase();
        self.profiles.get(&n).or_else(|| {
            self.profiles
                .values()
                .find(|p| p.aliases.iter().any(|a| a.eq_ignore_ascii_case(&n)))
        })
    }

    /// The profile for `name`, or the `generic` profile when no profile has
    /// that name.
    pub fn profile_or_generic(&self, name: &str) -> &Profile {
        self.profile(name)
            .or_else(|| self.profiles.get("generic"))
            .unwrap_or_else(|| unreachable!("checked when the catalog was built"))
    }

    /// Every profile, by name.
    pub fn profiles(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.values()
    }

    /// The capabilities of `model` at `provider` (a profile name or alias;
    /// unknown providers get the `generic` defaults).
    pub fn lookup(&self, provider: &str, model: &str) -> ModelCaps {
        let profile = self.profile_or_generic(provider);
        let lower = model.to_ascii_lowercase();
        let candidates = self.models.iter().filter(|e| e.provider == profile.name);
        let mut best: Option<(&ModelEntry, usize)> = None;
        for e in candidates {
            let p = e.pattern.to_ascii_lowercase();
            let score = if p == lower {
                usize::MAX
            } else if let Some(prefix) = p.strip_suffix('*')
                && lower.starts_with(prefix)
            {
                prefix.len()
            } else {
                continue;
            };
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((e, score));
            }
        }
        let mut table = profile.defaults.clone();
        if let Some((e, _)) = best {
            merge_tables(&mut table, &e.table);
        }
        let mut caps =
            caps_from(&table, &profile.name, model).unwrap_or_else(|_| ModelCaps::default());
        caps.provider = profile.name.clone();
        caps.model = model.to_owned();
        caps.known = best.is_some();
        caps
    }

    /// Every model entry of the table, resolved (patterns keep their `*`).
    pub fn models(&self) -> Vec<ModelCaps> {
        self.models
            .iter()
            .map(|e| {
                let mut c = self.lookup(&e.provider, e.pattern.trim_end_matches('*'));
                c.model = e.pattern.clone();
                c
            })
            .collect()
    }
}

fn caps_from(table: &toml::Table, provider: &str, model: &str) -> Result<ModelCaps, String> {
    let mut caps: ModelCaps = toml::Value::Table(table.clone())
        .try_into()
        .map_err(|e: toml::de::Error| e.to_string())?;
    caps.provider = provider.to_owned();
    caps.model = model.to_owned();
    Ok(caps)
}

/// The catalog built from the embedded data files.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| match Catalog::from_toml(PROVIDERS_TOML, MODELS_TOML) {
        Ok(c) => c,
        // The embedded files are checked by this crate's tests.
        Err(e) => panic!("weft-providers: invalid embedded data: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_data_parses_and_resolves() {
        let c = catalog();
        for name in [
            "openai",
            "deepseek",
            "qwen",
            "kimi",
            "glm",
            "minimax",
            "doubao",
            "ollama",
            "vllm",
            "llamacpp",
            "generic",
            "anthropic",
            "gemini",
        ] {
            assert!(c.profile(name).is_some(), "{name}");
        }
        assert_eq!(c.profile("Moonshot").map(|p| p.name.as_str()), Some("kimi"));
        assert_eq!(c.profile_or_generic("mycorp").name, "generic");

        let k = c.lookup("kimi", "kimi-k2.6");
        assert!(k.known);
        assert!(k.fixed_params.contains(&Param::Temperature));
        assert!(!k.tool_choice.contains(&ToolChoiceMode::Required));
        assert_eq!(k.context_window, Some(262_144));

        let g = c.lookup("gemini", "gemini-3.1-pro-preview");
        assert!(g.known && g.thought_signature_required);
        assert_eq!(g.schema_dialect, SchemaDialect::OpenapiSubset);
        let g25 = c.lookup("gemini", "gemini-2.5-flash");
        assert!(!g25.thought_signature_required);

        let m = c.lookup("minimax", "MiniMax-M3");
        assert_eq!(m.reasoning_replay, ReasoningReplay::ThinkTags);
        let r = m.temperature.unwrap();
        assert_eq!(r.clamp(0.0), Some(0.01));
        assert_eq!(r.clamp(1.5), Some(1.0));
        assert_eq!(r.clamp(0.5), None);
        assert_eq!(r.describe(), "(0, 1]");

        let unknown = c.lookup("deepseek", "deepseek-v9");
        assert!(!unknown.known);
        assert_eq!(unknown.reasoning_replay, ReasoningReplay::ReasoningContent);
        assert_eq!(c.lookup("doubao", "ep-2024-abc").model, "ep-2024-abc");
        assert!(c.lookup("doubao", "ep-2024-abc").known);

        assert_eq!(
            c.profile("glm").unwrap().errors.get("1113"),
            Some(&ErrorKind::InsufficientBalance)
        );
        assert_eq!(
            c.profile("kimi").unwrap().status.get(&403),
            Some(&ErrorKind::InsufficientBalance)
        );
        assert!(c.models().len() >= 20);
    }

    #[test]
    fn bad_data_is_reported() {
        let err = Catalog::from_toml(
            PROVIDERS_TOML,
            "version = \"x\"\n[[model]]\nprovider = \"nope\"\nmodel = \"m\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown provider"), "{err}");
        let err = Catalog::from_toml(
            PROVIDERS_TOML,
            "version = \"x\"\n[[model]]\nprovider = \"openai\"\nmodel = \"m\"\ntoolz = true\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("toolz"), "{err}");
    }
}
