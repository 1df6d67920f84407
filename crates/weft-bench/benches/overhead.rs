//! The model-layer overhead benchmark (issue 3, "Benchmark").
//!
//! It starts a loopback OpenAI-compatible upstream on `127.0.0.1` that
//! answers instantly ([`weft_bench::Upstream`]) and measures, against it, in
//! one run:
//!
//! - **Rust direct**: a raw `reqwest` POST (keep-alive) of the exact body
//!   Weft sends, the whole response read;
//! - **Weft**: the same request through `weft_providers` (the `vllm`
//!   profile at the loopback URL) alone, behind `weft_router::Resilient`, and
//!   behind `weft_router::Router` (a priced policy with a run budget); `chat`
//!   and `chat_stream` (time to the first `TextDelta`, and to the end);
//! - **Python direct** and **LiteLLM**: `benches/litellm_overhead.py`, run as
//!   a subprocess against the same upstream.
//!
//! The paths of one language run interleaved in rounds, after a warm-up. The
//! added latency of a layer is its p50 minus the p50 of the same language's
//! direct client. Run it with `scripts/bench-model-layer.sh` (which sets up
//! the LiteLLM virtualenv), or
//! `cargo bench -p weft-bench --bench overhead -- [options]`:
//!
//! ```text
//! --iters N       measured calls per Rust path (default 5000)
//! --warmup N      warm-up calls per Rust path (default 500)
//! --py-iters N    measured calls per Python path (default 2000)
//! --py-warmup N   warm-up calls per Python path (default 200)
//! --rounds N      interleaving rounds (default 10)
//! --python PATH   the Python with litellm (default: $WEFT_BENCH_PYTHON,
//!                 else target/bench-venv/bin/python)
//! --no-python     the Rust half only
//! ```

use std::collections::HashMap;
use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use weft_bench::{CONTENT, MODEL, Summary, Upstream};
use weft_model::{ChatRequest, Message, Model, StreamEvent};
use weft_providers::{Provider, ProviderConfig};
use weft_router::{ChainEntry, PriceCatalog, Resilient, Router};

/// The longest the Python half may run before it is killed.
const PYTHON_DEADLINE: Duration = Duration::from_secs(900);

/// The price key the router and `Resilient` charge calls to (any catalog
/// entry will do: it makes the cost computation part of what is measured).
const PRICE: &str = "deepseek-flash";

struct Options {
    iters: usize,
    warmup: usize,
    py_iters: usize,
    py_warmup: usize,
    rounds: usize,
    python: Option<PathBuf>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        iters: 5000,
        warmup: 500,
        py_iters: 2000,
        py_warmup: 200,
        rounds: 10,
        python: std::env::var_os("WEFT_BENCH_PYTHON")
            .map(PathBuf::from)
            .or_else(|| Some(workspace_root().join("target/bench-venv/bin/python"))),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .filter(|&n: &usize| n > 0)
                .ok_or_else(|| format!("{name} needs a positive number"))
        };
        match arg.as_str() {
            // `cargo bench` passes `--bench` to every bench binary.
            "--bench" => {}
            "--iters" => o.iters = number("--iters")?,
            "--warmup" => o.warmup = number("--warmup")?,
            "--py-iters" => o.py_iters = number("--py-iters")?,
            "--py-warmup" => o.py_warmup = number("--py-warmup")?,
            "--rounds" => o.rounds = number("--rounds")?,
            "--python" => {
                o.python = Some(args.next().ok_or("--python needs a path")?.into());
            }
            "--no-python" => o.python = None,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    o.iters = o.iters.max(o.rounds);
    o.py_iters = o.py_iters.max(o.rounds);
    Ok(o)
}

/// Which client a Rust measurement goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Layer {
    Direct,
    Provider,
    Resilient,
    Router,
}

impl Layer {
    const ALL: [Layer; 4] = [
        Layer::Direct,
        Layer::Provider,
        Layer::Resilient,
        Layer::Router,
    ];

    fn label(self) -> &'static str {
        match self {
            Layer::Direct => "Rust direct (reqwest)",
            Layer::Provider => "Weft provider (vllm)",
            Layer::Resilient => "Weft provider + Resilient",
            Layer::Router => "Weft provider + Router",
        }
    }
}

/// The latencies of one client, in nanoseconds.
#[derive(Default)]
struct Series {
    plain: Vec<u64>,
    ttft: Vec<u64>,
    stream_total: Vec<u64>,
}

struct Summaries {
    plain: Summary,
    ttft: Summary,
    stream_total: Summary,
}

impl Series {
    fn summarise(&self) -> Summaries {
        Summaries {
            plain: Summary::of(&self.plain),
            ttft: Summary::of(&self.ttft),
            stream_total: Summary::of(&self.stream_total),
        }
    }
}

