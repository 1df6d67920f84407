//! [`WebModel`]: one chat model for the page, local or remote.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use burn::tensor::Device;
use futures::StreamExt;
use js_sys::{Function, Promise};
use serde_json::{Value as Json, json};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use weft_local::bench::{BenchSettings, bench_prompt, greedy_once, measure};
use weft_local::gguf::GgufFile;
use weft_local::{LoadOptions, LocalModel};
use weft_model::{Charge, ChatRequest, Model, ModelError, StreamEvent};
use weft_models::{ModelSpec, SecretStore, SecretValue};

use crate::source::{JsByteSource, js_message};

/// The name of the page's API key in the model factory's secret store.
const PAGE_KEY: &str = "PAGE_API_KEY";

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str);
}

/// Sends Rust panics to the console with their message, instead of an
/// anonymous `unreachable` trap.
#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| console_error(&format!("weft-web: {info}"))));
}

thread_local! {
    /// burn's WebGPU runtime can be initialised once per page: the device,
    /// and a description of the adapter and its limits.
    static WEBGPU: RefCell<Option<(Device, Json)>> = const { RefCell::new(None) };
}

/// The page's WebGPU device, initialised on first use. cubecl asks the
/// adapter for all of its limits, not WebGPU's smaller defaults (128 MiB
/// storage bindings), so a large vocabulary matrix fits in one binding.
async fn webgpu() -> Result<(Device, Json), JsError> {
    if let Some(ready) = WEBGPU.with(|gpu| gpu.borrow().clone()) {
        return Ok(ready);
    }
    let (device, setup) = Device::wgpu_options()
        .init_with_setup_async()
        .await
        .map_err(|e| JsError::new(&format!("WebGPU is not usable here: {e}")))?;
    let info = setup.adapter.get_info();
    let limits = setup.device.limits();
    let described = json!({
        "adapter": info.name,
        "backend": format!("{:?}", info.backend),
        "max_storage_buffer_binding_size": limits.max_storage_buffer_binding_size,
        "max_buffer_size": limits.max_buffer_size,
    });
    WEBGPU.with(|gpu| *gpu.borrow_mut() = Some((device.clone(), described.clone())));
    Ok((device, described))
}

struct Inner {
    /// What answers, built by the model factory (`weft-models`).
    model: Arc<dyn Model>,
    /// The same model when it is the local one (for the benchmark).
    local: Option<Arc<LocalModel>>,
    /// Who answers, as the page shows it (`local/webgpu`, `deepseek`, ...).
    provider: String,
    /// Details for the page: the model, the device, the adapter's limits.
    details: Json,
}

impl Inner {
    fn model(&self) -> &dyn Model {
        self.model.as_ref()
    }

    /// The local model, or an error saying it alone can be `what`.
    fn local(&self, what: &str) -> Result<&LocalModel, JsError> {
        self.local.as_deref().ok_or_else(|| {
            JsError::new(&format!(
                "only the local model can be {what}; this is {}",
                self.provider
            ))
        })
    }
}

/// A chat model for the page: the local burn model or a remote provider,
/// behind the same [`Model`] trait the native host binds agents to.
#[wasm_bindgen]
pub struct WebModel {
    inner: Rc<Inner>,
}

/// The settings a remote provider is connected with.
#[derive(serde::Deserialize)]
struct RemoteSettings {
    /// A provider profile (`deepseek`, `openai`, `anthropic`, `gemini`, ...).
    provider: String,
    /// The model's name at the provider.
    model: String,
    /// Another base URL (a proxy, a local server).
    #[serde(default)]
    base_url: Option<String>,
}

