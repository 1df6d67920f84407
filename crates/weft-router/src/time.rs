//! Time for the router: an injectable [`Clock`] and [`Sleeper`]; the small
//! UTC calendar helpers are `weft_meter::calendar`'s ([`utc`]).
//!
//! Everything that depends on the time of day (DeepSeek's off-peak prices,
//! cooldowns, backoff) reads it through these traits, so tests run on a
//! [`ManualClock`] in microseconds and the crate needs no async runtime of
//! its own. On native targets the default sleeper is `tokio::time::sleep`
//! (it needs a Tokio runtime with the time driver); on `wasm32` it is a
//! browser timer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use weft_model::{BoxFuture, MaybeSend, MaybeSync};

pub(crate) use weft_meter::calendar::unix_millis;
pub use weft_meter::calendar::utc;

/// A source of wall-clock time.
pub trait Clock: MaybeSend + MaybeSync {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// Waits for a while, asynchronously.
pub trait Sleeper: MaybeSend + MaybeSync {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// The system's wall clock (`SystemTime::now`, or `Date.now()` in a
/// browser).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        weft_meter::calendar::now()
    }
}

/// The platform's timer: `tokio::time::sleep` on native targets (call it
/// inside a Tokio runtime with the time driver enabled), a JavaScript timer
/// on `wasm32`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultSleeper;

impl Sleeper for DefaultSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            Box::pin(tokio::time::sleep(duration))
        }
        #[cfg(target_arch = "wasm32")]
        {
            Box::pin(gloo_timers::future::sleep(duration))
        }
    }
}

/// A clock that only moves when told to, and a sleeper that advances it
/// instead of waiting: for tests and simulations.
///
/// Clones share the same time. Every [`Sleeper::sleep`] returns at once,
/// moves the clock forward by the duration and is remembered (see
/// [`ManualClock::sleeps`]).
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<ManualState>>,
}

#[derive(Debug)]
struct ManualState {
    now: SystemTime,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: SystemTime) -> Self {
        Self {
            inner: Arc::new(Mutex::new(ManualState {
                now: start,
                sleeps: Vec::new(),
            })),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ManualState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut s = self.state();
        s.now += by;
    }

    /// Sets the clock.
    pub fn set(&self, to: SystemTime) {
        self.state().now = to;
    }

    /// Every duration slept so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state().sleeps.clone()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.state().now
    }
}

impl Sleeper for ManualClock {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        {
            let mut s = self.state();
            s.now += duration;
            s.sleeps.push(duration);
        }
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn manual_clock_sleeps_advance() {
        let c = ManualClock::new(UNIX_EPOCH);
        futures::executor::block_on(c.sleep(Duration::from_secs(2)));
        c.advance(Duration::from_secs(1));
        assert_eq!(c.now(), UNIX_EPOCH + Duration::from_secs(3));
        assert_eq!(c.sleeps(), vec![Duration::from_secs(2)]);
    }
}
