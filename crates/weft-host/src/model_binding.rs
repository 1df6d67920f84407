//! Binding a component's `model` import to a backend: a native
//! [`weft_model::Model`] (remote provider, cassette, ...) or a model-plugin
//! component, which may itself wrap another backend.

use crate::bindings::weft::plugins::model as import;
use crate::bindings::{model::ModelPluginPre, wit as w};
use crate::error::Abort;
use crate::observe::Event;
use crate::store::{ComponentInfo, RunContext, StoreState, arm, classify};
use futures::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wasmtime::Store;
use wasmtime::component::{Resource, ResourceAny};
use weft_model as m;

/// A blocking iterator over stream events.
pub type EventIter = Box<dyn Iterator<Item = Result<m::StreamEvent, m::ModelError>> + Send>;

/// A model the synchronous host can call from inside a guest call.
pub trait SyncModel: Send + Sync {
    /// What the model can do.
    fn capabilities(&self) -> m::Capabilities;
    /// A complete answer.
    fn chat(&self, request: &m::ChatRequest) -> Result<m::ChatResponse, m::ModelError>;
    /// A streamed answer.
    fn chat_stream(&self, request: &m::ChatRequest) -> Result<EventIter, m::ModelError>;
    /// Whether its usage is billed here. A model plugin's usage is its inner
    /// model's, which is billed where the plugin calls it.
    fn bills(&self) -> bool {
        true
    }
    /// Whether the model opens its own `gen_ai.chat` spans (a router does,
    /// one per attempt); otherwise the host opens one per call.
    fn traces_itself(&self) -> bool {
        false
    }
}

/// A native async model, driven on the host's tokio runtime.
pub(crate) struct NativeModel {
    model: Arc<dyn m::Model>,
    rt: tokio::runtime::Handle,
    traces_itself: bool,
}

impl NativeModel {
    pub fn new(model: Arc<dyn m::Model>, rt: tokio::runtime::Handle, traces_itself: bool) -> Self {
        NativeModel {
            model,
            rt,
            traces_itself,
        }
    }
}

impl SyncModel for NativeModel {
    fn capabilities(&self) -> m::Capabilities {
        self.model.capabilities()
    }

    /// A local model costs nothing per call, so it is not billed.
    fn bills(&self) -> bool {
        self.model.capabilities().provider != "local"
    }

    fn traces_itself(&self) -> bool {
        self.traces_itself
    }

    fn chat(&self, request: &m::ChatRequest) -> Result<m::ChatResponse, m::ModelError> {
        self.rt.block_on(self.model.chat(request))
    }

    fn chat_stream(&self, request: &m::ChatRequest) -> Result<EventIter, m::ModelError> {
        let mut stream = self.rt.block_on(self.model.chat_stream(request))?;
        let rt = self.rt.clone();
        Ok(Box::new(std::iter::from_fn(move || {
            rt.block_on(stream.next())
        })))
    }
}

/// A model-plugin component and the backend bound to its own `model` import.
pub(crate) struct PluginModel {
    inner: Arc<PluginState>,
}

struct PluginState {
    info: Arc<ComponentInfo>,
    pre: ModelPluginPre<StoreState>,
    next: Arc<dyn SyncModel>,
    run: Arc<RunContext>,
    /// The live instance; `None` after a trap, so the next call gets a fresh one.
    instance: Mutex<Option<PluginInstance>>,
    /// How many instances have been created; each store records its number.
    generations: std::sync::atomic::AtomicU64,
    capabilities: m::Capabilities,
}

struct PluginInstance {
    store: Store<StoreState>,
    bindings: crate::bindings::model::ModelPlugin,
}

impl PluginModel {
    /// A plugin bound to `next` whose instance is created on first use.
    pub fn new(
        info: Arc<ComponentInfo>,
        pre: ModelPluginPre<StoreState>,
        next: Arc<dyn SyncModel>,
        run: Arc<RunContext>,
        capabilities: m::Capabilities,
    ) -> Self {
        PluginModel {
            inner: Arc::new(PluginState {
                info,
                pre,
                next,
                run,
                instance: Mutex::new(None),
                generations: std::sync::atomic::AtomicU64::new(0),
                capabilities,
            }),
        }
    }

