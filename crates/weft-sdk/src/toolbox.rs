//! The tools an agent may call (`weft:plugins/toolbox`).

use serde::Serialize;

use crate::{ToolCall, ToolError, ToolSpec};

/// Handle to the host's toolbox. It is a zero-sized value: write
/// `Toolbox.list()` or keep one in a struct.
#[derive(Debug, Clone, Copy, Default)]
pub struct Toolbox;

impl Toolbox {
    /// The tools the policy lets this agent call.
    pub fn list(&self) -> Vec<ToolSpec> {
        crate::bindings::weft::plugins::toolbox::list()
    }

    /// Calls a tool. The host checks the policy, asks for approval where
    /// required, validates the arguments against the tool's schema and runs
    /// the tool in its own sandbox. The result is JSON text.
    pub fn call(&self, call: &ToolCall) -> Result<String, ToolError> {
        crate::bindings::weft::plugins::toolbox::call(call)
    }

    /// Calls tool `name` with `arguments` serialized to JSON, and parses the
    /// JSON result. The call id is `name` itself.
    pub fn call_json<A, R>(&self, name: &str, arguments: &A) -> Result<R, ToolError>
    where
        A: Serialize + ?Sized,
        R: serde::de::DeserializeOwned,
    {
        let arguments = serde_json::to_string(arguments)
            .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
        let text = self.call(&ToolCall {
            id: name.to_string(),
            name: name.to_string(),
            arguments,
        })?;
        serde_json::from_str(&text)
            .map_err(|e| ToolError::Failed(format!("tool `{name}` returned unexpected JSON: {e}")))
    }
}
