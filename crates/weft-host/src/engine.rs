//! The shared wasmtime [`Engine`]: compilation settings, the pooling
//! allocator and the epoch ticker that enforces wall-clock deadlines.

use crate::error::HostError;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; deadlines are rounded up to this.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of each pooled table reset in place (rather than `madvise`d away)
/// when its instance is dropped, so the slot stays resident for the next
/// instance. The tables of a typical Rust component take a page or two.
const TABLE_KEEP_RESIDENT: usize = 64 * 1024;

/// Bytes of each pooled linear memory that may stay resident after its
/// instance is dropped: the pages the guest dirtied (found with Linux's
/// `PAGEMAP_SCAN`, up to this much) are reset to their initial contents in
/// place, and only the rest is `madvise`d away. A tool or agent typically
/// dirties well under 100 KiB per instantiation.
const MEMORY_KEEP_RESIDENT: usize = 1024 * 1024;

/// Engine-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOptions {
    /// Use the pooling instance allocator (faster instantiation) with room for
    /// this many concurrent component instances; `None` allocates on demand.
    pub pooling_instances: Option<u32>,
    /// Largest memory any single component may be given, in MiB (the pool
    /// reserves address space for it; per-component caps are set by policy).
    pub max_memory_mb: u32,
    /// Enable fuel metering, so policies can set `limits.fuel`.
    pub fuel: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            pooling_instances: Some(256),
            max_memory_mb: 1024,
            fuel: false,
        }
    }
}

/// A wasmtime engine plus the background thread that ticks its epoch.
///
/// The ticker stops by itself once the last clone of the engine is dropped.
#[derive(Clone)]
pub struct WeftEngine {
    engine: Engine,
    options: EngineOptions,
    _ticker: Arc<Ticker>,
}

