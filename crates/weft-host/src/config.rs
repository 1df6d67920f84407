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

/// The backend bound to a `model` import, chosen by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ModelSpec {
    /// Any OpenAI-compatible Chat Completions endpoint.
    #[serde(rename_all = "kebab-case")]
    OpenaiCompatible {
        /// The API base, e.g. `https://api.openai.com/v1`.
        base_url: String,
        /// The model name sent in requests.
        model: String,
        /// Name of the secret holding the API key, if the endpoint needs one.
        #[serde(default)]
        api_key_secret: Option<String>,
        /// Request timeout in milliseconds.
        #[serde(default)]
        timeout_ms: Option<u64>,
        /// The provider profile to speak with (`deepseek`, `vllm`, ...; see
        /// [`ModelSpec::Provider`]); `generic` when unset.
        #[serde(default)]
        provider: Option<String>,
    },
    /// Any provider by name: `openai`, `deepseek`, `qwen`, `kimi`, `glm`,
    /// `minimax`, `doubao`, `ollama`, `vllm`, `llamacpp`, `generic`,
    /// `anthropic`, `gemini`.
    #[serde(rename_all = "kebab-case")]
    Provider {
        /// The provider's name (selects its wire format and quirks profile).
        provider: String,
        /// The model name sent in requests.
        model: String,
        /// Name of the secret holding the API key.
        #[serde(default)]
        api_key_secret: Option<String>,
        /// Overrides the profile's base URL.
        #[serde(default)]
        base_url: Option<String>,
        /// Selects a regional endpoint of the profile (e.g. `cn`).
        #[serde(default)]
        region: Option<String>,
        /// Request timeout in milliseconds.
        #[serde(default)]
        timeout_ms: Option<u64>,
        /// What to do with another provider's reasoning: `drop` or `as-text`.
        #[serde(default)]
        foreign_reasoning: Option<ForeignReasoningRule>,
        /// Record the raw HTTP exchanges (secrets redacted) to this file.
        #[serde(default)]
        http_record: Option<PathBuf>,
        /// Serve the raw HTTP exchanges from this file instead of the network.
        #[serde(default)]
        http_replay: Option<PathBuf>,
    },
    /// Routes each request to the cheapest capable model of `models` under
    /// a routing policy (tiers, sovereignty, budgets, fallback).
    #[serde(rename_all = "kebab-case")]
    Router {
        /// The routing policy file (see `weft-router`).
        policy: PathBuf,
        /// The models the policy names, by name.
        models: BTreeMap<String, ModelSpec>,
        /// The budget key runs are charged to (`[budget.per-key-usd]`), if any.
        #[serde(default)]
        key: Option<String>,
    },
    /// A local open model run in-process on burn: a catalog name fetched
    /// with `weft pull` (`smollm2-135m`), a `.gguf` file, or a Hugging Face
    /// directory (`config.json`, `tokenizer.json`, `*.safetensors`).
    #[serde(rename_all = "kebab-case")]
    Local {
        /// Catalog name or path (relative to the configuration file).
        model: String,
        /// `cpu` (burn's Flex backend, the default) or `wgpu`.
        #[serde(default)]
        backend: weft_local::Backend,
        /// Context length in tokens, prompt and answer together (default
        /// 4096, capped at the model's own limit).
        #[serde(default)]
        context: Option<usize>,
    },
    /// Replays a recorded cassette.
    #[serde(rename_all = "kebab-case")]
    Cassette {
        /// The cassette file.
        path: PathBuf,
        /// Skip checking that requests match the recording.
        #[serde(default)]
        lenient: bool,
    },
    /// Records every exchange with `inner` to a cassette file.
    #[serde(rename_all = "kebab-case")]
    Record {
        /// The cassette file to write.
        path: PathBuf,
        /// The model being recorded.
        inner: Box<ModelSpec>,
    },
    /// A model plugin component wrapping `inner`.
    #[serde(rename_all = "kebab-case")]
    Plugin {
        /// The plugin component and its policy.
        plugin: ComponentConfig,
        /// The backend bound to the plugin's own `model` import.
        inner: Box<ModelSpec>,
    },
}

/// How a provider treats reasoning produced by another provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForeignReasoningRule {
    /// Leave it out of the request.
    Drop,
    /// Send it as plain text.
    AsText,
}

/// Where a secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SecretSource {
    /// The host environment variable holding it.
    pub env: String,
}

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
        let mut spec = &self.model;
        loop {
            match spec {
                ModelSpec::Plugin {
                    plugin: component,
                    inner,
                } => {
                    all.push(component);
                    spec = inner;
                }
                ModelSpec::Record { inner, .. } => spec = inner,
                _ => break,
            }
        }
        all
    }

    fn components_mut(&mut self) -> Vec<&mut ComponentConfig> {
        let mut all = vec![&mut self.agent];
        all.extend(self.tools.iter_mut());
        let mut spec = &mut self.model;
        loop {
            match spec {
                ModelSpec::Plugin {
                    plugin: component,
                    inner,
                } => {
                    all.push(component);
                    spec = inner;
                }
                ModelSpec::Record { inner, .. } => spec = inner,
                _ => break,
            }
        }
        all
    }

    /// Resolves every relative path against `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        for c in self.components_mut() {
            c.component = join(base, &c.component);
            resolve_policy_paths(&mut c.policy, base);
        }
        let mut spec = &mut self.model;
        while let ModelSpec::Plugin { inner, .. } = spec {
            spec = inner;
        }
        resolve_native_paths(spec, base);
    }
}

/// Resolves the paths of a spec that is not a plugin (plugins' own paths
/// are resolved with the other components).
fn resolve_native_paths(spec: &mut ModelSpec, base: &Path) {
    match spec {
        ModelSpec::Cassette { path, .. } => *path = join(base, path),
        ModelSpec::Record { path, inner } => {
            *path = join(base, path);
            resolve_native_paths(inner, base);
        }
        ModelSpec::Provider {
            http_record,
            http_replay,
            ..
        } => {
            for p in [http_record, http_replay].into_iter().flatten() {
                *p = join(base, p);
            }
        }
        ModelSpec::Router { policy, models, .. } => {
            *policy = join(base, policy);
            for inner in models.values_mut() {
                resolve_native_paths(inner, base);
            }
        }
        ModelSpec::Local { model, .. } => {
            // A catalog name stays a name; anything path-like is resolved.
            if model.contains('/') || model.ends_with(".gguf") || base.join(&*model).exists() {
                *model = join(base, Path::new(model)).display().to_string();
            }
        }
        ModelSpec::Plugin { .. } | ModelSpec::OpenaiCompatible { .. } => {}
    }
}

fn resolve_policy_paths(policy: &mut Policy, base: &Path) {
    for d in &mut policy.dirs {
        d.host = join(base, &d.host);
    }
}

fn join(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
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