struct Bench {
    client: reqwest::Client,
    url: String,
    plain_body: Bytes,
    stream_body: Bytes,
    request: ChatRequest,
    provider: Arc<Provider>,
    resilient: Resilient,
    router: Router,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// True once `seen` holds a streamed chunk with non-empty `content`.
fn has_text_delta(seen: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"\"content\":\"";
    seen.windows(NEEDLE.len() + 1)
        .any(|w| &w[..NEEDLE.len()] == NEEDLE && w[NEEDLE.len()] != b'"')
}

impl Bench {
    async fn new(upstream: &Upstream) -> Result<Self, String> {
        let provider = Arc::new(
            ProviderConfig::for_provider("vllm", MODEL)
                .map_err(|e| e.to_string())?
                .with_base_url(upstream.base_url())
                .with_api_key("x")
                .build()
                .map_err(|e| e.to_string())?,
        );
        let request = ChatRequest::new(vec![
            Message::system(
                "You triage support tickets. Answer with one sentence naming the team \
                 that should handle the ticket.",
            ),
            Message::user(
                "Hello, I was charged twice for my March invoice (INV-20431). \
                 Could you refund the duplicate payment? Thanks, Dana",
            ),
        ])
        .with_max_output_tokens(256);
        let body = |stream| {
            provider
                .request_body(&request, stream)
                .map(|v| Bytes::from(v.to_string()))
                .map_err(|e| e.to_string())
        };
        let (plain_body, stream_body) = (body(false)?, body(true)?);
        let model: Arc<dyn Model> = provider.clone();
        let catalog = Arc::new(PriceCatalog::bundled());
        let resilient = Resilient::builder()
            .entry(ChainEntry {
                price: Some(PRICE.into()),
                ..ChainEntry::new("vllm", model.clone())
            })
            .catalog(catalog)
            .build()
            .map_err(|e| e.to_string())?;
        let policy = format!(
            r#"
            [budget]
            per_run_usd = 1000.0

            [[models]]
            name = "vllm"
            price = "{PRICE}"
            tier = 1
            "#
        );
        let router = Router::from_policy_str(&policy, HashMap::from([("vllm".to_owned(), model)]))
            .map_err(|e| e.to_string())?
            .for_run("bench");
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            url: upstream.chat_url(),
            plain_body,
            stream_body,
            request,
            provider,
            resilient,
            router,
        })
    }

    /// The model behind `layer` (the direct client has none; callers
    /// handle it before asking).
    fn model(&self, layer: Layer) -> &dyn Model {
        match layer {
            Layer::Provider | Layer::Direct => &*self.provider,
            Layer::Resilient => &self.resilient,
            Layer::Router => &self.router,
        }
    }

    async fn post(&self, body: &Bytes) -> Result<reqwest::Response, String> {
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("authorization", "Bearer x")
            .body(body.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("upstream answered {}", response.status()));
        }
        Ok(response)
    }

    /// One plain call; its latency.
    async fn plain(&self, layer: Layer) -> Result<u64, String> {
        let start = Instant::now();
        if layer == Layer::Direct {
            let body = self.post(&self.plain_body).await?;
            let body = body.bytes().await.map_err(|e| e.to_string())?;
            let elapsed = nanos(start.elapsed());
            black_box(body);
            return Ok(elapsed);
        }
        let answer = self
            .model(layer)
            .chat(&self.request)
            .await
            .map_err(|e| e.to_string())?;
        let elapsed = nanos(start.elapsed());
        if answer.message.text() != CONTENT {
            return Err(format!("{layer:?}: unexpected answer {answer:?}"));
        }
        Ok(elapsed)
    }

    /// One streamed call; its time to the first text and to the end.
    async fn stream(&self, layer: Layer) -> Result<(u64, u64), String> {
        let start = Instant::now();
        let mut ttft = None;
        if layer == Layer::Direct {
            let mut response = self.post(&self.stream_body).await?;
            let mut seen = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
                if ttft.is_none() {
                    seen.extend_from_slice(&chunk);
                    if has_text_delta(&seen) {
                        ttft = Some(nanos(start.elapsed()));
                    }
                }
                black_box(chunk);
            }
            let total = nanos(start.elapsed());
            return Ok((ttft.ok_or("direct stream: no text")?, total));
        }
        let mut events = self
            .model(layer)
            .chat_stream(&self.request)
            .await
            .map_err(|e| e.to_string())?;
        let mut done = None;
        while let Some(event) = events.next().await {
            match event.map_err(|e| e.to_string())? {
                StreamEvent::TextDelta(t) if ttft.is_none() && !t.is_empty() => {
                    ttft = Some(nanos(start.elapsed()));
                }
                StreamEvent::Done(answer) => done = Some(answer),
                other => {
                    black_box(other);
                }
            }
        }
        let total = nanos(start.elapsed());
        match done {
            Some(answer) if answer.message.text() == CONTENT => {
                Ok((ttft.ok_or("stream: no text delta")?, total))
            }
            other => Err(format!("{layer:?}: unexpected end of stream {other:?}")),
        }
    }

    async fn once(&self, layer: Layer, series: &mut Series) -> Result<(), String> {
        series.plain.push(self.plain(layer).await?);
        let (ttft, total) = self.stream(layer).await?;
        series.ttft.push(ttft);
        series.stream_total.push(total);
        Ok(())
    }

    async fn run(&self, o: &Options) -> Result<HashMap<Layer, Series>, String> {
        let mut scratch = Series::default();
        for layer in Layer::ALL {
            for _ in 0..o.warmup {
                self.once(layer, &mut scratch).await?;
            }
        }
        let mut out: HashMap<Layer, Series> =
            Layer::ALL.iter().map(|&l| (l, Series::default())).collect();
        let per_round = o.iters.div_ceil(o.rounds);
        for round in 0..o.rounds {
            // Rotate the order each round so no path always runs first.
            for i in 0..Layer::ALL.len() {
                let layer = Layer::ALL[(i + round) % Layer::ALL.len()];
                let series = out.get_mut(&layer).expect("every layer has a series");
                for _ in 0..per_round {
                    self.once(layer, series).await?;
                }
            }
        }
        Ok(out)
    }
}

