//! Lowering onto today's ABI: ResNet-50, optimized, lowers entirely (every convolution a CONV2D,
//! every residual sum an ADD, both pools a POOL2D, the classifier a MATMUL with its bias epilogue:
//! ABI 1.11); ShuffleNet's grouped convolutions lower too (1.11), its channel shuffles (5-D
//! transposes) as strided COPYs; every node of the nine networks lowers (1.12 adds LRN).

use lightos_graph::{lower, onnx, passes, shape};

mod common;
use common::light;

#[test]
fn resnet50_lowers_entirely() {
    let Some(path) = light("resnet50") else {
        return;
    };
    let mut g = onnx::load(&path).unwrap();
    shape::infer(&mut g).unwrap();
    passes::optimize(&mut g, |_| true).unwrap();
    let all = lower::lower_all(&g);
    let missing: Vec<&str> = all
        .iter()
        .filter(|(_, _, l)| matches!(l, lower::Lowering::Missing(_)))
        .map(|(_, op, _)| op.as_str())
        .collect();
    let mut sorted = missing.clone();
    sorted.sort_unstable();
    assert!(sorted.is_empty(), "{sorted:?}");
    for (name, op, l) in &all {
        match op.as_str() {
            "Conv" => assert_eq!(*l, lower::Lowering::Primitive("CONV2D"), "{name}"),
            "Sum" => assert_eq!(*l, lower::Lowering::Primitive("ADD"), "{name}"),
            "Relu" => assert_eq!(*l, lower::Lowering::Primitive("RELU"), "{name}"),
            "Gemm" => assert_eq!(*l, lower::Lowering::Primitive("MATMUL"), "{name}"),
            "MaxPool" | "AveragePool" => {
                assert_eq!(*l, lower::Lowering::Primitive("POOL2D"), "{name}")
            }
            _ => {}
        }
    }
}

#[test]
fn grouped_convolutions_and_channel_shuffles_lower() {
    let Some(path) = light("shufflenet") else {
        return;
    };
    let mut g = onnx::load(&path).unwrap();
    shape::infer(&mut g).unwrap();
    passes::optimize(&mut g, |_| true).unwrap();
    let all = lower::lower_all(&g);
    // Its grouped (and depthwise) convolutions are CONV2Ds since 1.11; its shuffles COPYs.
    for (name, op, l) in &all {
        match op.as_str() {
            "Conv" => assert_eq!(*l, lower::Lowering::Primitive("CONV2D"), "{name}"),
            "Transpose" => assert_eq!(*l, lower::Lowering::Primitive("COPY"), "{name}"),
            _ => {}
        }
    }
}

#[test]
fn every_node_of_the_nine_networks_lowers() {
    for name in common::NETWORKS {
        let Some(path) = light(name) else {
            return;
        };
        let mut g = onnx::load(&path).unwrap();
        shape::infer(&mut g).unwrap();
        passes::optimize(&mut g, |_| true).unwrap();
        let missing: Vec<_> = lower::lower_all(&g)
            .into_iter()
            .filter(|(_, _, l)| matches!(l, lower::Lowering::Missing(_)))
            .collect();
        assert!(missing.is_empty(), "{name}: {missing:?}");
    }
}
