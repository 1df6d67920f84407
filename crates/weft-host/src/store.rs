//! The data held in each component's wasmtime store, built from the
//! component's policy: one context per capability (WASI, `wasi:http` with
//! its gate, the Weft services, the `model` binding, the toolbox), each
//! reached through its own view trait, plus the limiter and the deadline
//! of the call in progress.

use crate::error::{Abort, LimitHit};
use crate::http::HttpGate;
use crate::limits::{Deadline, MemoryLimiter, Usage};
use crate::model_binding::{BoundModel, ModelCtx, ModelCtxView, ModelView};
use crate::observe::Observer;
use crate::policy::Policy;
use crate::secrets::SecretStore;
use crate::services::{ServicesCtx, ServicesView};
use crate::toolbox::{ToolboxCtx, ToolboxView, Tools};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use wasmtime::Store;
use wasmtime::component::{ResourceTable, ResourceTableError};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{FieldMap, WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// How much of a component's stdout and stderr the host keeps (for logs and
/// trap messages).
const OUTPUT_CAPTURE_BYTES: usize = 64 * 1024;

/// The most bytes one `wasi:http` header map may hold.
const HEADER_MAP_BYTES: usize = 16 * 1024;

/// The static facts about one loaded component.
#[derive(Debug)]
pub(crate) struct ComponentInfo {
    /// Its name in logs, errors and policies.
    pub name: String,
    /// What it may do.
    pub policy: Policy,
    /// Values for the `config` interface.
    pub config: BTreeMap<String, String>,
}

/// Per-run state shared by every store of that run.
pub(crate) struct RunContext {
    /// Key-value state, namespaced by component name.
    pub state: Mutex<BTreeMap<(String, String), String>>,
    /// Money spent by the run's model calls.
    pub spend: Mutex<Spend>,
    /// What each component used, by name.
    usage: Mutex<BTreeMap<String, Arc<Usage>>>,
    /// Host-wide services.
    pub services: Arc<Services>,
}

/// What a run's model calls cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Spend {
    /// Total of the priced calls, in USD.
    pub usd: f64,
    /// Calls with a price.
    pub priced_calls: u32,
    /// Calls to models the price catalog does not know (local models,
    /// cassettes, unlisted models).
    pub unpriced_calls: u32,
}

/// Host-wide services: observer, approver, clock, secrets.
pub(crate) struct Services {
    pub observer: Arc<dyn Observer>,
    pub approver: Arc<dyn crate::Approver>,
    pub clock: Arc<dyn crate::Clock>,
    pub secrets: Arc<SecretStore>,
    /// Whether the engine meters fuel (some component has a fuel limit).
    pub fuel_metered: bool,
}

impl RunContext {
    pub fn new(services: Arc<Services>) -> Arc<Self> {
        Arc::new(RunContext {
            state: Mutex::new(BTreeMap::new()),
            spend: Mutex::new(Spend::default()),
            usage: Mutex::new(BTreeMap::new()),
            services,
        })
    }

    /// Adds one call's charge, as its metered model reported it, to the
    /// run's spending; the call's cost in USD when it had a price. Free
    /// calls (local models) and uncharged ones (a model plugin's answers,
    /// whose inner calls are charged where the plugin makes them) are not
    /// counted.
    pub fn charge(&self, charge: Option<weft_model::Charge>) -> Option<f64> {
        let mut spend = self.spend.lock().unwrap_or_else(|p| p.into_inner());
        match charge? {
            weft_model::Charge::Usd(usd) => {
                spend.usd += usd;
                spend.priced_calls += 1;
                Some(usd)
            }
            weft_model::Charge::Unpriced => {
                spend.unpriced_calls += 1;
                None
            }
            weft_model::Charge::Free => None,
        }
    }

    /// The usage counters of the component `name` in this run.
    pub fn usage_of(&self, name: &str) -> Arc<Usage> {
        let mut all = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        all.entry(name.to_owned()).or_default().clone()
    }

    /// What every component used so far.
    pub fn resources(&self) -> BTreeMap<String, crate::limits::ResourceUsage> {
        let all = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        all.iter().map(|(k, v)| (k.clone(), v.snapshot())).collect()
    }
}

