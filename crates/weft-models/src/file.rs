//! [`ModelFile`]: the model half of a `weft.toml`, for tools that serve or
//! check a model without running its agent.

use crate::build::ModelsError;
use crate::secrets::SecretSource;
use crate::spec::{ModelSpec, NoPlugin};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The `[model]` and `[secrets]` tables of a `weft.toml`; the agent, tools
/// and everything else are ignored here (a host checks them).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModelFile {
    /// The model, if the file names one.
    #[serde(default)]
    pub model: Option<ModelSpec<NoPlugin>>,
    /// Where named secrets come from.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretSource>,
}

impl ModelFile {
    /// Reads `path` and resolves the model's relative paths against its
    /// directory.
    pub fn load(path: &Path) -> Result<Self, ModelsError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut file: ModelFile = toml::from_str(&text).map_err(|e| ModelsError::Config {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if let Some(model) = &mut file.model {
            model.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_model_and_secrets_are_read_and_paths_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weft.toml");
        std::fs::write(
            &path,
            "[agent]\ncomponent = 'a.wasm'\n[model]\ntype = 'cassette'\npath = 'c.jsonl'\n[secrets]\nK = { env = 'MY_K' }\n",
        )
        .unwrap();
        let file = ModelFile::load(&path).unwrap();
        assert_eq!(
            file.model,
            Some(ModelSpec::Cassette {
                path: dir.path().join("c.jsonl"),
                lenient: false
            })
        );
        assert_eq!(file.secrets["K"].env, "MY_K");
        std::fs::write(&path, "[model]\ntype = 'provider'\n").unwrap();
        let err = ModelFile::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("weft.toml") && err.contains("missing field"),
            "{err}"
        );
    }
}
