//! `Metered`: every answer carries its charge; local models are free.

use futures::executor::block_on;
use weft_meter::Metered;
use weft_model::{
    BoxFuture, Capabilities, Charge, ChatRequest, ChatResponse, EventStream, FinishReason, Message,
    Model, ModelError, Usage, collect_stream, stream_from_chat,
};

/// Answers as `model` of `provider`, with 1M input and 100k output tokens.
struct Echo {
    provider: &'static str,
    model: &'static str,
}

impl Model for Echo {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new(self.provider, self.model)
    }

    fn chat<'a>(&'a self, _: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, ModelError>> {
        Box::pin(async {
            Ok(ChatResponse {
                message: Message::assistant("hi"),
                finish_reason: FinishReason::Stop,
                usage: Usage {
                    input_tokens: 1_000_000,
                    output_tokens: 100_000,
                    ..Usage::default()
                },
                model: self.model.into(),
            })
        })
    }

    fn chat_stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<EventStream, ModelError>> {
        stream_from_chat(self, request)
    }
}

fn request() -> ChatRequest {
    ChatRequest::new(vec![Message::user("hi")])
}

fn charge_of(provider: &'static str, model: &'static str) -> (Option<Charge>, Option<Charge>) {
    let metered = Metered::new(Echo { provider, model });
    let chat = block_on(metered.chat(&request())).unwrap();
    let stream = block_on(metered.chat_stream(&request())).unwrap();
    let streamed = block_on(collect_stream(stream)).unwrap();
    (chat.usage.charge, streamed.usage.charge)
}

#[test]
fn priced_models_are_charged_in_usd() {
    let (chat, streamed) = charge_of("openai", "gpt-5.5");
    // 1M input × $5 + 100k output × $30, per million.
    assert_eq!(chat, Some(Charge::Usd(5.0 + 3.0)));
    assert_eq!(streamed, chat);
}

#[test]
fn unlisted_models_are_unpriced_and_local_ones_free() {
    assert_eq!(
        charge_of("acme", "mystery-model"),
        (Some(Charge::Unpriced), Some(Charge::Unpriced))
    );
    assert_eq!(
        charge_of("local", "qwen3-0.6b"),
        (Some(Charge::Free), Some(Charge::Free))
    );
    assert_eq!(Charge::Free.usd(), Some(0.0));
}
