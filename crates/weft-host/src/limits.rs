//! Enforcing a component's [`Limits`] and counting what it uses: the
//! wall-clock [`Deadline`] of each guest call, the memory cap over all its
//! linear memories ([`MemoryLimiter`]), and the per-run [`Usage`] counters
//! that host calls charge (log bytes, state, resources, HTTP).
//!
//! Deadlines hold whatever the guest waits on. Every guest call runs under
//! [`Deadline::run`], a timeout around the whole call future, so a guest
//! blocked in a host call (a `wasi:clocks` sleep, a pollable, HTTP, a model
//! call, a nested tool call) is cut off when its time is up; and the epoch
//! callback ([`on_epoch`]) traps a guest still running wasm code at its
//! deadline and otherwise yields to the executor every tick, so an outer
//! deadline (an agent's, around its nested tool call) fires even while an
//! inner guest computes.

use crate::error::LimitHit;
use crate::policy::Limits;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

/// When one guest call must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadline {
    /// The instant the call is cut off.
    pub at: Instant,
    /// The limit it was computed from, for messages.
    pub limit_ms: u64,
}

/// The call's deadline passed while it waited in a host call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimedOut;

impl Deadline {
    /// A deadline `limit_ms` from now.
    pub fn after(limit_ms: u64) -> Self {
        Deadline {
            at: Instant::now() + Duration::from_millis(limit_ms),
            limit_ms,
        }
    }

    /// Whether it has passed.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// Runs `call` to completion or until the deadline, whichever is first.
    ///
    /// The common case, a call that completes without ever waiting, costs
    /// no timer: one is armed only when the call first returns `Pending`.
    /// Dropping the call on timeout cancels whatever it waited on.
    pub async fn run<F: Future>(self, call: F) -> Result<F::Output, TimedOut> {
        let mut call = std::pin::pin!(call);
        let mut timer: Option<Pin<Box<tokio::time::Sleep>>> = None;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = call.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            let timer =
                timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(self.at.into())));
            match timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(TimedOut)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }
}

/// What the epoch ticker does to a guest running wasm code: a trap once its
/// deadline has passed, else a yield to the async executor (so outer
/// deadlines and other runs get their turn) and another tick.
pub(crate) fn on_epoch(deadline: Option<Deadline>) -> wasmtime::Result<wasmtime::UpdateDeadline> {
    match deadline {
        Some(d) if d.passed() => Err(wasmtime::Trap::Interrupt.into()),
        _ => Ok(wasmtime::UpdateDeadline::Yield(1)),
    }
}

/// What one component used during one run (session), over all its
/// instances: the host's own accounting, reported in
/// [`crate::RunReport::resources`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ResourceUsage {
    /// The most linear memory one instance held, in bytes.
    pub memory_peak_bytes: u64,
    /// Log bytes written (after truncation of over-long lines).
    pub log_bytes: u64,
    /// Log lines written.
    pub log_lines: u64,
    /// Bytes of key-value state held at the end.
    pub state_bytes: u64,
    /// The most resource-table entries one instance held.
    pub resources_peak: u64,
    /// The most HTTP header bytes one instance held at once.
    pub http_headers_peak_bytes: u64,
    /// The most outgoing HTTP requests open at once.
    pub http_requests_peak: u64,
    /// Outgoing HTTP requests sent.
    pub http_requests: u64,
    /// Instances created (a trap or timeout discards one; the next call
    /// makes another).
    pub instances: u64,
}

/// The live counters behind a [`ResourceUsage`], shared by every instance of
/// one component in one run.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    memory_peak: AtomicU64,
    log_bytes: AtomicU64,
    log_lines: AtomicU64,
    state_bytes: AtomicU64,
    resources_peak: AtomicU64,
    http_headers_peak: AtomicU64,
    http_requests_peak: AtomicU64,
    http_requests: AtomicU64,
    instances: AtomicU64,
}

impl Usage {
    /// A copy of the counters.
    pub fn snapshot(&self) -> ResourceUsage {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ResourceUsage {
            memory_peak_bytes: get(&self.memory_peak),
            log_bytes: get(&self.log_bytes),
            log_lines: get(&self.log_lines),
            state_bytes: get(&self.state_bytes),
            resources_peak: get(&self.resources_peak),
            http_headers_peak_bytes: get(&self.http_headers_peak),
            http_requests_peak: get(&self.http_requests_peak),
            http_requests: get(&self.http_requests),
            instances: get(&self.instances),
        }
    }

