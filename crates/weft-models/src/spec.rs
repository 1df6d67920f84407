//! [`ModelSpec`]: a model chosen by configuration, as plain data, with the
//! helpers that make specs from command-line choices and resolve their
//! paths.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A model chosen by configuration: the `[model]` table of a `weft.toml`,
/// a tagged enum on `type`.
///
/// `P` is what a `type = "plugin"` entry holds: a host that runs model
/// plugins (`weft-host`) uses its component configuration; everything else
/// uses [`NoPlugin`], which refuses plugin entries with a clear error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    deny_unknown_fields,
    bound(serialize = "P: Serialize", deserialize = "P: Deserialize<'de>")
)]
pub enum ModelSpec<P = NoPlugin> {
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
        models: BTreeMap<String, ModelSpec<P>>,
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
        backend: LocalBackend,
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
        inner: Box<ModelSpec<P>>,
    },
    /// A model plugin component wrapping `inner` (run by a host).
    #[serde(rename_all = "kebab-case")]
    Plugin {
        /// The plugin component and its policy.
        plugin: P,
        /// The backend bound to the plugin's own `model` import.
        inner: Box<ModelSpec<P>>,
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

/// Where a local model runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LocalBackend {
    /// burn's Flex backend, on the CPU (the default).
    #[default]
    Cpu,
    /// burn-wgpu: Vulkan, Metal or DX12.
    Wgpu,
}

impl std::str::FromStr for LocalBackend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" | "flex" => Ok(LocalBackend::Cpu),
            "wgpu" | "gpu" | "vulkan" | "webgpu" => Ok(LocalBackend::Wgpu),
            other => Err(format!(
                "unknown backend `{other}` (expected `cpu` or `wgpu`)"
            )),
        }
    }
}

/// The plugin type of a [`ModelSpec`] outside a host: none. A
/// `type = "plugin"` entry is refused when read, naming why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPlugin {}

impl Serialize for NoPlugin {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        match *self {}
    }
}

impl<'de> Deserialize<'de> for NoPlugin {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom(
            "a model plugin is a component and runs inside a host: use it with `weft run`, or serve the model it wraps",
        ))
    }
}

/// A model chosen by plain settings, as the command line offers them: a
/// local model, a provider, an OpenAI-compatible endpoint, or a cassette.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelChoice {
    /// `local:NAME`, `local:FILE.gguf` or `local:DIR`.
    pub local: Option<String>,
    /// Where a local model runs.
    pub backend: LocalBackend,
    /// A provider by name (`deepseek`, `anthropic`, ...).
    pub provider: Option<String>,
    /// An OpenAI-compatible base URL, or the base URL for `provider`.
    pub base_url: Option<String>,
    /// The model's name at the provider.
    pub model: Option<String>,
    /// The environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// A cassette to replay.
    pub cassette: Option<PathBuf>,
}

impl ModelChoice {
    /// The spec these settings choose, if they choose one: a local model,
    /// else a provider, else an OpenAI-compatible endpoint, else a cassette.
    pub fn spec<P>(&self) -> Result<Option<ModelSpec<P>>, String> {
        if let Some(flag) = &self.local {
            let Some(model) = flag.strip_prefix("local:") else {
                return Err(format!(
                    "a local model is `local:NAME` (e.g. local:smollm2-135m) or `local:PATH`; got {flag:?}"
                ));
            };
            return Ok(Some(ModelSpec::Local {
                model: model.to_owned(),
                backend: self.backend,
                context: None,
            }));
        }
        let model = self.model.clone().unwrap_or_default();
        let api_key_secret = self.api_key_env.clone();
        Ok(if let Some(provider) = &self.provider {
            Some(ModelSpec::Provider {
                provider: provider.clone(),
                model,
                api_key_secret,
                base_url: self.base_url.clone(),
                region: None,
                timeout_ms: None,
                foreign_reasoning: None,
                http_record: None,
                http_replay: None,
            })
        } else if let Some(url) = &self.base_url {
            Some(ModelSpec::OpenaiCompatible {
                base_url: url.clone(),
                model,
                api_key_secret,
                timeout_ms: None,
                provider: None,
            })
        } else {
            self.cassette.as_ref().map(|path| ModelSpec::Cassette {
                path: path.clone(),
                lenient: false,
            })
        })
    }
}

impl<P> ModelSpec<P> {
    /// This spec with its innermost native model recorded to the cassette
    /// `path` (model plugins stay outside the recorder).
    pub fn recorded(self, path: &Path) -> Self {
        match self {
            ModelSpec::Plugin { plugin, inner } => ModelSpec::Plugin {
                plugin,
                inner: Box::new(inner.recorded(path)),
            },
            other => ModelSpec::Record {
                path: path.to_path_buf(),
                inner: Box::new(other),
            },
        }
    }

