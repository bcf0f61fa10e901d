//! Convolutions lowered to matrix products and MATMULs without epilogues
//! (`compile::Options::matmul_only`, for a device that runs only MATMUL): column copies per kernel
//! position into zero-padded scratch, a MATMUL per image, the bias and ReLU after it. On random weights each network gives what its CONV2D
//! program gives, within float reassociation.

use lightos_graph::{
    compile::{self, Options},
    engine::{Engine, InProcess},
    passes,
};

mod common;
use common::{floats, random, randomized, relative};

#[test]
fn networks_with_convolutions_as_matmuls_match_their_conv2d_programs() {
    // 11×11 stride 4 and grouped ones kept as CONV2D (AlexNet), 7×7 stride 2 padded and 1×1
    // stride 2 (ResNet-50), fire modules (SqueezeNet), depthwise ones kept (ShuffleNet).
    for name in ["bvlc_alexnet", "resnet50", "squeezenet", "shufflenet"] {
        let Some(mut g) = randomized(name) else {
            return;
        };
        passes::optimize(&mut g, |_| true).unwrap();
        let grouped = g
            .nodes
            .iter()
            .filter(|n| n.op == "Conv" && n.int("group", 1) > 1)
            .count();
        let conv2d = compile::compile(&g).unwrap();
        let lowered = compile::compile_with(&g, Options::matmul_only()).unwrap();
        let count =
            |p: &compile::Program, op: u16| p.steps.iter().filter(|s| s.prim.op == op).count();
        let n = conv2d.inputs[0].bytes() as usize / 4;
        let input: Vec<u8> = random(n, 5).iter().flat_map(|v| v.to_le_bytes()).collect();
        let kept = count(&lowered, lightos_uapi::OP_CONV2D);
        let want = floats(&InProcess::new(conv2d, 2).unwrap().run(&[&input]).unwrap()[0]);
        let matmuls = count(&lowered, lightos_uapi::OP_MATMUL);
        let got = floats(&InProcess::new(lowered, 2).unwrap().run(&[&input]).unwrap()[0]);
        let err = relative(&got, &want);
        eprintln!(
            "{name}: {matmuls} MATMULs, {kept} grouped CONV2Ds kept, relative difference {err:e}"
        );
        assert!(err < 1e-4, "{name}: {err}");
        assert!(matmuls > 0);
        assert_eq!(
            kept, grouped,
            "{name}: every ungrouped convolution became a MATMUL"
        );
    }
}
