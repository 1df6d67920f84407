//! Builds every guest component for `wasm32-wasip2` (release) with a nested
//! cargo, one package per invocation, into `<target>/wasm`, and writes the
//! paths of the built `.wasm` files to `$OUT_DIR/artifacts.rs`.

use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (constant name, package, workspace directory relative to the repo root,
/// description).
const GUESTS: &[(&str, &str, &str, &str)] = &[
    (
        "TEXT_TOOLS",
        "text-tools",
        "plugins",
        "The `text-tools` tool plugin (`split_chunks`, `count_words`, `extract_entities`).",
    ),
    (
        "HTTP_FETCH",
        "http-fetch",
        "plugins",
        "The `http-fetch` tool plugin (`fetch` through `wasi:http/outgoing-handler`).",
    ),
    (
        "KV_MEMORY",
        "kv-memory",
        "plugins",
        "The `kv-memory` tool plugin (`memory_set`/`get`/`list`/`delete` over `state`).",
    ),
    (
        "TOOL_LOOP_AGENT",
        "tool-loop-agent",
        "plugins",
        "The generic `tool-loop-agent` agent plugin.",
    ),
    (
        "REDACT_MODEL",
        "redact-model",
        "plugins",
        "The `redact-model` model plugin (redacts emails and phone numbers).",
    ),
    (
        "HOSTILE",
        "hostile",
        "crates/test-programs/guests",
        "The `hostile` test tool plugin (`spin`, `alloc`, `trap`, `huge`, `read_file`, `env`, `fetch`, `echo`).",
    ),
    (
        "BENCH_AGENT",
        "bench-agent",
        "crates/test-programs/guests",
        "The `bench-agent` test agent (calls one tool n times).",
    ),
];

const WASM_TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .join("../../..")
        .canonicalize()
        .expect("the repository root");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));

    for dir in [
        "plugins",
        "crates/test-programs/guests",
        "crates/weft-sdk",
        "wit",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }

    check_target_installed();

    let wasm_dir = target_dir(&out_dir).join("wasm");
    let mut consts = String::new();
    let mut all = String::new();
    for (name, package, workspace, doc) in GUESTS {
        build(&root.join(workspace), package, &wasm_dir);
        let file = wasm_dir
            .join(WASM_TARGET)
            .join("release")
            .join(format!("{}.wasm", package.replace('-', "_")));
        assert!(
            file.is_file(),
            "cargo built `{package}` but {} does not exist",
            file.display()
        );
        let path = file.to_str().expect("a UTF-8 target path");
        writeln!(
            consts,
            "/// {doc}\n///\n/// Absolute path of the built component."
        )
        .unwrap();
        writeln!(consts, "pub const {name}: &str = {path:?};\n").unwrap();
        writeln!(all, "    ({package:?}, {name}),").unwrap();
    }
    writeln!(
        consts,
        "/// Every component: (package name, absolute path).\npub const ALL: &[(&str, &str)] = &[\n{all}];"
    )
    .unwrap();
    fs::write(out_dir.join("artifacts.rs"), consts).expect("write artifacts.rs");
}

/// The main target directory: the nearest ancestor of `OUT_DIR` holding
/// cargo's `CACHEDIR.TAG` (works for any `CARGO_TARGET_DIR`, inside or
/// outside the checkout, and with `--target`); else an absolute
/// `CARGO_TARGET_DIR`; else the layout `<target>[/<triple>]/<profile>/build/<pkg>/out`.
fn target_dir(out_dir: &Path) -> PathBuf {
    if let Some(dir) = out_dir
        .ancestors()
        .skip(1)
        .find(|d| d.join("CACHEDIR.TAG").is_file())
    {
        return dir.to_path_buf();
    }
    if let Some(dir) = env::var_os("CARGO_TARGET_DIR").map(PathBuf::from)
        && dir.is_absolute()
    {
        return dir;
    }
    let mut dir = out_dir
        .ancestors()
        .nth(4)
        .expect("OUT_DIR is <target>/<profile>/build/<pkg>/out")
        .to_path_buf();
    if env::var("TARGET").is_ok_and(|t| dir.ends_with(t)) {
        dir.pop();
    }
    dir
}

/// Fails with a clear message when the wasm32-wasip2 standard library is
/// missing from the toolchain.
fn check_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let Ok(output) = Command::new(&rustc).args(["--print", "sysroot"]).output() else {
        return; // Let the nested build report the problem.
    };
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let lib = sysroot.join("lib/rustlib").join(WASM_TARGET);
    if output.status.success() && !lib.is_dir() {
        panic!(
            "\n\nthe `{WASM_TARGET}` target is not installed for the Rust toolchain at {}.\n\
             Weft's guest components need it; install it with:\n\n    \
             rustup target add {WASM_TARGET}\n\n",
            sysroot.display()
        );
    }
}

/// Whether an inherited variable would confuse the nested cargo (flags and
/// settings for the host build, build-script metadata, clippy's wrapper).
fn confusing(key: &str) -> bool {
    const KEEP: &[&str] = &[
        "CARGO_HOME",
        "CARGO_MAKEFLAGS",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_TERM_",
    ];
    const DROP: &[&str] = &[
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_LINKER",
        "TARGET",
        "HOST",
        "OUT_DIR",
        "OPT_LEVEL",
        "PROFILE",
        "DEBUG",
        "NUM_JOBS",
    ];
    if key.starts_with("CARGO_") {
        return !KEEP.iter().any(|k| key.starts_with(k));
    }
    DROP.contains(&key)
}

fn build(workspace: &Path, package: &str, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .arg("build")
        .arg("--release")
        .arg("--package")
        .arg(package)
        .arg("--target")
        .arg(WASM_TARGET)
        .arg("--target-dir")
        .arg(target_dir);
    for (key, _) in env::vars_os() {
        if let Some(key) = key.to_str()
            && confusing(key)
        {
            cmd.env_remove(key);
        }
    }
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not run cargo to build `{package}`: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Shown by `cargo build -vv`, and on failure.
    eprintln!("{stderr}");
    if !output.status.success() {
        let hint = if stderr.contains("may not be installed")
            || stderr.contains("can't find crate for `core`")
        {
            format!("\nhint: run `rustup target add {WASM_TARGET}`")
        } else {
            String::new()
        };
        panic!(
            "building guest `{package}` in {} for {WASM_TARGET} failed ({}){hint}\n{}",
            workspace.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout)
        );
    }
}
