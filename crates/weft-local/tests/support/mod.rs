//! Shared by the integration tests: where the fixture and the Python
//! reference are.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Where the SmolLM2-135M-Instruct Q4_1 fixture should be:
/// `WEFT_SMOLLM2_GGUF`, else where `weft pull smollm2-135m` caches it.
pub fn smollm2_location() -> PathBuf {
    match std::env::var_os("WEFT_SMOLLM2_GGUF") {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("WEFT_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| dirs::cache_dir().map(|d| d.join("weft").join("models")))
            .unwrap_or_default()
            .join("smollm2-135m")
            .join("SmolLM2-135M-Instruct.Q4_1.gguf"),
    }
}

/// The SmolLM2 fixture; fails with what to run when it is absent.
pub fn smollm2_path() -> PathBuf {
    let path = smollm2_location();
    assert!(
        path.is_file(),
        "the SmolLM2 fixture is not at {}: run scripts/fetch-fixtures.sh \
         (or set WEFT_SMOLLM2_GGUF to the file)",
        path.display()
    );
    path
}

/// The Python interpreter with numpy and gguf: `WEFT_REF_PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var("WEFT_REF_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// `tests/reference/`.
pub fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("reference")
}

/// Runs a reference script and parses the JSON it prints.
pub fn reference_script(script: &str, args: &[&str]) -> serde_json::Value {
    let output = std::process::Command::new(python())
        .arg(reference_dir().join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {script} with `{}` (set WEFT_REF_PYTHON): {e}",
                python()
            )
        });
    assert!(
        output.status.success(),
        "{script} {args:?} failed (it needs numpy and gguf: `pip install numpy gguf`):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}
