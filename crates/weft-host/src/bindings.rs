//! Host bindings generated from `wit/` for the three Weft worlds.
//!
//! The agent world imports every host service, so its bindings define the
//! shared types and import traits; the tool and model-plugin worlds reuse
//! them through `with` and only add their exports. Every export is called
//! asynchronously, so a guest call can wait on the host without blocking a
//! thread and its deadline can cut the wait off; the imports that wait
//! (`model`, `toolbox`, `approval`) are asynchronous on the host. Every
//! import may trap, which is how a host-side limit ends a call.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "weft:plugins/agent-plugin",
    imports: {
        "weft:plugins/model": async | trappable,
        "weft:plugins/toolbox": async | trappable,
        "weft:plugins/approval": async | trappable,
        default: trappable,
    },
    exports: { default: async },
    with: {
        "weft:plugins/model.response-stream": crate::stream::HostStream,
    },
});

/// Bindings for the `tool-plugin` world.
pub mod tool {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "weft:plugins/tool-plugin",
        exports: { default: async },
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
        exports: { default: async },
        with: {
            "weft:plugins/types": super::weft::plugins::types,
            "weft:plugins/logging": super::weft::plugins::logging,
            "weft:plugins/config": super::weft::plugins::config,
            "weft:plugins/model": super::weft::plugins::model,
        },
    });
}

pub use weft::plugins::types as wit;
