//! The one [`Linker`] every component is linked with: WASI (with network
//! sockets denied by the context, and symlink creation refused), `wasi:http`
//! behind the component's gate, and the Weft interfaces, each capability
//! added through its own view's `add_to_linker`.

use crate::error::HostError;
use crate::store::StoreState;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::bindings::filesystem::types::ErrorCode;

/// The `wasi:filesystem` version whose definitions the host provides (older
/// 0.2 imports resolve to it).
const FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";

/// Builds the host's linker.
pub(crate) fn linker(engine: &wasmtime::Engine) -> Result<Linker<StoreState>, HostError> {
    let mut linker = Linker::new(engine);
    add_all(&mut linker).map_err(|e| HostError::wasmtime("cannot set up the linker", e))?;
    Ok(linker)
}

fn add_all(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    refuse_symlinks(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    crate::services::add_to_linker(linker)?;
    crate::model_binding::add_to_linker(linker)?;
    crate::toolbox::add_to_linker(linker)?;
    Ok(())
}

/// Replaces `descriptor.symlink-at` with a refusal. A symlink a component
/// leaves in a writable preopen could point outside it; the component
/// itself cannot follow it out (WASI resolves paths inside the preopen),
/// but host-side programs reading the directory later would.
fn refuse_symlinks(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let defined = linker.instance(FILESYSTEM_TYPES).and_then(|mut types| {
        types.func_wrap_async(
            "[method]descriptor.symlink-at",
            |_store,
             (_dir, _target, _link): (
                Resource<wasmtime_wasi::filesystem::Descriptor>,
                String,
                String,
            )| { Box::new(async { Ok((Err::<(), _>(ErrorCode::NotPermitted),)) }) },
        )
    });
    linker.allow_shadowing(false);
    defined
}
