//! The shared wasmtime [`Engine`]: compilation settings, the pooling
//! allocator and the epoch ticker that enforces wall-clock deadlines.

use crate::error::HostError;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; deadlines are rounded up to this.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

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
