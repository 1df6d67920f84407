//! Writing agents (the `agent-plugin` world).
//!
//! Implement [`Guest`] (`fn run(input: String) -> Result<RunOutput,
//! RunError>`) and export it with [`export_agent!`](crate::export_agent).
//! Inside, think with [`Model`](crate::Model), act with
//! [`Toolbox`](crate::Toolbox), and use [`log`](mod@crate::log),
//! [`state`](crate::state), [`clock`](crate::clock),
//! [`config`](crate::config) and [`approval`](crate::approval).

/// Generated bindings of the `agent-plugin` world (exports only; imports
/// and types live in [`crate::bindings`]).
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "weft:plugins/agent-plugin@0.1.0",
        with: {
            "weft:plugins/types@0.1.0": crate::bindings::weft::plugins::types,
            "weft:plugins/logging@0.1.0": crate::bindings::weft::plugins::logging,
            "weft:plugins/state@0.1.0": crate::bindings::weft::plugins::state,
            "weft:plugins/clock@0.1.0": crate::bindings::weft::plugins::clock,
            "weft:plugins/config@0.1.0": crate::bindings::weft::plugins::config,
            "weft:plugins/toolbox@0.1.0": crate::bindings::weft::plugins::toolbox,
            "weft:plugins/approval@0.1.0": crate::bindings::weft::plugins::approval,
            "weft:plugins/model@0.1.0": crate::bindings::weft::plugins::model,
        },
        additional_derives: [PartialEq],
        pub_export_macro: true,
        export_macro_name: "__export_agent_plugin",
        default_bindings_module: "weft_sdk::agent::bindings",
    });
}

pub use bindings::exports::weft::plugins::agent::{Guest, RunError, RunOutput};

impl From<crate::ModelError> for RunError {
    /// A model failure ends the run as [`RunError::Model`].
    fn from(e: crate::ModelError) -> Self {
        RunError::Model(e)
    }
}

/// Exports `$ty` (which implements [`Guest`](crate::agent::Guest)) as this
/// component's `agent` interface.
#[macro_export]
macro_rules! export_agent {
    ($ty:ident) => {
        $crate::agent::bindings::__export_agent_plugin!($ty with_types_in $crate::agent::bindings);
    };
}
