//! The data held in each component's wasmtime store, and how it is built
//! from the component's policy: WASI context, HTTP gate, limits.

use crate::error::Abort;
use crate::model_binding::SyncModel;
use crate::observe::{Event, Observer};
use crate::policy::Policy;
use crate::secrets::SecretStore;
use crate::tools::Toolbox;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use wasmtime::component::ResourceTable;
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// How much of a component's stdout and stderr the host keeps (for logs and
/// trap messages).
const OUTPUT_CAPTURE_BYTES: usize = 64 * 1024;

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
    pub prices: Arc<weft_router::PriceCatalog>,
}

impl RunContext {
    pub fn new(services: Arc<Services>) -> Arc<Self> {
        Arc::new(RunContext {
            state: Mutex::new(BTreeMap::new()),
            spend: Mutex::new(Spend::default()),
            services,
        })
    }

    /// Prices one call and adds it to the run's spending; `None` when the
    /// model is not in the price catalog.
    pub fn charge(&self, model: &str, usage: &weft_model::Usage) -> Option<weft_router::Cost> {
        let cost = self
            .services
            .prices
            .cost(usage, model, std::time::SystemTime::now())
            .ok();
        let mut spend = self.spend.lock().unwrap_or_else(|p| p.into_inner());
        match &cost {
            Some(c) => {
                spend.usd += c.usd;
                spend.priced_calls += 1;
            }
            None => spend.unpriced_calls += 1,
        }
        cost
    }
}

/// The `T` of every `Store<T>` the host creates.
pub(crate) struct StoreState {
    pub info: Arc<ComponentInfo>,
    pub run: Arc<RunContext>,
    pub limits: StoreLimits,
    /// The model bound to this component's `model` import, if it has one.
    pub model: Option<Arc<dyn SyncModel>>,
    /// The tools this component (an agent) may call.
    pub toolbox: Option<Arc<Toolbox>>,
    /// Which instance of its component this store holds (1, 2, ...).
    pub generation: u64,
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    http: WasiHttpCtx,
    gate: HttpGate,
    stderr: MemoryOutputPipe,
}

impl StoreState {
    /// Builds a store for one component under its policy.
    pub fn new_store(
        engine: &wasmtime::Engine,
        info: Arc<ComponentInfo>,
        run: Arc<RunContext>,
        model: Option<Arc<dyn SyncModel>>,
        toolbox: Option<Arc<Toolbox>>,
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
        let limits = StoreLimitsBuilder::new()
            .memory_size(policy.limits.memory_mb as usize * 1024 * 1024)
            .trap_on_grow_failure(true)
            .instances(32)
            .memories(8)
            .tables(16)
            .build();
        let gate = HttpGate {
            info: info.clone(),
            secrets: run.services.secrets.clone(),
            observer: run.services.observer.clone(),
        };
        let state = StoreState {
            info,
            run,
            limits,
            model,
            toolbox,
            generation: 1,
            wasi: wasi.build(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            gate,
            stderr,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limits);
        Ok(store)
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

/// Prepares a store for one call: deadline and fuel from the policy.
pub(crate) fn arm(store: &mut Store<StoreState>) {
    let limits = &store.data().info.policy.limits;
    let ticks = crate::engine::ticks_for(limits.timeout_ms);
    let fuel = limits.fuel;
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_trap();
    if let Some(fuel) = fuel {
        // Only fails when fuel is disabled on the engine; the host enables it
        // whenever a policy sets `limits.fuel`.
        let _ = store.set_fuel(fuel);
    }
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

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}

/// Enforces a component's `http` and `secrets` policy on every outgoing
/// `wasi:http` request, and substitutes granted secrets into headers.
pub(crate) struct HttpGate {
    info: Arc<ComponentInfo>,
    secrets: Arc<SecretStore>,
    observer: Arc<dyn Observer>,
}

impl HttpGate {
    fn deny(&self, reason: String) -> wasmtime_wasi_http::Error {
        tracing::warn!(component = %self.info.name, %reason, "outgoing request denied");
        self.observer.event(&Event::Denied {
            component: self.info.name.clone(),
            reason,
        });
        wasmtime_wasi_http::Error::HttpRequestDenied
    }

    /// Checks the destination and replaces `{{secret:NAME}}` placeholders.
    fn authorize(
        &self,
        request: &mut http::Request<wasmtime_wasi_http::WasiBody>,
    ) -> Result<(), wasmtime_wasi_http::Error> {
        let uri = request.uri().clone();
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri.port_u16().or(match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        let policy = &self.info.policy;
        if !policy.allows_http(&host, port) {
            return Err(self.deny(format!(
                "`{}` may not connect to {host}:{} (not in its `http` policy)",
                self.info.name,
                port.unwrap_or(0)
            )));
        }
        for value in request.headers_mut().values_mut() {
            let Ok(text) = value.to_str() else { continue };
            if !text.contains("{{secret:") {
                continue;
            }
            let replaced = self.substitute(text, &host, port)?;
            *value = http::HeaderValue::from_str(&replaced)
                .map_err(|_| self.deny("a secret is not a valid header value".into()))?;
            value.set_sensitive(true);
        }
        Ok(())
    }

    fn substitute(
        &self,
        text: &str,
        host: &str,
        port: Option<u16>,
    ) -> Result<String, wasmtime_wasi_http::Error> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("{{secret:") {
            out.push_str(&rest[..start]);
            let after = &rest[start + "{{secret:".len()..];
            let Some(end) = after.find("}}") else {
                return Err(self.deny("unterminated `{{secret:` placeholder".into()));
            };
            let name = &after[..end];
            let grant = self.info.policy.secret(name).ok_or_else(|| {
                self.deny(format!(
                    "`{}` is not granted the secret `{name}`",
                    self.info.name
                ))
            })?;
            if !grant
                .hosts
                .iter()
                .any(|p| crate::policy::host_matches(p, host, port))
            {
                return Err(self.deny(format!(
                    "`{}` may not send the secret `{name}` to {host}",
                    self.info.name
                )));
            }
            let value = self.secrets.get(name).ok_or_else(|| {
                self.deny(format!(
                    "the secret `{name}` has no value configured on the host"
                ))
            })?;
            out.push_str(value.expose());
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

impl wasmtime_wasi_http::WasiHttpHooks for HttpGate {
    fn send_request(
        &mut self,
        mut request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                )>,
            > + Send,
    > {
        _ = fut;
        let verdict = self.authorize(&mut request);
        let component = self.info.name.clone();
        Box::new(async move {
            use http_body_util::BodyExt;
            verdict?;
            tracing::debug!(%component, uri = %request.uri(), "outgoing request");
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
