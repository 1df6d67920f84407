//! **hostile** — a tool plugin that misbehaves on purpose so the host's
//! sandbox can be tested: it spins forever, sleeps inside a host call,
//! allocates and touches memory, traps, returns huge results and errors,
//! tries the filesystem, environment variables and the network, floods the
//! host with log lines, header maps and open requests, and plants symlinks.
//! `echo` returns its argument, to benchmark the tool round trip.

use std::collections::BTreeMap;

use weft_sdk::ToolError;
use weft_sdk::http::{self, HttpError, Request};
use weft_sdk::serde_json::Value;

weft_sdk::json_types! {
    /// A size in MiB.
    struct SizeArgs {
        /// Mebibytes.
        mb: u32,
    }

    /// A path.
    struct PathArgs {
        /// The file to read.
        path: String,
    }

    /// An environment variable name.
    struct EnvArgs {
        /// The variable's name.
        name: String,
    }

    /// A request.
    struct FetchArgs {
        /// The URL.
        url: String,
        /// Request headers (values may hold `{{secret:NAME}}`).
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// The method (default GET).
        #[serde(default)]
        method: Option<String>,
        /// The request's own connect / first-byte / between-bytes timeout.
        #[serde(default)]
        timeout_ms: Option<u64>,
    }

    /// A duration.
    struct SleepArgs {
        /// Milliseconds to sleep.
        ms: u64,
    }

    /// A flood: how many, how big.
    struct FloodArgs {
        /// How many.
        count: u32,
        /// KiB each.
        kib: u32,
    }

    /// Requests left open.
    struct OpenArgs {
        /// The URL.
        url: String,
        /// How many to start.
        count: u32,
    }

    /// How the flood of open requests went.
    struct OpenResult {
        /// Requests the host accepted.
        started: u32,
        /// The first refusal, if any.
        refused: Option<String>,
    }

    /// A symlink to plant.
    struct SymlinkArgs {
        /// The preopened directory, as the guest sees it.
        dir: String,
        /// Where the link points.
        target: String,
        /// The link's name inside `dir`.
        link: String,
    }

    /// Any JSON value.
    struct EchoArgs {
        /// Returned unchanged.
        value: Value,
    }

    /// What `fetch` saw.
    struct FetchResult {
        /// The HTTP status.
        status: u16,
        /// The response headers.
        headers: BTreeMap<String, String>,
        /// The body text (at most 64 KiB).
        text: String,
    }
}