struct Ticker {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl WeftEngine {
    /// Builds an engine with epoch interruption, the component model and,
    /// if asked, the pooling allocator and fuel.
    pub fn new(options: EngineOptions) -> Result<Self, HostError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.consume_fuel(options.fuel);
        if let Some(instances) = options.pooling_instances {
            let mut pool = PoolingAllocationConfig::default();
            pool.total_component_instances(instances);
            // A Rust component holds its module plus WASI adapter shims.
            pool.max_core_instances_per_component(16);
            pool.total_core_instances(instances * 8);
            pool.max_memories_per_component(4);
            pool.total_memories(instances * 2);
            pool.max_tables_per_component(8);
            pool.total_tables(instances * 4);
            pool.total_stacks(instances);
            pool.max_memory_size(options.max_memory_mb as usize * 1024 * 1024);
            // Tearing a store down cost nearly as much as instantiating it:
            // an `madvise` per table and memory, and page faults when the slot
            // was next used. Reset small tables and the dirty pages of
            // memories in place instead; a reused slot is still exactly as
            // fresh as a new one.
            pool.table_keep_resident(TABLE_KEEP_RESIDENT);
            // Without `PAGEMAP_SCAN` (Linux < 6.7, other systems) keeping
            // memory resident would `memset` its first bytes whether the
            // guest touched them or not, which costs more than it saves.
            if PoolingAllocationConfig::is_pagemap_scan_available() {
                pool.pagemap_scan(Enabled::Yes);
                pool.linear_memory_keep_resident(MEMORY_KEEP_RESIDENT);
            }
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config)
            .map_err(|e| HostError::wasmtime("cannot create the wasmtime engine", e))?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let weak = engine.weak();
        let thread_stop = stop.clone();
        std::thread::Builder::new()
            .name("weft-epoch".into())
            .spawn(move || {
                while !thread_stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| HostError::Component {
                component: "host".into(),
                reason: format!("cannot start the epoch thread: {e}"),
            })?;
        Ok(WeftEngine {
            engine,
            options,
            _ticker: Arc::new(Ticker { stop }),
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The options it was built with.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }
}

/// Epoch ticks for a deadline of `ms` milliseconds (at least one).
pub fn ticks_for(ms: u64) -> u64 {
    ms.div_ceil(EPOCH_TICK.as_millis() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A core module with 20 pages of memory whose first byte is 42 (a data
    /// segment) and exports `load(addr)`, `store(addr, byte)`, `grow(pages)`
    /// and `size()`.
    const PROBE: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        // types: (i32) -> i32, (i32, i32) -> (), () -> i32
        0x01, 0x0f, 0x03, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x00, 0x60, 0x00,
        0x01, 0x7f, //
        // functions
        0x03, 0x05, 0x04, 0x00, 0x01, 0x00, 0x02, //
        // memory: 20 pages, no maximum
        0x05, 0x03, 0x01, 0x00, 0x14, //
        // exports: load, store, grow, size
        0x07, 0x1e, 0x04, 0x04, b'l', b'o', b'a', b'd', 0x00, 0x00, 0x05, b's', b't', b'o', b'r',
        b'e', 0x00, 0x01, 0x04, b'g', b'r', b'o', b'w', 0x00, 0x02, 0x04, b's', b'i', b'z', b'e',
        0x00, 0x03, //
        // code
        0x0a, 0x1f, 0x04, //
        0x07, 0x00, 0x20, 0x00, 0x2d, 0x00, 0x00, 0x0b, // local.get 0; i32.load8_u
        0x09, 0x00, 0x20, 0x00, 0x20, 0x01, 0x3a, 0x00, 0x00, 0x0b, // i32.store8
        0x06, 0x00, 0x20, 0x00, 0x40, 0x00, 0x0b, // memory.grow
        0x04, 0x00, 0x3f, 0x00, 0x0b, // memory.size
        // data: byte 42 at address 0
        0x0b, 0x07, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x2a,
    ];

    /// Pool slots are reset in place rather than unmapped (see
    /// `MEMORY_KEEP_RESIDENT`); an instance that reuses a slot must still see
    /// exactly the memory a brand-new one would.
    #[test]
    fn a_reused_pool_slot_is_as_fresh_as_a_new_one() {
        let engine = WeftEngine::new(EngineOptions {
            pooling_instances: Some(2),
            max_memory_mb: 64,
            fuel: false,
        })
        .unwrap();
        let module = wasmtime::Module::new(engine.engine(), PROBE).unwrap();
        const PAGE: u32 = 64 * 1024;
        // Inside and beyond the part of memory kept resident.
        let probes = [
            0,
            1,
            4096,
            3 * PAGE + 7,
            1024 * 1024 + 12_345,
            20 * PAGE - 1,
        ];
        let grown = 22 * PAGE;
        for round in 0..4 {
            let mut store = wasmtime::Store::new(engine.engine(), ());
            store.set_epoch_deadline(1_000_000);
            let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
            let load = instance
                .get_typed_func::<u32, u32>(&mut store, "load")
                .unwrap();
            let poke = instance
                .get_typed_func::<(u32, u32), ()>(&mut store, "store")
                .unwrap();
            let grow = instance
                .get_typed_func::<u32, i32>(&mut store, "grow")
                .unwrap();
            let size = instance
                .get_typed_func::<(), u32>(&mut store, "size")
                .unwrap();
            assert_eq!(size.call(&mut store, ()).unwrap(), 20, "round {round}");
            assert_eq!(load.call(&mut store, 0).unwrap(), 42, "round {round}");
            for &at in &probes[1..] {
                assert_eq!(load.call(&mut store, at).unwrap(), 0, "round {round}, {at}");
            }
            assert_eq!(grow.call(&mut store, 4).unwrap(), 20, "round {round}");
            assert_eq!(load.call(&mut store, grown).unwrap(), 0, "round {round}");
            for &at in probes.iter().chain([&grown]) {
                poke.call(&mut store, (at, 0xff)).unwrap();
            }
        }
    }
}
