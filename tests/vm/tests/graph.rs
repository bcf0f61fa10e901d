//! Whole networks through `/dev/lightos`: the ONNX model zoo's light networks (tests/run-all.sh
//! copies them into the guest's working directory), optimized and compiled by lightos-graph, every
//! primitive a job of the kernel run by lightosd's CPU backend (cpu0), compared with the reference
//! outputs shipped with them and, with random weights, with the in-process engine.
//!
//! All nine run, cheapest first, within a time budget: the guest computes under TCG, whose speed
//! differs a lot between machines of this kind (SqueezeNet's 0.7 GFLOP took 1.5 s on one, 20-36 s
//! on another; VGG-19 has 39 GFLOP). The two smallest always run; each later one runs when the
//! rate measured so far says it fits in what is left of `LIGHTOS_GUEST_NETWORKS_BUDGET_S` (default
//! 300 s), and is otherwise skipped with that estimate printed. The host's tests run all nine in
//! process with the same kernels and program.

use lightos_graph::{
    compile,
    engine::{Device, Engine, InProcess},
    onnx,
};
use lightos_runtime::Context;
use lightos_vm_tests::{backend_jobs, floats, light_network, optimized_network, ExecutorThread};

/// The nine light networks by their file names, cheapest first (0.26, 0.71, 1.3, 2.9, 3.0, 4.1,
/// 5.7, 8.2 and 39.3 GFLOP a run).
const NETWORKS: [&str; 9] = [
    "shufflenet",
    "squeezenet",
    "bvlc_alexnet",
    "inception_v1",
    "zfnet512",
    "inception_v2",
    "densenet121",
    "resnet50",
    "vgg19",
];
/// How many of [`NETWORKS`] run whatever the budget.
const ALWAYS: usize = 2;
/// The environment variable that sets the time budget (seconds) of the networks on cpu0.
const BUDGET_ENV: &str = "LIGHTOS_GUEST_NETWORKS_BUDGET_S";
/// The budget when the environment sets none (seconds).
const DEFAULT_BUDGET_S: f64 = 300.0;

/// The reference input of the light networks: `arange(n) / n`.
fn reference_input(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| (i as f32 / n as f32).to_le_bytes())
        .collect()
}

/// The worst absolute error of `out` against the reference output shipped beside light network
/// `name` at `path` (`light_NAME_output_0.pb`), and that reference.
fn against_reference(path: &std::path::Path, name: &str, out: &[f32]) -> (f32, Vec<f32>) {
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
    (worst, reference)
}

/// lightosd's CPU backend as cpu0, and a context routing every op to it.
fn cpu0() -> (ExecutorThread, Context) {
    let cpu = ExecutorThread::lightosd("cpu0", 2);
    let dev = Context::open().unwrap();
    dev.add_route(None, None, 0..=u64::MAX, cpu.backend_id)
        .unwrap();
    (cpu, dev)
}

/// Runs light network `name` on cpu0 through the kernel: its reference check, and its FLOPs.
fn on_cpu0(name: &str, path: &std::path::Path, cpu: &ExecutorThread, dev: &Context) -> u64 {
    let graph = optimized_network(path);
    let flops = lightos_graph::inspect::summarize(&graph).flops;
    let program = compile::compile(&graph).unwrap();
    drop(graph);
    let steps = program.steps.len() as u64;
    let n = program.inputs[0].bytes() as usize / 4;
    let mut engine = Device::new(dev, program).unwrap();
    let before = backend_jobs(dev, cpu.backend_id);
    let t = std::time::Instant::now();
    let out = floats(&engine.run(&[&reference_input(n)]).unwrap()[0]);
    let ran = backend_jobs(dev, cpu.backend_id) - before;
    let (worst, reference) = against_reference(path, name, &out);
    eprintln!(
        "{name}: {steps} jobs on cpu0 in {:?} ({:.2} GFLOP), worst error {worst:e}",
        t.elapsed(),
        flops as f64 / 1e9
    );
    assert_eq!(out.len(), reference.len(), "{name}");
    assert!(worst <= 1e-5, "{name}: worst error {worst}");
    assert_eq!(ran, steps, "{name}: every step is a job of cpu0");
    flops
}

#[test]
fn light_networks_run_through_the_kernel_on_cpu0_and_match_their_references() {
    let budget = std::env::var(BUDGET_ENV)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(DEFAULT_BUDGET_S);
    let (cpu, dev) = cpu0();
    let start = std::time::Instant::now();
    let (mut done_flops, mut skipped) = (0u64, Vec::new());
    for (i, name) in NETWORKS.into_iter().enumerate() {
        let Some(path) = light_network(name) else {
            continue;
        };
        let spent = start.elapsed().as_secs_f64();
        if i >= ALWAYS && done_flops > 0 {
            // Loading, optimizing and compiling count too: the rate is of the whole test so far.
            let mut graph = lightos_graph::onnx::load(&path).unwrap();
            lightos_graph::shape::infer(&mut graph).unwrap();
            let flops = lightos_graph::inspect::summarize(&graph).flops;
            let estimate = flops as f64 * spent / done_flops as f64;
            if spent + estimate > budget {
                say(&format!(
                    "skipped: {name} ({:.1} GFLOP) would take about {estimate:.0} s at the {:.0} \
                     MFLOP/s this guest has run the networks at, past the {budget:.0} s budget \
                     ({BUDGET_ENV}; {spent:.0} s spent)",
                    flops as f64 / 1e9,
                    done_flops as f64 / spent / 1e6
                ));
                skipped.push(name);
                continue;
            }
        }
        done_flops += on_cpu0(name, &path, &cpu, &dev);
    }
    say(&format!(
        "light networks on cpu0: {} of {} ran in {:.0} s; skipped for time: {skipped:?}",
        NETWORKS.len() - skipped.len(),
        NETWORKS.len(),
        start.elapsed().as_secs_f64()
    ));
}

