//! Native model backends built from a [`ModelSpec`].

use crate::config::ModelSpec;
use crate::error::HostError;
use crate::secrets::SecretStore;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use weft_model as m;

/// Builds the native model for `spec` (plugins are handled by the caller).
pub(crate) fn native_model(
    spec: &ModelSpec,
    secrets: &SecretStore,
) -> Result<Arc<dyn m::Model>, HostError> {
    let config_error = |reason: String| HostError::config(PathBuf::from("[model]"), reason);
    match spec {
        ModelSpec::OpenaiCompatible {
            base_url,
            model,
            api_key_secret,
            timeout_ms,
            provider,
        } => {
            let api_key = match api_key_secret {
                Some(name) => Some(
                    secrets
                        .get(name)
                        .map(|v| m::Secret::new(v.expose()))
                        .ok_or_else(|| {
                            config_error(format!(
                                "the API key secret `{name}` is not set (export {name}=... or map it under [secrets])"
                            ))
                        })?,
                ),
                None => None,
            };
            let mut config = weft_providers::openai::OpenAiConfig::new(base_url.clone(), model.clone());
            config.api_key = api_key;
            if let Some(ms) = timeout_ms {
                config.timeout = Some(Duration::from_millis(*ms));
            }
            if let Some(p) = provider {
                config.provider_name = p.clone();
            }
            let client = weft_providers::openai::OpenAiCompatible::new(config).map_err(|e| config_error(e.to_string()))?;
            Ok(Arc::new(client))
        }
        ModelSpec::Cassette { path, lenient } => {
            let replay = m::cassette::ReplayModel::open(path)
                .map_err(|e| HostError::config(path.clone(), e.to_string()))?;
            let replay = if *lenient { replay.lenient() } else { replay };
            Ok(Arc::new(replay))
        }
        ModelSpec::Record { path, inner } => {
            let inner = native_model(inner, secrets)?;
            let recorder = m::cassette::RecordingModel::create(inner, path, "recorded by weft run")
                .map_err(|e| HostError::config(path.clone(), e.to_string()))?;
            Ok(Arc::new(recorder))
        }
        ModelSpec::Plugin { .. } => Err(config_error(
            "a model plugin cannot be recorded by a native recorder; record its inner model instead".into(),
        )),
    }
}
