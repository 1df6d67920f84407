//! Writing model plugins (the `model-plugin` world).
//!
//! A model plugin exports `weft:plugins/model` and usually wraps its own
//! import of the same interface (the next backend in the host's chain),
//! reachable through [`Model`](crate::Model). Implement [`Guest`] (with
//! `type ResponseStream` implementing [`GuestResponseStream`]) and export it
//! with [`export_model!`](crate::export_model):
//!
//! ```ignore
//! use weft_sdk::model_plugin::{Guest, GuestResponseStream, ResponseStream};
//! use weft_sdk::{Capabilities, ChatRequest, ChatResponse, Model, ModelError, StreamEvent};
//!
//! struct Passthrough;
//!
//! impl Guest for Passthrough {
//!     type ResponseStream = Forward;
//!     fn chat(request: ChatRequest) -> Result<ChatResponse, ModelError> {
//!         Model.chat(&request)
//!     }
//!     fn chat_stream(request: ChatRequest) -> Result<ResponseStream, ModelError> {
//!         Ok(ResponseStream::new(Forward(Model.chat_stream(&request)?.into())))
//!     }
//!     fn capabilities() -> Capabilities {
//!         Model.capabilities()
//!     }
//! }
//!
//! struct Forward(std::cell::RefCell<weft_sdk::ChatStream>);
//!
//! impl GuestResponseStream for Forward {
//!     fn next(&self) -> Result<Option<StreamEvent>, ModelError> {
//!         self.0.borrow_mut().next().transpose()
//!     }
//! }
//!
//! weft_sdk::export_model!(Passthrough);
//! ```

/// Generated bindings of the `model-plugin` world (exports only; imports
/// and types live in [`crate::bindings`]).
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "weft:plugins/model-plugin@0.1.0",
        with: {
            "weft:plugins/types@0.1.0": crate::bindings::weft::plugins::types,
            "weft:plugins/logging@0.1.0": crate::bindings::weft::plugins::logging,
            "weft:plugins/config@0.1.0": crate::bindings::weft::plugins::config,
            "weft:plugins/model@0.1.0": crate::bindings::weft::plugins::model,
        },
        pub_export_macro: true,
        export_macro_name: "__export_model_plugin",
        default_bindings_module: "weft_sdk::model_plugin::bindings",
    });
}

pub use bindings::exports::weft::plugins::model::{Guest, GuestResponseStream, ResponseStream};

/// Exports `$ty` (which implements [`Guest`](crate::model_plugin::Guest))
/// as this component's `model` interface.
#[macro_export]
macro_rules! export_model {
    ($ty:ident) => {
        $crate::model_plugin::bindings::__export_model_plugin!($ty with_types_in $crate::model_plugin::bindings);
    };
}
