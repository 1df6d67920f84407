//! Native model backends built from a [`ModelSpec`].

use crate::config::{ForeignReasoningRule, ModelSpec};
use crate::error::HostError;
use crate::secrets::SecretStore;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use weft_model as m;
use weft_providers as p;

/// A native backend: shared by every run, or a router that keeps per-run
/// budgets and decisions and is specialised for each run.
pub(crate) enum Native {
    /// One model for all runs.
    Shared(Arc<dyn m::Model>),
    /// A router; each run gets `router.for_run(id)`, charged to the key.
    Routed(weft_router::Router, Option<String>),
}

impl Native {
    /// The model to bind for run `run_id`.
    pub fn for_run(&self, run_id: &str) -> Arc<dyn m::Model> {
        match self {
            Native::Shared(model) => model.clone(),
            Native::Routed(router, key) => {
                let run = router.for_run(run_id);
                Arc::new(match key {
                    Some(key) => run.with_key(key.clone()),
                    None => run,
                })
            }
        }
    }
}

fn config_error(reason: String) -> HostError {
    HostError::config(PathBuf::from("[model]"), reason)
}

fn api_key(secrets: &SecretStore, name: &Option<String>) -> Result<Option<m::Secret>, HostError> {
    match name {
        Some(name) => secrets.get(name).map(|v| Some(m::Secret::new(v.expose()))).ok_or_else(|| {
            config_error(format!(
                "the API key secret `{name}` is not set (export {name}=... or map it under [secrets])"
            ))
        }),
        None => Ok(None),
    }
}

/// Builds the native backend for `spec` (plugins are handled by the caller).
pub(crate) fn native_model(spec: &ModelSpec, secrets: &SecretStore) -> Result<Native, HostError> {
    match spec {
        ModelSpec::Router {
            policy,
            models,
            key,
        } => {
            let text = std::fs::read_to_string(policy).map_err(|source| HostError::Io {
                path: policy.clone(),
                source,
            })?;
            let mut named: HashMap<String, Arc<dyn m::Model>> = HashMap::new();
            for (name, inner) in models {
                named.insert(name.clone(), shared_model(inner, secrets)?);
            }
            let router = weft_router::Router::from_policy_str(&text, named)
                .map_err(|e| HostError::config(policy.clone(), e.to_string()))?;
            Ok(Native::Routed(router, key.clone()))
        }
        other => Ok(Native::Shared(shared_model(other, secrets)?)),
    }
}

fn shared_model(spec: &ModelSpec, secrets: &SecretStore) -> Result<Arc<dyn m::Model>, HostError> {
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
        } => {
            let path = weft_pull::resolve_local(model).ok_or_else(|| {
                config_error(format!(
                    "the local model `{model}` is neither a file nor a directory nor in the model cache: run `weft pull {model}`"
                ))
            })?;
            let options = weft_local::LoadOptions {
                device: backend.device(),
                context: context.unwrap_or(4096),
            };
            let loaded = weft_local::LocalModel::load(&path, &options)
                .map_err(|e| HostError::config(path.clone(), e.to_string()))?;
            Ok(Arc::new(loaded))
        }
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
        ModelSpec::Router { .. } => Err(config_error(
            "a router can only be the outermost native model (inside plugins, not inside record or another router)"
                .into(),
        )),
        ModelSpec::Plugin { .. } => Err(config_error(
            "a model plugin cannot sit inside `record` or a router; put it outside".into(),
        )),
    }
}

fn cassette_error(path: &Path, e: impl std::fmt::Display) -> HostError {
    HostError::config(path.to_path_buf(), e.to_string())
}

/// The named secrets (API keys) the native model `spec` reads.
pub fn model_secret_names(spec: &ModelSpec) -> Vec<String> {
    match spec {
        ModelSpec::OpenaiCompatible { api_key_secret, .. }
        | ModelSpec::Provider { api_key_secret, .. } => api_key_secret.iter().cloned().collect(),
        ModelSpec::Record { inner, .. } | ModelSpec::Plugin { inner, .. } => {
            model_secret_names(inner)
        }
        ModelSpec::Router { models, .. } => models.values().flat_map(model_secret_names).collect(),
        ModelSpec::Cassette { .. } | ModelSpec::Local { .. } => Vec::new(),
    }
}

/// Builds the native model `spec` describes outside any agent run, e.g. to
/// serve it over HTTP. API keys come from `secrets` (see
/// [`model_secret_names`] and [`SecretStore::from_env`]).
///
/// A router becomes a single long-lived run: its per-run budget then covers
/// every call made through the returned model. A model plugin is a
/// component and needs a host around it, so it is refused here.
pub fn build_model(
    spec: &ModelSpec,
    secrets: &SecretStore,
) -> Result<Arc<dyn m::Model>, HostError> {
    match spec {
        ModelSpec::Plugin { .. } => Err(config_error(
            "a model plugin runs inside a host; build the model it wraps instead".into(),
        )),
        other => Ok(native_model(other, secrets)?.for_run("weft-serve")),
    }
}
