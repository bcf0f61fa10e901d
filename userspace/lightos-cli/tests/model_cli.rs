//! `lightos model` as a user runs it: inspect's JSON and text, optimize writing the native format
//! that inspect then reads, and a bad pass list or a corrupt file refused with exit status 1 and a
//! message naming the cause. Uses SqueezeNet from the ONNX model zoo's light networks
//! (tests/models/fetch-light.sh; `make test` passes their directory in LIGHTOS_LIGHT_MODELS).

use std::process::Command;

#[path = "../../lightos-graph/tests/common/mod.rs"]
mod common;

fn lightos(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lightos"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn inspect_optimize_and_inspect_again() {
    let Some(model) = common::light("squeezenet") else {
        return;
    };
    let model = model.to_str().unwrap();
    let out = lightos(&["--json", "model", "inspect", model]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["nodes"], 105);
    assert_eq!(json["ops"]["Conv"], 26);
    assert_eq!(
        json["outputs"][0]["shape"],
        serde_json::json!([1, 1000, 1, 1])
    );
    assert!(json["flops"].as_u64().unwrap() > 700_000_000);
    assert!(json["memory"]["peak"].as_u64().unwrap() < json["memory"]["naive"].as_u64().unwrap());

    let dir = std::env::temp_dir().join(format!("lightos-cli-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let saved = dir.join("s.lgraph");
    let out = lightos(&["model", "optimize", model, "-o", saved.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("pass constants") && text.contains("result       65 nodes"),
        "{text}"
    );
    let out = lightos(&["model", "inspect", saved.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("nodes        65"),
        "{text}"
    );
    assert!(!text.contains("Dropout"), "{text}");

    // Errors: a pass that does not exist, a file that is not a model.
    let out = lightos(&["model", "optimize", model, "--passes", "fusion"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("unknown pass \"fusion\""), "{err}");
    let junk = dir.join("junk.onnx");
    std::fs::write(&junk, [0xffu8; 32]).unwrap();
    let out = lightos(&["model", "inspect", junk.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("not a valid ONNX model"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
