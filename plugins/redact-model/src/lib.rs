//! **redact-model** — a Weft model plugin that keeps emails and phone
//! numbers away from the model it wraps.
//!
//! For each request it replaces every email with `<EMAIL_n>` and every
//! phone number with `<PHONE_n>` (the same value gets the same placeholder
//! throughout the request) in the text parts of system, user, tool and
//! assistant messages, in tool results and in tool-call arguments (inside
//! JSON string literals, so JSON stays valid). Earlier assistant turns are
//! redacted too: they hold the originals this plugin restored, which would
//! otherwise reach the provider on the next turn. It then forwards the
//! request to its imported `model` and restores the originals in the
//! answer's text parts and tool-call arguments, so the caller (and the
//! tools it runs) see real values. `capabilities` is forwarded unchanged.
//!
//! # Streaming
//!
//! `chat-stream` restores text deltas too. A delta ending in something that
//! may still become a placeholder (`<EMA`) is held back until the next
//! delta completes or rules it out, so placeholders split across deltas
//! are restored; at most about 16 characters are delayed. Tool-call events
//! and the final `done` response are restored whole.
//!
//! # Limitations
//!
//! * Reasoning parts and reasoning deltas are passed through untouched in
//!   both directions: providers sign reasoning and reject altered text.
//!   Reasoning can therefore show placeholders.
//! * A placeholder the model alters (`<EMAIL 1>`, `EMAIL_1`) is not
//!   restored; values the scanners miss are not redacted (see
//!   `text_scan::entities`).

use std::cell::RefCell;
use std::collections::VecDeque;

use text_scan::redact::{Redactor, StreamRestorer};
use weft_sdk::model_plugin::{Guest, GuestResponseStream, ResponseStream};
use weft_sdk::{
    Capabilities, ChatRequest, ChatResponse, ChatStream, Message, Model, ModelError, Part,
    StreamEvent,
};

/// Redacts a request; returns it with the redactor that can undo it.
pub fn redact_request(mut request: ChatRequest) -> (ChatRequest, Redactor) {
    let mut redactor = Redactor::new();
    for message in &request.messages {
        for part in &message.parts {
            match part {
                Part::Text(t) => redactor.reserve(t),
                Part::ToolCall(c) => redactor.reserve(&c.arguments),
                Part::ToolResult(r) => redactor.reserve(&r.content),
                Part::Reasoning(_) => {}
            }
        }
    }
    for message in &mut request.messages {
        redact_message(&mut redactor, message);
    }
    (request, redactor)
}

fn redact_message(redactor: &mut Redactor, message: &mut Message) {
    for part in &mut message.parts {
        match part {
            Part::Text(t) => *t = redactor.redact_text(t),
            Part::ToolCall(c) => c.arguments = redactor.redact_json_or_text(&c.arguments),
            Part::ToolResult(r) => r.content = redactor.redact_json_or_text(&r.content),
            Part::Reasoning(_) => {}
        }
    }
}

/// Restores originals in an answer's text parts and tool-call arguments.
pub fn restore_response(redactor: &Redactor, response: &mut ChatResponse) {
    if redactor.is_empty() {
        return;
    }
    for part in &mut response.message.parts {
        match part {
            Part::Text(t) => *t = redactor.restore_text(t),
            Part::ToolCall(c) => c.arguments = redactor.restore_json_or_text(&c.arguments),
            Part::ToolResult(r) => r.content = redactor.restore_json_or_text(&r.content),
            Part::Reasoning(_) => {}
        }
    }
}

/// Restores a stream of events (generic so it is tested natively).
pub struct Restoring<I> {
    inner: I,
    redactor: Redactor,
    text: StreamRestorer,
    queue: VecDeque<StreamEvent>,
    finished: bool,
}

