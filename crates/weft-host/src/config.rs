//! The run configuration (`weft.toml`): which agent, which tools, which
//! model, and each component's policy.
//!
//! ```toml
//! [agent]
//! component = "agent.wasm"
//! config = { system-prompt = "You are a helpful assistant." }
//! policy = { tools = ["*"] }
//!
//! [[tools]]
//! component = "text_tools.wasm"
//!
//! [model]                # a tagged enum: the backend is chosen here
//! type = "openai-compatible"
//! base-url = "https://api.deepseek.com"
//! model = "deepseek-flash"
//! api-key-secret = "DEEPSEEK_API_KEY"
//!
//! [secrets]              # where secret values come from (default: the env var of the same name)
//! DEEPSEEK_API_KEY = { env = "MY_DEEPSEEK_KEY" }
//! ```
//!
//! Relative paths are resolved against the directory of the file.

use crate::error::HostError;
use crate::policy::Policy;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use weft_models::join;

/// A whole run: agent, tools, model and secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AppConfig {
    /// The agent component.
    pub agent: ComponentConfig,
    /// Tool plugin components.
    #[serde(default)]
    pub tools: Vec<ComponentConfig>,
    /// The backend bound to the agent's `model` import.
    pub model: ModelSpec,
    /// Where named secrets come from.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretSource>,
}

/// One component and what it may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ComponentConfig {
    /// Path to the `.wasm` component.
    pub component: PathBuf,
    /// Its name in logs, policies and errors; defaults to the file stem.
    #[serde(default)]
    pub name: Option<String>,
    /// Values served by the `config` interface.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Its capabilities.
    #[serde(default)]
    pub policy: Policy,
}

impl ComponentConfig {
    /// A component with no configuration and the default (deny-all) policy.
    pub fn new(component: impl Into<PathBuf>) -> Self {
        ComponentConfig {
            component: component.into(),
            name: None,
            config: BTreeMap::new(),
            policy: Policy::default(),
        }
    }

    /// The component's name: `name`, or the file stem with `_` turned into `-`.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            self.component
                .file_stem()
                .map(|s| s.to_string_lossy().replace('_', "-"))
                .unwrap_or_else(|| "component".to_string())
        })
    }
}

/// The backend bound to the agent's `model` import: a [`weft_models`] spec
/// whose `type = "plugin"` entries are model-plugin components.
pub type ModelSpec = weft_models::ModelSpec<ComponentConfig>;

pub use weft_models::{ForeignReasoningRule, LocalBackend, SecretSource};

/// A policy file given on the command line: policies by component name.
///
/// ```toml
/// [components.http-fetch]
/// http = ["example.com"]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PolicyFile {
    /// Policies keyed by component name.
    #[serde(default)]
    pub components: BTreeMap<String, Policy>,
}