/// What a store's component is bound to.
#[derive(Default)]
pub(crate) struct Bindings {
    /// The model behind its `model` import.
    pub model: Option<BoundModel>,
    /// The tools behind its `toolbox` import.
    pub tools: Option<Arc<dyn Tools>>,
}

/// The `T` of every `Store<T>` the host creates.
pub(crate) struct StoreState {
    pub info: Arc<ComponentInfo>,
    /// Which instance of its component this store holds (1, 2, ...).
    pub generation: u64,
    /// The deadline of the guest call in progress.
    deadline: Option<Deadline>,
    limiter: MemoryLimiter,
    usage: Arc<Usage>,
    fuel_metered: bool,
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    gate: HttpGate,
    services: ServicesCtx,
    model: ModelCtx,
    toolbox: ToolboxCtx,
    stderr: MemoryOutputPipe,
}

impl StoreState {
    /// Builds a store for one component under its policy.
    pub fn new_store(
        engine: &wasmtime::Engine,
        info: Arc<ComponentInfo>,
        run: Arc<RunContext>,
        bindings: Bindings,
    ) -> Result<Store<StoreState>, String> {
        let policy = &info.policy;
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPTURE_BYTES);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stderr.clone()).stderr(stderr.clone());
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for entry in &policy.env {
            match entry.split_once('=') {
                Some((name, value)) => {
                    wasi.env(name, value);
                }
                None => {
                    if let Ok(value) = std::env::var(entry) {
                        wasi.env(entry, value);
                    }
                }
            }
        }
        for dir in &policy.dirs {
            let perms = if dir.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            wasi.preopened_dir(&dir.host, &dir.guest, perms)
                .map_err(|e| {
                    format!(
                        "cannot preopen {} for `{}`: {e}",
                        dir.host.display(),
                        info.name
                    )
                })?;
        }
        let usage = run.usage_of(&info.name);
        usage.instance_created();
        let mut table = ResourceTable::new();
        table.set_max_capacity(policy.limits.max_resources as usize);
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(HEADER_MAP_BYTES);
        let services = &run.services;
        let gate = HttpGate::new(
            info.clone(),
            services.secrets.clone(),
            services.observer.clone(),
            usage.clone(),
        );
        let fuel_metered = services.fuel_metered;
        let state = StoreState {
            limiter: MemoryLimiter::new(&policy.limits, usage.clone()),
            deadline: None,
            fuel_metered,
            services: ServicesCtx {
                info: info.clone(),
                run: run.clone(),
                usage: usage.clone(),
            },
            model: ModelCtx {
                info: info.clone(),
                run: run.clone(),
                model: bindings.model,
            },
            toolbox: ToolboxCtx {
                info: info.clone(),
                run,
                tools: bindings.tools,
            },
            usage,
            info,
            generation: 1,
            wasi: wasi.build(),
            table,
            http,
            gate,
            stderr,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            state.account()?;
            crate::limits::on_epoch(state.deadline)
        });
        Ok(store)
    }

    /// Counts what the guest holds in the host's resource table (entries,
    /// HTTP header bytes) and refuses more header bytes than allowed.
    fn account(&mut self) -> Result<(), LimitHit> {
        let mut entries = 0;
        let mut header_bytes = 0;
        for entry in self.table.iter_mut() {
            entries += 1;
            let headers: Option<&http::HeaderMap> =
                if let Some(fields) = entry.downcast_ref::<FieldMap>() {
                    Some(fields)
                } else {
                    entry
                        .downcast_ref::<wasmtime_wasi_http::p2::types::HostOutgoingRequest>()
                        .map(|r| &*r.headers)
                };
            if let Some(map) = headers {
                header_bytes += map
                    .iter()
                    .map(|(k, v)| k.as_str().len() + v.len())
                    .sum::<usize>();
            }
        }
        self.usage.held(entries, header_bytes);
        let limit_kb = self.info.policy.limits.max_http_headers_kb;
        if header_bytes > limit_kb as usize * 1024 {
            return Err(LimitHit::HttpHeaders { limit_kb });
        }
        Ok(())
    }

    /// The last lines the component wrote to stdout/stderr (for trap reports).
    pub fn output_tail(&self) -> String {
        let bytes = self.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let start = lines.len().saturating_sub(4);
        lines[start..].join(" | ")
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for StoreState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.gate,
        }
    }
}

