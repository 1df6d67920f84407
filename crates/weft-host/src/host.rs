//! The [`Host`]: an agent, its tools and its model chain, loaded once, and
//! run as many times as asked, each run a [`Session`] in fresh sandboxes.

use crate::bindings::model::ModelPluginPre;
use crate::bindings::{AgentPlugin, AgentPluginPre};
use crate::engine::WeftEngine;
use crate::error::ToolError;
use crate::limits::ResourceUsage;
use crate::model_binding::BoundModel;
use crate::model_plugin::PluginModel;
use crate::observe::Event;
use crate::store::{
    Bindings, ComponentInfo, RunContext, Services, StoreState, arm, classify, timed_out,
};
use crate::tools::{ToolRegistry, Toolbox};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::Store;
use weft_model as m;

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
    /// What each component made the host hold, by component name (the
    /// host's own accounting, against each component's limits).
    pub resources: BTreeMap<String, ResourceUsage>,
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

/// The backend chain bound to the agent's `model` import, built once and
/// specialised for each run (fresh plugin instances, per-run router).
pub(crate) enum ModelChain {
    Native(weft_models::ModelStack),
    Plugin {
        info: Arc<ComponentInfo>,
        pre: ModelPluginPre<StoreState>,
        capabilities: m::Capabilities,
        inner: Box<ModelChain>,
    },
}

impl ModelChain {
    /// The model bound for run `run_id`.
    pub fn for_run(&self, run_id: &str, run: &Arc<RunContext>) -> BoundModel {
        match self {
            ModelChain::Native(native) => native.for_run(run_id),
            ModelChain::Plugin {
                info,
                pre,
                capabilities,
                inner,
            } => Arc::new(PluginModel::new(
                info.clone(),
                pre.clone(),
                inner.for_run(run_id, run),
                run.clone(),
                capabilities.clone(),
            )),
        }
    }

    /// The router at the bottom of the chain, if any.
    fn router(&self) -> Option<&weft_router::Router> {
        match self {
            ModelChain::Native(native) => native.router(),
            ModelChain::Plugin { inner, .. } => inner.router(),
        }
    }
}

/// A loaded agent with its tools and model, ready to run.
pub struct Host {
    pub(crate) engine: WeftEngine,
    pub(crate) agent_info: Arc<ComponentInfo>,
    pub(crate) agent_pre: AgentPluginPre<StoreState>,
    pub(crate) tools: Arc<ToolRegistry>,
    pub(crate) model: ModelChain,
    pub(crate) rt: tokio::runtime::Handle,
    pub(crate) services: Arc<Services>,
    pub(crate) runs: std::sync::atomic::AtomicU64,
    pub(crate) _owned_rt: Option<Arc<tokio::runtime::Runtime>>,
}

impl Host {
    /// A builder with default settings.
    pub fn builder() -> crate::HostBuilder {
        crate::HostBuilder::default()
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
        let model = self.model.for_run(&id, &run);
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
    /// This blocks the calling thread on the host's tokio runtime; from
    /// async code use [`Host::run_async`] (or call this inside
    /// `tokio::task::spawn_blocking`).
    pub fn run(&self, input: &str) -> Result<RunReport, RunError> {
        self.session().run(input)
    }

    /// Runs the agent once on `input`, in fresh sandboxes.
    pub async fn run_async(&self, input: &str) -> Result<RunReport, RunError> {
        self.session().run_async(input).await
    }

    /// Drives `future` to completion on the host's runtime, blocking.
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.rt.block_on(future)
    }
}

/// One run's state: key-value state and the tool instances, which live
/// until the session is dropped.
pub struct Session<'h> {
    host: &'h Host,
    id: String,
    run: Arc<RunContext>,
    model: BoundModel,
    toolbox: Arc<Toolbox>,
    agent: Option<(Store<StoreState>, AgentPlugin)>,
}

impl Session<'_> {
    /// This run's id (used for per-run budgets and decisions).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What each component has made the host hold so far, by name.
    pub fn resources(&self) -> BTreeMap<String, ResourceUsage> {
        self.run.resources()
    }

    /// Instantiates the agent and every tool now (normally lazy); blocks.
    pub fn instantiate(&mut self) -> Result<(), RunError> {
        let host = self.host;
        host.block_on(self.instantiate_async())
    }

    /// Instantiates the agent and every tool now (normally lazy).
    pub async fn instantiate_async(&mut self) -> Result<(), RunError> {
        if self.agent.is_none() {
            self.agent = Some(self.new_agent().await?);
        }
        self.toolbox
            .instantiate_all()
            .await
            .map_err(|e| RunError::Crashed {
                component: "tool".into(),
                reason: e.to_string(),
            })
    }

    async fn new_agent(&self) -> Result<(Store<StoreState>, AgentPlugin), RunError> {
        let info = self.host.agent_info.clone();
        let crashed = |reason: String| RunError::Crashed {
            component: info.name.clone(),
            reason,
        };
        let bindings = Bindings {
            model: Some(self.model.clone()),
            tools: Some(self.toolbox.clone()),
        };
        let mut store = StoreState::new_store(
            self.host.engine.engine(),
            info.clone(),
            self.run.clone(),
            bindings,
        )
        .map_err(crashed)?;
        let deadline = arm(&mut store);
        match deadline
            .run(self.host.agent_pre.instantiate_async(&mut store))
            .await
        {
            Ok(Ok(agent)) => Ok((store, agent)),
            Ok(Err(e)) => Err(crashed(classify(&store, &e).to_string())),
            Err(_) => Err(crashed(timed_out(&store).to_string())),
        }
    }

    /// Calls a tool directly, as the embedder (the agent's tool policy
    /// applies); blocks.
    pub fn call_tool(&self, tool: &str, arguments: &str) -> Result<String, ToolError> {
        self.host.block_on(self.toolbox.call(tool, arguments))
    }

    /// Calls a tool directly, as the embedder (the agent's tool policy
    /// applies).
    pub async fn call_tool_async(&self, tool: &str, arguments: &str) -> Result<String, ToolError> {
        self.toolbox.call(tool, arguments).await
    }

    /// Runs the agent on `input`, blocking. The agent instance is used
    /// once; tool instances and state carry over to later runs of this
    /// session.
    pub fn run(&mut self, input: &str) -> Result<RunReport, RunError> {
        let host = self.host;
        host.block_on(self.run_async(input))
    }

    /// Runs the agent on `input`. Its time limit covers the whole run:
    /// model answers, tool calls and approvals included.
    pub async fn run_async(&mut self, input: &str) -> Result<RunReport, RunError> {
        let started = Instant::now();
        let (mut store, agent) = match self.agent.take() {
            Some(live) => live,
            None => self.new_agent().await?,
        };
        let deadline = arm(&mut store);
        let name = self.host.agent_info.name.clone();
        let result = deadline
            .run(agent.weft_plugins_agent().call_run(&mut store, input))
            .await;
        let abort = match result {
            Ok(Ok(Ok(out))) => {
                return Ok(RunReport {
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
                    resources: self.run.resources(),
                    duration: started.elapsed(),
                });
            }
            Ok(Ok(Err(e))) => return Err(run_error(e)),
            Ok(Err(e)) => classify(&store, &e),
            Err(_) => timed_out(&store),
        };
        let reason = abort.to_string();
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
