//! The [`Host`]: loads an agent, its tools and its model chain once, then
//! runs the agent as many times as asked, each run in fresh sandboxes.

use crate::bindings::{AgentPlugin, AgentPluginPre, model::ModelPluginPre, tool::ToolPluginPre};
use crate::cache::ComponentCache;
use crate::config::{AppConfig, ComponentConfig, ModelSpec};
use crate::engine::{EngineOptions, WeftEngine};
use crate::error::HostError;
use crate::model_binding::{NativeModel, PluginModel, SyncModel};
use crate::observe::{Approver, Clock, Event, FixedApprover, NoObserver, Observer, SystemClock};
use crate::secrets::SecretStore;
use crate::store::{ComponentInfo, RunContext, Services, StoreState, arm, classify};
use crate::tools::{ToolComponent, ToolError, ToolRegistry, Toolbox};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::Store;
use wasmtime::component::{Component, Linker};
use weft_model as m;

/// The WIT package version this host implements.
pub const WIT_PACKAGE: &str = "weft:plugins";
/// The WIT package version this host implements.
pub const WIT_VERSION: &str = "0.1.0";

/// The role a component plays, with the world it must target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComponentRole {
    /// `agent-plugin`: exports `agent`.
    Agent,
    /// `tool-plugin`: exports `tool`.
    Tool,
    /// `model-plugin`: exports `model`.
    Model,
}

impl ComponentRole {
    fn export(self) -> String {
        let iface = match self {
            ComponentRole::Agent => "agent",
            ComponentRole::Tool => "tool",
            ComponentRole::Model => "model",
        };
        format!("{WIT_PACKAGE}/{iface}@{WIT_VERSION}")
    }

    fn allowed_imports(self) -> &'static [&'static str] {
        match self {
            ComponentRole::Agent => &[
                "model", "toolbox", "approval", "logging", "state", "clock", "config", "types",
            ],
            ComponentRole::Tool => &["logging", "state", "config", "types"],
            ComponentRole::Model => &["logging", "config", "model", "types"],
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ComponentRole::Agent => "agent (world `agent-plugin`)",
            ComponentRole::Tool => "tool plugin (world `tool-plugin`)",
            ComponentRole::Model => "model plugin (world `model-plugin`)",
        }
    }

    /// Guesses a component's role from its exports.
    pub fn detect(exports: &[String]) -> Option<Self> {
        [
            ComponentRole::Agent,
            ComponentRole::Tool,
            ComponentRole::Model,
        ]
        .into_iter()
        .find(|r| exports.contains(&r.export()))
    }
}

/// A component's imports and exports, as `weft inspect` shows them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComponentSummary {
    /// The role its exports match, if any.
    pub role: Option<ComponentRole>,
    /// Imported interface names.
    pub imports: Vec<String>,
    /// Exported interface names.
    pub exports: Vec<String>,
}

/// Lists a component's imports and exports.
pub fn summarize(engine: &wasmtime::Engine, component: &Component) -> ComponentSummary {
    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    ComponentSummary {
        role: ComponentRole::detect(&exports),
        imports,
        exports,
    }
}

/// Checks that `component` targets the world of `role`, naming what is off.
fn check_world(
    engine: &wasmtime::Engine,
    component: &Component,
    role: ComponentRole,
    path: &Path,
) -> Result<(), HostError> {
    let summary = summarize(engine, component);
    let wrong = |reason: String| HostError::WrongWorld {
        path: path.to_path_buf(),
        expected: role.describe(),
        reason,
    };
    if !summary.exports.contains(&role.export()) {
        let found = match summary.role {
            Some(other) => format!("it is a {}", other.describe()),
            None if summary.exports.is_empty() => "it exports nothing".to_string(),
            None => format!("it exports {}", summary.exports.join(", ")),
        };
        return Err(wrong(format!(
            "it does not export `{}`; {found}",
            role.export()
        )));
    }
    let prefix = format!("{WIT_PACKAGE}/");
    for import in &summary.imports {
        if let Some(rest) = import.strip_prefix(&prefix) {
            let (iface, version) = rest.split_once('@').unwrap_or((rest, ""));
            if version != WIT_VERSION {
                return Err(wrong(format!(
                    "it imports `{import}`, but this host implements {WIT_PACKAGE}@{WIT_VERSION}"
                )));
            }
            if !role.allowed_imports().contains(&iface) {
                return Err(wrong(format!(
                    "it imports `{import}`, which a {} may not import",
                    role.describe()
                )));
            }
        } else if !import.starts_with("wasi:") {
            return Err(wrong(format!(
                "it imports `{import}`, which this host does not provide"
            )));
        }
    }
    Ok(())
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    /// The agent rejected its input or configuration.
    #[error("the agent rejected its input: {0}")]
    InvalidInput(String),
    /// A model call failed and the agent gave up.
    #[error("model error: {0}")]
    Model(m::ModelError),
    /// The agent used all its steps without a final answer.
    #[error("the agent reached its step limit ({0} steps) without a final answer")]
    StepLimit(u32),
    /// The agent's token budget ran out.
    #[error("the agent's budget ran out: {0}")]
    BudgetExceeded(String),
    /// The agent reported another failure.
    #[error("the agent failed: {0}")]
    Failed(String),
    /// The agent component trapped or hit a limit.
    #[error("the agent `{component}` {reason}")]
    Crashed {
        /// The agent's name.
        component: String,
        /// What happened.
        reason: String,
    },
}