impl<I: Iterator<Item = Result<StreamEvent, ModelError>>> Restoring<I> {
    /// Wraps `inner`, restoring with `redactor`.
    pub fn new(inner: I, redactor: Redactor) -> Self {
        Restoring {
            inner,
            redactor,
            text: StreamRestorer::new(),
            queue: VecDeque::new(),
            finished: false,
        }
    }

    /// Emits held-back text (if any) before `event`.
    fn flush_before(&mut self, event: StreamEvent) -> StreamEvent {
        let rest = self.text.finish(&self.redactor);
        if rest.is_empty() {
            event
        } else {
            self.queue.push_back(event);
            StreamEvent::TextDelta(rest)
        }
    }

    /// The next restored event, `None` after the end.
    pub fn next_event(&mut self) -> Result<Option<StreamEvent>, ModelError> {
        if let Some(event) = self.queue.pop_front() {
            return Ok(Some(event));
        }
        if self.finished {
            return Ok(None);
        }
        loop {
            let Some(event) = self.inner.next() else {
                self.finished = true;
                let rest = self.text.finish(&self.redactor);
                return Ok((!rest.is_empty()).then_some(StreamEvent::TextDelta(rest)));
            };
            match event? {
                StreamEvent::TextDelta(delta) => {
                    let ready = self.text.push(&self.redactor, &delta);
                    if !ready.is_empty() {
                        return Ok(Some(StreamEvent::TextDelta(ready)));
                    }
                }
                StreamEvent::ReasoningDelta(delta) => {
                    return Ok(Some(StreamEvent::ReasoningDelta(delta)));
                }
                StreamEvent::ToolCall(mut call) => {
                    call.arguments = self.redactor.restore_json_or_text(&call.arguments);
                    return Ok(Some(self.flush_before(StreamEvent::ToolCall(call))));
                }
                StreamEvent::Done(mut response) => {
                    restore_response(&self.redactor, &mut response);
                    self.finished = true;
                    return Ok(Some(self.flush_before(StreamEvent::Done(response))));
                }
            }
        }
    }
}

/// The exported `response-stream` resource.
pub struct RestoringStream(RefCell<Restoring<ChatStream>>);

impl GuestResponseStream for RestoringStream {
    fn next(&self) -> Result<Option<StreamEvent>, ModelError> {
        self.0.borrow_mut().next_event()
    }
}

struct Redact;

impl Guest for Redact {
    type ResponseStream = RestoringStream;

    fn chat(request: ChatRequest) -> Result<ChatResponse, ModelError> {
        let (request, redactor) = redact_request(request);
        weft_sdk::debug!("redacted {} distinct value(s)", redactor.len());
        let mut response = Model.chat(&request)?;
        restore_response(&redactor, &mut response);
        Ok(response)
    }

    fn chat_stream(request: ChatRequest) -> Result<ResponseStream, ModelError> {
        let (request, redactor) = redact_request(request);
        weft_sdk::debug!("redacted {} distinct value(s)", redactor.len());
        let inner = Model.chat_stream(&request)?;
        Ok(ResponseStream::new(RestoringStream(RefCell::new(
            Restoring::new(inner, redactor),
        ))))
    }

    fn capabilities() -> Capabilities {
        Model.capabilities()
    }
}