/// What the Python half reports.
struct PythonResults {
    versions: serde_json::Value,
    direct: Series,
    litellm: Series,
}

fn run_python(
    python: &Path,
    upstream: &Upstream,
    bench: &Bench,
    o: &Options,
) -> Result<PythonResults, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/litellm_overhead.py");
    let plain_body = std::str::from_utf8(&bench.plain_body).map_err(|e| e.to_string())?;
    let stream_body = std::str::from_utf8(&bench.stream_body).map_err(|e| e.to_string())?;
    let mut child = Command::new(python)
        .arg(&script)
        .args(["--base-url", &upstream.base_url()])
        .args(["--model", MODEL])
        .args(["--expect", CONTENT])
        .args(["--plain-body", plain_body])
        .args(["--stream-body", stream_body])
        .args(["--iters", &o.py_iters.to_string()])
        .args(["--warmup", &o.py_warmup.to_string()])
        .args(["--rounds", &o.rounds.to_string()])
        // LiteLLM fetches its model cost map from the network at import
        // unless told to use its bundled copy.
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let deadline = Instant::now() + PYTHON_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the Python half ran past {} s",
                PYTHON_DEADLINE.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = reader
        .join()
        .map_err(|_| "stdout reader panicked")?
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("{} exited with {status}", script.display()));
    }
    let report: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or(""))
        .map_err(|e| format!("unreadable report from the Python half: {e}"))?;
    let samples = |key: &str| -> Result<Vec<u64>, String> {
        report["series"][key]
            .as_array()
            .ok_or_else(|| format!("the Python report has no `{key}`"))?
            .iter()
            .map(|v| v.as_u64().ok_or_else(|| format!("bad sample in `{key}`")))
            .collect()
    };
    let series = |prefix: &str| -> Result<Series, String> {
        Ok(Series {
            plain: samples(&format!("{prefix}.plain"))?,
            ttft: samples(&format!("{prefix}.ttft"))?,
            stream_total: samples(&format!("{prefix}.stream_total"))?,
        })
    };
    Ok(PythonResults {
        versions: report["versions"].clone(),
        direct: series("direct")?,
        litellm: series("litellm")?,
    })
}

/// `a − b` in microseconds.
fn added(a: u64, b: u64) -> f64 {
    (a as f64 - b as f64) / 1e3
}

fn print_rows(label: &str, s: &Summaries, base: &Summaries) {
    for (what, x, b) in [
        ("chat", &s.plain, &base.plain),
        ("stream TTFT", &s.ttft, &base.ttft),
        ("stream total", &s.stream_total, &base.stream_total),
    ] {
        println!(
            "  {label:<28} {what:<13} {:>9.1} {:>9.1} {:>+11.1}",
            x.p50_us(),
            x.p99_us(),
            added(x.p50_ns, b.p50_ns)
        );
    }
}

/// `/proc/loadavg`'s 1-, 5- and 15-minute figures, or `?`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}

fn ratio(peer: f64, weft: f64) -> String {
    if weft <= 0.0 {
        "∞ (Weft adds nothing measurable)".into()
    } else {
        format!("{:.1}×", peer / weft)
    }
}

