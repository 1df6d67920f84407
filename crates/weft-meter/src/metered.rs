//! [`Metered`]: the one layer that prices and traces a model's calls.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use futures::Stream;
use tracing::{Instrument, Span};
use weft_model::{
    BoxFuture, Capabilities, Charge, ChatRequest, ChatResponse, EventStream, Model, ModelError,
    StreamEvent, Usage,
};

use crate::calendar::now;
use crate::cost::{Cost, PriceCatalog};
use crate::telemetry::{CallInfo, call_span, record_error, record_response};

/// A model whose every call is priced and traced once.
///
/// - **Pricing**: the final [`Usage`] of each answer (of `chat`, and the
///   `done` event of a stream) gets its [`Charge`]: [`Charge::Free`] for a
///   local model (provider `local`), else the price of the answering model
///   (`ChatResponse::model`) in the catalog ([`Charge::Usd`]), or
///   [`Charge::Unpriced`] when the catalog does not list it.
/// - **Tracing**: each billed call runs in a `gen_ai.chat` span
///   ([`crate::telemetry`]) with its usage and cost, or its error kind. A
///   model that opens its own spans, one per attempt (a router), is wrapped
///   [`Metered::untraced`]: it is priced, not traced twice.
pub struct Metered<M: Model> {
    inner: M,
    catalog: Arc<PriceCatalog>,
    traced: bool,
}

impl<M: Model> Metered<M> {
    /// Meters `inner` with the bundled price catalog, traced.
    pub fn new(inner: M) -> Self {
        Self {
            inner,
            catalog: bundled(),
            traced: true,
        }
    }

    /// Prices with `catalog` instead of the bundled one.
    pub fn with_catalog(mut self, catalog: Arc<PriceCatalog>) -> Self {
        self.catalog = catalog;
        self
    }

    /// Prices without opening spans: for a model that traces its own calls
    /// (a router opens one span per attempt).
    pub fn untraced(mut self) -> Self {
        self.traced = false;
        self
    }

    /// The metered model.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// What one call of this model is billed, and the span it runs in.
    fn meter(&self, request: &ChatRequest, stream: bool) -> Meter {
        let caps = self.inner.capabilities();
        let free = caps.provider == "local";
        let span = if free || !self.traced {
            Span::none()
        } else {
            let info = CallInfo {
                name: &caps.model,
                provider: &caps.provider,
                model: &caps.model,
            };
            call_span(&info, request, 1, stream)
        };
        Meter {
            catalog: self.catalog.clone(),
            free,
            span,
        }
    }
}

/// The bundled catalog, read once.
fn bundled() -> Arc<PriceCatalog> {
    static BUNDLED: OnceLock<Arc<PriceCatalog>> = OnceLock::new();
    BUNDLED
        .get_or_init(|| Arc::new(PriceCatalog::bundled()))
        .clone()
}

/// The pricing and the span of one call.
struct Meter {
    catalog: Arc<PriceCatalog>,
    free: bool,
    span: Span,
}

impl Meter {
    /// Charges `response` and records it on the span.
    fn answered(&self, response: &mut ChatResponse) {
        let (charge, cost) = self.price(&response.usage, &response.model);
        record_response(&self.span, response, cost.as_ref());
        response.usage.charge = Some(charge);
    }

    fn price(&self, usage: &Usage, model: &str) -> (Charge, Option<Cost>) {
        if self.free {
            return (Charge::Free, None);
        }
        match self.catalog.cost(usage, model, now()) {
            Ok(cost) => (Charge::Usd(cost.usd), Some(cost)),
            Err(_) => (Charge::Unpriced, None),
        }
    }

    fn failed(&self, error: &ModelError) {
        record_error(&self.span, error);
    }
}

impl<M: Model> Model for Metered<M> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ModelError>> {
        let meter = self.meter(request, false);
        Box::pin(async move {
            let result = self
                .inner
                .chat(request)
                .instrument(meter.span.clone())
                .await;
            match result {
                Ok(mut response) => {
                    meter.answered(&mut response);
                    Ok(response)
                }
                Err(error) => {
                    meter.failed(&error);
                    Err(error)
                }
            }
        })
    }

    fn chat_stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<EventStream, ModelError>> {
        let meter = self.meter(request, true);
        Box::pin(async move {
            let opened = self
                .inner
                .chat_stream(request)
                .instrument(meter.span.clone())
                .await;
            match opened {
                Ok(events) => Ok(Box::pin(MeteredStream {
                    events,
                    meter,
                    ended: false,
                }) as EventStream),
                Err(error) => {
                    meter.failed(&error);
                    Err(error)
                }
            }
        })
    }
}

/// A stream whose `done` event is charged and recorded on the call's span.
struct MeteredStream {
    events: EventStream,
    meter: Meter,
    ended: bool,
}

impl Stream for MeteredStream {
    type Item = Result<StreamEvent, ModelError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let polled = {
            let _entered = this.meter.span.enter();
            this.events.as_mut().poll_next(cx)
        };
        let mut item = match polled {
            Poll::Ready(item) => item,
            Poll::Pending => return Poll::Pending,
        };
        if !this.ended {
            match &mut item {
                Some(Ok(StreamEvent::Done(response))) => {
                    this.ended = true;
                    this.meter.answered(response);
                }
                Some(Err(error)) => {
                    this.ended = true;
                    this.meter.failed(error);
                }
                Some(Ok(_)) => {}
                None => {
                    this.ended = true;
                    this.meter.failed(&ModelError::Transport(
                        "the stream ended without a final response".into(),
                    ));
                }
            }
        }
        Poll::Ready(item)
    }
}
