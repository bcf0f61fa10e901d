//! Where the tests find the ONNX model zoo's light networks: `LIGHTOS_LIGHT_MODELS` (set by `make
//! test`), else tests/models/fetch-light.sh, which fetches them into the cache the first time.
//! Shared by lightos-graph's tests, lightos-cli's and lightos-agent's (`#[path]`).

// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

use lightos_graph::{
    ir::{DType, Dim, Graph, Node, Tensor, ValueInfo},
    onnx, passes, shape,
};
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

/// The little-endian f32s of `bytes`.
pub fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Seeded values in [-0.1, 0.1] (an LCG: the test needs variety, not statistics).
pub fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
        })
        .collect()
}

/// Network `name` loaded, its constant fills materialised (the `constants` pass), every f32
/// initializer replaced by seeded random values; `None` after saying why when the networks are absent.
pub fn randomized(name: &str) -> Option<Graph> {
    let dir = light_dir()?;
    let mut g = onnx::load(&dir.join(format!("light_{name}.onnx"))).unwrap();
    shape::infer(&mut g).unwrap();
    passes::optimize(&mut g, |p| p == "constants").unwrap();
    // Batch norms' variances stay positive (and near one, so activations neither vanish nor blow
    // up over fifty layers).
    let variances: Vec<String> = g
        .nodes
        .iter()
        .filter(|n| n.op == "BatchNormalization")
        .filter_map(|n| n.input(4).map(str::to_string))
        .collect();
    for (i, (name, t)) in g.initializers.iter_mut().enumerate() {
        if t.dtype == DType::F32 {
            let mut v = random(t.elements() as usize, i as u64);
            if variances.contains(name) {
                v.iter_mut().for_each(|x| *x = 1.0 + x.abs());
            }
            *t = Tensor::from_floats(t.dims.clone(), &v);
        }
    }
    Some(g)
}

/// The relative L2 difference of `a` from `b`.
pub fn relative(a: &[f32], b: &[f32]) -> f32 {
    let num: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f32 = b.iter().map(|y| y * y).sum();
    (num / den.max(f32::MIN_POSITIVE)).sqrt()
}

/// `y[N, n] = x[N, k] · w` (`w` row-major `[k, n]`): one MatMul whose batch `N` is symbolic, for
/// the tests of what binds it (the CLI's `--input`, the agent's batches).
pub fn symbolic_matmul(w: &[f32], k: u64, n: u64) -> Graph {
    let value = |name: &str, last: u64| ValueInfo {
        name: name.into(),
        dtype: DType::F32,
        shape: Some(vec![Dim::Sym("N".into()), Dim::Known(last)]),
    };
    let mut g = Graph {
        name: "mm".into(),
        opset: 17,
        inputs: vec![value("x", k)],
        outputs: vec![value("y", n)],
        nodes: vec![Node {
            name: "fc".into(),
            op: "MatMul".into(),
            inputs: vec!["x".into(), "w".into()],
            outputs: vec!["y".into()],
            attrs: Default::default(),
        }],
        ..Default::default()
    };
    g.initializers
        .insert("w".into(), Tensor::from_floats(vec![k, n], w));
    g.values.insert("x".into(), value("x", k));
    g
}