fn main() {
    let options = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("overhead: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&options) {
        eprintln!("overhead: {e}");
        std::process::exit(1);
    }
}

fn run(o: &Options) -> Result<(), String> {
    let upstream = Upstream::start().map_err(|e| format!("cannot start the upstream: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let bench = runtime.block_on(Bench::new(&upstream))?;
    eprintln!("load average before: {}", load_average());
    eprintln!(
        "upstream {}; Rust: {} warm-up + {} measured calls per path, {} rounds",
        upstream.base_url(),
        o.warmup,
        o.iters.div_ceil(o.rounds) * o.rounds,
        o.rounds
    );
    let started = Instant::now();
    let rust = runtime.block_on(bench.run(o))?;
    eprintln!(
        "Rust half: {:.1} s, {} requests over {} connections",
        started.elapsed().as_secs_f64(),
        upstream.served(),
        upstream.connections()
    );

    let python = match &o.python {
        None => Err("skipped (--no-python)".to_owned()),
        Some(p) if !p.exists() => Err(format!(
            "skipped: {} does not exist (run scripts/bench-model-layer.sh to set up the venv)",
            p.display()
        )),
        Some(p) => {
            let started = Instant::now();
            let r = run_python(p, &upstream, &bench, o);
            eprintln!("Python half: {:.1} s", started.elapsed().as_secs_f64());
            r
        }
    };

    let r: HashMap<Layer, Summaries> = rust.iter().map(|(&l, s)| (l, s.summarise())).collect();
    let direct = &r[&Layer::Direct];
    println!();
    println!(
        "Model-layer overhead against a loopback OpenAI-compatible upstream ({})",
        upstream.base_url()
    );
    println!(
        "  {:<28} {:<13} {:>9} {:>9} {:>11}",
        "path", "call", "p50 µs", "p99 µs", "added p50"
    );
    for layer in Layer::ALL {
        print_rows(layer.label(), &r[&layer], direct);
    }
    let py = python.as_ref().map(|p| {
        (
            p.direct.summarise(),
            p.litellm.summarise(),
            p.versions.clone(),
        )
    });
    match &py {
        Ok((pd, pl, versions)) => {
            print_rows("Python direct (httpx)", pd, pd);
            let litellm = format!("LiteLLM {}", versions["litellm"].as_str().unwrap_or("?"));
            print_rows(&litellm, pl, pd);
            println!("  (Python {versions})");
        }
        Err(e) => println!("  LiteLLM: {e}"),
    }
    println!("  added p50 = path p50 − the same language's direct p50");
    println!(
        "  ({} upstream requests served over {} connections; load average {})",
        upstream.served(),
        upstream.connections(),
        load_average()
    );

    // Targets.
    let weft_layers = [Layer::Provider, Layer::Resilient, Layer::Router];
    let worst = |pick: fn(&Summaries) -> &Summary| {
        weft_layers
            .iter()
            .map(|l| added(pick(&r[l]).p50_ns, pick(direct).p50_ns))
            .fold(f64::MIN, f64::max)
    };
    let (worst_plain, worst_ttft) = (worst(|s| &s.plain), worst(|s| &s.ttft));
    println!();
    println!(
        "Target: Weft adds ≤ 200 µs p50: {} (worst layer: chat {:+.1} µs, TTFT {:+.1} µs)",
        if worst_plain <= 200.0 && worst_ttft <= 200.0 {
            "PASS"
        } else {
            "FAIL"
        },
        worst_plain,
        worst_ttft
    );
    if let Ok((pd, pl, _)) = &py {
        let lite_plain = added(pl.plain.p50_ns, pd.plain.p50_ns);
        let lite_ttft = added(pl.ttft.p50_ns, pd.ttft.p50_ns);
        println!(
            "LiteLLM adds: chat {lite_plain:+.1} µs, TTFT {lite_ttft:+.1} µs (p50, over Python direct)"
        );
        let mut pass = true;
        for layer in weft_layers {
            let wp = added(r[&layer].plain.p50_ns, direct.plain.p50_ns);
            let wt = added(r[&layer].ttft.p50_ns, direct.ttft.p50_ns);
            pass &= lite_plain >= 10.0 * wp.max(0.0) && lite_ttft >= 10.0 * wt.max(0.0);
            println!(
                "  LiteLLM overhead / {:<26} chat {:<12} TTFT {}",
                format!("{}:", layer.label()),
                ratio(lite_plain, wp),
                ratio(lite_ttft, wt)
            );
        }
        println!(
            "Target: ≥ 10× lower overhead than LiteLLM: {}",
            if pass { "PASS" } else { "FAIL" }
        );
    }
    Ok(())
}