/// What a successful run returns.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunReport {
    /// The final answer.
    pub answer: String,
    /// Every message of the run.
    pub transcript: Vec<m::Message>,
    /// Tokens used by all model calls.
    pub usage: m::Usage,
    /// Model calls made.
    pub steps: u32,
    /// What the run's model calls cost, from the dated price catalog.
    pub spend: crate::store::Spend,
    /// The router's per-run totals and decisions, when a router chose the models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing: Option<RoutingReport>,
    /// Wall-clock time of the run.
    #[serde(serialize_with = "ser_ms")]
    pub duration: Duration,
}

/// What the router decided during one run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RoutingReport {
    /// Calls, usage and cost of the run as the router counted them.
    pub totals: weft_router::RunTotals,
    /// Every routing decision of the run, with its reason.
    pub decisions: Vec<weft_router::Decision>,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// Configures and builds a [`Host`].
pub struct HostBuilder {
    engine: EngineOptions,
    cache_dir: Option<PathBuf>,
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

    /// The tokio runtime that drives native model backends (default: the
    /// current one, or a private one if there is none).
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

    /// Loads every component of `config` and prepares the host.
    pub fn build(self, config: &AppConfig) -> Result<Host, HostError> {
        let mut engine_options = self.engine.clone();
        engine_options.fuel |= config
            .components()
            .iter()
            .any(|c| c.policy.limits.fuel.is_some());
        let engine = WeftEngine::new(engine_options)?;
        let cache = ComponentCache::new(engine.engine(), self.cache_dir.clone());
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
        let secret_names: Vec<String> = config
            .components()
            .iter()
            .flat_map(|c| c.policy.secrets.iter().map(|s| s.name.clone()))
            .chain(crate::models::model_secret_names(&config.model))
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
            prices: Arc::new(weft_router::PriceCatalog::bundled()),
        });

        let mut linker: Linker<StoreState> = Linker::new(engine.engine());
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .and_then(|_| wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker))
            .and_then(|_| {
                AgentPlugin::add_to_linker::<StoreState, wasmtime::component::HasSelf<StoreState>>(
                    &mut linker,
                    |s| s,
                )
            })
            .map_err(|e| HostError::wasmtime("cannot set up the linker", e))?;

        let loader = Loader {
            engine: &engine,
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
            registry.add(ToolComponent::load(info, pre, load_run.clone())?)?;
        }

        let model = build_chain(&loader, &config.model, self.model.clone(), &rt, &load_run)?;

        Ok(Host {
            engine,
            agent_info,
            agent_pre,
            tools: Arc::new(registry),
            model,
            rt,
            services,
            runs: std::sync::atomic::AtomicU64::new(0),
            _owned_rt: owned_rt,
        })
    }
}

struct Loader<'a> {
    engine: &'a WeftEngine,
    cache: &'a ComponentCache,
    linker: &'a Linker<StoreState>,
}

impl Loader<'_> {
    fn load(
        &self,
        config: &ComponentConfig,
        role: ComponentRole,
    ) -> Result<(Arc<ComponentInfo>, Component), HostError> {
        let path = &config.component;
        let started = Instant::now();
        let (component, outcome) = self.cache.load(self.engine.engine(), path)?;
        let name = config.display_name();
        tracing::debug!(component = %name, path = %path.display(), ?outcome, elapsed = ?started.elapsed(), "loaded");
        check_world(self.engine.engine(), &component, role, path)?;
        if let Some(fuel) = config.policy.limits.fuel {
            tracing::debug!(component = %name, fuel, "fuel metering on");
        }
        let info = Arc::new(ComponentInfo {
            name,
            policy: config.policy.clone(),
            config: config.config.clone(),
        });
        Ok((info, component))
    }

    fn pre(
        &self,
        component: &Component,
        path: &Path,
    ) -> Result<wasmtime::component::InstancePre<StoreState>, HostError> {
        self.linker
            .instantiate_pre(component)
            .map_err(|e| HostError::WrongWorld {
                path: path.to_path_buf(),
                expected: "component this host can link",
                reason: format!("{e:#}"),
            })
    }

    fn wrong_world(&self, path: &Path, role: ComponentRole, e: wasmtime::Error) -> HostError {
        HostError::WrongWorld {
            path: path.to_path_buf(),
            expected: role.describe(),
            reason: format!("{e:#}"),
        }
    }
}