    /// Instantiates the plugin once and asks for its capabilities, which
    /// also proves that it instantiates.
    pub fn probe(
        info: Arc<ComponentInfo>,
        pre: ModelPluginPre<StoreState>,
        next: Arc<dyn SyncModel>,
        run: Arc<RunContext>,
    ) -> Result<m::Capabilities, crate::HostError> {
        let name = info.name.clone();
        let probe = PluginModel::new(
            info,
            pre,
            next,
            run,
            m::Capabilities::new("plugin", "unknown"),
        );
        probe
            .inner
            .with_instance(|store, b| b.weft_plugins_model().call_capabilities(store))
            .map(Into::into)
            .map_err(|e| crate::HostError::Component {
                component: name,
                reason: e.to_string(),
            })
    }
}

impl PluginState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<PluginInstance>> {
        self.instance.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn instantiate(&self, generation: u64) -> Result<PluginInstance, m::ModelError> {
        // Streams remember the generation of the instance that made them.
        let mut store = StoreState::new_store(
            self.pre.engine(),
            self.info.clone(),
            self.run.clone(),
            Some(self.next.clone()),
            None,
        )
        .map_err(m::ModelError::Transport)?;
        store.data_mut().generation = generation;
        arm(&mut store);
        let bindings = self.pre.instantiate(&mut store).map_err(|e| {
            let abort = classify(&store, &e);
            self.crashed(&abort)
        })?;
        Ok(PluginInstance { store, bindings })
    }

    fn crashed(&self, abort: &Abort) -> m::ModelError {
        let reason = format!("model plugin `{}` {abort}", self.info.name);
        tracing::error!(component = %self.info.name, %reason, "model plugin crashed");
        self.run.services.observer.event(&Event::Crashed {
            component: self.info.name.clone(),
            reason: reason.clone(),
        });
        m::ModelError::Transport(reason)
    }

    /// Runs `f` on the live instance (creating one if needed); a trap
    /// discards the instance and becomes a model error.
    fn with_instance<R>(
        &self,
        f: impl FnOnce(
            &mut Store<StoreState>,
            &crate::bindings::model::ModelPlugin,
        ) -> wasmtime::Result<R>,
    ) -> Result<R, m::ModelError> {
        let mut slot = self.lock();
        if slot.is_none() {
            let generation = self
                .generations
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            *slot = Some(self.instantiate(generation)?);
        }
        let live = slot.as_mut().expect("just filled");
        arm(&mut live.store);
        match f(&mut live.store, &live.bindings) {
            Ok(r) => Ok(r),
            Err(e) => {
                let abort = classify(&live.store, &e);
                *slot = None;
                Err(self.crashed(&abort))
            }
        }
    }
}

impl SyncModel for PluginModel {
    fn capabilities(&self) -> m::Capabilities {
        self.inner.capabilities.clone()
    }

    fn bills(&self) -> bool {
        false
    }

    fn chat(&self, request: &m::ChatRequest) -> Result<m::ChatResponse, m::ModelError> {
        let request: w::ChatRequest = request.clone().into();
        self.inner
            .with_instance(|store, b| b.weft_plugins_model().call_chat(store, &request))?
            .map(Into::into)
            .map_err(Into::into)
    }

    fn chat_stream(&self, request: &m::ChatRequest) -> Result<EventIter, m::ModelError> {
        let request: w::ChatRequest = request.clone().into();
        let (handle, generation) = self
            .inner
            .with_instance(|store, b| {
                let generation = store.data().generation;
                Ok(b.weft_plugins_model()
                    .call_chat_stream(store, &request)?
                    .map(|h| (h, generation)))
            })?
            .map_err(m::ModelError::from)?;
        Ok(Box::new(PluginStream {
            state: self.inner.clone(),
            handle: Some(handle),
            generation,
        }))
    }
}

