//! `weft inspect`: what a component is, without running it beyond listing
//! a tool plugin's tools in a deny-all sandbox.

use crate::bindings::tool::ToolPluginPre;
use crate::cache::ComponentCache;
use crate::config::ComponentConfig;
use crate::engine::{EngineOptions, WeftEngine};
use crate::error::HostError;
use crate::loader::Loader;
use crate::observe::{FixedApprover, NoObserver, SystemClock};
use crate::secrets::SecretStore;
use crate::store::{RunContext, Services};
use crate::tools::ToolComponent;
use crate::world::{ComponentRole, ComponentSummary, summarize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weft_model as m;

/// What `weft inspect` reports about a component.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inspection {
    /// The file.
    pub path: PathBuf,
    /// Its role, imports and exports.
    #[serde(flatten)]
    pub summary: ComponentSummary,
    /// For a tool plugin: its tools, read by instantiating it under a
    /// deny-all policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<m::ToolSpec>>,
}

/// Loads one component and describes it. A tool plugin is instantiated in a
/// deny-all sandbox to list its tools; nothing else is run. Blocks: it runs
/// on a thread of its own with a private runtime, so it may be called from
/// anywhere (in async code, [`inspect_async`] avoids the thread).
pub fn inspect(path: &Path) -> Result<Inspection, HostError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .map_err(|e| HostError::Component {
                        component: "host".into(),
                        reason: format!("cannot start a tokio runtime: {e}"),
                    })?
                    .block_on(inspect_async(path))
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Loads one component and describes it (see [`inspect`]).
pub async fn inspect_async(path: &Path) -> Result<Inspection, HostError> {
    let engine = WeftEngine::new(EngineOptions {
        pooling_instances: None,
        ..EngineOptions::default()
    })?;
    let cache = ComponentCache::new(
        engine.engine(),
        ComponentCache::default_dir(),
        ComponentCache::default_key_file(),
    );
    let (component, _) = cache.load(engine.engine(), path)?;
    let summary = summarize(engine.engine(), &component);
    let tools = if summary.role == Some(ComponentRole::Tool) {
        let linker = crate::linker::linker(engine.engine())?;
        let loader = Loader {
            engine: engine.engine(),
            cache: &cache,
            linker: &linker,
        };
        let config = ComponentConfig::new(path);
        let (info, component) = loader.load(&config, ComponentRole::Tool)?;
        let pre = ToolPluginPre::new(loader.pre(&component, path)?)
            .map_err(|e| loader.wrong_world(path, ComponentRole::Tool, e))?;
        let services = Arc::new(Services {
            observer: Arc::new(NoObserver),
            approver: Arc::new(FixedApprover(false)),
            clock: Arc::new(SystemClock),
            secrets: Arc::new(SecretStore::new()),
            fuel_metered: false,
        });
        Some(
            ToolComponent::load(info, pre, RunContext::new(services))
                .await?
                .specs,
        )
    } else {
        None
    };
    Ok(Inspection {
        path: path.to_path_buf(),
        summary,
        tools,
    })
}
