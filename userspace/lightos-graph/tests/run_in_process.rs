//! The nine light networks run end to end by the in-process engine (the CPU backend's kernels, no
//! kernel module) and compared with the reference outputs shipped with them (tolerance 1e-5
//! absolute; their weights are constants, so the references are nearly uniform: the random-weight
//! comparisons are in pass_toggles.rs and the guest's vm_graph). `LIGHTOS_NETWORKS=a,b` runs some.

use lightos_graph::{compile, engine::Engine, engine::InProcess, onnx, passes, shape};

mod common;

/// The reference input of the light networks: `arange(n) / n` over the 1×3×224×224 input.
pub fn reference_input(n: usize) -> Vec<u8> {
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

#[test]
fn light_networks_run_in_process_and_match_their_references() {
    let Some(dir) = common::light_dir() else {
        return;
    };
    let only = std::env::var("LIGHTOS_NETWORKS").ok();
    for name in common::NETWORKS {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|x| x == name))
        {
            continue;
        }
        let mut graph = onnx::load(&dir.join(format!("light_{name}.onnx"))).unwrap();
        shape::infer(&mut graph).unwrap();
        passes::optimize(&mut graph, |_| true).unwrap();
        let program = compile::compile(&graph).unwrap_or_else(|e| panic!("{name}: {e}"));
        let steps = program.steps.len();
        let t = std::time::Instant::now();
        let mut engine = InProcess::new(program, 2).unwrap();
        let n = engine.program().inputs[0].bytes() as usize / 4;
        let out = engine.run(&[&reference_input(n)]).unwrap();
        let reference = std::fs::read(dir.join(format!("light_{name}_output_0.pb"))).unwrap();
        let reference = onnx::load_tensor(reference, name)
            .unwrap()
            .floats()
            .unwrap();
        let got = floats(&out[0]);
        let worst = got
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        eprintln!(
            "{name}: {steps} steps, {:?}, worst error {worst:e}",
            t.elapsed()
        );
        assert_eq!(got.len(), reference.len());
        assert!(worst <= 1e-5, "{name}: worst error {worst}");
    }
}