    /// Charges one log line of `bytes` against the run's budget of
    /// `limit_kb`; refused once the budget is spent.
    pub fn charge_log(&self, bytes: usize, limit_kb: u32) -> Result<(), LimitHit> {
        let limit = u64::from(limit_kb) * 1024;
        let before = self.log_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        if before + bytes as u64 > limit {
            self.log_bytes.fetch_sub(bytes as u64, Ordering::Relaxed);
            return Err(LimitHit::Log { limit_kb });
        }
        self.log_lines.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Records the component's state size.
    pub fn set_state_bytes(&self, bytes: usize) {
        self.state_bytes.store(bytes as u64, Ordering::Relaxed);
    }

    /// Records a new instance.
    pub fn instance_created(&self) {
        self.instances.fetch_add(1, Ordering::Relaxed);
    }

    /// Records an instance's memory.
    pub fn memory(&self, bytes: usize) {
        self.memory_peak.fetch_max(bytes as u64, Ordering::Relaxed);
    }

    /// Records an instance's resource-table entries and header bytes.
    pub fn held(&self, resources: usize, header_bytes: usize) {
        self.resources_peak
            .fetch_max(resources as u64, Ordering::Relaxed);
        self.http_headers_peak
            .fetch_max(header_bytes as u64, Ordering::Relaxed);
    }

    /// Records an outgoing request, with how many are open now.
    pub fn http_request(&self, open: usize) {
        self.http_requests.fetch_add(1, Ordering::Relaxed);
        self.http_requests_peak
            .fetch_max(open as u64, Ordering::Relaxed);
    }
}

/// The store's [`wasmtime::ResourceLimiter`]: one memory cap over all of a
/// component's linear memories together (a multi-memory component does not
/// get the cap once per memory), plus caps on tables and instances.
pub(crate) struct MemoryLimiter {
    cap_bytes: usize,
    limit_mb: u32,
    used_bytes: usize,
    usage: Arc<Usage>,
}

/// Table elements one table may grow to (funcref tables of Rust components
/// hold a few hundred).
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl MemoryLimiter {
    /// A limiter for a component with `limits`, charging `usage`.
    pub fn new(limits: &Limits, usage: Arc<Usage>) -> Self {
        MemoryLimiter {
            cap_bytes: limits.memory_mb as usize * 1024 * 1024,
            limit_mb: limits.memory_mb,
            used_bytes: 0,
            usage,
        }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let after = self.used_bytes + desired.saturating_sub(current);
        if after > self.cap_bytes {
            return Err(LimitHit::Memory {
                limit_mb: self.limit_mb,
            }
            .into());
        }
        self.used_bytes = after;
        self.usage.memory(after);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        32
    }

    fn tables(&self) -> usize {
        16
    }

    fn memories(&self) -> usize {
        8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_that_waits_is_cut_off_at_its_deadline() {
        let started = Instant::now();
        let out = Deadline::after(50)
            .run(tokio::time::sleep(Duration::from_secs(10)))
            .await;
        assert_eq!(out, Err(TimedOut));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(Deadline::after(1000).run(async { 7 }).await, Ok(7));
    }

    #[test]
    fn the_log_budget_is_per_run_and_refuses_once_spent() {
        let usage = Usage::default();
        for _ in 0..4 {
            usage.charge_log(256, 1).unwrap();
        }
        assert_eq!(usage.charge_log(1, 1), Err(LimitHit::Log { limit_kb: 1 }));
        let seen = usage.snapshot();
        assert_eq!((seen.log_bytes, seen.log_lines), (1024, 4));
    }

    /// A core module with two memories of 10 MiB each: under a 16 MiB cap
    /// it must not instantiate, although each memory alone would fit.
    #[test]
    fn the_memory_cap_covers_all_memories_together() {
        let engine = wasmtime::Engine::default();
        // (module (memory 160) (memory 160))
        let wasm: &[u8] = &[
            0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
            0x05, 0x07, 0x02, 0x00, 0xa0, 0x01, 0x00, 0xa0, 0x01, // two memories
        ];
        let module = wasmtime::Module::new(&engine, wasm).expect("a two-memory module");
        let instantiate = |memory_mb: u32| {
            let limits = Limits {
                memory_mb,
                ..Limits::default()
            };
            let usage = Arc::new(Usage::default());
            let mut store =
                wasmtime::Store::new(&engine, MemoryLimiter::new(&limits, usage.clone()));
            store.limiter(|l| l);
            let result = wasmtime::Instance::new(&mut store, &module, &[]).map(|_| ());
            (result, usage.snapshot().memory_peak_bytes)
        };
        let (result, _) = instantiate(16);
        let err = format!("{:#}", result.unwrap_err());
        assert!(err.contains("memory limit of 16 MiB"), "{err}");
        let (result, peak) = instantiate(21);
        result.expect("20 MiB fits in 21");
        assert_eq!(peak, 20 * 1024 * 1024);
    }
}
