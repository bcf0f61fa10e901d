//! A network placed across two backends by capability: SqueezeNet (the ONNX model zoo's light
//! version, random weights) compiled with its convolutions as column copies and matrix products
//! (`compile::Options::conv_as_matmul`), every MATMUL routed to photonic0 (the emulated photonic
//! NPU, which runs only MATMUL) and everything else (the column COPYs, bias ADDs, ReLUs, pools) to
//! lightosd's CPU backend, submitted at once with the dependencies between them. Its logits are
//! compared with the same program run exactly (in process) within the analog tolerance of its
//! depth (`tolerance::photonic_network`).

use lightos_graph::{
    compile::{self, Options},
    engine::{Device, Engine, InProcess},
};
use lightos_runtime::{tolerance, Context, Op};
use lightos_uapi as uapi;
use lightos_vm_tests::{
    backend_jobs, floats, light_network, optimized_network, photonic, random_f32,
    randomize_weights, without_final_softmax, ExecutorThread,
};

fn relative(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    (num / den).sqrt()
}

#[test]
fn squeezenet_runs_its_convolutions_as_matmuls_on_photonic0_and_the_rest_on_cpu0() {
    photonic::npu_ready(0);
    let Some(path) = light_network("squeezenet") else {
        return;
    };
    let cpu = ExecutorThread::lightosd("cpu0", 2);
    let dev = Context::open().unwrap();
    let npu = dev
        .backends()
        .unwrap()
        .into_iter()
        .find(|b| b.name == "photonic0")
        .expect("photonic0 is bound")
        .id;
    dev.add_route(Some(Op::Matmul), None, 0..=u64::MAX, npu)
        .unwrap();
    dev.add_route(None, None, 0..=u64::MAX, cpu.backend_id)
        .unwrap();
    let mut graph = optimized_network(&path);
    randomize_weights(&mut graph);
    without_final_softmax(&mut graph);
    let program = compile::compile_with(
        &graph,
        Options {
            conv_as_matmul: true,
        },
    )
    .unwrap();
    let matmuls = program
        .steps
        .iter()
        .filter(|s| s.prim.op == uapi::OP_MATMUL)
        .count() as u64;
    let steps = program.steps.len() as u64;
    // The longest chain of MATMULs through the program's dependencies: the analog errors that add.
    let mut depth = vec![0usize; program.steps.len()];
    for (i, step) in program.steps.iter().enumerate() {
        let before = step.deps.iter().map(|&d| depth[d]).max().unwrap_or(0);
        depth[i] = before + usize::from(step.prim.op == uapi::OP_MATMUL);
    }
    let depth = depth.into_iter().max().unwrap_or(0);
    let tol = tolerance::photonic_network(depth);
    assert_eq!(
        matmuls, 26,
        "each of SqueezeNet's 26 convolutions is a MATMUL"
    );
    let n = program.inputs[0].bytes() as usize / 4;
    let input: Vec<u8> = random_f32(n, 77)
        .into_iter()
        .map(|v| v.abs())
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let exact = floats(
        &InProcess::new(program.clone(), 2)
            .unwrap()
            .run(&[&input])
            .unwrap()[0],
    );
    let (npu_before, cpu_before) = (backend_jobs(&dev, npu), backend_jobs(&dev, cpu.backend_id));
    let t = std::time::Instant::now();
    let analog = floats(&Device::new(&dev, program).unwrap().run(&[&input]).unwrap()[0]);
    let elapsed = t.elapsed();
    let (on_npu, on_cpu) = (
        backend_jobs(&dev, npu) - npu_before,
        backend_jobs(&dev, cpu.backend_id) - cpu_before,
    );
    let err = relative(&analog, &exact);
    let top = |v: &[f32]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
    eprintln!(
        "squeezenet: {on_npu} MATMULs on photonic0, {on_cpu} jobs on cpu0 in {elapsed:?}; \
         logits' relative error {err:.3} (tolerance {tol:.3} for {depth} MATMULs in a row), \
         top class {} vs {}",
        top(&analog),
        top(&exact)
    );
    assert_eq!(on_npu, matmuls, "every MATMUL ran on photonic0");
    assert_eq!(on_cpu, steps - matmuls, "everything else ran on cpu0");
    assert!(err <= tol, "relative error {err} above {tol}");
}
