//! The three Weft worlds a component can target, and checking that a
//! component targets the world of the role it is given, naming what is off.

use crate::error::HostError;
use std::path::Path;
use wasmtime::component::Component;

/// The WIT package this host implements.
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
    pub(crate) fn export(self) -> String {
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

    pub(crate) fn describe(self) -> &'static str {
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
pub(crate) fn check_world(
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
