//! Each pass tested by running the graph with and without it: a network optimized with every pass
//! and with all but one, compiled and run by the in-process engine on the same input, gives the
//! same output (exactly, or within float reassociation for batch-norm folding). The weights are
//! random, so a pass that moved the wrong value would show: the `constants` pass materialises them
//! first (its own toggle runs on the shipped constant weights).

use lightos_graph::{
    compile,
    engine::{Engine, InProcess},
    ir::{DType, Graph, Tensor},
    onnx, passes, shape,
};

mod common;

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Seeded values in [-0.1, 0.1] (an LCG: the test needs variety, not statistics).
fn random(n: usize, seed: u64) -> Vec<f32> {
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

fn randomized(name: &str) -> Option<Graph> {
    let dir = common::light_dir()?;
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

fn run(mut g: Graph, on: impl Fn(&str) -> bool) -> (usize, Vec<f32>) {
    passes::optimize(&mut g, on).unwrap();
    let program = compile::compile(&g).unwrap();
    let steps = program.steps.len();
    let n = program.inputs[0].bytes() as usize / 4;
    let input: Vec<u8> = random(n, 99).iter().flat_map(|v| v.to_le_bytes()).collect();
    let out = InProcess::new(program, 2).unwrap().run(&[&input]).unwrap();
    (steps, floats(&out[0]))
}

fn relative(a: &[f32], b: &[f32]) -> f32 {
    let num: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f32 = b.iter().map(|y| y * y).sum();
    (num / den.max(f32::MIN_POSITIVE)).sqrt()
}

#[test]
fn each_pass_off_gives_the_same_outputs_as_all_on() {
    // SqueezeNet has Dropout (identity) and fused ReLUs; ResNet-50 batch norms after convolutions.
    for name in ["squeezenet", "resnet50"] {
        let Some(g) = randomized(name) else { return };
        let (all_steps, all) = run(g.clone(), |_| true);
        let spread = all.iter().fold(f32::MIN, |m, &x| m.max(x))
            - all.iter().fold(f32::MAX, |m, &x| m.min(x));
        assert!(
            spread > 1e-4,
            "{name}: random weights give distinct outputs"
        );
        for pass in passes::PASSES.iter().filter(|&&p| p != "constants") {
            let (steps, out) = run(g.clone(), |p| p != *pass);
            let err = relative(&out, &all);
            eprintln!("{name}: without {pass}: {steps} steps (all: {all_steps}), relative difference {err:e}");
            match *pass {
                "batchnorm" => assert!(err < 1e-4, "{name}: {pass}: {err}"),
                _ => assert_eq!(out, all, "{name}: {pass}"),
            }
            if *pass == "fuse" {
                assert!(steps > all_steps, "{name}: fusing removes RELU primitives");
            }
        }
    }
}

#[test]
fn the_constants_pass_off_gives_the_same_outputs() {
    let Some(dir) = common::light_dir() else {
        return;
    };
    let mut g = onnx::load(&dir.join("light_squeezenet.onnx")).unwrap();
    shape::infer(&mut g).unwrap();
    let (_, with) = run(g.clone(), |_| true);
    let (_, without) = run(g, |p| p != "constants");
    assert_eq!(with, without);
}
