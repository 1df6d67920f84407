//! **hostile** — a tool plugin that misbehaves on purpose so the host's
//! sandbox can be tested: it spins forever, allocates and touches memory,
//! traps, returns huge results, and tries the filesystem, environment
//! variables and the network. `echo` returns its argument, to benchmark the
//! tool round trip.

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
        let response = http::fetch(&request).map_err(|e| match e {
            HttpError::InvalidUrl { .. } | HttpError::InvalidHeader { .. } => {
                ToolError::InvalidArguments(e.to_string())
            }
            other => ToolError::Failed(other.to_string()),
        })?;
        Ok(FetchResult { status: response.status, text: response.text() })
    }

    /// Returns `value` unchanged (to benchmark the tool round trip).
    fn echo(args: EchoArgs) -> Result<Value, ToolError> {
        Ok(args.value)
    }
}