/// A stream exported by a model plugin, read one `next()` at a time.
struct PluginStream {
    state: Arc<PluginState>,
    handle: Option<ResourceAny>,
    generation: u64,
}

impl PluginStream {
    fn release(&mut self) {
        if let Some(handle) = self.handle.take() {
            let mut slot = self.state.lock();
            if let Some(live) = slot.as_mut()
                && live.store.data().generation == self.generation
            {
                let _ = handle.resource_drop(&mut live.store);
            }
        }
    }
}

impl Iterator for PluginStream {
    type Item = Result<m::StreamEvent, m::ModelError>;

    fn next(&mut self) -> Option<Self::Item> {
        let handle = self.handle?;
        let generation = self.generation;
        let result = self.state.with_instance(|store, b| {
            if store.data().generation != generation {
                return Ok(Err(w::ModelError::Transport(
                    "the model plugin was restarted after a crash; its stream is gone".into(),
                )));
            }
            b.weft_plugins_model()
                .response_stream()
                .call_next(store, handle)
        });
        match result {
            Ok(Ok(Some(event))) => Some(Ok(event.into())),
            Ok(Ok(None)) => {
                self.release();
                None
            }
            Ok(Err(e)) => {
                self.release();
                Some(Err(e.into()))
            }
            Err(e) => {
                self.handle = None;
                Some(Err(e))
            }
        }
    }
}

impl Drop for PluginStream {
    fn drop(&mut self) {
        self.release();
    }
}

/// A stream handed to a guest through the `response-stream` resource.
pub struct HostStream {
    events: EventIter,
    started: Instant,
    model: String,
    billed: bool,
    span: tracing::Span,
    finished: bool,
}

fn no_model(info: &ComponentInfo) -> w::ModelError {
    w::ModelError::Denied(format!("no model is bound to `{}`", info.name))
}

/// One finished model call, as reported to the observer and the run's
/// spending.
struct CallReport<'a> {
    component: &'a str,
    model: &'a str,
    streamed: bool,
    started: Instant,
    billed: bool,
    span: &'a tracing::Span,
}

/// A `gen_ai.chat` span for a call the host must trace itself (billed here
/// and not traced by a router inside); disabled otherwise.
fn model_span(
    component: &str,
    model: &dyn SyncModel,
    request: &m::ChatRequest,
    streamed: bool,
) -> tracing::Span {
    if !model.bills() || model.traces_itself() {
        return tracing::Span::none();
    }
    let caps = model.capabilities();
    let info = weft_router::telemetry::CallInfo {
        name: component,
        provider: &caps.provider,
        model: &caps.model,
    };
    weft_router::telemetry::call_span(&info, request, 1, streamed)
}

impl CallReport<'_> {
    fn finish(&self, run: &RunContext, outcome: Result<&m::Usage, &m::ModelError>) {
        let (input_tokens, output_tokens, error) = match outcome {
            Ok(u) => (u.input_tokens, u.output_tokens, None),
            Err(e) => (0, 0, Some(e.to_string())),
        };
        let cost = match outcome {
            Ok(usage) if self.billed => run.charge(self.model, usage),
            _ => None,
        };
        let cost_usd = cost.as_ref().map(|c| c.usd);
        match outcome {
            Ok(usage) => {
                let response = m::ChatResponse {
                    message: m::Message::new(m::Role::Assistant, Vec::new()),
                    finish_reason: m::FinishReason::Stop,
                    usage: *usage,
                    model: self.model.to_string(),
                };
                weft_router::telemetry::record_response(self.span, &response, cost.as_ref());
            }
            Err(e) => weft_router::telemetry::record_error(self.span, e),
        }
        let duration = self.started.elapsed();
        let (component, model, streamed) = (self.component, self.model, self.streamed);
        tracing::info!(%component, %model, streamed, input_tokens, output_tokens, cost_usd, ?duration, error = ?error, "model call");
        run.services.observer.event(&Event::ModelCall {
            component: component.to_string(),
            model: model.to_string(),
            streamed,
            input_tokens,
            output_tokens,
            cost_usd,
            duration,
            error,
        });
    }
}