#[wasm_bindgen]
impl WebModel {
    /// Loads a GGUF model of `length` bytes, read with
    /// `read(offset, length) -> Uint8Array` one tensor at a time (the file
    /// itself stays in the page's storage), onto `backend`: `"webgpu"` or
    /// `"cpu"`. The cache holds `context` positions.
    #[wasm_bindgen(js_name = loadLocal)]
    pub async fn load_local(
        name: String,
        length: f64,
        read: Function,
        backend: String,
        context: u32,
    ) -> Result<WebModel, JsError> {
        let (device, device_details) = match backend.as_str() {
            "webgpu" => webgpu().await?,
            "cpu" => (Device::flex(), json!({ "adapter": "burn Flex (CPU)" })),
            other => {
                return Err(JsError::new(&format!(
                    "unknown backend `{other}` (expected `webgpu` or `cpu`)"
                )));
            }
        };
        let source = JsByteSource::new(name.clone(), length as u64, read);
        let file = GgufFile::from_source(Arc::new(source))
            .map_err(|e| JsError::new(&format!("{name}: {e}")))?;
        let options = LoadOptions {
            device,
            context: context as usize,
        };
        let model = LocalModel::from_gguf(file, name.clone(), &options)
            .map_err(|e| JsError::new(&format!("{name}: {e}")))?;
        let details = json!({
            "model": name,
            "backend": backend,
            "device": device_details,
            "context": model.context(),
        });
        let local = Arc::new(model);
        Ok(WebModel {
            inner: Rc::new(Inner {
                model: weft_models::local(local.clone()),
                local: Some(local),
                provider: format!("local/{backend}"),
                details,
            }),
        })
    }

    /// Connects a remote provider from JSON settings
    /// (`{"provider", "model", "base_url"?}`) and the user's API key, which
    /// stays in this module: components only ever see the `model` import.
    pub fn connect(settings: &str, api_key: Option<String>) -> Result<WebModel, JsError> {
        let settings: RemoteSettings = serde_json::from_str(settings)
            .map_err(|e| JsError::new(&format!("invalid provider settings: {e}")))?;
        // The key lives in this module's secret store, under a name only
        // this spec uses.
        let mut secrets = SecretStore::new();
        let key = api_key.filter(|k| !k.is_empty()).map(|key| {
            secrets.insert(PAGE_KEY, SecretValue::new(key));
            PAGE_KEY.to_owned()
        });
        let spec: ModelSpec = ModelSpec::Provider {
            provider: settings.provider.clone(),
            model: settings.model.clone(),
            api_key_secret: key,
            base_url: settings.base_url.clone(),
            region: None,
            timeout_ms: None,
            foreign_reasoning: None,
            http_record: None,
            http_replay: None,
        };
        let model = weft_models::build(&spec, &secrets)
            .map_err(|e| JsError::new(&e.to_string()))?
            .for_run("page");
        let details = json!({
            "model": settings.model,
            "base_url": settings.base_url,
        });
        Ok(WebModel {
            inner: Rc::new(Inner {
                model,
                local: None,
                provider: settings.provider,
                details,
            }),
        })
    }

    /// Who answers: `local/webgpu`, `local/cpu` or the provider's name.
    #[wasm_bindgen(getter)]
    pub fn provider(&self) -> String {
        self.inner.provider.clone()
    }

    /// The model, device and limits, as JSON.
    #[wasm_bindgen(getter)]
    pub fn details(&self) -> String {
        self.inner.details.to_string()
    }

    /// The model's capabilities (`weft_model::Capabilities`), as JSON.
    pub fn capabilities(&self) -> String {
        serde_json::to_string(&self.inner.model().capabilities()).unwrap_or_default()
    }