impl PolicyFile {
    /// Reads and validates a policy file.
    pub fn load(path: &Path) -> Result<Self, HostError> {
        let text = read_to_string(path)?;
        let mut file: PolicyFile =
            toml::from_str(&text).map_err(|e| HostError::config(path, e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for (name, policy) in &mut file.components {
            policy
                .validate()
                .map_err(|e| HostError::config(path, format!("components.{name}: {e}")))?;
            resolve_policy_paths(policy, base);
        }
        Ok(file)
    }
}

impl AppConfig {
    /// Reads a `weft.toml`, validates it and resolves relative paths.
    pub fn load(path: &Path) -> Result<Self, HostError> {
        let text = read_to_string(path)?;
        let mut config = Self::parse(&text, path)?;
        config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        Ok(config)
    }

    /// Parses and validates configuration text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, HostError> {
        let config: AppConfig =
            toml::from_str(text).map_err(|e| HostError::config(origin, e.to_string()))?;
        config.validate(origin)?;
        Ok(config)
    }

    /// Applies a policy file: each named component's policy is replaced.
    /// Names that match no component are an error, so typos are caught.
    pub fn apply_policy_file(&mut self, file: &PolicyFile, origin: &Path) -> Result<(), HostError> {
        for (name, policy) in &file.components {
            let target = self
                .components_mut()
                .into_iter()
                .find(|c| &c.display_name() == name)
                .ok_or_else(|| {
                    HostError::config(
                        origin,
                        format!("components.{name}: no component is named `{name}`"),
                    )
                })?;
            target.policy = policy.clone();
        }
        Ok(())
    }

    fn validate(&self, origin: &Path) -> Result<(), HostError> {
        let mut seen = BTreeMap::new();
        for c in self.components() {
            let name = c.display_name();
            c.policy
                .validate()
                .map_err(|e| HostError::config(origin, format!("component `{name}`: {e}")))?;
            if let Some(prev) = seen.insert(name.clone(), c.component.clone()) {
                return Err(HostError::config(
                    origin,
                    format!(
                        "two components are named `{name}` ({} and {}); set `name` on one",
                        prev.display(),
                        c.component.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Every component: agent, tools, model plugins.
    pub fn components(&self) -> Vec<&ComponentConfig> {
        let mut all = vec![&self.agent];
        all.extend(&self.tools);
        all.extend(self.model.plugins());
        all
    }

    fn components_mut(&mut self) -> Vec<&mut ComponentConfig> {
        let mut all = vec![&mut self.agent];
        all.extend(self.tools.iter_mut());
        all.extend(self.model.plugins_mut());
        all
    }

    /// Resolves every relative path against `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        for c in self.components_mut() {
            c.component = join(base, &c.component);
            resolve_policy_paths(&mut c.policy, base);
        }
        self.model.resolve_paths(base);
    }
}

fn resolve_policy_paths(policy: &mut Policy, base: &Path) {
    for d in &mut policy.dirs {
        d.host = join(base, &d.host);
    }
}

fn read_to_string(path: &Path) -> Result<String, HostError> {
    std::fs::read_to_string(path).map_err(|source| HostError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = r#"
        [agent]
        component = "agent.wasm"
        policy = { tools = ["*"] }
        [[tools]]
        component = "text_tools.wasm"
        [model]
        type = "plugin"
        plugin = { component = "redact.wasm" }
        inner = { type = "cassette", path = "c.jsonl" }
    "#;

    #[test]
    fn parses_nested_model_specs_and_resolves_paths() {
        let mut c = AppConfig::parse(APP, Path::new("weft.toml")).unwrap();
        c.resolve_paths(Path::new("/base"));
        assert_eq!(c.agent.component, PathBuf::from("/base/agent.wasm"));
        assert_eq!(c.tools[0].display_name(), "text-tools");
        let names: Vec<_> = c.components().iter().map(|c| c.display_name()).collect();
        assert_eq!(names, ["agent", "text-tools", "redact"]);
        match &c.model {
            ModelSpec::Plugin { inner, .. } => {
                assert_eq!(
                    **inner,
                    ModelSpec::Cassette {
                        path: "/base/c.jsonl".into(),
                        lenient: false
                    }
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn broken_config_names_file_and_problem() {
        let err = AppConfig::parse("[agent]\ncomponent = 3\n", Path::new("bad.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("bad.toml") && msg.contains("component"),
            "{msg}"
        );
        let err = AppConfig::parse(
            "[agent]\ncomponent='a.wasm'\n[model]\ntype='gpt'\n",
            Path::new("m.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown variant `gpt`"), "{err}");
    }

    #[test]
    fn policy_file_must_name_existing_components() {
        let mut c = AppConfig::parse(APP, Path::new("weft.toml")).unwrap();
        let file: PolicyFile = toml::from_str("[components.nope]\nhttp=[]").unwrap();
        let err = c
            .apply_policy_file(&file, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no component is named `nope`"), "{err}");
        let file: PolicyFile = toml::from_str("[components.text-tools]\nhttp=['x.com']").unwrap();
        c.apply_policy_file(&file, Path::new("p.toml")).unwrap();
        assert!(c.tools[0].policy.allows_http("x.com", None));
    }
}