/// The backend chain bound to the agent's `model` import, built once and
/// specialised for each run (fresh plugin instances, per-run router).
enum ModelChain {
    Native(crate::models::Native),
    Plugin {
        info: Arc<ComponentInfo>,
        pre: ModelPluginPre<StoreState>,
        capabilities: m::Capabilities,
        inner: Box<ModelChain>,
    },
}

impl ModelChain {
    fn for_run(
        &self,
        run_id: &str,
        rt: &tokio::runtime::Handle,
        run: &Arc<RunContext>,
    ) -> Arc<dyn SyncModel> {
        match self {
            ModelChain::Native(native) => Arc::new(NativeModel::new(
                native.for_run(run_id),
                rt.clone(),
                matches!(native, crate::models::Native::Routed(..)),
            )),
            ModelChain::Plugin {
                info,
                pre,
                capabilities,
                inner,
            } => Arc::new(PluginModel::new(
                info.clone(),
                pre.clone(),
                inner.for_run(run_id, rt, run),
                run.clone(),
                capabilities.clone(),
            )),
        }
    }

    /// The router at the bottom of the chain, if any.
    fn router(&self) -> Option<&weft_router::Router> {
        match self {
            ModelChain::Native(crate::models::Native::Routed(r, _)) => Some(r),
            ModelChain::Native(_) => None,
            ModelChain::Plugin { inner, .. } => inner.router(),
        }
    }
}

fn build_chain(
    loader: &Loader<'_>,
    spec: &ModelSpec,
    provided: Option<Arc<dyn m::Model>>,
    rt: &tokio::runtime::Handle,
    run: &Arc<RunContext>,
) -> Result<ModelChain, HostError> {
    if let ModelSpec::Plugin { plugin, inner } = spec {
        let inner = build_chain(loader, inner, provided, rt, run)?;
        let (info, component) = loader.load(plugin, ComponentRole::Model)?;
        let pre = ModelPluginPre::new(loader.pre(&component, &plugin.component)?)
            .map_err(|e| loader.wrong_world(&plugin.component, ComponentRole::Model, e))?;
        let capabilities = PluginModel::probe(
            info.clone(),
            pre.clone(),
            inner.for_run("probe", rt, run),
            run.clone(),
        )?;
        return Ok(ModelChain::Plugin {
            info,
            pre,
            capabilities,
            inner: Box::new(inner),
        });
    }
    Ok(ModelChain::Native(match provided {
        Some(model) => crate::models::Native::Shared(model),
        None => crate::models::native_model(spec, &run.services.secrets)?,
    }))
}

/// A loaded agent with its tools and model, ready to run.
pub struct Host {
    engine: WeftEngine,
    agent_info: Arc<ComponentInfo>,
    agent_pre: AgentPluginPre<StoreState>,
    tools: Arc<ToolRegistry>,
    model: ModelChain,
    rt: tokio::runtime::Handle,
    services: Arc<Services>,
    runs: std::sync::atomic::AtomicU64,
    _owned_rt: Option<Arc<tokio::runtime::Runtime>>,
}

impl Host {
    /// A builder with default settings.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &wasmtime::Engine {
        self.engine.engine()
    }

    /// Every installed tool's spec.
    pub fn tool_specs(&self) -> Vec<m::ToolSpec> {
        self.tools
            .components
            .iter()
            .flat_map(|c| c.specs.clone())
            .collect()
    }

    /// Starts a session: one run's worth of state and tool instances.
    pub fn session(&self) -> Session<'_> {
        let n = self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let id = format!("run-{}-{n}", self.services.clock.now_ms());
        let run = RunContext::new(self.services.clone());
        let toolbox = Arc::new(Toolbox::new(
            self.agent_info.clone(),
            self.tools.clone(),
            run.clone(),
        ));
        let model = self.model.for_run(&id, &self.rt, &run);
        Session {
            host: self,
            id,
            run,
            toolbox,
            model,
            agent: None,
        }
    }

    /// Runs the agent once on `input`, in fresh sandboxes.
    ///
    /// This blocks; from async code call it inside
    /// `tokio::task::spawn_blocking`.
    pub fn run(&self, input: &str) -> Result<RunReport, RunError> {
        self.session().run(input)
    }
}

/// One run's state: key-value state and the tool instances, which live
/// until the session is dropped.
pub struct Session<'h> {
    host: &'h Host,
    id: String,
    run: Arc<RunContext>,
    model: Arc<dyn SyncModel>,
    toolbox: Arc<Toolbox>,
    agent: Option<(Store<StoreState>, AgentPlugin)>,
}

