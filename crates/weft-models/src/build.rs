//! The factory: any [`ModelSpec`] becomes a [`ModelStack`], the models it
//! names built with the secrets they need.

use crate::secrets::SecretStore;
use crate::spec::{ForeignReasoningRule, ModelSpec};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use weft_meter::Metered;
use weft_model as m;
use weft_providers as p;

/// Why a model could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    /// The configuration is wrong; `path` names the file or table at fault.
    #[error("invalid configuration in {path}: {reason}")]
    Config {
        /// The file (or `[model]`).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// What a [`ModelSpec`] builds: one model shared by every run, or a router
/// that keeps per-run budgets and decisions and is specialised per run.
///
/// Either way [`ModelStack::for_run`] hands the model out wrapped once in
/// [`Metered`], which prices (and traces) its calls: nothing above the
/// factory prices or traces a call on its own.
pub enum ModelStack {
    /// One model for all runs.
    Shared(Arc<dyn m::Model>),
    /// A router; each run gets `router.for_run(id)`, charged to the key.
    #[cfg(feature = "router")]
    Routed(weft_router::Router, Option<String>),
}

impl ModelStack {
    /// The model to use for run `run_id`, metered: every answer carries
    /// its [`m::Charge`] and every call is traced once (a router traces its
    /// own attempts, so it is priced here, not traced again).
    #[cfg_attr(not(feature = "router"), allow(unused_variables))]
    pub fn for_run(&self, run_id: &str) -> Arc<dyn m::Model> {
        match self {
            ModelStack::Shared(model) => Arc::new(Metered::new(model.clone())),
            #[cfg(feature = "router")]
            ModelStack::Routed(router, key) => {
                let run = router.for_run(run_id);
                let run = match key {
                    Some(key) => run.with_key(key.clone()),
                    None => run,
                };
                Arc::new(Metered::new(run).untraced())
            }
        }
    }

    /// The router, when the stack is one.
    #[cfg(feature = "router")]
    pub fn router(&self) -> Option<&weft_router::Router> {
        match self {
            ModelStack::Routed(router, _) => Some(router),
            ModelStack::Shared(_) => None,
        }
    }
}

fn config_error(reason: String) -> ModelsError {
    ModelsError::Config {
        path: PathBuf::from("[model]"),
        reason,
    }
}

fn api_key(secrets: &SecretStore, name: &Option<String>) -> Result<Option<m::Secret>, ModelsError> {
    match name {
        Some(name) => secrets.get(name).map(|v| Some(m::Secret::new(v.expose()))).ok_or_else(|| {
            config_error(format!(
                "the API key secret `{name}` is not set (export {name}=... or map it under [secrets])"
            ))
        }),
        None => Ok(None),
    }
}

/// Builds the models of `spec` (a model plugin needs a host: the host
/// builds the chain below it with this).
pub fn build<P>(spec: &ModelSpec<P>, secrets: &SecretStore) -> Result<ModelStack, ModelsError> {
    match spec {
        #[cfg(feature = "router")]
        ModelSpec::Router {
            policy,
            models,
            key,
        } => {
            let text = std::fs::read_to_string(policy).map_err(|source| ModelsError::Io {
                path: policy.clone(),
                source,
            })?;
            let mut named: std::collections::HashMap<String, Arc<dyn m::Model>> =
                std::collections::HashMap::new();
            for (name, inner) in models {
                named.insert(name.clone(), shared_model(inner, secrets)?);
            }
            let router = weft_router::Router::from_policy_str(&text, named).map_err(|e| {
                ModelsError::Config {
                    path: policy.clone(),
                    reason: e.to_string(),
                }
            })?;
            Ok(ModelStack::Routed(router, key.clone()))
        }
        other => Ok(ModelStack::Shared(shared_model(other, secrets)?)),
    }
}

fn shared_model<P>(
    spec: &ModelSpec<P>,
    secrets: &SecretStore,
) -> Result<Arc<dyn m::Model>, ModelsError> {
    match spec {
        ModelSpec::OpenaiCompatible {
            base_url,
            model,
            api_key_secret,
            timeout_ms,
            provider,
        } => {
            let name = provider.clone().unwrap_or_else(|| "generic".into());
            let mut config = p::ProviderConfig::for_provider(&name, model.clone())
                .map_err(|e| config_error(e.to_string()))?
                .with_base_url(base_url.clone());
            if let Some(key) = api_key(secrets, api_key_secret)? {
                config = config.with_api_key(key);
            }
            if let Some(ms) = timeout_ms {
                config = config.with_timeout(Some(Duration::from_millis(*ms)));
            }
            Ok(Arc::new(config.build().map_err(|e| config_error(e.to_string()))?))
        }
        ModelSpec::Provider {
            provider,
            model,
            api_key_secret,
            base_url,
            region,
            timeout_ms,
            foreign_reasoning,
            http_record,
            http_replay,
        } => {
            let mut config = p::ProviderConfig::for_provider(provider, model.clone())
                .map_err(|e| config_error(e.to_string()))?;
            if let Some(region) = region {
                config = config.with_region(region).map_err(|e| config_error(e.to_string()))?;
            }
            if let Some(url) = base_url {
                config = config.with_base_url(url.clone());
            }
            if let Some(key) = api_key(secrets, api_key_secret)? {
                config = config.with_api_key(key);
            }
            let timeout = timeout_ms.map(Duration::from_millis);
            if timeout.is_some() {
                config = config.with_timeout(timeout);
            }
            if let Some(rule) = foreign_reasoning {
                config = config.with_foreign_reasoning(match rule {
                    ForeignReasoningRule::Drop => p::ForeignReasoning::Drop,
                    ForeignReasoningRule::AsText => p::ForeignReasoning::AsText,
                });
            }
            match (http_replay, http_record) {
                (Some(_), Some(_)) => {
                    return Err(config_error("set http-record or http-replay, not both".into()));
                }
                (Some(path), None) => {
                    let replay = p::ReplayTransport::open(path).map_err(|e| cassette_error(path, e))?;
                    config = config.with_transport(Arc::new(replay));
                }
                (None, Some(path)) => {
                    let live = p::ReqwestTransport::new(timeout).map_err(|e| config_error(e.to_string()))?;
                    let recorder = p::RecordingTransport::create(live, path, "recorded by weft")
                        .map_err(|e| cassette_error(path, e))?;
                    config = config.with_transport(Arc::new(recorder));
                }
                (None, None) => {}
            }
            Ok(Arc::new(config.build().map_err(|e| config_error(e.to_string()))?))
        }
        ModelSpec::Local {
            model,
            backend,
            context,
        } => local_model(model, *backend, *context),
        ModelSpec::Cassette { path, lenient } => {
            let replay = m::cassette::ReplayModel::open(path).map_err(|e| cassette_error(path, e))?;
            let replay = if *lenient { replay.lenient() } else { replay };
            Ok(Arc::new(replay))
        }
        ModelSpec::Record { path, inner } => {
            let inner = shared_model(inner, secrets)?;
            let recorder = m::cassette::RecordingModel::create(inner, path, "recorded by weft run")
                .map_err(|e| cassette_error(path, e))?;
            Ok(Arc::new(recorder))
        }
        #[cfg(feature = "router")]
        ModelSpec::Router { .. } => Err(config_error(
            "a router can only be the outermost native model (inside plugins, not inside record or another router)"
                .into(),
        )),
        #[cfg(not(feature = "router"))]
        ModelSpec::Router { .. } => Err(config_error(
            "this build has no router (weft-models' `router` feature)".into(),
        )),
        ModelSpec::Plugin { .. } => Err(config_error(
            "a model plugin cannot sit inside `record` or a router; put it outside".into(),
        )),
    }
}

#[cfg(all(feature = "local", not(target_arch = "wasm32")))]
fn local_model(
    model: &str,
    backend: crate::spec::LocalBackend,
    context: Option<usize>,
) -> Result<Arc<dyn m::Model>, ModelsError> {
    let path = weft_pull::resolve_local(model).ok_or_else(|| {
        config_error(format!(
            "the local model `{model}` is neither a file nor a directory nor in the model cache: run `weft pull {model}`"
        ))
    })?;
    let backend = match backend {
        crate::spec::LocalBackend::Cpu => weft_local::Backend::Cpu,
        crate::spec::LocalBackend::Wgpu => weft_local::Backend::Wgpu,
    };
    let options = weft_local::LoadOptions {
        device: backend.device(),
        context: context.unwrap_or(4096),
    };
    let loaded =
        weft_local::LocalModel::load(&path, &options).map_err(|e| ModelsError::Config {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    Ok(Arc::new(loaded))
}

#[cfg(not(all(feature = "local", not(target_arch = "wasm32"))))]
fn local_model(
    model: &str,
    _backend: crate::spec::LocalBackend,
    _context: Option<usize>,
) -> Result<Arc<dyn m::Model>, ModelsError> {
    Err(config_error(format!(
        "the local model `{model}` needs weft-models' `local` feature, which this build lacks"
    )))
}

fn cassette_error(path: &Path, e: impl std::fmt::Display) -> ModelsError {
    ModelsError::Config {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// A local model built by its caller (from a GGUF read out of a page's
/// storage, say), as the factory hands models out: metered (it is free).
#[cfg(feature = "local")]
pub fn local(model: Arc<weft_local::LocalModel>) -> Arc<dyn m::Model> {
    Arc::new(Metered::new(model))
}

/// Builds the model `spec` describes outside any agent run, e.g. to serve
/// it over HTTP, with API keys read from the environment as `sources` says
/// (see [`SecretStore::from_env`]).
///
/// A router becomes a single long-lived run: its per-run budget then covers
/// every call made through the returned model. A model plugin is a
/// component and needs a host around it, so it is refused here.
pub fn build_model<P>(
    spec: &ModelSpec<P>,
    sources: &std::collections::BTreeMap<String, crate::secrets::SecretSource>,
) -> Result<Arc<dyn m::Model>, ModelsError> {
    if let ModelSpec::Plugin { .. } = spec {
        return Err(config_error(
            "a model plugin runs inside a host; build the model it wraps instead".into(),
        ));
    }
    let names = spec.secret_names();
    let secrets = SecretStore::from_env(names.iter().map(String::as_str), sources);
    Ok(build(spec, &secrets)?.for_run("weft-serve"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers as `deepseek-flash` with 1M input tokens.
    struct Flash;

    impl m::Model for Flash {
        fn capabilities(&self) -> m::Capabilities {
            m::Capabilities::new("deepseek", "deepseek-flash")
        }

        fn chat<'a>(
            &'a self,
            _: &'a m::ChatRequest,
        ) -> m::BoxFuture<'a, Result<m::ChatResponse, m::ModelError>> {
            Box::pin(async {
                Ok(m::ChatResponse {
                    message: m::Message::assistant("hi"),
                    finish_reason: m::FinishReason::Stop,
                    usage: m::Usage {
                        input_tokens: 1_000_000,
                        ..m::Usage::default()
                    },
                    model: "deepseek-flash".into(),
                })
            })
        }

        fn chat_stream<'a>(
            &'a self,
            request: &'a m::ChatRequest,
        ) -> m::BoxFuture<'a, Result<m::EventStream, m::ModelError>> {
            m::stream_from_chat(self, request)
        }
    }

    #[test]
    fn every_run_gets_the_model_metered() {
        let stack = ModelStack::Shared(Arc::new(Flash));
        let request = m::ChatRequest::new(vec![m::Message::user("hi")]);
        let answer = futures::executor::block_on(stack.for_run("r").chat(&request)).unwrap();
        assert!(
            matches!(answer.usage.charge, Some(m::Charge::Usd(usd)) if usd > 0.0),
            "{:?}",
            answer.usage
        );
    }
}
