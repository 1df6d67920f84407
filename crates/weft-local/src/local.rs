//! A loaded local model as a [`weft_model::Model`].
//!
//! A request is rendered with the model's own chat template, tokenized,
//! generated on the model's [`Session`] (reusing the cached prompt prefix),
//! and parsed back into message parts: reasoning, text and tool calls.
//! JSON response formats are enforced with [`crate::json`]'s logit mask.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use burn::tensor::Device;
use futures::channel::mpsc;
use futures::lock::Mutex;
use futures::{FutureExt, StreamExt};
use weft_model::{
    BoxFuture, Capabilities, ChatRequest, ChatResponse, EventStream, FinishReason, Message, Model,
    ModelError, Part, ResponseFormat, Role, StreamEvent, Usage,
};

use crate::LoadError;
use crate::generate::{GenerateError, GenerateOptions, Session, StopReason, TokenText};
use crate::gguf::{GgufFile, GgufWeights};
use crate::hf::HfWeights;
use crate::model::Transformer;
use crate::sample::SamplingParams;
use crate::template::ChatTemplate;
use crate::tokenizer::Tokenizer;
use crate::toolcall::ToolCallFormat;
use crate::weights::WeightSource;

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// burn's Flex backend: pure Rust, on the CPU.
    #[default]
    Cpu,
    /// burn-wgpu: Vulkan, Metal or DX12 natively, WebGPU in a browser.
    Wgpu,
}

impl Backend {
    /// The burn device for this backend (the default adapter for wgpu).
    pub fn device(self) -> Device {
        match self {
            Backend::Cpu => Device::flex(),
            Backend::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" | "flex" => Ok(Backend::Cpu),
            "wgpu" | "gpu" | "vulkan" | "webgpu" => Ok(Backend::Wgpu),
            other => Err(format!(
                "unknown backend `{other}` (expected `cpu` or `wgpu`)"
            )),
        }
    }
}

/// How to load a model.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The device the weights go to.
    pub device: Device,
    /// The longest sequence (prompt + answer) the cache holds, capped at the
    /// model's own limit.
    pub context: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            device: Device::flex(),
            context: 4096,
        }
    }
}

/// The bytes of every token, and which tokens end a turn.
#[derive(Debug, Clone)]
pub struct TokenTable {
    bytes: Vec<Vec<u8>>,
    end: Vec<bool>,
}

impl TokenTable {
    /// Builds the table from the tokenizer (special tokens have no bytes).
    pub fn new(tokenizer: &Tokenizer) -> Self {
        let n = tokenizer.vocab_size();
        let mut end = vec![false; n];
        for id in tokenizer.eos_ids() {
            if let Some(e) = end.get_mut(id as usize) {
                *e = true;
            }
        }
        let bytes = (0..n as u32).map(|id| tokenizer.token_bytes(id)).collect();
        Self { bytes, end }
    }
}

