//! The `model` import: a component's model calls, served by the backend
//! bound to it ([`BoundModel`]: a native [`weft_model::Model`] or a model
//! plugin, see [`crate::model_plugin`]), with each call reported to the
//! observer and its charge added to the run's spending.
//!
//! The host neither prices nor traces a call: the model factory meters
//! every native model (`weft_meter::Metered`), and its answers carry their
//! [`m::Charge`]. A model plugin's answers carry none: its usage is its
//! inner model's, charged where the plugin calls it.
//!
//! The calls are asynchronous on the host: a guest waiting for a model
//! answer is suspended, and its call's deadline cuts the wait off.

use crate::bindings::weft::plugins::model as import;
use crate::bindings::wit as w;
use crate::observe::Event;
use crate::store::{ComponentInfo, RunContext};
use crate::stream::HostStream;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use weft_model as m;

/// The backend bound to a component's `model` import: a native model, as
/// the factory metered it, or a model plugin.
pub(crate) type BoundModel = Arc<dyn m::Model>;

/// What the `model` interface needs: the calling component and its model.
pub(crate) struct ModelCtx {
    /// The calling component.
    pub info: Arc<ComponentInfo>,
    /// Its run.
    pub run: Arc<RunContext>,
    /// The model bound to its `model` import, if it has one.
    pub model: Option<BoundModel>,
}

/// The `model` interface's view of a store: its context and the resource
/// table that holds its response streams.
pub(crate) struct ModelCtxView<'a> {
    /// The context.
    pub ctx: &'a mut ModelCtx,
    /// The store's resource table.
    pub table: &'a mut ResourceTable,
}

/// Gives the `model` interface its view of a store's data.
pub(crate) trait ModelView: Send {
    /// The view.
    fn model(&mut self) -> ModelCtxView<'_>;
}

struct HasModel;

impl HasData for HasModel {
    type Data<'a> = ModelCtxView<'a>;
}

/// Links the `model` interface.
pub(crate) fn add_to_linker<T: ModelView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    import::add_to_linker::<T, HasModel>(linker, T::model)
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
}

impl CallReport<'_> {
    fn finish(&self, run: &RunContext, outcome: Result<&m::Usage, &m::ModelError>) {
        let (input_tokens, output_tokens, error) = match outcome {
            Ok(u) => (u.input_tokens, u.output_tokens, None),
            Err(e) => (0, 0, Some(e.to_string())),
        };
        let cost_usd = match outcome {
            Ok(usage) => run.charge(usage.charge),
            Err(_) => None,
        };
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

impl import::Host for ModelCtxView<'_> {
    async fn chat(
        &mut self,
        request: w::ChatRequest,
    ) -> wasmtime::Result<Result<w::ChatResponse, w::ModelError>> {
        let Some(bound) = self.ctx.model.clone() else {
            return Ok(Err(no_model(&self.ctx.info)));
        };
        let request: m::ChatRequest = request.into();
        let started = Instant::now();
        let result = bound.chat(&request).await;
        let name = match &result {
            Ok(r) => r.model.clone(),
            Err(_) => bound.capabilities().model,
        };
        CallReport {
            component: &self.ctx.info.name,
            model: &name,
            streamed: false,
            started,
        }
        .finish(&self.ctx.run, result.as_ref().map(|r| &r.usage));
        Ok(result.map(Into::into).map_err(Into::into))
    }

    async fn chat_stream(
        &mut self,
        request: w::ChatRequest,
    ) -> wasmtime::Result<Result<Resource<HostStream>, w::ModelError>> {
        let Some(bound) = self.ctx.model.clone() else {
            return Ok(Err(no_model(&self.ctx.info)));
        };
        let request: m::ChatRequest = request.into();
        let started = Instant::now();
        let events = match bound.chat_stream(&request).await {
            Ok(events) => events,
            Err(e) => {
                let name = bound.capabilities().model;
                CallReport {
                    component: &self.ctx.info.name,
                    model: &name,
                    streamed: true,
                    started,
                }
                .finish(&self.ctx.run, Err(&e));
                return Ok(Err(e.into()));
            }
        };
        let stream = HostStream {
            events,
            started,
            model: bound.capabilities().model,
            finished: false,
        };
        // A full table is the component's resource limit: a trap.
        Ok(Ok(self.table.push(stream)?))
    }

    async fn capabilities(&mut self) -> wasmtime::Result<w::Capabilities> {
        Ok(match &self.ctx.model {
            Some(bound) => bound.capabilities().into(),
            None => m::Capabilities::new("none", "none").into(),
        })
    }
}

impl import::HostResponseStream for ModelCtxView<'_> {
    async fn next(
        &mut self,
        stream: Resource<HostStream>,
    ) -> wasmtime::Result<Result<Option<w::StreamEvent>, w::ModelError>> {
        let run = self.ctx.run.clone();
        let component = self.ctx.info.name.clone();
        let s = self.table.get_mut(&stream)?;
        if s.finished {
            return Ok(Ok(None));
        }
        let next = s.events.next().await;
        let report = |s: &HostStream, model: &str, outcome: Result<&m::Usage, &m::ModelError>| {
            CallReport {
                component: &component,
                model,
                streamed: true,
                started: s.started,
            }
            .finish(&run, outcome)
        };
        let event = match next {
            Some(Ok(event)) => event,
            failed => {
                let e = match failed {
                    Some(Err(e)) => e,
                    _ => {
                        m::ModelError::Transport("the stream ended without a final response".into())
                    }
                };
                report(s, &s.model, Err(&e));
                s.finished = true;
                return Ok(Err(e.into()));
            }
        };
        match &event {
            m::StreamEvent::TextDelta(text) => run
                .services
                .observer
                .event(&Event::TextDelta { text: text.clone() }),
            m::StreamEvent::Done(response) => {
                report(s, &response.model, Ok(&response.usage));
                s.finished = true;
            }
            _ => {}
        }
        Ok(Ok(Some(event.into())))
    }

    async fn drop(&mut self, stream: Resource<HostStream>) -> wasmtime::Result<()> {
        self.table.delete(stream)?;
        Ok(())
    }
}
