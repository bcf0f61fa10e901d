//! Each pass tested by running the graph with and without it: a network optimized with every pass
//! and with all but one, compiled and run by the in-process engine on the same input, gives the
//! same output (exactly, or within float reassociation for batch-norm folding). The weights are
//! random, so a pass that moved the wrong value would show: the `constants` pass materialises them
//! first (its own toggle runs on the shipped constant weights).

use lightos_graph::{
    compile,
    engine::{Engine, InProcess},
    ir::Graph,
    onnx, passes, shape,
};

mod common;
use common::{floats, random, randomized, relative};

fn run(mut g: Graph, on: impl Fn(&str) -> bool) -> (usize, Vec<f32>) {
    passes::optimize(&mut g, on).unwrap();
    let program = compile::compile(&g).unwrap();
    let steps = program.steps.len();
    let n = program.inputs[0].bytes() as usize / 4;
    let input: Vec<u8> = random(n, 99).iter().flat_map(|v| v.to_le_bytes()).collect();
    let out = InProcess::new(program, 2).unwrap().run(&[&input]).unwrap();
    (steps, floats(&out[0]))
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