impl Session<'_> {
    /// This run's id (used for per-run budgets and decisions).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Instantiates the agent and every tool now (normally lazy).
    pub fn instantiate(&mut self) -> Result<(), RunError> {
        if self.agent.is_none() {
            self.agent = Some(self.new_agent()?);
        }
        self.toolbox
            .instantiate_all()
            .map_err(|e| RunError::Crashed {
                component: "tool".into(),
                reason: e.to_string(),
            })
    }

    fn new_agent(&self) -> Result<(Store<StoreState>, AgentPlugin), RunError> {
        let info = self.host.agent_info.clone();
        let crashed = |reason: String| RunError::Crashed {
            component: info.name.clone(),
            reason,
        };
        let mut store = StoreState::new_store(
            self.host.engine.engine(),
            info.clone(),
            self.run.clone(),
            Some(self.model.clone()),
            Some(self.toolbox.clone()),
        )
        .map_err(crashed)?;
        arm(&mut store);
        match self.host.agent_pre.instantiate(&mut store) {
            Ok(agent) => Ok((store, agent)),
            Err(e) => Err(crashed(classify(&store, &e).to_string())),
        }
    }

    /// Calls a tool directly, as the embedder (the agent's tool policy
    /// applies).
    pub fn call_tool(&self, tool: &str, arguments: &str) -> Result<String, ToolError> {
        self.toolbox.call(tool, arguments)
    }

    /// Runs the agent on `input`. The agent instance is used once; tool
    /// instances and state carry over to later runs of this session.
    pub fn run(&mut self, input: &str) -> Result<RunReport, RunError> {
        let started = Instant::now();
        let (mut store, agent) = match self.agent.take() {
            Some(live) => live,
            None => self.new_agent()?,
        };
        arm(&mut store);
        let name = self.host.agent_info.name.clone();
        let result = agent.weft_plugins_agent().call_run(&mut store, input);
        match result {
            Ok(Ok(out)) => Ok(RunReport {
                answer: out.answer,
                transcript: out.transcript.into_iter().map(Into::into).collect(),
                usage: out.usage.into(),
                steps: out.steps,
                spend: *self.run.spend.lock().unwrap_or_else(|p| p.into_inner()),
                routing: self.host.model.router().map(|router| RoutingReport {
                    totals: router.run_totals(&self.id),
                    decisions: router
                        .decisions()
                        .into_iter()
                        .filter(|d| d.run == self.id)
                        .collect(),
                }),
                duration: started.elapsed(),
            }),
            Ok(Err(e)) => Err(run_error(e)),
            Err(e) => {
                let reason = classify(&store, &e).to_string();
                self.host.services.observer.event(&Event::Crashed {
                    component: name.clone(),
                    reason: reason.clone(),
                });
                tracing::error!(component = %name, %reason, "agent crashed");
                Err(RunError::Crashed {
                    component: name,
                    reason,
                })
            }
        }
    }
}

fn run_error(e: crate::bindings::exports::weft::plugins::agent::RunError) -> RunError {
    use crate::bindings::exports::weft::plugins::agent::RunError as W;
    match e {
        W::InvalidInput(s) => RunError::InvalidInput(s),
        W::Model(e) => RunError::Model(e.into()),
        W::StepLimit(n) => RunError::StepLimit(n),
        W::BudgetExceeded(s) => RunError::BudgetExceeded(s),
        W::Failed(s) => RunError::Failed(s),
    }
}

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
/// deny-all sandbox to list its tools; nothing else is run.
pub fn inspect(path: &Path) -> Result<Inspection, HostError> {
    let engine = WeftEngine::new(EngineOptions {
        pooling_instances: None,
        ..EngineOptions::default()
    })?;
    let cache = ComponentCache::new(engine.engine(), ComponentCache::default_dir());
    let (component, _) = cache.load(engine.engine(), path)?;
    let summary = summarize(engine.engine(), &component);
    let tools = if summary.role == Some(ComponentRole::Tool) {
        let mut linker: Linker<StoreState> = Linker::new(engine.engine());
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .and_then(|_| wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker))
            .and_then(|_| {
                AgentPlugin::add_to_linker::<StoreState, wasmtime::component::HasSelf<StoreState>>(
                    &mut linker,
                    |s| s,
                )
            })
            .map_err(|e| HostError::wasmtime("cannot set up the linker", e))?;
        let loader = Loader {
            engine: &engine,
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
            prices: Arc::new(weft_router::PriceCatalog::empty()),
        });
        Some(ToolComponent::load(info, pre, RunContext::new(services))?.specs)
    } else {
        None
    };
    Ok(Inspection {
        path: path.to_path_buf(),
        summary,
        tools,
    })
}
