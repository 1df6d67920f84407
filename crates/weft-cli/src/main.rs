//! The `weft` command line: run an agent with its tools and model, or
//! inspect a component.

mod bench;
mod pull;

#[cfg(test)]
mod tests {
    use super::terminal_safe;

    #[test]
    fn untrusted_text_cannot_redraw_the_terminal() {
        let hostile =
            "{\"url\": \"https://ok.example\"}\r\x1b[2K\x1b[1Aweft: wants `nothing`\u{202e}";
        let safe = terminal_safe(hostile);
        assert!(!safe.chars().any(|c| c.is_control()), "{safe:?}");
        assert!(
            safe.contains("\\u{1b}[2K") && safe.contains("\\u{d}") && safe.contains("\\u{202e}")
        );
        assert_eq!(terminal_safe("plain {\"a\": 1} é"), "plain {\"a\": 1} é");
    }
}

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing_subscriber::Layer;
use weft_host::{
    AppConfig, ComponentConfig, Event, Host, ModelSpec, PolicyFile, RecordingObserver,
};

/// Weft: sandboxed AI agents built from WebAssembly components.
#[derive(Parser)]
#[command(name = "weft", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an agent on an input and print its answer.
    Run(Box<RunArgs>),
    /// Show a component's world, imports, exports and tool specs.
    Inspect {
        /// The component (`.wasm`).
        component: PathBuf,
    },
    /// Dry-run a request against a provider's model: list what would be
    /// dropped, lowered or emulated, without sending anything.
    Check {
        /// The provider (`deepseek`, `kimi`, `glm`, `anthropic`, `gemini`, ...).
        #[arg(long)]
        provider: String,
        /// The model.
        #[arg(long)]
        model: String,
        /// A chat request as JSON (the format of cassette entries); a sample
        /// request with tools, `tool_choice: required` and a JSON Schema
        /// answer when omitted.
        request: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Download a local model into the cache (if not already there) and
    /// print its path.
    Pull(pull::PullArgs),
    /// Serve a model over an OpenAI-compatible HTTP API
    /// (`/v1/chat/completions`, `/v1/models`) until ctrl-c.
    Serve(Box<ServeArgs>),
    /// Measure a local model's prefill and decode speed and peak memory,
    /// side by side with llama.cpp on the same file.
    Bench(Box<bench::BenchArgs>),
}

/// The model flags `weft run` and `weft serve` share; each replaces the
/// configuration's `[model]`.
#[derive(Args)]
struct ModelFlags {
    /// Replay model exchanges from this cassette.
    #[arg(long, conflicts_with = "model_url")]
    cassette: Option<PathBuf>,
    /// Use a provider by name (deepseek, qwen, kimi, glm, minimax, doubao,
    /// openai, anthropic, gemini, ollama, vllm, llamacpp, generic).
    #[arg(long, requires = "model_name", conflicts_with = "cassette")]
    provider: Option<String>,
    /// An OpenAI-compatible endpoint's base URL (e.g. https://api.deepseek.com),
    /// or the base URL for `--provider`.
    #[arg(long, requires = "model_name")]
    model_url: Option<String>,
    /// The model name for `--provider` or `--model-url`.
    #[arg(long)]
    model_name: Option<String>,
    /// Environment variable holding the API key for `--provider` or
    /// `--model-url`.
    #[arg(long)]
    api_key_env: Option<String>,
}

