//! Loading one component for a role: read it through the compile cache,
//! check its world, and pre-link it with the host's linker.

use crate::cache::ComponentCache;
use crate::config::ComponentConfig;
use crate::error::HostError;
use crate::store::{ComponentInfo, StoreState};
use crate::world::{ComponentRole, check_world};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{Component, InstancePre, Linker};

/// Loads components with one engine, cache and linker.
pub(crate) struct Loader<'a> {
    pub engine: &'a wasmtime::Engine,
    pub cache: &'a ComponentCache,
    pub linker: &'a Linker<StoreState>,
}

impl Loader<'_> {
    /// Reads and checks the component of `config` for `role`.
    pub fn load(
        &self,
        config: &ComponentConfig,
        role: ComponentRole,
    ) -> Result<(Arc<ComponentInfo>, Component), HostError> {
        let path = &config.component;
        let started = Instant::now();
        let (component, outcome) = self.cache.load(self.engine, path)?;
        let name = config.display_name();
        tracing::debug!(component = %name, path = %path.display(), ?outcome, elapsed = ?started.elapsed(), "loaded");
        check_world(self.engine, &component, role, path)?;
        if let Some(fuel) = config.policy.limits.fuel {
            tracing::debug!(component = %name, fuel, "fuel metering on");
        }
        let info = Arc::new(ComponentInfo {
            name,
            policy: config.policy.clone(),
            config: config.config.clone(),
        });
        Ok((info, component))
    }

    /// Pre-links `component`; `path` names it in errors.
    pub fn pre(
        &self,
        component: &Component,
        path: &Path,
    ) -> Result<InstancePre<StoreState>, HostError> {
        self.linker
            .instantiate_pre(component)
            .map_err(|e| HostError::WrongWorld {
                path: path.to_path_buf(),
                expected: "component this host can link",
                reason: format!("{e:#}"),
            })
    }

    /// The error for a component whose exports do not match `role`'s world.
    pub fn wrong_world(&self, path: &Path, role: ComponentRole, e: wasmtime::Error) -> HostError {
        HostError::WrongWorld {
            path: path.to_path_buf(),
            expected: role.describe(),
            reason: format!("{e:#}"),
        }
    }
}
