//! `weft bench`: a local model's prefill and decode speed and peak memory,
//! side by side with llama.cpp on the same GGUF file, prompt and thread count.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;
use weft_local::bench::{
    BenchSettings, Throughput, bench_prompt, measure_model, peak_resident_bytes,
};
use weft_local::{Backend, LoadOptions, LocalModel};

/// The llama.cpp half, run by a Python that has llama-cpp-python.
const LLAMA_CPP_PEER: &str = include_str!("llama_cpp_peer.py");

/// `weft bench` arguments.
#[derive(Args)]
pub struct BenchArgs {
    /// The model: a name from the catalogue (already pulled), a GGUF file or a
    /// Hugging Face directory.
    #[arg(default_value = "smollm2-135m")]
    model: String,
    /// Where the model runs: `cpu` or `wgpu`.
    #[arg(long, default_value = "cpu")]
    backend: String,
    /// CPU threads, for Weft's kernels and for llama.cpp alike.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Prompt tokens per prefill.
    #[arg(long, default_value_t = BenchSettings::default().prompt_tokens)]
    prompt_tokens: usize,
    /// Tokens decoded after the prompt.
    #[arg(long, default_value_t = BenchSettings::default().decode_tokens)]
    decode_tokens: usize,
    /// Timed runs; each figure is their median.
    #[arg(long, default_value_t = BenchSettings::default().runs)]
    runs: usize,
    /// The Python that runs llama.cpp's side (it needs llama-cpp-python);
    /// `$WEFT_BENCH_PYTHON`, else `python3`.
    #[arg(long)]
    peer_python: Option<String>,
    /// Measure Weft alone.
    #[arg(long)]
    no_peer: bool,
}

/// One engine's figures.
struct Row {
    engine: String,
    prefill: f64,
    decode: f64,
    peak_rss: Option<u64>,
    tokens: Vec<u32>,
}

/// Runs the benchmark and prints the table.
pub fn run(args: BenchArgs) -> Result<std::process::ExitCode> {
    if args.prompt_tokens == 0 || args.decode_tokens == 0 || args.runs == 0 {
        bail!("--prompt-tokens, --decode-tokens and --runs must each be at least 1");
    }
    let path = weft_pull::resolve_local(&args.model).with_context(|| {
        format!(
            "the model `{}` is neither a file nor a directory nor in the model cache: run `weft pull {}`",
            args.model, args.model
        )
    })?;
    let backend: Backend = args
        .backend
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--backend: {e}"))?;
    let settings = BenchSettings {
        prompt_tokens: args.prompt_tokens,
        decode_tokens: args.decode_tokens,
        runs: args.runs,
    };
    let options = LoadOptions {
        device: backend.device(),
        context: settings.prompt_tokens + settings.decode_tokens + 1,
    };
    eprintln!("loading {} ...", path.display());
    let model = LocalModel::load(&path, &options)
        .with_context(|| format!("cannot load {}", path.display()))?;
    let prompt = bench_prompt(model.tokenizer(), settings.prompt_tokens);
    eprintln!(
        "measuring Weft ({backend:?}, {} thread(s)) ...",
        args.threads
    );
    let ours: Throughput = measure_model(&model, &prompt, settings, args.threads)?;
    let mut rows = vec![Row {
        engine: format!("weft ({})", backend_label(backend)),
        prefill: ours.prefill_tokens_per_second,
        decode: ours.decode_tokens_per_second,
        peak_rss: peak_resident_bytes(),
        tokens: ours.generated,
    }];
    drop(model);

    let is_gguf = path.extension().is_some_and(|e| e == "gguf");
    if !args.no_peer && is_gguf {
        let python = args
            .peer_python
            .or_else(|| std::env::var("WEFT_BENCH_PYTHON").ok())
            .unwrap_or_else(|| "python3".to_string());
        eprintln!("measuring llama.cpp with {python} ...");
        match llama_cpp(&python, &path, &prompt, settings, args.threads) {
            Ok(row) => rows.push(row),
            Err(e) => eprintln!("llama.cpp skipped: {e:#}"),
        }
    }
    print_table(&path, settings, args.threads, &rows);
    Ok(std::process::ExitCode::SUCCESS)
}