/// Writes `line` to stderr past the test harness's capture (which keeps a passing test's output
/// to itself), so that what was skipped shows in make test's log.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[test]
fn with_random_weights_the_kernel_engine_equals_the_in_process_engine() {
    let (_cpu, dev) = cpu0();
    for name in ["squeezenet"] {
        let Some(path) = light_network(name) else {
            continue;
        };
        let mut graph = optimized_network(&path);
        lightos_graph::weights::randomize(&mut graph, 3);
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

/// The transformer models tests/python/transformer_models.py builds with onnx.helper (the host's
/// onnx-interop.sh writes them with ONNX Runtime's outputs; run-all.sh copies them here): an
/// encoder layer, a GPT-2 block fed int64 token ids, and one of every other ABI 1.13 op.
const TRANSFORMERS: [&str; 3] = ["encoder_layer", "gpt2_block", "ops"];

/// `NAME.input.npy` as feed bytes (f32 or i64, whichever the file holds) and
/// `NAME.expected.npy`, or `None` after saying why.
fn transformer_files(name: &str) -> Option<(Vec<u8>, Vec<f32>)> {
    let read = |what: &str| match std::fs::read(format!("{name}.{what}.npy")) {
        Ok(bytes) => Some(npyz::NpyFile::new(std::io::Cursor::new(bytes)).unwrap()),
        Err(_) => {
            eprintln!("skipped: {name}.{what}.npy is not in the guest (onnx-interop.sh makes it)");
            None
        }
    };
    let input = read("input")?;
    let feed: Vec<u8> = if input.dtype().descr() == "'<i8'" {
        let v: Vec<i64> = input.into_vec().unwrap();
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    } else {
        let v: Vec<f32> = input.into_vec().unwrap();
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    };
    Some((feed, read("expected")?.into_vec().unwrap()))
}

#[test]
fn transformer_blocks_run_through_the_kernel_on_cpu0_and_match_onnxruntime() {
    let (cpu, dev) = cpu0();
    for name in TRANSFORMERS {
        let path = std::path::PathBuf::from(format!("{name}.onnx"));
        let (Some((feed, expected)), true) = (transformer_files(name), path.exists()) else {
            eprintln!("skipped: {name}");
            continue;
        };
        let program = compile::compile(&optimized_network(&path)).unwrap();
        let steps = program.steps.len() as u64;
        let before = backend_jobs(&dev, cpu.backend_id);
        let t = std::time::Instant::now();
        let out = floats(&Device::new(&dev, program).unwrap().run(&[&feed]).unwrap()[0]);
        let ran = backend_jobs(&dev, cpu.backend_id) - before;
        assert_eq!(out.len(), expected.len(), "{name}");
        let norm =
            |v: &mut dyn Iterator<Item = f32>| v.map(|x| f64::from(x).powi(2)).sum::<f64>().sqrt();
        let diff = norm(&mut out.iter().zip(&expected).map(|(a, b)| a - b));
        let rel = diff / norm(&mut expected.iter().copied()).max(1e-30);
        eprintln!(
            "{name}: {steps} jobs on cpu0 in {:?}, relative L2 error against onnxruntime {rel:.2e}",
            t.elapsed()
        );
        assert!(rel <= 1e-4, "{name}: relative L2 error {rel}");
        assert_eq!(ran, steps, "{name}: every step is a job of cpu0");
    }
}

/// A stoppable run through the kernel (`Engine::run_until`, what Python's Ctrl-C uses): asked to
/// stop, it ends after the batch in flight with `Interrupted`, no job left in flight, and the next
/// run on the same engine gives the reference output.
#[test]
fn a_stopped_run_ends_after_its_batch_and_the_engine_runs_again() {
    let (_cpu, dev) = cpu0();
    let Some(path) = light_network("squeezenet") else {
        return;
    };
    let program = compile::compile(&optimized_network(&path)).unwrap();
    let total = program.steps.len();
    let n = program.inputs[0].bytes() as usize / 4;
    let input = reference_input(n);
    let mut engine = Device::new(&dev, program).unwrap();
    match engine.run_until(&[&input], &|| true) {
        Err(lightos_graph::GraphError::Interrupted { done, total: t }) => {
            assert_eq!(
                (done, t),
                (lightos_graph::engine::device::STOPPABLE_BATCH, total)
            );
        }
        other => panic!("expected Interrupted, got {:?}", other.map(|o| o.len())),
    }
    assert_eq!(
        dev.stats().unwrap().jobs_in_flight,
        0,
        "the batch in flight ended"
    );
    let out = floats(&engine.run(&[&input]).unwrap()[0]);
    let (worst, _) = against_reference(&path, "squeezenet", &out);
    assert!(worst <= 1e-5, "worst error {worst}");
}