#[derive(Args)]
struct RunArgs {
    /// A run configuration (`weft.toml`); flags below override it.
    config: Option<PathBuf>,
    /// The agent component (overrides the configuration's).
    #[arg(long)]
    agent: Option<PathBuf>,
    /// A tool plugin component; repeat for several (added to the configuration's).
    #[arg(long = "tool")]
    tools: Vec<PathBuf>,
    /// A policy file with `[components.NAME]` tables replacing those components' policies.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// A local model run in-process: `local:NAME` (fetched with `weft pull`),
    /// `local:FILE.gguf` or `local:DIR` (Hugging Face layout).
    #[arg(long, value_name = "local:NAME", conflicts_with_all = ["cassette", "provider", "model_url"])]
    model: Option<String>,
    /// Where a local model runs: `cpu` (default) or `wgpu`.
    #[arg(long, default_value = "cpu")]
    backend: String,
    #[command(flatten)]
    model_flags: ModelFlags,
    /// Wrap the model with this model plugin component.
    #[arg(long)]
    model_plugin: Option<PathBuf>,
    /// Record the model exchanges of this run to a cassette file.
    #[arg(long)]
    record: Option<PathBuf>,
    /// The input text.
    #[arg(long, conflicts_with = "input_file")]
    input: Option<String>,
    /// Read the input from a file (`-` for stdin).
    #[arg(long)]
    input_file: Option<PathBuf>,
    /// Print the whole run as JSON: answer, transcript, usage and events.
    #[arg(long)]
    json: bool,
    /// How to answer tool calls that need approval.
    #[arg(long, value_enum, default_value_t = ApproveMode::Ask)]
    approve: ApproveMode,
    /// Print tool and model calls to stderr as they happen.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Args)]
struct ServeArgs {
    /// A run configuration (`weft.toml`) whose `[model]` is served; the
    /// model flags below replace it.
    config: Option<PathBuf>,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// The name clients ask for (default: the model's own name).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    model_flags: ModelFlags,
    #[command(flatten)]
    security: ServeSecurityFlags,
}

/// How `weft serve` keeps web pages and hostile clients out (see
/// `weft_serve::security`).
#[derive(Args)]
struct ServeSecurityFlags {
    /// An environment variable holding a bearer token clients must send
    /// (`Authorization: Bearer TOKEN`); repeat for several tokens. Required
    /// to listen beyond loopback.
    #[arg(long = "token-env", value_name = "VAR")]
    token_env: Vec<String>,
    /// Also accept requests whose `Host` is this name (NAME: any port,
    /// NAME:PORT: that port), e.g. behind a reverse proxy; repeatable.
    /// Other names are refused, against DNS rebinding.
    #[arg(long = "allow-host", value_name = "HOST[:PORT]")]
    allow_host: Vec<weft_serve::AllowedHost>,
    /// Let web pages from this origin (e.g. http://localhost:3000) call the
    /// server, with CORS; repeatable. Browser requests from any other
    /// origin are refused.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origin: Vec<weft_serve::CorsOrigin>,
    /// Model requests served at once; one more gets 503 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = weft_serve::DEFAULT_MAX_CONCURRENT as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_concurrent: u64,
    /// Connections open at once; more wait until one closes.
    #[arg(long, value_name = "N", default_value_t = weft_serve::DEFAULT_MAX_CONNECTIONS as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Seconds a client has to send a request's line and headers; also how
    /// long a kept-alive connection may sit idle.
    #[arg(long, value_name = "SECS", value_parser = positive_seconds,
          default_value_t = weft_serve::DEFAULT_HEADER_READ_TIMEOUT.as_secs_f64())]
    header_timeout: f64,
    /// Seconds a client has to send a whole request body (then 408).
    #[arg(long, value_name = "SECS", value_parser = positive_seconds,
          default_value_t = weft_serve::DEFAULT_BODY_READ_TIMEOUT.as_secs_f64())]
    body_timeout: f64,
    /// Seconds a response may wait on a client that reads nothing before
    /// the connection is dropped.
    #[arg(long, value_name = "SECS", value_parser = positive_seconds,
          default_value_t = weft_serve::DEFAULT_WRITE_TIMEOUT.as_secs_f64())]
    write_timeout: f64,
}

/// A number of seconds above zero.
fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs < 1e9 => Ok(secs),
        _ => Err(format!("`{s}` is not a number of seconds above 0")),
    }
}

impl ServeSecurityFlags {
    /// The server's security options; the tokens read from the environment.
    fn options(&self) -> Result<weft_serve::SecurityOptions> {
        let mut options = weft_serve::SecurityOptions::default()
            .max_concurrent(self.max_concurrent as usize)
            .max_connections(self.max_connections as usize)
            .header_read_timeout(std::time::Duration::from_secs_f64(self.header_timeout))
            .body_read_timeout(std::time::Duration::from_secs_f64(self.body_timeout))
            .write_timeout(std::time::Duration::from_secs_f64(self.write_timeout));
        options.allowed_hosts.clone_from(&self.allow_host);
        options.cors_origins.clone_from(&self.cors_origin);
        for var in &self.token_env {
            options = options.bearer_token(token_from_env(var)?);
        }
        Ok(options)
    }
}

