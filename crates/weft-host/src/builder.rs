//! [`HostBuilder`]: the engine, cache, runtime and embedder hooks, and
//! loading every component of a configuration into a [`Host`].

use crate::bindings::AgentPluginPre;
use crate::bindings::model::ModelPluginPre;
use crate::bindings::tool::ToolPluginPre;
use crate::cache::ComponentCache;
use crate::config::{AppConfig, ModelSpec};
use crate::engine::{EngineOptions, WeftEngine};
use crate::error::HostError;
use crate::host::{Host, ModelChain};
use crate::loader::Loader;
use crate::model_binding::BoundModel;
use crate::model_plugin::PluginModel;
use crate::observe::{Approver, Clock, FixedApprover, NoObserver, Observer, SystemClock};
use crate::secrets::SecretStore;
use crate::store::{RunContext, Services};
use crate::tools::{ToolComponent, ToolRegistry};
use crate::world::ComponentRole;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weft_model as m;

/// Configures and builds a [`Host`].
pub struct HostBuilder {
    engine: EngineOptions,
    cache_dir: Option<PathBuf>,
    cache_key: Option<PathBuf>,
    observer: Arc<dyn Observer>,
    approver: Arc<dyn Approver>,
    clock: Arc<dyn Clock>,
    runtime: Option<tokio::runtime::Handle>,
    model: Option<Arc<dyn m::Model>>,
}

impl Default for HostBuilder {
    fn default() -> Self {
        HostBuilder {
            engine: EngineOptions::default(),
            cache_dir: ComponentCache::default_dir(),
            cache_key: ComponentCache::default_key_file(),
            observer: Arc::new(NoObserver),
            approver: Arc::new(FixedApprover(false)),
            clock: Arc::new(SystemClock),
            runtime: None,
            model: None,
        }
    }
}

impl HostBuilder {
    /// Engine settings (pooling, fuel, memory reservation).
    pub fn engine_options(mut self, options: EngineOptions) -> Self {
        self.engine = options;
        self
    }