impl import::Host for StoreState {
    fn chat(&mut self, request: w::ChatRequest) -> Result<w::ChatResponse, w::ModelError> {
        let model = self.model.clone().ok_or_else(|| no_model(&self.info))?;
        let request: m::ChatRequest = request.into();
        let span = model_span(&self.info.name, model.as_ref(), &request, false);
        let started = Instant::now();
        let result = span.in_scope(|| model.chat(&request));
        let name = match &result {
            Ok(r) => r.model.clone(),
            Err(_) => model.capabilities().model,
        };
        CallReport {
            component: &self.info.name,
            model: &name,
            streamed: false,
            started,
            billed: model.bills(),
            span: &span,
        }
        .finish(&self.run, result.as_ref().map(|r| &r.usage));
        result.map(Into::into).map_err(Into::into)
    }

    fn chat_stream(
        &mut self,
        request: w::ChatRequest,
    ) -> Result<Resource<HostStream>, w::ModelError> {
        let model = self.model.clone().ok_or_else(|| no_model(&self.info))?;
        let request: m::ChatRequest = request.into();
        let span = model_span(&self.info.name, model.as_ref(), &request, true);
        let started = Instant::now();
        let events = match span.in_scope(|| model.chat_stream(&request)) {
            Ok(events) => events,
            Err(e) => {
                let name = model.capabilities().model;
                CallReport {
                    component: &self.info.name,
                    model: &name,
                    streamed: true,
                    started,
                    billed: model.bills(),
                    span: &span,
                }
                .finish(&self.run, Err(&e));
                return Err(e.into());
            }
        };
        let stream = HostStream {
            events,
            started,
            model: model.capabilities().model,
            billed: model.bills(),
            span,
            finished: false,
        };
        self.table
            .push(stream)
            .map_err(|e| w::ModelError::Transport(format!("cannot hold the stream: {e}")))
    }

    fn capabilities(&mut self) -> w::Capabilities {
        match &self.model {
            Some(model) => model.capabilities().into(),
            None => m::Capabilities::new("none", "none").into(),
        }
    }
}

impl import::HostResponseStream for StoreState {
    fn next(
        &mut self,
        stream: Resource<HostStream>,
    ) -> Result<Option<w::StreamEvent>, w::ModelError> {
        let run = self.run.clone();
        let component = self.info.name.clone();
        let s = self
            .table
            .get_mut(&stream)
            .map_err(|e| w::ModelError::Transport(format!("unknown stream: {e}")))?;
        if s.finished {
            return Ok(None);
        }
        let report = |model: &str, outcome: Result<&m::Usage, &m::ModelError>| {
            CallReport {
                component: &component,
                model,
                streamed: true,
                started: s.started,
                billed: s.billed,
                span: &s.span,
            }
            .finish(&run, outcome)
        };
        let next = s.span.in_scope(|| s.events.next());
        let outcome = match &next {
            None => Err(m::ModelError::Transport(
                "the stream ended without a final response".into(),
            )),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(_)) => Ok(()),
        };
        if let Err(e) = outcome {
            report(&s.model, Err(&e));
            s.finished = true;
            return Err(e.into());
        }
        let Some(Ok(event)) = next else {
            unreachable!("handled above")
        };
        match &event {
            m::StreamEvent::TextDelta(text) => run
                .services
                .observer
                .event(&Event::TextDelta { text: text.clone() }),
            m::StreamEvent::Done(response) => {
                report(&response.model, Ok(&response.usage));
                s.finished = true;
            }
            _ => {}
        }
        Ok(Some(event.into()))
    }

    fn drop(&mut self, stream: Resource<HostStream>) -> wasmtime::Result<()> {
        self.table.delete(stream)?;
        Ok(())
    }
}
