//! A model-plugin component as a [`weft_model::Model`]: each call enters
//! the plugin's own sandbox (its limits, its deadline), and the plugin's
//! `model` import is bound to the next backend of the chain.

use crate::bindings::model::{ModelPlugin, ModelPluginPre};
use crate::bindings::wit as w;
use crate::error::Abort;
use crate::model_binding::BoundModel;
use crate::observe::Event;
use crate::store::{
    Bindings, ComponentInfo, RunContext, StoreState, arm, classify, settle, timed_out,
};
use futures::future::BoxFuture;
use std::sync::Arc;
use wasmtime::Store;
use wasmtime::component::ResourceAny;
use weft_model as m;

/// A model-plugin component and the backend bound to its own `model` import.
pub(crate) struct PluginModel {
    inner: Arc<PluginState>,
}

struct PluginState {
    info: Arc<ComponentInfo>,
    pre: ModelPluginPre<StoreState>,
    next: BoundModel,
    run: Arc<RunContext>,
    /// The live instance; `None` after a trap, so the next call gets a fresh one.
    instance: tokio::sync::Mutex<Option<PluginInstance>>,
    /// How many instances have been created; each store records its number.
    generations: std::sync::atomic::AtomicU64,
    capabilities: m::Capabilities,
}

struct PluginInstance {
    store: Store<StoreState>,
    bindings: ModelPlugin,
}

/// The guest call made on a live instance.
enum Call<'a> {
    Capabilities,
    Chat(&'a w::ChatRequest),
    ChatStream(&'a w::ChatRequest),
    Next(ResourceAny),
}

/// What a guest call answered.
enum Answer {
    Capabilities(w::Capabilities),
    Chat(Result<w::ChatResponse, w::ModelError>),
    ChatStream(Result<ResourceAny, w::ModelError>, u64),
    Next(Result<Option<w::StreamEvent>, w::ModelError>),
}

impl PluginModel {
    /// A plugin bound to `next` whose instance is created on first use.
    pub fn new(
        info: Arc<ComponentInfo>,
        pre: ModelPluginPre<StoreState>,
        next: BoundModel,
        run: Arc<RunContext>,
        capabilities: m::Capabilities,
    ) -> Self {
        PluginModel {
            inner: Arc::new(PluginState {
                info,
                pre,
                next,
                run,
                instance: tokio::sync::Mutex::new(None),
                generations: std::sync::atomic::AtomicU64::new(0),
                capabilities,
            }),
        }
    }

    /// Instantiates the plugin once and asks for its capabilities, which
    /// also proves that it instantiates.
    pub async fn probe(
        info: Arc<ComponentInfo>,
        pre: ModelPluginPre<StoreState>,
        next: BoundModel,
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
        match probe.inner.call(Call::Capabilities).await {
            Ok(Answer::Capabilities(c)) => Ok(c.into()),
            Ok(_) => unreachable!("a capabilities call answers with capabilities"),
            Err(e) => Err(crate::HostError::Component {
                component: name,
                reason: e.to_string(),
            }),
        }
    }
}

impl PluginState {
    async fn instantiate(&self) -> Result<PluginInstance, m::ModelError> {
        let generation = self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let bindings = Bindings {
            model: Some(self.next.clone()),
            tools: None,
        };
        let mut store = StoreState::new_store(
            self.pre.engine(),
            self.info.clone(),
            self.run.clone(),
            bindings,
        )
        .map_err(m::ModelError::Transport)?;
        // Streams remember the generation of the instance that made them.
        store.data_mut().generation = generation;
        let deadline = arm(&mut store);
        match deadline.run(self.pre.instantiate_async(&mut store)).await {
            Ok(Ok(bindings)) => Ok(PluginInstance { store, bindings }),
            Ok(Err(e)) => Err(self.crashed(&classify(&store, &e))),
            Err(_) => Err(self.crashed(&timed_out(&store))),
        }
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

    /// Makes `call` on the live instance (creating one if needed) under the
    /// plugin's deadline; a trap or timeout discards the instance and
    /// becomes a model error.
    async fn call(&self, call: Call<'_>) -> Result<Answer, m::ModelError> {
        let mut slot = self.instance.lock().await;
        // Out of the slot for the call, so a cancelled call drops it.
        let mut live = match slot.take() {
            Some(live) => live,
            None => self.instantiate().await?,
        };
        let generation = live.store.data().generation;
        let deadline = arm(&mut live.store);
        let model = live.bindings.weft_plugins_model();
        let store = &mut live.store;
        let outcome = deadline
            .run(async {
                Ok::<_, wasmtime::Error>(match call {
                    Call::Capabilities => {
                        Answer::Capabilities(model.call_capabilities(store).await?)
                    }
                    Call::Chat(request) => Answer::Chat(model.call_chat(store, request).await?),
                    Call::ChatStream(request) => Answer::ChatStream(
                        model.call_chat_stream(store, request).await?,
                        generation,
                    ),
                    Call::Next(handle) => {
                        Answer::Next(model.response_stream().call_next(store, handle).await?)
                    }
                })
            })
            .await;
        match outcome {
            Ok(Ok(answer)) => match settle(&mut live.store) {
                Ok(()) => {
                    *slot = Some(live);
                    Ok(answer)
                }
                Err(abort) => Err(self.crashed(&abort)),
            },
            Ok(Err(e)) => Err(self.crashed(&classify(&live.store, &e))),
            Err(_) => Err(self.crashed(&timed_out(&live.store))),
        }
    }

    /// The live instance's generation, if there is one.
    async fn generation(&self) -> Option<u64> {
        self.instance
            .lock()
            .await
            .as_ref()
            .map(|live| live.store.data().generation)
    }

    /// Drops a stream handle of instance `generation`, if it is still live.
    async fn release(&self, handle: ResourceAny, generation: u64) {
        let mut slot = self.instance.lock().await;
        if let Some(live) = slot.as_mut()
            && live.store.data().generation == generation
        {
            let _ = handle.resource_drop_async(&mut live.store).await;
        }
    }
}

impl m::Model for PluginModel {
    fn capabilities(&self) -> m::Capabilities {
        self.inner.capabilities.clone()
    }

    fn chat<'a>(
        &'a self,
        request: &'a m::ChatRequest,
    ) -> BoxFuture<'a, Result<m::ChatResponse, m::ModelError>> {
        Box::pin(async move {
            let request: w::ChatRequest = request.clone().into();
            match self.inner.call(Call::Chat(&request)).await? {
                Answer::Chat(result) => result.map(Into::into).map_err(Into::into),
                _ => unreachable!("a chat call answers with a chat result"),
            }
        })
    }

    fn chat_stream<'a>(
        &'a self,
        request: &'a m::ChatRequest,
    ) -> BoxFuture<'a, Result<m::EventStream, m::ModelError>> {
        Box::pin(async move {
            let request: w::ChatRequest = request.clone().into();
            let (handle, generation) = match self.inner.call(Call::ChatStream(&request)).await? {
                Answer::ChatStream(result, generation) => (result?, generation),
                _ => unreachable!("a chat-stream call answers with a stream"),
            };
            let stream = PluginStream {
                state: self.inner.clone(),
                handle: Some(handle),
                generation,
            };
            Ok(
                Box::pin(futures::stream::unfold(stream, |mut s| async move {
                    let item = s.next().await?;
                    Some((item, s))
                })) as m::EventStream,
            )
        })
    }
}

