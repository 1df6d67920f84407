//! The small host services every component may import: logging, per-run
//! key-value state, clock and configuration. Each is counted against the
//! component's limits: log lines against its log budget, state against its
//! state limit.

use crate::bindings::weft::plugins::{clock, config, logging, state, types};
use crate::limits::Usage;
use crate::observe::{Event, LogLevel};
use crate::store::{ComponentInfo, RunContext};
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// Longest log line kept, in bytes; longer lines are cut (and marked).
const MAX_LOG_LINE: usize = 16 * 1024;

/// What the service interfaces need: who is calling, its run, its counters.
pub(crate) struct ServicesCtx {
    /// The calling component.
    pub info: Arc<ComponentInfo>,
    /// Its run.
    pub run: Arc<RunContext>,
    /// Its usage counters for this run.
    pub usage: Arc<Usage>,
}

/// Gives the service interfaces their context inside a store's data.
pub(crate) trait ServicesView: Send {
    /// The services context.
    fn services(&mut self) -> &mut ServicesCtx;
}

struct HasServices;

impl HasData for HasServices {
    type Data<'a> = &'a mut ServicesCtx;
}

/// Links `logging`, `state`, `clock`, `config` (and the shared `types`).
pub(crate) fn add_to_linker<T: ServicesView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    types::add_to_linker::<T, HasServices>(linker, T::services)?;
    logging::add_to_linker::<T, HasServices>(linker, T::services)?;
    state::add_to_linker::<T, HasServices>(linker, T::services)?;
    clock::add_to_linker::<T, HasServices>(linker, T::services)?;
    config::add_to_linker::<T, HasServices>(linker, T::services)?;
    Ok(())
}

impl types::Host for ServicesCtx {}

/// Cuts `message` to at most [`MAX_LOG_LINE`] bytes on a character boundary.
fn truncate_line(mut message: String) -> String {
    if message.len() > MAX_LOG_LINE {
        let mut cut = MAX_LOG_LINE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    message
}

impl logging::Host for ServicesCtx {
    fn log(&mut self, level: logging::Level, message: String) -> wasmtime::Result<()> {
        let message = truncate_line(message);
        self.usage
            .charge_log(message.len(), self.info.policy.limits.max_log_kb)?;
        let component = self.info.name.as_str();
        let level = match level {
            logging::Level::Trace => LogLevel::Trace,
            logging::Level::Debug => LogLevel::Debug,
            logging::Level::Info => LogLevel::Info,
            logging::Level::Warn => LogLevel::Warn,
            logging::Level::Error => LogLevel::Error,
        };
        match level {
            LogLevel::Trace => tracing::trace!(%component, "{message}"),
            LogLevel::Debug => tracing::debug!(%component, "{message}"),
            LogLevel::Info => tracing::info!(%component, "{message}"),
            LogLevel::Warn => tracing::warn!(%component, "{message}"),
            LogLevel::Error => tracing::error!(%component, "{message}"),
        }
        let observer = &self.run.services.observer;
        if observer.wants_events() {
            observer.event(&Event::Log {
                component: component.to_string(),
                level,
                message,
            });
        }
        Ok(())
    }
}

impl state::Host for ServicesCtx {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        let map = self.run.state.lock().unwrap_or_else(|p| p.into_inner());
        Ok(map.get(&(self.info.name.clone(), key)).cloned())
    }

    fn set(&mut self, key: String, value: String) -> wasmtime::Result<Result<(), String>> {
        let limit = self.info.policy.limits.max_state_kb as usize * 1024;
        let mut map = self.run.state.lock().unwrap_or_else(|p| p.into_inner());
        let name = &self.info.name;
        let used: usize = map
            .iter()
            .filter(|((c, k), _)| c == name && *k != key)
            .map(|((_, k), v)| k.len() + v.len())
            .sum();
        let after = used + key.len() + value.len();
        if after > limit {
            return Ok(Err(format!(
                "state of `{name}` would exceed its limit of {} KiB",
                self.info.policy.limits.max_state_kb
            )));
        }
        map.insert((name.clone(), key), value);
        self.usage.set_state_bytes(after);
        Ok(Ok(()))
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<bool> {
        let mut map = self.run.state.lock().unwrap_or_else(|p| p.into_inner());
        let removed = map.remove(&(self.info.name.clone(), key));
        if removed.is_some() {
            let name = &self.info.name;
            let used: usize = map
                .iter()
                .filter(|((c, _), _)| c == name)
                .map(|((_, k), v)| k.len() + v.len())
                .sum();
            self.usage.set_state_bytes(used);
        }
        Ok(removed.is_some())
    }

    fn keys(&mut self, prefix: String) -> wasmtime::Result<Vec<String>> {
        let map = self.run.state.lock().unwrap_or_else(|p| p.into_inner());
        Ok(map
            .keys()
            .filter(|(c, k)| *c == self.info.name && k.starts_with(&prefix))
            .map(|(_, k)| k.clone())
            .collect())
    }
}

impl clock::Host for ServicesCtx {
    fn now_ms(&mut self) -> wasmtime::Result<u64> {
        Ok(self.run.services.clock.now_ms())
    }
}

impl config::Host for ServicesCtx {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.info.config.get(&key).cloned())
    }
}