weft_sdk::tools! {
    /// Loops forever (to test epoch/fuel interruption).
    fn spin() -> Result<u64, ToolError> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }

    /// Allocates `mb` MiB and writes to every page (to test memory limits).
    fn alloc(args: SizeArgs) -> Result<u64, ToolError> {
        let len = args.mb as usize * 1024 * 1024;
        let mut v = vec![0u8; len];
        for i in (0..len).step_by(4096) {
            v[i] = 1;
        }
        let touched = v.iter().step_by(4096).map(|&b| u64::from(b)).sum::<u64>();
        Ok(std::hint::black_box(touched))
    }

    /// Panics, which traps the instance.
    fn trap() -> Result<u8, ToolError> {
        panic!("hostile guest trapped on purpose")
    }

    /// Returns a string of `mb` MiB (to test result size limits).
    fn huge(args: SizeArgs) -> Result<String, ToolError> {
        Ok("x".repeat(args.mb as usize * 1024 * 1024))
    }

    /// Reads a file with `std::fs` (to test that no filesystem is granted).
    fn read_file(args: PathArgs) -> Result<String, ToolError> {
        Ok(std::fs::read_to_string(&args.path)?)
    }

    /// Reads an environment variable (to test that none leak in).
    fn env(args: EnvArgs) -> Result<Option<String>, ToolError> {
        Ok(std::env::var(&args.name).ok())
    }

    /// Sends a GET through `wasi:http` (to test network policy and secret
    /// substitution).
    fn fetch(args: FetchArgs) -> Result<FetchResult, ToolError> {
        let mut request = Request::get(args.url);
        request.headers = args.headers.into_iter().collect();
        if let Some(method) = args.method {
            request.method = method;
        }
        request.timeout_ms = args.timeout_ms;
        let response = http::fetch(&request).map_err(|e| match e {
            HttpError::InvalidUrl { .. } | HttpError::InvalidHeader { .. } => {
                ToolError::InvalidArguments(e.to_string())
            }
            other => ToolError::Failed(other.to_string()),
        })?;
        let headers = response
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
            .collect();
        Ok(FetchResult { status: response.status, headers, text: response.text() })
    }

    /// Sleeps through `wasi:clocks` (to test deadlines inside host calls).
    fn sleep(args: SleepArgs) -> Result<u64, ToolError> {
        std::thread::sleep(std::time::Duration::from_millis(args.ms));
        Ok(args.ms)
    }

    /// Logs `count` lines of `kib` KiB each (to test log limits).
    fn log_flood(args: FloodArgs) -> Result<u32, ToolError> {
        let line = "l".repeat(args.kib as usize * 1024);
        for _ in 0..args.count {
            weft_sdk::log::info(&line);
        }
        Ok(args.count)
    }

    /// Creates `count` `wasi:http` header maps with one header of `kib` KiB
    /// each, and keeps them all (to test host-side memory limits).
    fn header_flood(args: FloodArgs) -> Result<u32, ToolError> {
        let value = vec![b'h'; args.kib as usize * 1024];
        let mut kept = Vec::new();
        for i in 0..args.count {
            let entries = [(format!("x-flood-{i}"), value.clone())];
            match wasi::http::types::Fields::from_list(&entries) {
                Ok(fields) => kept.push(fields),
                Err(e) => return Err(ToolError::Failed(format!("header map {i}: {e:?}"))),
            }
        }
        let made = kept.len() as u32;
        std::mem::forget(kept);
        Ok(made)
    }

    /// Returns an error message of `mb` MiB (to test that errors obey the
    /// output limit too).
    fn huge_error(args: SizeArgs) -> Result<u8, ToolError> {
        Err(ToolError::Failed("e".repeat(args.mb as usize * 1024 * 1024)))
    }

    /// Starts `count` GET requests to `url` and never reads an answer (to
    /// test the limit on open requests).
    fn open_requests(args: OpenArgs) -> Result<OpenResult, ToolError> {
        use wasi::http::types::{Fields, OutgoingBody, OutgoingRequest, Scheme};
        let url = http::parse_url(&args.url).map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
        let mut pending = Vec::new();
        let mut refused = None;
        for _ in 0..args.count {
            let request = OutgoingRequest::new(Fields::new());
            let _ = request.set_scheme(Some(&if url.https { Scheme::Https } else { Scheme::Http }));
            let _ = request.set_authority(Some(&url.authority));
            let _ = request.set_path_with_query(Some(&url.path_with_query));
            let body = request.body().map_err(|()| ToolError::Failed("no body".into()))?;
            match wasi::http::outgoing_handler::handle(request, None) {
                Ok(future) => {
                    let _ = OutgoingBody::finish(body, None);
                    pending.push(future);
                }
                Err(e) => {
                    refused = Some(format!("{e:?}"));
                    break;
                }
            }
        }
        // Wait for each answer (or refusal) without reading any body.
        for future in &pending {
            loop {
                match future.get() {
                    Some(Ok(Err(code))) => {
                        refused.get_or_insert(format!("{code:?}"));
                        break;
                    }
                    Some(_) => break,
                    None => future.subscribe().block(),
                }
            }
        }
        let started = pending.len() as u32;
        std::mem::forget(pending);
        Ok(OpenResult { started, refused })
    }

    /// Creates a symlink in a preopened directory (to test that the host
    /// refuses links that could point outside it).
    fn symlink(args: SymlinkArgs) -> Result<String, ToolError> {
        let dirs = wasi::filesystem::preopens::get_directories();
        let Some((dir, _)) = dirs.iter().find(|(_, path)| *path == args.dir) else {
            return Err(ToolError::InvalidArguments(format!("`{}` is not preopened", args.dir)));
        };
        dir.symlink_at(&args.target, &args.link)
            .map(|()| "created".to_string())
            .map_err(|e| ToolError::Failed(format!("symlink refused: {e:?}")))
    }

    /// Returns `value` unchanged (to benchmark the tool round trip).
    fn echo(args: EchoArgs) -> Result<Value, ToolError> {
        Ok(args.value)
    }
}