impl TokenText for TokenTable {
    fn token_bytes(&self, token: u32) -> &[u8] {
        self.bytes
            .get(token as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn is_end(&self, token: u32) -> bool {
        self.end.get(token as usize).copied().unwrap_or(false)
    }
}

/// A local model: weights on a device, its tokenizer and chat template, and
/// one generation session. Cloning is cheap and shares all of it.
#[derive(Clone)]
pub struct LocalModel {
    inner: Arc<Inner>,
}

/// The shared state behind a [`LocalModel`].
pub struct Inner {
    name: String,
    tokenizer: Tokenizer,
    table: TokenTable,
    template: ChatTemplate,
    tool_format: ToolCallFormat,
    session: Arc<Mutex<Session>>,
    context: usize,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel")
            .field("name", &self.inner.name)
            .field("context", &self.inner.context)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for LocalModel {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.inner
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl LocalModel {
    /// Loads a GGUF file or a Hugging Face directory (`config.json`,
    /// `tokenizer.json`, `*.safetensors`).
    pub fn load(path: &Path, options: &LoadOptions) -> Result<Self, LoadError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".gguf").to_string())
            .unwrap_or_else(|| path.display().to_string());
        if path.is_dir() {
            Self::load_hf_dir(path, name, options)
        } else {
            let file = GgufFile::read(path)?;
            Self::from_gguf(file, name, options)
        }
    }

    /// Loads a parsed GGUF file (the browser passes bytes it fetched).
    pub fn from_gguf(
        file: GgufFile,
        name: String,
        options: &LoadOptions,
    ) -> Result<Self, LoadError> {
        let tokenizer = Tokenizer::from_gguf(&file)?;
        let template_source = file
            .get_str("tokenizer.chat_template")
            .map(str::to_string)
            .unwrap_or_else(|| crate::template::CHATML.to_string());
        let weights = GgufWeights::new(file)?;
        Self::assemble(&weights, tokenizer, &template_source, name, options)
    }

    fn load_hf_dir(dir: &Path, name: String, options: &LoadOptions) -> Result<Self, LoadError> {
        let weights = HfWeights::open(dir)?;
        let tokenizer_path = dir.join("tokenizer.json");
        if !tokenizer_path.exists() {
            return Err(LoadError::Tokenizer(format!(
                "{} has no tokenizer.json",
                dir.display()
            )));
        }
        let bytes = std::fs::read(&tokenizer_path).map_err(io_error(&tokenizer_path))?;
        let tokenizer = Tokenizer::from_json(&bytes)?;
        let template_source =
            hf_chat_template(dir)?.unwrap_or_else(|| crate::template::CHATML.to_string());
        Self::assemble(&weights, tokenizer, &template_source, name, options)
    }

    fn assemble(
        weights: &dyn WeightSource,
        tokenizer: Tokenizer,
        template_source: &str,
        name: String,
        options: &LoadOptions,
    ) -> Result<Self, LoadError> {
        let bos = tokenizer.bos_token().unwrap_or_default();
        let eos = tokenizer.eos_token().unwrap_or_default();
        let template = ChatTemplate::new(template_source, bos, eos)?;
        let tool_format = ToolCallFormat::detect(template_source);
        let transformer = Arc::new(Transformer::load(
            weights,
            &options.device,
            options.context,
        )?);
        let context = transformer.context();
        let table = TokenTable::new(&tokenizer);
        Ok(Self {
            inner: Arc::new(Inner {
                name,
                tokenizer,
                table,
                template,
                tool_format,
                session: Arc::new(Mutex::new(Session::new(transformer))),
                context,
            }),
        })
    }

    /// The model's name (its file or directory name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The token table generation uses.
    pub fn token_table(&self) -> &TokenTable {
        &self.table
    }

    /// The generation session (one sequence at a time).
    pub fn session(&self) -> &Arc<Mutex<Session>> {
        &self.session
    }

    /// The context length the cache was allocated for.
    pub fn context(&self) -> usize {
        self.context
    }

    /// Renders and tokenizes a request's prompt.
    pub fn prompt_tokens(&self, request: &ChatRequest) -> Result<Vec<u32>, ModelError> {
        let text = self
            .template
            .render(&request.messages, &request.tools, true)
            .map_err(|e| ModelError::Unsupported(format!("chat template: {e}")))?;
        self.tokenizer
            .encode(&text, true)
            .map_err(|e| ModelError::Unsupported(format!("tokenizer: {e}")))
    }

    async fn respond(
        &self,
        request: &ChatRequest,
        cancel: Option<&AtomicBool>,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<ChatResponse, ModelError> {
        let prompt = self.prompt_tokens(request)?;
        let mut options = generate_options(request, self.context, prompt.len())?;
        let mut session = self.session.lock().await;
        // With tools on offer the model may answer with a call, which JSON
        // mode would forbid: generate freely, then constrain only if the
        // final answer is not JSON.
        let wants_json = options.json;
        if !request.tools.is_empty() {
            options.json = None;
        }
        let mut generation = session
            .generate(&prompt, &self.table, &options, cancel, on_text)
            .await
            .map_err(generate_error)?;
        let mut parsed = self.tool_format.parse(&generation.text);
        if let Some(object_only) = wants_json
            && parsed.tool_calls.is_empty()
            && options.json.is_none()
            && serde_json::from_str::<serde_json::Value>(parsed.text.trim()).is_err()
        {
            options.json = Some(object_only);
            generation = session
                .generate(&prompt, &self.table, &options, cancel, &mut |_| {})
                .await
                .map_err(generate_error)?;
            parsed = self.tool_format.parse(&generation.text);
        }
        let finish_reason = if !parsed.tool_calls.is_empty() {
            FinishReason::ToolCalls
        } else {
            match generation.stop {
                StopReason::EndOfSequence | StopReason::StopSequence => FinishReason::Stop,
                StopReason::Length => FinishReason::Length,
                StopReason::Cancelled => FinishReason::Other,
            }
        };
        let mut parts = Vec::new();
        if let Some(reasoning) = parsed.reasoning.filter(|r| !r.trim().is_empty()) {
            parts.push(Part::Reasoning(weft_model::Reasoning {
                text: reasoning,
                ..Default::default()
            }));
        }
        if !parsed.text.is_empty() {
            parts.push(Part::Text(parsed.text));
        }
        parts.extend(parsed.tool_calls.into_iter().map(Part::ToolCall));
        Ok(ChatResponse {
            message: Message::new(Role::Assistant, parts),
            finish_reason,
            usage: Usage {
                input_tokens: generation.prompt_tokens as u64,
                output_tokens: generation.tokens.len() as u64,
                cache_read_tokens: generation.cached_tokens as u64,
                ..Default::default()
            },
            model: self.name.clone(),
        })
    }
}

/// The chat template of a Hugging Face directory: `chat_template.jinja`, or
/// `chat_template` in `tokenizer_config.json` (a string, or a list of named
/// templates of which `default` is used).
fn hf_chat_template(dir: &Path) -> Result<Option<String>, LoadError> {
    let jinja = dir.join("chat_template.jinja");
    if jinja.exists() {
        return std::fs::read_to_string(&jinja)
            .map(Some)
            .map_err(io_error(&jinja));
    }
    let config_path = dir.join("tokenizer_config.json");
    if !config_path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&config_path).map_err(io_error(&config_path))?;
    let config: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| LoadError::Config(format!("{}: {e}", config_path.display())))?;
    Ok(match config.get("chat_template") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Array(named)) => named
            .iter()
            .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
            .or_else(|| named.first())
            .and_then(|t| t.get("template"))
            .and_then(|t| t.as_str())
            .map(str::to_string),
        _ => None,
    })
}

