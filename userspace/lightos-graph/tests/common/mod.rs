//! Where the tests find the ONNX model zoo's light networks: `LIGHTOS_LIGHT_MODELS` (set by `make
//! test`), else tests/models/fetch-light.sh, which fetches them into the cache the first time.
//! Shared by lightos-graph's tests and lightos-cli's (`#[path]`).

// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

use std::path::PathBuf;

/// The nine networks, by the file stems after `light_`.
pub const NETWORKS: [&str; 9] = [
    "bvlc_alexnet",
    "zfnet512",
    "vgg19",
    "resnet50",
    "densenet121",
    "inception_v1",
    "inception_v2",
    "shufflenet",
    "squeezenet",
];

/// The light network `name` (`resnet50`, …), or `None` after saying why the caller skips.
pub fn light(name: &str) -> Option<PathBuf> {
    light_dir().map(|d| d.join(format!("light_{name}.onnx")))
}

/// Their directory, or `None` after saying why the caller skips.
pub fn light_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("LIGHTOS_LIGHT_MODELS") {
        return Some(PathBuf::from(dir));
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/models/fetch-light.sh"
    );
    match std::process::Command::new("bash").arg(script).output() {
        Ok(out) if out.status.success() => {
            Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        }
        Ok(out) => {
            eprintln!(
                "skipped: {script} failed (no network the first time?): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!("skipped: {script}: {e}");
            None
        }
    }
}