    /// This spec wrapped by the model plugin `plugin`.
    pub fn wrapped_by(self, plugin: P) -> Self {
        ModelSpec::Plugin {
            plugin,
            inner: Box::new(self),
        }
    }

    /// The plugins of the chain, outermost first.
    pub fn plugins(&self) -> Vec<&P> {
        let mut all = Vec::new();
        let mut spec = self;
        loop {
            match spec {
                ModelSpec::Plugin { plugin, inner } => {
                    all.push(plugin);
                    spec = inner;
                }
                ModelSpec::Record { inner, .. } => spec = inner,
                _ => return all,
            }
        }
    }

    /// The plugins of the chain, outermost first, to change them.
    pub fn plugins_mut(&mut self) -> Vec<&mut P> {
        let mut all = Vec::new();
        let mut spec = self;
        loop {
            match spec {
                ModelSpec::Plugin { plugin, inner } => {
                    all.push(plugin);
                    spec = inner;
                }
                ModelSpec::Record { inner, .. } => spec = inner,
                _ => return all,
            }
        }
    }

    /// The named secrets (API keys) the native models of this spec read.
    pub fn secret_names(&self) -> Vec<String> {
        match self {
            ModelSpec::OpenaiCompatible { api_key_secret, .. }
            | ModelSpec::Provider { api_key_secret, .. } => {
                api_key_secret.iter().cloned().collect()
            }
            ModelSpec::Record { inner, .. } | ModelSpec::Plugin { inner, .. } => {
                inner.secret_names()
            }
            ModelSpec::Router { models, .. } => {
                models.values().flat_map(ModelSpec::secret_names).collect()
            }
            ModelSpec::Cassette { .. } | ModelSpec::Local { .. } => Vec::new(),
        }
    }

    /// Resolves the relative paths of the native models against `base`
    /// (a plugin's own paths belong to its host).
    pub fn resolve_paths(&mut self, base: &Path) {
        match self {
            ModelSpec::Plugin { inner, .. } => inner.resolve_paths(base),
            ModelSpec::Cassette { path, .. } => *path = join(base, path),
            ModelSpec::Record { path, inner } => {
                *path = join(base, path);
                inner.resolve_paths(base);
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
                    inner.resolve_paths(base);
                }
            }
            ModelSpec::Local { model, .. } => {
                // A catalog name stays a name; anything path-like is resolved.
                if model.contains('/') || model.ends_with(".gguf") || base.join(&*model).exists() {
                    *model = join(base, Path::new(model)).display().to_string();
                }
            }
            ModelSpec::OpenaiCompatible { .. } => {}
        }
    }
}

/// `path` relative to `base`, unless it is absolute.
pub fn join(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_become_specs_in_order_of_precedence() {
        let spec = |choice: ModelChoice| choice.spec::<NoPlugin>().unwrap();
        assert_eq!(spec(ModelChoice::default()), None);
        let local = ModelChoice {
            local: Some("local:smollm2-135m".into()),
            provider: Some("deepseek".into()),
            ..Default::default()
        };
        assert!(
            matches!(spec(local), Some(ModelSpec::Local { model, .. }) if model == "smollm2-135m")
        );
        let provider = ModelChoice {
            provider: Some("deepseek".into()),
            base_url: Some("http://127.0.0.1:9".into()),
            cassette: Some("c.jsonl".into()),
            ..Default::default()
        };
        assert!(matches!(
            spec(provider),
            Some(ModelSpec::Provider {
                base_url: Some(_),
                ..
            })
        ));
        let endpoint = ModelChoice {
            base_url: Some("http://127.0.0.1:9".into()),
            model: Some("m".into()),
            ..Default::default()
        };
        assert!(matches!(
            spec(endpoint),
            Some(ModelSpec::OpenaiCompatible { .. })
        ));
        let bad = ModelChoice {
            local: Some("smollm2".into()),
            ..Default::default()
        };
        assert!(bad.spec::<NoPlugin>().unwrap_err().contains("local:NAME"));
    }

    #[test]
    fn outside_a_host_a_plugin_is_refused_by_name() {
        let err = toml::from_str::<ModelSpec>(
            "type = 'plugin'\nplugin = { component = 'x.wasm' }\ninner = { type = 'cassette', path = 'c' }",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("runs inside a host"), "{err}");
        let err = toml::from_str::<ModelSpec>("type = 'gpt'")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `gpt`"), "{err}");
    }

    #[test]
    fn recording_wraps_the_innermost_native_model() {
        let spec: ModelSpec<String> = ModelSpec::Cassette {
            path: "c.jsonl".into(),
            lenient: false,
        }
        .wrapped_by("redact".into())
        .recorded(Path::new("out.jsonl"));
        assert_eq!(spec.plugins(), [&"redact".to_string()]);
        match spec {
            ModelSpec::Plugin { inner, .. } => {
                assert!(matches!(*inner, ModelSpec::Record { .. }))
            }
            other => panic!("{other:?}"),
        }
    }
}