/// Local-only options, passed as a provider option for `local`:
/// `{"min_p": 0.05, "repetition_penalty": 1.1}`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalOptions {
    min_p: Option<f32>,
    repetition_penalty: Option<f32>,
}

fn generate_options(
    request: &ChatRequest,
    context: usize,
    prompt_len: usize,
) -> Result<GenerateOptions, ModelError> {
    if prompt_len + 1 >= context {
        return Err(ModelError::ContextTooLong(format!(
            "the prompt is {prompt_len} tokens and the model's context is {context}"
        )));
    }
    let mut local = LocalOptions::default();
    for option in request
        .provider_options
        .iter()
        .filter(|o| o.provider == "local" || o.provider == "*")
    {
        local = serde_json::from_str(&option.json)
            .map_err(|e| ModelError::Unsupported(format!("provider option for `local`: {e}")))?;
    }
    let s = &request.sampling;
    let sampling = SamplingParams {
        temperature: s.temperature.unwrap_or(0.0),
        top_k: s.top_k.unwrap_or(0) as usize,
        top_p: s.top_p.unwrap_or(1.0),
        min_p: local.min_p.unwrap_or(0.0),
        repetition_penalty: local.repetition_penalty.unwrap_or(1.0),
        seed: s.seed.unwrap_or(0),
        ..SamplingParams::default()
    };
    let room = context - prompt_len - 1;
    Ok(GenerateOptions {
        max_tokens: request
            .max_output_tokens
            .map(|m| m as usize)
            .unwrap_or(1024)
            .min(room),
        sampling,
        stop: request.stop.clone(),
        json: match request.response_format {
            ResponseFormat::Text => None,
            ResponseFormat::JsonObject | ResponseFormat::JsonSchema(_) => Some(true),
        },
    })
}

fn generate_error(e: GenerateError) -> ModelError {
    match e {
        GenerateError::ContextTooLong { .. } => ModelError::ContextTooLong(e.to_string()),
        other => ModelError::Provider {
            status: 500,
            body: other.to_string(),
        },
    }
}

impl Model for LocalModel {
    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::new("local", self.name.clone());
        c.tools = self.tool_format != ToolCallFormat::None;
        c.parallel_tool_calls = c.tools;
        c.streaming = true;
        c.json_object = true;
        c.reasoning = false;
        c.context_window = Some(self.context as u32);
        c
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ModelError>> {
        Box::pin(async move { self.respond(request, None, &mut |_| {}).await })
    }

    fn chat_stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<EventStream, ModelError>> {
        Box::pin(async move {
            let model = self.clone();
            let request = request.clone();
            let (tx, rx) = mpsc::unbounded();
            let hold_for_tools = !request.tools.is_empty();
            let generation = async move {
                let deltas = tx.clone();
                let mut streamed = String::new();
                let mut sent = 0;
                let format = model.tool_format;
                let result = model
                    .respond(&request, None, &mut |piece| {
                        streamed.push_str(piece);
                        // Text that may still turn into a tool call is held
                        // back until it cannot.
                        if !(hold_for_tools && format.may_be_call_prefix(&streamed)) {
                            let _ = deltas.unbounded_send(Ok(StreamEvent::TextDelta(
                                streamed[sent..].to_string(),
                            )));
                            sent = streamed.len();
                        }
                    })
                    .await;
                match result {
                    Ok(response) => {
                        let text = response.text();
                        if !response.has_tool_calls()
                            && text.len() > sent
                            && text.starts_with(&streamed[..sent])
                        {
                            let _ = tx.unbounded_send(Ok(StreamEvent::TextDelta(
                                text[sent..].to_string(),
                            )));
                        }
                        for call in response.tool_calls() {
                            let _ = tx.unbounded_send(Ok(StreamEvent::ToolCall(call.clone())));
                        }
                        let _ = tx.unbounded_send(Ok(StreamEvent::Done(response)));
                    }
                    Err(e) => {
                        let _ = tx.unbounded_send(Err(e));
                    }
                }
            };
            let driver = generation.into_stream().filter_map(|()| async { None });
            let events: EventStream = Box::pin(futures::stream::select(driver, rx));
            Ok(events)
        })
    }
}
