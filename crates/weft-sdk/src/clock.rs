//! Wall-clock time as the host sees it (`weft:plugins/clock`); under replay
//! the host returns the recorded time.

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    crate::bindings::weft::plugins::clock::now_ms()
}