    /// Answers `request` (a `weft_model::ChatRequest` as JSON), streaming:
    /// `on_event` gets each `StreamEvent` as JSON as it arrives. Resolves to
    /// `{"response", "provider", "cost_usd"}` or, when the model fails,
    /// `{"error": ModelError, "message"}`; it never rejects for a model's
    /// failure, so the page can hand the error to the agent as a value.
    pub fn chat(&self, request: String, on_event: Function) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let outcome = match serde_json::from_str::<ChatRequest>(&request) {
                Ok(request) => answer(&inner, &request, &on_event).await,
                Err(e) => Err(ModelError::Unsupported(format!(
                    "the page sent an invalid chat request: {e}"
                ))),
            };
            let reply = match outcome {
                Ok(reply) => reply,
                Err(e) => json!({ "error": e, "message": e.to_string() }),
            };
            Ok(JsValue::from_str(&reply.to_string()))
        })
    }

    /// Measures the local model: prefill and greedy decode throughput on
    /// `prompt_tokens` tokens of [`bench_prompt`] then `decode_tokens`
    /// tokens, the median of `runs` runs after a warm-up, as `weft bench`
    /// does natively. Resolves to `{"prompt", "prefill_tokens_per_second",
    /// "decode_tokens_per_second", "generated"}`.
    pub fn bench(&self, prompt_tokens: u32, decode_tokens: u32, runs: u32) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let model = inner.local("benchmarked")?;
            let prompt = bench_prompt(model.tokenizer(), prompt_tokens as usize);
            let settings = BenchSettings {
                prompt_tokens: prompt.len(),
                decode_tokens: decode_tokens as usize,
                runs: runs.max(1) as usize,
            };
            let mut session = model.session().lock().await;
            let measured = measure(&mut session, &prompt, settings)
                .await
                .map_err(|e| JsError::new(&format!("benchmark failed: {e}")))?;
            session.reset();
            let out = json!({
                "prompt": prompt,
                "prefill_tokens_per_second": measured.prefill_tokens_per_second,
                "decode_tokens_per_second": measured.decode_tokens_per_second,
                "generated": measured.generated,
            });
            Ok(JsValue::from_str(&out.to_string()))
        })
    }

    /// Generates `decode_tokens` greedy tokens after `prompt_tokens` tokens
    /// of [`bench_prompt`], once, with no warm-up: the native build's
    /// `weft bench` prompt, so its tokens can be compared. Resolves to
    /// `{"prompt", "generated", "first_token_ms", "total_ms"}`.
    pub fn greedy(&self, prompt_tokens: u32, decode_tokens: u32) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let model = inner.local("asked for greedy generations")?;
            let prompt = bench_prompt(model.tokenizer(), prompt_tokens as usize);
            let mut session = model.session().lock().await;
            let run = greedy_once(&mut session, &prompt, decode_tokens as usize)
                .await
                .map_err(|e| JsError::new(&format!("generation failed: {e}")))?;
            session.reset();
            let out = json!({
                "prompt": prompt,
                "generated": run.generated,
                "first_token_ms": run.first_token.as_secs_f64() * 1e3,
                "total_ms": run.total.as_secs_f64() * 1e3,
            });
            Ok(JsValue::from_str(&out.to_string()))
        })
    }
}

/// Streams one answer, forwarding every event to `on_event`.
async fn answer(
    inner: &Inner,
    request: &ChatRequest,
    on_event: &Function,
) -> Result<Json, ModelError> {
    let mut stream = inner.model().chat_stream(request).await?;
    let mut response = None;
    while let Some(event) = stream.next().await {
        let event = event?;
        let text = serde_json::to_string(&event).unwrap_or_default();
        on_event
            .call1(&JsValue::NULL, &JsValue::from_str(&text))
            .map_err(|e| {
                ModelError::Transport(format!(
                    "the page's event handler threw: {}",
                    js_message(&e)
                ))
            })?;
        if let StreamEvent::Done(done) = event {
            response = Some(done);
        }
    }
    let response = response.ok_or_else(|| {
        ModelError::Transport("the answer ended before it was complete".to_string())
    })?;
    // The factory's metering priced it: zero for the local model, `None`
    // when the catalog does not list the remote one.
    let cost_usd = response.usage.charge.and_then(Charge::usd);
    Ok(json!({
        "response": response,
        "provider": inner.provider,
        "cost_usd": cost_usd,
    }))
}

/// Checks tool `arguments` (JSON text) against the tool's `schema` (JSON
/// Schema text) as the native host does before a tool runs. Returns `null`
/// when they are valid, else the problems, each naming its field.
#[wasm_bindgen(js_name = validateArguments)]
pub fn validate_arguments(schema: &str, arguments: &str) -> Option<String> {
    let value: Json = match serde_json::from_str(arguments) {
        Ok(value) => value,
        Err(e) => return Some(format!("arguments are not valid JSON: {e}")),
    };
    let schema: Json = match serde_json::from_str(schema) {
        Ok(schema) => schema,
        Err(e) => return Some(format!("the tool's input-schema is not JSON: {e}")),
    };
    let validator = match jsonschema::validator_for(&schema) {
        Ok(validator) => validator,
        Err(e) => {
            return Some(format!(
                "the tool's input-schema is not a valid JSON Schema: {e}"
            ));
        }
    };
    weft_providers::schema::argument_problems(&validator, &value)
}