fn backend_label(backend: Backend) -> &'static str {
    match backend {
        Backend::Cpu => "cpu, weights in their GGUF encoding",
        Backend::Wgpu => "wgpu, f32 weights",
    }
}

/// Runs llama.cpp's side in `python` and reads back its figures.
fn llama_cpp(
    python: &str,
    model: &Path,
    prompt: &[u32],
    settings: BenchSettings,
    threads: usize,
) -> Result<Row> {
    let ids: Vec<String> = prompt.iter().map(u32::to_string).collect();
    let output = Command::new(python)
        .arg("-c")
        .arg(LLAMA_CPP_PEER)
        .arg("--model")
        .arg(model)
        .args(["--threads", &threads.to_string()])
        .args(["--tokens", &ids.join(",")])
        .args(["--decode", &settings.decode_tokens.to_string()])
        .args(["--runs", &settings.runs.to_string()])
        .output()
        .with_context(|| format!("cannot run {python}"))?;
    if !output.status.success() {
        bail!(
            "{python} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("{python} printed no JSON report"))?;
    if let Some(error) = report["error"].as_str() {
        bail!("{error}; `scripts/bench-local.sh` sets up a Python with it");
    }
    let number = |key: &str| {
        report[key]
            .as_f64()
            .with_context(|| format!("the llama.cpp report has no `{key}`"))
    };
    Ok(Row {
        engine: report["engine"].as_str().unwrap_or("llama.cpp").to_string(),
        prefill: number("prefill")?,
        decode: number("decode")?,
        peak_rss: report["peak_rss"].as_u64(),
        tokens: report["tokens"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_u64())
                    .map(|t| t as u32)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

fn print_table(model: &Path, settings: BenchSettings, threads: usize, rows: &[Row]) {
    let name = model
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| model.display().to_string());
    println!(
        "{name}: {} prompt tokens, {} decoded greedily, {threads} thread(s), median of {} runs\n",
        settings.prompt_tokens, settings.decode_tokens, settings.runs
    );
    println!(
        "{:<48} {:>14} {:>13} {:>10}",
        "engine", "prefill tok/s", "decode tok/s", "peak RSS"
    );
    for row in rows {
        println!(
            "{:<48} {:>14.1} {:>13.1} {:>10}",
            row.engine,
            row.prefill,
            row.decode,
            row.peak_rss.map(mib).unwrap_or_else(|| "-".into())
        );
    }
    if let [ours, peer, ..] = rows {
        println!(
            "{:<48} {:>13.2}× {:>12.2}× {:>10}",
            "weft ÷ llama.cpp",
            ours.prefill / peer.prefill,
            ours.decode / peer.decode,
            match (ours.peak_rss, peer.peak_rss) {
                (Some(a), Some(b)) => format!("{:.2}×", a as f64 / b as f64),
                _ => "-".into(),
            }
        );
    }
    println!();
    for row in rows {
        let shown: Vec<String> = row.tokens.iter().take(16).map(u32::to_string).collect();
        println!("{}: greedy tokens {} ...", row.engine, shown.join(" "));
    }
    if let [ours, peer, ..] = rows {
        let same = ours
            .tokens
            .iter()
            .zip(&peer.tokens)
            .take_while(|(a, b)| a == b)
            .count();
        let compared = ours.tokens.len().min(peer.tokens.len());
        println!("greedy tokens: the first {same} of {compared} are the same in both engines");
        if same < compared {
            println!(
                "  first difference at token {same}: weft {} vs llama.cpp {}",
                ours.tokens[same], peer.tokens[same]
            );
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes / (1 << 20))
}
