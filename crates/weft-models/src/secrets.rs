//! Secret values (API keys) and where they come from. They are resolved
//! once, from the environment, by whoever builds models or hosts
//! components; guests never see them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SecretSource {
    /// The host environment variable holding it.
    pub env: String,
}

/// A secret value whose `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(value.into())
    }

    /// The value itself; use only where it leaves the host.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(***)")
    }
}

/// Named secrets, resolved once when the host starts.
#[derive(Debug, Default, Clone)]
pub struct SecretStore {
    values: BTreeMap<String, SecretValue>,
}

impl SecretStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a secret.
    pub fn insert(&mut self, name: impl Into<String>, value: SecretValue) {
        self.values.insert(name.into(), value);
    }

    /// Looks a secret up.
    pub fn get(&self, name: &str) -> Option<&SecretValue> {
        self.values.get(name)
    }

    /// Resolves `names` from the environment: each from the variable named
    /// in `sources`, or else from the variable of the same name. Missing
    /// ones are skipped (a request that needs one is then denied with a
    /// clear message).
    pub fn from_env<'a>(
        names: impl IntoIterator<Item = &'a str>,
        sources: &BTreeMap<String, SecretSource>,
    ) -> Self {
        let mut store = SecretStore::new();
        for name in names {
            let var = sources.get(name).map_or(name, |s| s.env.as_str());
            if let Ok(value) = std::env::var(var) {
                store.insert(name, SecretValue::new(value));
            }
        }
        store
    }
}
