//! Host bindings generated from `wit/` for the three Weft worlds.
//!
//! The agent world imports every host service, so its bindings define the
//! shared types and import traits; the tool and model-plugin worlds reuse
//! them through `with` and only add their exports.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "weft:plugins/agent-plugin",
    with: {
        "weft:plugins/model.response-stream": crate::model_binding::HostStream,
    },
});

/// Bindings for the `tool-plugin` world.
pub mod tool {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "weft:plugins/tool-plugin",
        with: {
            "weft:plugins/types": super::weft::plugins::types,
            "weft:plugins/logging": super::weft::plugins::logging,
            "weft:plugins/state": super::weft::plugins::state,
            "weft:plugins/config": super::weft::plugins::config,
        },
    });
}

/// Bindings for the `model-plugin` world.
pub mod model {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "weft:plugins/model-plugin",
        with: {
            "weft:plugins/types": super::weft::plugins::types,
            "weft:plugins/logging": super::weft::plugins::logging,
            "weft:plugins/config": super::weft::plugins::config,
            "weft:plugins/model": super::weft::plugins::model,
        },
    });
}

pub use weft::plugins::types as wit;