/// The bearer token in the environment variable `var`.
fn token_from_env(var: &str) -> Result<weft_serve::BearerToken> {
    let value = match std::env::var(var) {
        Ok(value) => value,
        Err(std::env::VarError::NotPresent) => {
            bail!("--token-env {var}: the environment variable {var} is not set")
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            bail!("--token-env {var}: the environment variable {var} is not valid UTF-8")
        }
    };
    let value = value.trim();
    if !value.is_empty() && value.len() < 16 {
        eprintln!(
            "weft: warning: the token in {var} has only {} characters; use a long random one (`openssl rand -hex 32`)",
            value.len()
        );
    }
    weft_serve::BearerToken::new(value).with_context(|| format!("--token-env {var}"))
}

#[derive(Clone, Copy, ValueEnum)]
enum ApproveMode {
    /// Ask on the terminal (declines when there is none).
    Ask,
    /// Approve every call.
    Yes,
    /// Decline every call.
    No,
}

struct TerminalApprover;

impl weft_host::Approver for TerminalApprover {
    fn approve(&self, component: &str, tool: &str, arguments: &str, reason: &str) -> bool {
        if !std::io::stdin().is_terminal() {
            eprintln!(
                "weft: declined `{tool}` for `{component}` (no terminal to ask; use --approve yes)"
            );
            return false;
        }
        // Everything here but the component's name comes from a model or a
        // guest: escape control characters, so a newline or an ANSI escape
        // cannot redraw the prompt and hide what is really asked.
        eprint!(
            "weft: `{}` wants to call `{}` with {} ({}). Allow? [y/N] ",
            terminal_safe(component),
            terminal_safe(tool),
            terminal_safe(arguments),
            terminal_safe(reason)
        );
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).is_ok() && line.trim().eq_ignore_ascii_case("y")
    }
}

/// `text` with every control character (C0, DEL, C1: newlines and ANSI
/// escapes among them) and every bidirectional override escaped as
/// `\u{..}`, for printing untrusted text on a terminal.
fn terminal_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
        if c.is_control() || bidi {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let _otlp = init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => tokio::task::spawn_blocking(move || run(*args)).await?,
            Command::Inspect { component } => inspect(&component).await,
            Command::Check {
                provider,
                model,
                request,
                json,
            } => check(&provider, &model, request.as_deref(), json),
            Command::Pull(args) => pull::run(args).await,
            Command::Serve(args) => serve(*args).await,
            Command::Bench(args) => tokio::task::spawn_blocking(move || bench::run(*args)).await?,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            let chain: Vec<String> = e.chain().skip(1).map(|c| c.to_string()).collect();
            if !chain.is_empty() {
                eprintln!("\ncaused by:");
                for c in chain {
                    eprintln!("  - {c}");
                }
            }
            std::process::ExitCode::from(2)
        }
    }
}

/// Logs to stderr (filtered by `WEFT_LOG`); with the `otlp` feature, also
/// exports spans when the standard OpenTelemetry variables name an endpoint.
fn init_tracing() -> Option<Box<dyn std::any::Any>> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("WEFT_LOG").unwrap_or_else(|_| "warn".into());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter);
    #[cfg(feature = "otlp")]
    if let Some(config) = weft_meter::otlp::OtlpConfig::from_env() {
        match weft_meter::otlp::layer(&config) {
            Ok((layer, guard)) => {
                tracing_subscriber::registry().with(fmt).with(layer).init();
                return Some(Box::new(guard));
            }
            Err(e) => eprintln!("weft: OTLP export disabled: {e}"),
        }
    }
    tracing_subscriber::registry().with(fmt).init();
    None
}

async fn inspect(path: &Path) -> Result<std::process::ExitCode> {
    let info = weft_host::inspect_async(path).await?;
    println!("{}", serde_json::to_string_pretty(&info)?);
    Ok(std::process::ExitCode::SUCCESS)
}

fn sample_request() -> weft_model::ChatRequest {
    let schema = serde_json::json!({
        "type": "object",
        "properties": {"category": {"type": "string"}, "priority": {"type": "integer", "exclusiveMinimum": 0}},
        "required": ["category"],
        "additionalProperties": false
    });
    weft_model::ChatRequest::new(vec![weft_model::Message::user("Triage this ticket.")])
        .with_tools(vec![weft_model::ToolSpec {
            name: "extract_entities".into(),
            description: "Finds emails, URLs and dates.".into(),
            input_schema: serde_json::json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"]
            })
            .to_string(),
            output_schema: None,
        }])
        .with_tool_choice(weft_model::ToolChoice::Required)
        .with_response_format(weft_model::ResponseFormat::JsonSchema(
            weft_model::JsonSchemaFormat {
                name: "triage".into(),
                schema: schema.to_string(),
                strict: true,
            },
        ))
}

