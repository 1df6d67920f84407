//! The agent-side interfaces `toolbox` and `approval`: an agent lists and
//! calls the tools its policy grants, and asks a human to approve a call.
//!
//! Both are asynchronous on the host: an agent waiting on a tool call (which
//! runs in the tool's own sandbox, see [`crate::tools`]) or on a human is
//! suspended, and the agent's deadline covers the wait.

use crate::bindings::weft::plugins::{approval, toolbox};
use crate::bindings::wit as w;
use crate::error::ToolError;
use crate::store::{ComponentInfo, RunContext};
use futures::future::BoxFuture;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};
use weft_model as m;

/// The tools one agent may call, as the `toolbox` interface sees them.
pub(crate) trait Tools: Send + Sync {
    /// The specs of the tools the caller's policy grants.
    fn list(&self) -> Vec<m::ToolSpec>;
    /// Calls a tool: policy, approval, validation, then its sandbox.
    fn call<'a>(
        &'a self,
        tool: &'a str,
        arguments: &'a str,
    ) -> BoxFuture<'a, Result<String, ToolError>>;
}

/// What `toolbox` and `approval` need: the calling agent and its tools.
pub(crate) struct ToolboxCtx {
    /// The calling component.
    pub info: Arc<ComponentInfo>,
    /// Its run.
    pub run: Arc<RunContext>,
    /// The tools it may call; `None` for components without a toolbox.
    pub tools: Option<Arc<dyn Tools>>,
}

/// Gives `toolbox` and `approval` their context inside a store's data.
pub(crate) trait ToolboxView: Send {
    /// The toolbox context.
    fn toolbox(&mut self) -> &mut ToolboxCtx;
}

struct HasToolbox;

impl HasData for HasToolbox {
    type Data<'a> = &'a mut ToolboxCtx;
}

/// Links `toolbox` and `approval`.
pub(crate) fn add_to_linker<T: ToolboxView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    toolbox::add_to_linker::<T, HasToolbox>(linker, T::toolbox)?;
    approval::add_to_linker::<T, HasToolbox>(linker, T::toolbox)?;
    Ok(())
}

/// Asks the host's approver, off the async workers (a terminal prompt
/// blocks); the caller's deadline still cuts the wait off.
pub(crate) async fn ask_approval(
    run: &RunContext,
    component: &str,
    tool: &str,
    arguments: &str,
    reason: &str,
) -> bool {
    let approver = run.services.approver.clone();
    let (component, tool, arguments, reason) = (
        component.to_owned(),
        tool.to_owned(),
        arguments.to_owned(),
        reason.to_owned(),
    );
    tokio::task::spawn_blocking(move || approver.approve(&component, &tool, &arguments, &reason))
        .await
        .unwrap_or(false)
}

impl toolbox::Host for ToolboxCtx {
    async fn list(&mut self) -> wasmtime::Result<Vec<w::ToolSpec>> {
        Ok(match &self.tools {
            Some(t) => t.list().into_iter().map(Into::into).collect(),
            None => Vec::new(),
        })
    }

    async fn call(&mut self, call: w::ToolCall) -> wasmtime::Result<Result<String, w::ToolError>> {
        let Some(tools) = self.tools.clone() else {
            return Ok(Err(w::ToolError::Denied(format!(
                "`{}` has no toolbox",
                self.info.name
            ))));
        };
        Ok(tools
            .call(&call.name, &call.arguments)
            .await
            .map_err(Into::into))
    }
}

impl approval::Host for ToolboxCtx {
    async fn request(&mut self, call: w::ToolCall, reason: String) -> wasmtime::Result<bool> {
        let approved = ask_approval(
            &self.run,
            &self.info.name,
            &call.name,
            &call.arguments,
            &reason,
        )
        .await;
        tracing::info!(component = %self.info.name, tool = %call.name, approved, "approval requested");
        Ok(approved)
    }
}