/// A stream exported by a model plugin, read one `next()` at a time.
struct PluginStream {
    state: Arc<PluginState>,
    handle: Option<ResourceAny>,
    generation: u64,
}

impl PluginStream {
    async fn next(&mut self) -> Option<Result<m::StreamEvent, m::ModelError>> {
        let handle = self.handle?;
        if self.state.generation().await != Some(self.generation) {
            self.handle = None;
            return Some(Err(m::ModelError::Transport(
                "the model plugin was restarted after a crash; its stream is gone".into(),
            )));
        }
        match self.state.call(Call::Next(handle)).await {
            Ok(Answer::Next(Ok(Some(event)))) => Some(Ok(event.into())),
            Ok(Answer::Next(Ok(None))) => {
                self.release().await;
                None
            }
            Ok(Answer::Next(Err(e))) => {
                self.release().await;
                Some(Err(e.into()))
            }
            Ok(_) => unreachable!("a next call answers with an event"),
            Err(e) => {
                self.handle = None;
                Some(Err(e))
            }
        }
    }

    async fn release(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.state.release(handle, self.generation).await;
        }
    }
}

impl Drop for PluginStream {
    fn drop(&mut self) {
        // A stream dropped before its end: release the guest's handle when
        // the runtime gets to it (the instance is locked asynchronously).
        if let Some(handle) = self.handle.take() {
            let state = self.state.clone();
            let generation = self.generation;
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { state.release(handle, generation).await });
            }
        }
    }
}