fn check(
    provider: &str,
    model: &str,
    request: Option<&Path>,
    json: bool,
) -> Result<std::process::ExitCode> {
    let request = match request {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the request file {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not a chat request in Weft's JSON format",
                    path.display()
                )
            })?
        }
        None => sample_request(),
    };
    let report = weft_providers::check(&request, provider, model);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(std::process::ExitCode::SUCCESS)
}

const CHOOSE_A_MODEL: &str = "choose a model: --model local:NAME, --cassette FILE, --provider NAME --model-name NAME, or --model-url URL --model-name NAME";

fn build_config(args: &RunArgs) -> Result<AppConfig> {
    let mut choice = args.model_flags.choice();
    choice.local = args.model.clone();
    choice.backend = args
        .backend
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--backend: {e}"))?;
    let chosen: Option<ModelSpec> = choice.spec().map_err(|e| anyhow::anyhow!("--model: {e}"))?;
    let mut config = match &args.config {
        Some(path) => {
            let mut config = AppConfig::load(path)?;
            if let Some(agent) = &args.agent {
                config.agent.component = agent.clone();
            }
            if let Some(model) = chosen {
                config.model = model;
            }
            config
        }
        None => {
            let Some(agent) = &args.agent else {
                bail!("give a run configuration (weft.toml) or --agent");
            };
            let mut agent = ComponentConfig::new(agent);
            agent.policy.tools = vec!["*".into()];
            AppConfig {
                agent,
                tools: Vec::new(),
                model: chosen.context(CHOOSE_A_MODEL)?,
                secrets: Default::default(),
            }
        }
    };
    config
        .tools
        .extend(args.tools.iter().map(ComponentConfig::new));
    if let Some(plugin) = &args.model_plugin {
        config.model = config.model.wrapped_by(ComponentConfig::new(plugin));
    }
    if let Some(path) = &args.record {
        config.model = config.model.recorded(path);
    }
    if let Some(path) = &args.policy {
        let file = PolicyFile::load(path)?;
        config.apply_policy_file(&file, path)?;
    }
    Ok(config)
}

impl ModelFlags {
    /// The model settings these flags give (the factory turns them into a
    /// spec: a provider, else an OpenAI-compatible endpoint, else a
    /// cassette).
    fn choice(&self) -> weft_models::ModelChoice {
        weft_models::ModelChoice {
            provider: self.provider.clone(),
            base_url: self.model_url.clone(),
            model: self.model_name.clone(),
            api_key_env: self.api_key_env.clone(),
            cassette: self.cassette.clone(),
            ..Default::default()
        }
    }
}

fn read_input(args: &RunArgs) -> Result<String> {
    match (&args.input, &args.input_file) {
        (Some(text), _) => Ok(text.clone()),
        (None, Some(path)) if path == Path::new("-") => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .context("reading stdin")?;
            Ok(s)
        }
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the input file {}", path.display())),
        (None, None) => bail!("give the agent an input with --input TEXT or --input-file FILE"),
    }
}

/// Prints one event on stderr; what guests and models wrote is escaped
/// ([`terminal_safe`]).
fn print_event(event: &Event) {
    let safe = terminal_safe;
    match event {
        Event::ToolCall {
            tool,
            arguments,
            duration,
            error,
            ..
        } => match error {
            None => eprintln!(
                "  → tool {}({}) [{:.1} ms]",
                safe(tool),
                safe(arguments),
                duration.as_secs_f64() * 1e3
            ),
            Some(e) => eprintln!(
                "  → tool {}({}) failed: {}",
                safe(tool),
                safe(arguments),
                safe(e)
            ),
        },
        Event::ModelCall {
            model,
            input_tokens,
            output_tokens,
            duration,
            error,
            ..
        } => match error {
            None => eprintln!(
                "  ◆ model {}: {input_tokens} in / {output_tokens} out [{:.1} ms]",
                safe(model),
                duration.as_secs_f64() * 1e3
            ),
            Some(e) => eprintln!("  ◆ model {} failed: {}", safe(model), safe(e)),
        },
        Event::Denied { component, reason } => {
            eprintln!("  ✗ denied ({component}): {}", safe(reason))
        }
        Event::Crashed { component, reason } => {
            eprintln!("  ✗ crashed ({component}): {}", safe(reason))
        }
        Event::Log {
            component,
            level,
            message,
        } => eprintln!("  [{component} {level:?}] {}", safe(message)),
        Event::TextDelta { .. } => {}
    }
}

