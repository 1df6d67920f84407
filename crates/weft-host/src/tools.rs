//! Tool plugins: loading their specs, validating arguments against their
//! JSON Schemas, and dispatching an agent's calls into each tool's sandbox.

use crate::bindings::tool::{ToolPlugin, ToolPluginPre};
use crate::error::{HostError, ToolError};
use crate::observe::Event;
use crate::store::{
    Bindings, ComponentInfo, RunContext, StoreState, arm, classify, settle, timed_out,
};
use crate::toolbox::{Tools, ask_approval};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::Store;
use weft_model as m;

/// One loaded tool-plugin component.
pub(crate) struct ToolComponent {
    pub info: Arc<ComponentInfo>,
    pub pre: ToolPluginPre<StoreState>,
    pub specs: Vec<m::ToolSpec>,
    validators: HashMap<String, jsonschema::Validator>,
}

impl ToolComponent {
    /// Instantiates the component once to read its tool specs, and compiles
    /// each input schema.
    pub async fn load(
        info: Arc<ComponentInfo>,
        pre: ToolPluginPre<StoreState>,
        run: Arc<RunContext>,
    ) -> Result<Self, HostError> {
        let fail = |reason: String| HostError::Component {
            component: info.name.clone(),
            reason,
        };
        let mut store = StoreState::new_store(pre.engine(), info.clone(), run, Bindings::default())
            .map_err(fail)?;
        let deadline = arm(&mut store);
        let listed = deadline
            .run(async {
                let bindings = pre.instantiate_async(&mut store).await?;
                bindings
                    .weft_plugins_tool()
                    .call_list_tools(&mut store)
                    .await
            })
            .await;
        let specs = match listed {
            Ok(Ok(specs)) => specs,
            Ok(Err(e)) => {
                let abort = classify(&store, &e);
                return Err(fail(format!("while listing its tools it {abort}")));
            }
            Err(_) => {
                let abort = timed_out(&store);
                return Err(fail(format!("while listing its tools it {abort}")));
            }
        };
        let mut validators = HashMap::new();
        let mut out = Vec::with_capacity(specs.len());
        for spec in specs {
            let invalid = |reason: String| HostError::InvalidToolSpec {
                component: info.name.clone(),
                tool: spec.name.clone(),
                reason,
            };
            if !valid_tool_name(&spec.name) {
                return Err(invalid("tool names must match [a-zA-Z0-9_-]{1,64}".into()));
            }
            let schema: serde_json::Value = serde_json::from_str(&spec.input_schema)
                .map_err(|e| invalid(format!("input-schema is not JSON: {e}")))?;
            let validator = jsonschema::validator_for(&schema)
                .map_err(|e| invalid(format!("input-schema is not a valid JSON Schema: {e}")))?;
            validators.insert(spec.name.clone(), validator);
            out.push(spec.into());
        }
        Ok(ToolComponent {
            info,
            pre,
            specs: out,
            validators,
        })
    }

    /// Checks `arguments` (JSON text) against the tool's schema.
    fn validate(&self, tool: &str, arguments: &str) -> Result<(), ToolError> {
        let value: serde_json::Value = serde_json::from_str(arguments).map_err(|e| {
            ToolError::InvalidArguments(format!("arguments are not valid JSON: {e}"))
        })?;
        let Some(validator) = self.validators.get(tool) else {
            return Ok(());
        };
        match weft_providers::schema::argument_problems(validator, &value) {
            None => Ok(()),
            Some(problems) => Err(ToolError::InvalidArguments(problems)),
        }
    }

    /// The largest result or error message a call may return, in bytes.
    fn output_limit(&self) -> usize {
        self.info.policy.limits.max_output_kb as usize * 1024
    }
}

fn valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Every installed tool, by name.
#[derive(Default)]
pub(crate) struct ToolRegistry {
    pub components: Vec<Arc<ToolComponent>>,
    by_name: HashMap<String, usize>,
}

impl ToolRegistry {
    pub fn add(&mut self, component: ToolComponent) -> Result<(), HostError> {
        let index = self.components.len();
        for spec in &component.specs {
            if let Some(&prev) = self.by_name.get(&spec.name) {
                return Err(HostError::DuplicateTool {
                    tool: spec.name.clone(),
                    first: self.components[prev].info.name.clone(),
                    second: component.info.name.clone(),
                });
            }
            self.by_name.insert(spec.name.clone(), index);
        }
        self.components.push(Arc::new(component));
        Ok(())
    }

    fn find(&self, tool: &str) -> Option<usize> {
        self.by_name.get(tool).copied()
    }

    fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

struct ToolInstance {
    store: Store<StoreState>,
    bindings: ToolPlugin,
}

/// The tools one agent may call during one run. Tool instances are created
/// on first use and reused for the rest of the run; a trap, a timeout or a
/// cancelled call discards the instance so the next call gets a fresh one.
pub struct Toolbox {
    caller: Arc<ComponentInfo>,
    registry: Arc<ToolRegistry>,
    run: Arc<RunContext>,
    instances: Vec<tokio::sync::Mutex<Option<ToolInstance>>>,
}

impl Toolbox {
    pub(crate) fn new(
        caller: Arc<ComponentInfo>,
        registry: Arc<ToolRegistry>,
        run: Arc<RunContext>,
    ) -> Self {
        let instances = registry
            .components
            .iter()
            .map(|_| tokio::sync::Mutex::new(None))
            .collect();
        Toolbox {
            caller,
            registry,
            run,
            instances,
        }
    }

    /// The specs of the tools the caller's policy allows.
    pub fn list(&self) -> Vec<m::ToolSpec> {
        self.registry
            .components
            .iter()
            .flat_map(|c| &c.specs)
            .filter(|s| self.caller.policy.allows_tool(&s.name))
            .cloned()
            .collect()
    }