impl ServicesView for StoreState {
    fn services(&mut self) -> &mut ServicesCtx {
        &mut self.services
    }
}

impl ModelView for StoreState {
    fn model(&mut self) -> ModelCtxView<'_> {
        ModelCtxView {
            ctx: &mut self.model,
            table: &mut self.table,
        }
    }
}

impl ToolboxView for StoreState {
    fn toolbox(&mut self) -> &mut ToolboxCtx {
        &mut self.toolbox
    }
}

/// Prepares a store for one call: its deadline (from now) and fuel.
pub(crate) fn arm(store: &mut Store<StoreState>) -> Deadline {
    let limits = &store.data().info.policy.limits;
    let deadline = Deadline::after(limits.timeout_ms);
    let fuel = store
        .data()
        .fuel_metered
        .then(|| limits.fuel.unwrap_or(u64::MAX));
    let state = store.data_mut();
    state.deadline = Some(deadline);
    state.gate.deadline = Some(deadline);
    // The epoch callback runs at the next tick and every tick after: it
    // traps at the deadline and yields to the executor before it.
    store.set_epoch_deadline(1);
    if let Some(fuel) = fuel {
        // Only fails when fuel is disabled on the engine, which
        // `fuel_metered` rules out. A component without a fuel limit gets
        // all the fuel there is: unmetered in effect.
        let _ = store.set_fuel(fuel);
    }
    deadline
}

/// Classifies the error of a failed guest call.
pub(crate) fn classify(store: &Store<StoreState>, error: &wasmtime::Error) -> Abort {
    let limits = &store.data().info.policy.limits;
    if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        match trap {
            wasmtime::Trap::Interrupt => {
                return Abort::Timeout {
                    limit_ms: limits.timeout_ms,
                };
            }
            wasmtime::Trap::OutOfFuel => {
                return Abort::Fuel {
                    fuel: limits.fuel.unwrap_or(0),
                };
            }
            _ => {}
        }
    }
    for cause in error.chain() {
        if let Some(hit) = cause.downcast_ref::<LimitHit>() {
            return match hit {
                LimitHit::Memory { limit_mb } => Abort::Memory {
                    limit_mb: *limit_mb,
                },
                other => Abort::Limit {
                    what: other.to_string(),
                },
            };
        }
        if let Some(ResourceTableError::Full) = cause.downcast_ref::<ResourceTableError>() {
            return Abort::Limit {
                what: LimitHit::Resources {
                    limit: limits.max_resources,
                }
                .to_string(),
            };
        }
        if cause
            .downcast_ref::<wasmtime_wasi_http::FieldMapError>()
            .is_some()
        {
            return Abort::Limit {
                what: format!(
                    "exceeded the limit of {} KiB for one HTTP header map ({cause})",
                    HEADER_MAP_BYTES / 1024
                ),
            };
        }
    }
    let text = format!("{error:#}");
    if text.contains("forcing trap when growing memory") || text.contains("memory minimum size") {
        return Abort::Memory {
            limit_mb: limits.memory_mb,
        };
    }
    let tail = store.data().output_tail();
    let detail = if tail.is_empty() {
        first_line(&text)
    } else {
        format!("{}; guest output: {tail}", first_line(&text))
    };
    Abort::Trap { detail }
}

/// Checks, after a call returned, what the guest now holds in the host; a
/// component over its limits is an abort (and its instance is discarded),
/// even when the call finished before the epoch ticker could look.
pub(crate) fn settle(store: &mut Store<StoreState>) -> Result<(), Abort> {
    store.data_mut().account().map_err(|hit| Abort::Limit {
        what: hit.to_string(),
    })
}

/// The abort of a call cut off by its deadline while it waited.
pub(crate) fn timed_out(store: &Store<StoreState>) -> Abort {
    Abort::Timeout {
        limit_ms: store.data().info.policy.limits.timeout_ms,
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}
