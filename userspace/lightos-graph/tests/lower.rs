//! Lowering onto today's ABI: ResNet-50, optimized, lowers entirely (every convolution a CONV2D,
//! every residual sum an ADD, both pools a POOL2D, the classifier a MATMUL with its bias epilogue:
//! ABI 1.11); ShuffleNet's grouped convolutions lower too (1.11), its channel shuffles are named as missing.

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
fn grouped_convolutions_lower_and_transposes_are_named_as_missing() {
    let Some(path) = light("shufflenet") else {
        return;
    };
    let mut g = onnx::load(&path).unwrap();
    shape::infer(&mut g).unwrap();
    passes::optimize(&mut g, |_| true).unwrap();
    let all = lower::lower_all(&g);
    let why = |op: &str| {
        all.iter()
            .filter(|(_, o, _)| o == op)
            .find_map(|(_, _, l)| match l {
                lower::Lowering::Missing(w) => Some(w.clone()),
                _ => None,
            })
            .unwrap_or_default()
    };
    // Its grouped (and depthwise) convolutions are CONV2Ds since 1.11.
    assert!(all
        .iter()
        .filter(|(_, o, _)| o == "Conv")
        .all(|(_, _, l)| *l == lower::Lowering::Primitive("CONV2D")));
    assert!(
        why("Transpose").contains("strided COPY"),
        "{}",
        why("Transpose")
    );
}