async fn serve(args: ServeArgs) -> Result<std::process::ExitCode> {
    let security = args.security.options()?;
    // Bound first, so a refused address fails before a model is loaded.
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener.local_addr()?;
    if security.check_bind(addr).is_err() {
        bail!(
            "{addr} is reachable from other machines, so clients must present a bearer token. \
             Put a long random token in an environment variable and name it with --token-env: \
             `export WEFT_SERVE_TOKEN=$(openssl rand -hex 32)`, then \
             `weft serve --addr {} --token-env WEFT_SERVE_TOKEN`; clients send \
             `Authorization: Bearer $WEFT_SERVE_TOKEN`. To serve this machine only, listen on 127.0.0.1.",
            args.addr
        );
    }
    let file = match &args.config {
        Some(path) => weft_models::ModelFile::load(path)?,
        None => weft_models::ModelFile {
            model: None,
            secrets: Default::default(),
        },
    };
    let chosen = args
        .model_flags
        .choice()
        .spec()
        .map_err(|e| anyhow::anyhow!(e))?;
    let spec = chosen.or(file.model).context(
        "choose a model: a weft.toml with a [model], --cassette FILE, --provider NAME --model-name NAME, or --model-url URL --model-name NAME",
    )?;
    // Loading a model may read large files: off the async workers.
    let sources = file.secrets;
    let model =
        tokio::task::spawn_blocking(move || weft_models::build_model(&spec, &sources)).await??;
    let name = match args.name {
        Some(name) => name,
        None => Some(model.capabilities().model)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "weft".into()),
    };
    let needs = if security.tokens.is_empty() {
        ""
    } else {
        "bearer token required; "
    };
    eprintln!("weft: serving `{name}` at http://{addr}/v1 ({needs}ctrl-c to stop)");
    weft_serve::Server::new(std::collections::BTreeMap::from([(name, model)]))
        .with_security(security)
        .serve(listener)
        .await?;
    Ok(std::process::ExitCode::SUCCESS)
}

fn run(args: RunArgs) -> Result<std::process::ExitCode> {
    let config = build_config(&args)?;
    let input = read_input(&args)?;
    let recorder = Arc::new(RecordingObserver::default());
    let verbose = args.verbose;
    let rec = recorder.clone();
    let observer = move |event: &Event| {
        if verbose {
            print_event(event);
        }
        weft_host::Observer::event(rec.as_ref(), event);
    };
    let approver: Arc<dyn weft_host::Approver> = match args.approve {
        ApproveMode::Ask => Arc::new(TerminalApprover),
        ApproveMode::Yes => Arc::new(weft_host::FixedApprover(true)),
        ApproveMode::No => Arc::new(weft_host::FixedApprover(false)),
    };
    let host = Host::builder()
        .observer(Arc::new(observer))
        .approver(approver)
        .build(&config)?;
    let outcome = host.run(&input);
    let events = recorder.events();
    let dropped = recorder.dropped();
    if dropped > 0 {
        eprintln!("weft: {dropped} events were not kept (the transcript's event log is bounded)");
    }
    match outcome {
        Ok(report) => {
            if args.json {
                let value = serde_json::json!({ "ok": true, "report": report, "events": events, "events_dropped": dropped });
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!("{}", report.answer);
                let cost = if report.spend.priced_calls > 0 {
                    format!(", ${:.6}", report.spend.usd)
                } else {
                    String::new()
                };
                eprintln!(
                    "weft: {} steps, {} input + {} output tokens{cost}, {:.0} ms",
                    report.steps,
                    report.usage.input_tokens,
                    report.usage.output_tokens,
                    report.duration.as_secs_f64() * 1e3
                );
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        Err(e) => {
            if args.json {
                let value = serde_json::json!({ "ok": false, "error": e.to_string(), "events": events, "events_dropped": dropped });
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                eprintln!("error: {e}");
            }
            Ok(std::process::ExitCode::from(1))
        }
    }
}
