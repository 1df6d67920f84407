//! The small host services every component may import: logging, per-run
//! key-value state, clock, configuration and approval.

use crate::bindings::weft::plugins::{approval, clock, config, logging, state, types};
use crate::bindings::wit as w;
use crate::observe::{Event, LogLevel};
use crate::store::StoreState;

/// Longest log line kept, in bytes.
const MAX_LOG_LINE: usize = 16 * 1024;

impl types::Host for StoreState {}

impl logging::Host for StoreState {
    fn log(&mut self, level: logging::Level, message: String) {
        let mut message = message;
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
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
    }
}

impl state::Host for StoreState {
    fn get(&mut self, key: String) -> Option<String> {
        let map = self.run.state.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(self.info.name.clone(), key)).cloned()
    }

    fn set(&mut self, key: String, value: String) -> Result<(), String> {
        let limit = self.info.policy.limits.max_state_kb as usize * 1024;
        let mut map = self.run.state.lock().unwrap_or_else(|p| p.into_inner());
        let name = &self.info.name;
        let used: usize = map
            .iter()
            .filter(|((c, k), _)| c == name && *k != key)
            .map(|((_, k), v)| k.len() + v.len())
            .sum();
        if used + key.len() + value.len() > limit {
            return Err(format!(
                "state of `{name}` would exceed its limit of {} KiB",
                self.info.policy.limits.max_state_kb
            ));
        }
        map.insert((name.clone(), key), value);
        Ok(())
    }

    fn delete(&mut self, key: String) -> bool {
        let mut map = self.run.state.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&(self.info.name.clone(), key)).is_some()
    }

    fn keys(&mut self, prefix: String) -> Vec<String> {
        let map = self.run.state.lock().unwrap_or_else(|p| p.into_inner());
        map.keys()
            .filter(|(c, k)| *c == self.info.name && k.starts_with(&prefix))
            .map(|(_, k)| k.clone())
            .collect()
    }
}

impl clock::Host for StoreState {
    fn now_ms(&mut self) -> u64 {
        self.run.services.clock.now_ms()
    }
}

impl config::Host for StoreState {
    fn get(&mut self, key: String) -> Option<String> {
        self.info.config.get(&key).cloned()
    }
}

impl approval::Host for StoreState {
    fn request(&mut self, call: w::ToolCall, reason: String) -> bool {
        let approved = self.run.services.approver.approve(
            &self.info.name,
            &call.name,
            &call.arguments,
            &reason,
        );
        tracing::info!(component = %self.info.name, tool = %call.name, approved, "approval requested");
        approved
    }
}