    /// Creates every tool instance now rather than on first use.
    pub async fn instantiate_all(&self) -> Result<(), ToolError> {
        for index in 0..self.instances.len() {
            let mut slot = self.instances[index].lock().await;
            if slot.is_none() {
                *slot = Some(self.instantiate(index).await?);
            }
        }
        Ok(())
    }

    async fn instantiate(&self, index: usize) -> Result<ToolInstance, ToolError> {
        let component = &self.registry.components[index];
        let mut store = StoreState::new_store(
            component.pre.engine(),
            component.info.clone(),
            self.run.clone(),
            Bindings::default(),
        )
        .map_err(ToolError::Crashed)?;
        let deadline = arm(&mut store);
        match deadline
            .run(component.pre.instantiate_async(&mut store))
            .await
        {
            Ok(Ok(bindings)) => Ok(ToolInstance { store, bindings }),
            Ok(Err(e)) => {
                let abort = classify(&store, &e);
                Err(self.crashed(&component.info.name, &abort.to_string()))
            }
            Err(_) => {
                let abort = timed_out(&store);
                Err(self.crashed(&component.info.name, &abort.to_string()))
            }
        }
    }

    fn crashed(&self, component: &str, what: &str) -> ToolError {
        let reason =
            format!("tool component `{component}` {what}; it will be restarted on the next call");
        tracing::error!(%component, %reason, "tool crashed");
        self.run.services.observer.event(&Event::Crashed {
            component: component.to_string(),
            reason: reason.clone(),
        });
        ToolError::Crashed(reason)
    }

    /// Calls a tool: policy, approval, validation, then the sandboxed call.
    pub async fn call(&self, tool: &str, arguments: &str) -> Result<String, ToolError> {
        let started = Instant::now();
        let result = self.call_inner(tool, arguments).await;
        let duration = started.elapsed();
        let error = result.as_ref().err().map(|e| e.to_string());
        tracing::info!(agent = %self.caller.name, %tool, ?duration, error = ?error, "tool call");
        let observer = &self.run.services.observer;
        // The event owns copies of the names and arguments; skip building it
        // when nobody listens.
        if observer.wants_events() {
            observer.event(&Event::ToolCall {
                component: self.caller.name.clone(),
                tool: tool.to_string(),
                arguments: arguments.to_string(),
                duration,
                error,
            });
        }
        result
    }

    async fn call_inner(&self, tool: &str, arguments: &str) -> Result<String, ToolError> {
        let Some(index) = self.registry.find(tool) else {
            return Err(ToolError::NotFound(format!(
                "no tool named `{tool}`; installed: {}",
                self.registry.names().join(", ")
            )));
        };
        let policy = &self.caller.policy;
        if !policy.allows_tool(tool) {
            let reason = format!(
                "the policy of `{}` does not allow the tool `{tool}`",
                self.caller.name
            );
            self.run.services.observer.event(&Event::Denied {
                component: self.caller.name.clone(),
                reason: reason.clone(),
            });
            return Err(ToolError::Denied(reason));
        }
        let component = &self.registry.components[index];
        component.validate(tool, arguments)?;
        if policy.needs_approval(tool)
            && !ask_approval(
                &self.run,
                &self.caller.name,
                tool,
                arguments,
                "the policy requires approval for this tool",
            )
            .await
        {
            return Err(ToolError::Denied(format!(
                "approval for `{tool}` was declined"
            )));
        }
        let mut slot = self.instances[index].lock().await;
        // Out of the slot for the call: if the call is cancelled (the
        // caller's own deadline), the instance, possibly mid-call, is dropped
        // rather than reused.
        let mut live = match slot.take() {
            Some(live) => live,
            None => self.instantiate(index).await?,
        };
        let deadline = arm(&mut live.store);
        let outcome = deadline
            .run(
                live.bindings
                    .weft_plugins_tool()
                    .call_call(&mut live.store, tool, arguments),
            )
            .await;
        if outcome.as_ref().is_ok_and(|r| r.is_ok())
            && let Err(abort) = settle(&mut live.store)
        {
            return Err(self.crashed(&component.info.name, &abort.to_string()));
        }
        let limit = component.output_limit();
        let max_kb = component.info.policy.limits.max_output_kb;
        match outcome {
            Ok(Ok(Ok(output))) => {
                *slot = Some(live);
                if output.len() > limit {
                    return Err(ToolError::Failed(format!(
                        "`{tool}` returned {} bytes, over its limit of {max_kb} KiB",
                        output.len(),
                    )));
                }
                Ok(output)
            }
            Ok(Ok(Err(e))) => {
                *slot = Some(live);
                let e: ToolError = e.into();
                let size = match &e {
                    ToolError::NotFound(s)
                    | ToolError::Denied(s)
                    | ToolError::InvalidArguments(s)
                    | ToolError::Failed(s)
                    | ToolError::Crashed(s) => s.len(),
                };
                if size > limit {
                    return Err(ToolError::Failed(format!(
                        "`{tool}` returned an error of {size} bytes, over its limit of {max_kb} KiB"
                    )));
                }
                Err(e)
            }
            Ok(Err(e)) => {
                let abort = classify(&live.store, &e);
                Err(self.crashed(&component.info.name, &abort.to_string()))
            }
            Err(_) => {
                let abort = timed_out(&live.store);
                Err(self.crashed(&component.info.name, &abort.to_string()))
            }
        }
    }
}

impl Tools for Toolbox {
    fn list(&self) -> Vec<m::ToolSpec> {
        Toolbox::list(self)
    }

    fn call<'a>(
        &'a self,
        tool: &'a str,
        arguments: &'a str,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(Toolbox::call(self, tool, arguments))
    }
}