    /// Where compiled components are cached; `None` disables the disk cache.
    pub fn cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    /// The file holding the secret key that authenticates cache entries
    /// (default: `compile-cache.key` in the user's configuration
    /// directory, outside the cache). Created on first use.
    pub fn cache_key_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.cache_key = Some(file.into());
        self
    }

    /// Receives run events.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// Decides tool calls that need approval (default: decline).
    pub fn approver(mut self, approver: Arc<dyn Approver>) -> Self {
        self.approver = approver;
        self
    }

    /// The clock served to components.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The multi-threaded tokio runtime that runs guest calls and native
    /// model backends (default: the current one, or a private one if there
    /// is none).
    pub fn runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// Uses this model instead of building one from the configuration's
    /// innermost native [`ModelSpec`] (model plugins still wrap it).
    pub fn model(mut self, model: Arc<dyn m::Model>) -> Self {
        self.model = Some(model);
        self
    }

    /// Loads every component of `config` and prepares the host; blocks on
    /// the host's runtime, so call it outside async code (or inside
    /// `tokio::task::spawn_blocking`), or use [`HostBuilder::build_async`].
    pub fn build(self, config: &AppConfig) -> Result<Host, HostError> {
        let (rt, owned_rt) = match self
            .runtime
            .clone()
            .or_else(|| tokio::runtime::Handle::try_current().ok())
        {
            Some(h) => (h, None),
            None => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .map_err(|e| HostError::Component {
                        component: "host".into(),
                        reason: format!("cannot start a tokio runtime: {e}"),
                    })?;
                (rt.handle().clone(), Some(Arc::new(rt)))
            }
        };
        let mut host = rt.block_on(self.load(config, rt.clone()))?;
        host._owned_rt = owned_rt;
        Ok(host)
    }

    /// Loads every component of `config` and prepares the host, on the
    /// current tokio runtime (which must be multi-threaded: [`Host::run`]
    /// blocks on it from other threads).
    pub async fn build_async(self, config: &AppConfig) -> Result<Host, HostError> {
        let rt = match self.runtime.clone() {
            Some(rt) => rt,
            None => tokio::runtime::Handle::current(),
        };
        self.load(config, rt).await
    }

    async fn load(self, config: &AppConfig, rt: tokio::runtime::Handle) -> Result<Host, HostError> {
        let fuel_metered = self.engine.fuel
            || config
                .components()
                .iter()
                .any(|c| c.policy.limits.fuel.is_some());
        let engine = WeftEngine::new(EngineOptions {
            fuel: fuel_metered,
            ..self.engine.clone()
        })?;
        let cache = ComponentCache::new(
            engine.engine(),
            self.cache_dir.clone(),
            self.cache_key.clone(),
        );
        check_preopens(config, &cache)?;
        let secret_names: Vec<String> = config
            .components()
            .iter()
            .flat_map(|c| c.policy.secrets.iter().map(|s| s.name.clone()))
            .chain(config.model.secret_names())
            .collect();
        let secrets = Arc::new(SecretStore::from_env(
            secret_names.iter().map(String::as_str),
            &config.secrets,
        ));
        let services = Arc::new(Services {
            observer: self.observer.clone(),
            approver: self.approver.clone(),
            clock: self.clock.clone(),
            secrets,
            fuel_metered,
        });
        let linker = crate::linker::linker(engine.engine())?;
        let loader = Loader {
            engine: engine.engine(),
            cache: &cache,
            linker: &linker,
        };
        let load_run = RunContext::new(services.clone());

        let (agent_info, agent_component) = loader.load(&config.agent, ComponentRole::Agent)?;
        let agent_pre = AgentPluginPre::new(loader.pre(&agent_component, &config.agent.component)?)
            .map_err(|e| loader.wrong_world(&config.agent.component, ComponentRole::Agent, e))?;

        let mut registry = ToolRegistry::default();
        for tool in &config.tools {
            let (info, component) = loader.load(tool, ComponentRole::Tool)?;
            let pre = ToolPluginPre::new(loader.pre(&component, &tool.component)?)
                .map_err(|e| loader.wrong_world(&tool.component, ComponentRole::Tool, e))?;
            registry.add(ToolComponent::load(info, pre, load_run.clone()).await?)?;
        }

        let model = build_chain(&loader, &config.model, self.model.clone(), &load_run).await?;

        Ok(Host {
            engine,
            agent_info,
            agent_pre,
            tools: Arc::new(registry),
            model,
            rt,
            services,
            runs: std::sync::atomic::AtomicU64::new(0),
            _owned_rt: None,
        })
    }
}

/// Refuses a preopened directory that covers the compile cache or its key:
/// a component that could write there could plant native code for the host
/// to run.
fn check_preopens(config: &AppConfig, cache: &ComponentCache) -> Result<(), HostError> {
    let guarded: Vec<PathBuf> = cache.guarded_paths();
    for component in config.components() {
        for dir in &component.policy.dirs {
            let granted = canonical(&dir.host);
            if let Some(covered) = guarded.iter().find(|g| g.starts_with(&granted)) {
                return Err(HostError::config(
                    &component.component,
                    format!(
                        "component `{}`: the preopened directory {} covers the host's compile cache ({}); grant a directory outside it",
                        component.display_name(),
                        dir.host.display(),
                        covered.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `path` with symlinks resolved where it exists, else as given.
fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

async fn build_chain(
    loader: &Loader<'_>,
    spec: &ModelSpec,
    provided: Option<Arc<dyn m::Model>>,
    run: &Arc<RunContext>,
) -> Result<ModelChain, HostError> {
    if let ModelSpec::Plugin { plugin, inner } = spec {
        let inner = Box::pin(build_chain(loader, inner, provided, run)).await?;
        let (info, component) = loader.load(plugin, ComponentRole::Model)?;
        let pre = ModelPluginPre::new(loader.pre(&component, &plugin.component)?)
            .map_err(|e| loader.wrong_world(&plugin.component, ComponentRole::Model, e))?;
        let next: BoundModel = inner.for_run("probe", run);
        let capabilities = PluginModel::probe(info.clone(), pre.clone(), next, run.clone()).await?;
        return Ok(ModelChain::Plugin {
            info,
            pre,
            capabilities,
            inner: Box::new(inner),
        });
    }
    Ok(ModelChain::Native(match provided {
        Some(model) => weft_models::ModelStack::Shared(model),
        None => weft_models::build(spec, &run.services.secrets)?,
    }))
}
