//! Logging into the host's tracing output (`weft:plugins/logging`).
//!
//! The host tags every line with the calling component's name. Use the
//! functions here or the [`trace!`](crate::trace), [`debug!`](crate::debug),
//! [`info!`](crate::info), [`warn!`](crate::warn) and
//! [`error!`](crate::error) macros, which take `format!` arguments.

pub use crate::bindings::weft::plugins::logging::Level;

/// Writes one log line at `level`.
pub fn log(level: Level, message: &str) {
    crate::bindings::weft::plugins::logging::log(level, message);
}

/// Writes a `trace` line.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Writes a `debug` line.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Writes an `info` line.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Writes a `warn` line.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Writes an `error` line.
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Logs a `format!`-style message at the given [`Level`]:
/// `weft_sdk::log!(Info, "step {n}")`.
#[macro_export]
macro_rules! log {
    ($level:ident, $($arg:tt)+) => {
        $crate::log::log($crate::log::Level::$level, &::std::format!($($arg)+))
    };
}

/// Logs a `format!`-style message at `trace` level.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log!(Trace, $($arg)+) };
}

/// Logs a `format!`-style message at `debug` level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log!(Debug, $($arg)+) };
}

/// Logs a `format!`-style message at `info` level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log!(Info, $($arg)+) };
}

/// Logs a `format!`-style message at `warn` level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log!(Warn, $($arg)+) };
}

/// Logs a `format!`-style message at `error` level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log!(Error, $($arg)+) };
}