weft_sdk::export_model!(Redact);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_sdk::{Reasoning, Role, ToolCall, ToolResult};

    fn request() -> ChatRequest {
        ChatRequest::new(vec![
            Message::system("Support agent. Escalate to boss@corp.com."),
            Message::user("I am amy@x.org, call +1 415 555 0100. Literal <EMAIL_1>."),
            Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Reasoning(Reasoning {
                        text: "amy@x.org".into(),
                        signature: Some("sig".into()),
                        provider: None,
                        redacted: false,
                    }),
                    Part::ToolCall(ToolCall {
                        id: "c1".into(),
                        name: "lookup".into(),
                        arguments: r#"{"email": "amy@x.org", "n": 18446744073709551616}"#.into(),
                    }),
                ],
            },
            Message::tool_results([ToolResult::ok(
                "c1",
                r#"{"owner": "amy@x.org", "phone": "(415) 555-0199"}"#,
            )]),
        ])
    }

    #[test]
    fn redacts_every_role_but_not_reasoning() {
        let (req, r) = redact_request(request());
        assert_eq!(
            req.messages[0].joined_text(),
            "Support agent. Escalate to <EMAIL_2>."
        );
        assert_eq!(
            req.messages[1].joined_text(),
            "I am <EMAIL_3>, call <PHONE_1>. Literal <EMAIL_1>."
        );
        let Part::Reasoning(reasoning) = &req.messages[2].parts[0] else {
            panic!()
        };
        assert_eq!(reasoning.text, "amy@x.org");
        let Part::ToolCall(call) = &req.messages[2].parts[1] else {
            panic!()
        };
        assert_eq!(
            call.arguments,
            r#"{"email": "<EMAIL_3>", "n": 18446744073709551616}"#
        );
        let Part::ToolResult(result) = &req.messages[3].parts[0] else {
            panic!()
        };
        assert_eq!(
            result.content,
            r#"{"owner": "<EMAIL_3>", "phone": "<PHONE_2>"}"#
        );
        assert_eq!(r.len(), 4);
    }

    #[test]
    fn restores_answers() {
        let (_, r) = redact_request(request());
        let mut response =
            ChatResponse::from_text("Mailed <EMAIL_3> and <PHONE_1>; <EMAIL_1> stays.");
        response.message.parts.push(Part::ToolCall(ToolCall {
            id: "c2".into(),
            name: "send".into(),
            arguments: r#"{"to":"<EMAIL_2>"}"#.into(),
        }));
        restore_response(&r, &mut response);
        assert_eq!(
            response.message.joined_text(),
            "Mailed amy@x.org and +1 415 555 0100; <EMAIL_1> stays."
        );
        let Part::ToolCall(call) = &response.message.parts[1] else {
            panic!()
        };
        assert_eq!(call.arguments, r#"{"to":"boss@corp.com"}"#);
    }

    #[test]
    fn restores_streams() {
        let (_, r) = redact_request(request());
        let events = vec![
            Ok(StreamEvent::TextDelta("Hi <EM".into())),
            Ok(StreamEvent::TextDelta("AIL_3".into())),
            Ok(StreamEvent::ReasoningDelta("<EMAIL_3>".into())),
            Ok(StreamEvent::TextDelta("> ok <PH".into())),
            Ok(StreamEvent::ToolCall(ToolCall {
                id: "1".into(),
                name: "t".into(),
                arguments: r#"{"p":"<PHONE_1>"}"#.into(),
            })),
            Ok(StreamEvent::Done(ChatResponse::from_text(
                "Hi <EMAIL_3> ok <PH",
            ))),
        ];
        let mut s = Restoring::new(events.into_iter(), r);
        let mut out = Vec::new();
        while let Some(e) = s.next_event().unwrap() {
            out.push(e);
        }
        assert_eq!(out.len(), 6);
        assert_eq!(out[0], StreamEvent::TextDelta("Hi ".into()));
        assert_eq!(out[1], StreamEvent::ReasoningDelta("<EMAIL_3>".into()));
        assert_eq!(out[2], StreamEvent::TextDelta("amy@x.org ok ".into()));
        assert_eq!(out[3], StreamEvent::TextDelta("<PH".into()));
        let text: String = out
            .iter()
            .filter_map(|e| match e {
                StreamEvent::TextDelta(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "Hi amy@x.org ok <PH");
        assert!(
            matches!(&out[4], StreamEvent::ToolCall(c) if c.arguments == r#"{"p":"+1 415 555 0100"}"#)
        );
        assert!(
            matches!(&out[5], StreamEvent::Done(d) if d.message.joined_text() == "Hi amy@x.org ok <PH")
        );
        assert_eq!(s.next_event().unwrap(), None);
    }
}
