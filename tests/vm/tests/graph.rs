//! Whole networks through `/dev/lightos`: the ONNX model zoo's light networks (tests/run-all.sh
//! copies them into the guest's working directory), optimized and compiled by lightos-graph, every
//! primitive a job of the kernel run by lightosd's CPU backend (cpu0), compared with the reference
//! outputs shipped with them and, with random weights, with the in-process engine.
//!
//! Only the two smallest networks run here: under TCG the guest computes at tens of MFLOP/s
//! (docs/PERFORMANCE.md: a 512³ MATMUL takes 12 s on cpu0), so SqueezeNet takes ~30 s and ResNet-50
//! six minutes. The host's tests run all of them in process with the same kernels and program.

use lightos_graph::{
    compile,
    engine::{Device, Engine, InProcess},
    ir::{DType, Graph, Tensor},
    onnx, passes, shape,
};
use lightos_runtime::Context;
use lightos_vm_tests::{random_f32, ExecutorThread};
use std::path::{Path, PathBuf};

/// The networks run here (0.7 and 0.3 GFLOPs).
const NETWORKS: [&str; 2] = ["squeezenet", "shufflenet"];

fn model(name: &str) -> Option<PathBuf> {
    let dir = std::env::var("LIGHTOS_LIGHT_MODELS").unwrap_or_else(|_| ".".into());
    let path = Path::new(&dir).join(format!("light_{name}.onnx"));
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipped: {} is not in the guest", path.display());
        None
    }
}

fn optimized(path: &Path) -> Graph {
    let mut graph = onnx::load(path).unwrap();
    shape::infer(&mut graph).unwrap();
    passes::optimize(&mut graph, |_| true).unwrap();
    graph
}

/// The reference input of the light networks: `arange(n) / n`.
fn reference_input(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| (i as f32 / n as f32).to_le_bytes())
        .collect()
}

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// lightosd's CPU backend as cpu0, and a context routing every op to it.
fn cpu0() -> (ExecutorThread, Context) {
    let cpu = ExecutorThread::lightosd("cpu0", 2);
    let dev = Context::open().unwrap();
    dev.add_route(None, None, 0..=u64::MAX, cpu.backend_id)
        .unwrap();
    (cpu, dev)
}

fn jobs_of(dev: &Context, backend: u32) -> u64 {
    dev.backends()
        .unwrap()
        .into_iter()
        .find(|b| b.id == backend)
        .map_or(0, |b| b.stats.count)
}

#[test]
fn light_networks_run_through_the_kernel_on_cpu0_and_match_their_references() {
    let (cpu, dev) = cpu0();
    for name in NETWORKS {
        let Some(path) = model(name) else { continue };
        let program = compile::compile(&optimized(&path)).unwrap();
        let steps = program.steps.len() as u64;
        let n = program.inputs[0].bytes() as usize / 4;
        let mut engine = Device::new(&dev, program).unwrap();
        let before = jobs_of(&dev, cpu.backend_id);
        let t = std::time::Instant::now();
        let out = floats(&engine.run(&[&reference_input(n)]).unwrap()[0]);
        let ran = jobs_of(&dev, cpu.backend_id) - before;
        let dir = path.parent().unwrap();
        let reference = std::fs::read(dir.join(format!("light_{name}_output_0.pb"))).unwrap();
        let reference = onnx::load_tensor(reference, name)
            .unwrap()
            .floats()
            .unwrap();
        let worst = out
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        eprintln!(
            "{name}: {steps} jobs on cpu0 in {:?}, worst error {worst:e}",
            t.elapsed()
        );
        assert_eq!(out.len(), reference.len(), "{name}");
        assert!(worst <= 1e-5, "{name}: worst error {worst}");
        assert_eq!(ran, steps, "{name}: every step is a job of cpu0");
    }
}

/// Every f32 initializer replaced by seeded random values, so that a wrong index shows.
fn randomize(graph: &mut Graph) {
    for (i, t) in graph.initializers.values_mut().enumerate() {
        if t.dtype == DType::F32 {
            let values: Vec<f32> = random_f32(t.elements() as usize, i as u64)
                .into_iter()
                .map(|v| v * 0.2)
                .collect();
            *t = Tensor::from_floats(t.dims.clone(), &values);
        }
    }
}

#[test]
fn with_random_weights_the_kernel_engine_equals_the_in_process_engine() {
    let (_cpu, dev) = cpu0();
    for name in ["squeezenet"] {
        let Some(path) = model(name) else { continue };
        let mut graph = optimized(&path);
        randomize(&mut graph);
        let program = compile::compile(&graph).unwrap();
        let n = program.inputs[0].bytes() as usize / 4;
        let input = reference_input(n);
        let via_kernel = Device::new(&dev, program.clone())
            .unwrap()
            .run(&[&input])
            .unwrap();
        let in_process = InProcess::new(program, 2).unwrap().run(&[&input]).unwrap();
        let (a, b) = (floats(&via_kernel[0]), floats(&in_process[0]));
        let spread = a.iter().fold(0f32, |m, &x| m.max(x)) - a.iter().fold(1f32, |m, &x| m.min(x));
        assert!(
            spread > 1e-4,
            "{name}: random weights give distinct classes ({spread})"
        );
        assert_eq!(a, b, "{name}: the same kernels in the same order");
    }
}
