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
        text.contains("pass constants") && text.contains("result       39 nodes"),
        "{text}"
    );
    // The plan after the passes: what they did to the peak.
    assert!(
        text.contains("memory       ") && text.contains("at peak"),
        "{text}"
    );
    let out = lightos(&["model", "inspect", saved.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("nodes        39"),
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

/// Writes `values` of `dims` as a `.npy` of the element type `T`.
fn npy<T: npyz::AutoSerialize + Copy>(path: &std::path::Path, dims: &[u64], values: &[T]) {
    use npyz::WriterBuilder;
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(dims)
        .writer(std::fs::File::create(path).unwrap())
        .begin_nd()
        .unwrap();
    w.extend(values.iter().copied()).unwrap();
    w.finish().unwrap();
}

#[test]
fn run_reads_npy_inputs_writes_npy_outputs_and_matches_the_reference() {
    let Some(model) = common::light("squeezenet") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("lightos-cli-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The reference input of the light networks: arange(n) / n.
    let n = 3 * 224 * 224;
    let x: Vec<f32> = (0..n).map(|i| i as f32 / n as f32).collect();
    let input = dir.join("x.npy");
    npy(&input, &[1, 3, 224, 224], &x);
    let spec = format!("data_0={}", input.display());
    let out = lightos(&[
        "--json",
        "model",
        "run",
        model.to_str().unwrap(),
        "--on",
        "local",
        "--input",
        &spec,
        "--output-dir",
        dir.to_str().unwrap(),
        "--profile",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["steps"], 31,
        "26 ReLUs fused into their convolutions, the 8 fire modules' concatenations planned in place"
    );
    // --profile: every primitive, where it ran (in process: local) and its time.
    let profile = json["profile"].as_array().unwrap();
    assert_eq!(profile.len(), 31);
    assert!(profile.iter().all(|p| p["device"] == "local"));
    let convs = profile
        .iter()
        .filter(|p| p["primitive"] == "conv2d")
        .count();
    assert_eq!(convs, 26);
    assert!(
        profile
            .iter()
            .map(|p| p["ns"].as_u64().unwrap())
            .sum::<u64>()
            > 0
    );
    assert!(json["device"].as_str().unwrap().starts_with("local"));
    let file = json["outputs"][0]["file"].as_str().unwrap();
    let bytes = std::fs::read(file).unwrap();
    let got = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(got.shape(), &[1, 1000, 1, 1]);
    let got: Vec<f32> = got.into_vec().unwrap();
    let reference = model.with_file_name("light_squeezenet_output_0.pb");
    let reference =
        lightos_graph::onnx::load_tensor(std::fs::read(reference).unwrap(), "ref").unwrap();
    let want = reference.floats().unwrap();
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst <= 1e-6, "worst error {worst}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_refuses_a_wrong_shape_dtype_or_name_and_a_missing_device() {
    let Some(model) = common::light("squeezenet") else {
        return;
    };
    let model = model.to_str().unwrap();
    let dir = std::env::temp_dir().join(format!("lightos-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let small = dir.join("small.npy");
    npy(&small, &[1, 3, 200, 200], &vec![0f32; 3 * 200 * 200]);
    let doubles = dir.join("f64.npy");
    npy(&doubles, &[1, 3, 224, 224], &vec![0f64; 3 * 224 * 224]);
    let cases: [(Vec<String>, &str); 4] = [
        (
            vec![
                "--on".into(),
                "local".into(),
                "--input".into(),
                format!("data_0={}", small.display()),
            ],
            "holds [1, 3, 200, 200], the model takes [1,3,224,224]",
        ),
        (
            vec![
                "--on".into(),
                "local".into(),
                "--input".into(),
                format!("data_0={}", doubles.display()),
            ],
            "dtype '<f8'",
        ),
        (
            vec![
                "--on".into(),
                "local".into(),
                "--input".into(),
                format!("image={}", small.display()),
            ],
            "the model has no input image (its inputs: data_0)",
        ),
        (
            vec![
                "--device".into(),
                "/nonexistent/lightos".into(),
                "--on".into(),
                "cpu0".into(),
            ],
            "/nonexistent/lightos",
        ),
    ];
    for (extra, message) in cases {
        let mut args = vec!["model", "run", model];
        args.extend(extra.iter().map(String::as_str));
        let out = lightos(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {err}");
        assert!(err.contains(message), "{extra:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A model whose batch is symbolic runs at the batch its `--input` gives (the input's dimensions
/// bound before shape inference; they used to reach only the input list, not the value table, and
/// the plan failed on "no known size").
#[test]
fn run_binds_a_symbolic_batch_from_the_input_file() {
    let g = common::symbolic_matmul(&[0., 1., 1., 0.], 2, 2);
    let dir = std::env::temp_dir().join(format!("lightos-cli-sym-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("mm.lgraph");
    lightos_graph::native::save(&g, &model).unwrap();
    let input = dir.join("x.npy");
    npy(&input, &[3, 2], &[1f32, 2., 3., 4., 5., 6.]);
    let spec = format!("x={}", input.display());
    let out = lightos(&[
        "--json",
        "model",
        "run",
        model.to_str().unwrap(),
        "--on",
        "local",
        "--input",
        &spec,
        "--output-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let file = json["outputs"][0]["file"].as_str().unwrap();
    let y: Vec<f32> = npyz::NpyFile::new(std::fs::File::open(file).unwrap())
        .unwrap()
        .into_vec()
        .unwrap();
    // Each row of x with its two columns swapped.
    assert_eq!(y, [2., 1., 4., 3., 6., 5.]);
}
