//! The in-process engine packs each convolution's filter once, at its first run, when the filter is
//! a weight of the model (`InProcess::pack_weights_once`, on by default), as onnxruntime packs it
//! when a session is created. Packed once or on every run, a network gives the same bits, run after
//! run; a convolution whose weights are a graph input is never packed ahead (a new filter each run
//! is honoured).

use lightos_graph::{
    compile,
    engine::{Engine, InProcess},
    ir::{DType, Dim, Graph, Node, ValueInfo},
    onnx, passes, shape, weights,
};

mod common;
use common::{floats, random};

fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn networks_give_the_same_bits_with_filters_packed_once_or_every_run() {
    // Plain, strided and 1×1 convolutions (SqueezeNet), grouped ones (AlexNet), depthwise and
    // grouped 1×1 ones (ShuffleNet).
    for name in ["squeezenet", "bvlc_alexnet", "shufflenet"] {
        let Some(path) = common::light(name) else {
            return;
        };
        // He-scaled random weights and the logits (activations that neither vanish nor saturate).
        let mut g = onnx::load(&path).unwrap();
        shape::infer(&mut g).unwrap();
        passes::optimize(&mut g, |p| p == "constants").unwrap();
        weights::randomize(&mut g, 1);
        weights::drop_final_softmax(&mut g);
        passes::optimize(&mut g, |_| true).unwrap();
        let program = compile::compile(&g).unwrap();
        let n = program.inputs[0].bytes() as usize / 4;
        let (x1, x2) = (bytes(&random(n, 7)), bytes(&random(n, 8)));
        let mut once = InProcess::new(program.clone(), 2).unwrap();
        let mut every = InProcess::new(program, 2).unwrap().pack_weights_once(false);
        for x in [&x1, &x2, &x1] {
            let (a, b) = (once.run(&[x]).unwrap(), every.run(&[x]).unwrap());
            assert_eq!(a, b, "{name}: the same bits");
        }
        assert_ne!(
            once.run(&[&x1]).unwrap(),
            once.run(&[&x2]).unwrap(),
            "{name}: another input, another output"
        );
    }
}

/// `y = Conv(x, w)` with `w` a graph input: 1×4×6×6 by 3×4×3×3, stride 1, no padding.
fn conv_of_two_inputs() -> Graph {
    let value = |name: &str, dims: &[u64]| ValueInfo {
        name: name.into(),
        dtype: DType::F32,
        shape: Some(dims.iter().map(|&d| Dim::Known(d)).collect()),
    };
    let mut g = Graph {
        name: "conv".into(),
        opset: 17,
        inputs: vec![value("x", &[1, 4, 6, 6]), value("w", &[3, 4, 3, 3])],
        outputs: vec![value("y", &[1, 3, 4, 4])],
        nodes: vec![Node {
            name: "conv".into(),
            op: "Conv".into(),
            inputs: vec!["x".into(), "w".into()],
            outputs: vec!["y".into()],
            attrs: Default::default(),
        }],
        ..Default::default()
    };
    for v in [value("x", &[1, 4, 6, 6]), value("w", &[3, 4, 3, 3])] {
        g.values.insert(v.name.clone(), v);
    }
    g
}

#[test]
fn a_filter_fed_as_an_input_is_used_as_given_on_every_run() {
    let mut g = conv_of_two_inputs();
    shape::infer(&mut g).unwrap();
    let program = compile::compile(&g).unwrap();
    let mut engine = InProcess::new(program, 2).unwrap();
    let x = bytes(&random(144, 1));
    let (w1, w2) = (random(108, 2), random(108, 3));
    let first = floats(&engine.run(&[&x, &bytes(&w1)]).unwrap()[0]);
    let second = floats(&engine.run(&[&x, &bytes(&w2)]).unwrap()[0]);
    let doubled: Vec<f32> = w2.iter().map(|v| 2.0 * v).collect();
    let third = floats(&engine.run(&[&x, &bytes(&doubled)]).unwrap()[0]);
    assert_ne!(first, second, "the second filter is the one used");
    for (a, b) in third.iter().zip(&second) {
        assert!(
            (a - 2.0 * b).abs() <= 1e-6 * b.abs().max(1.0),
            "{a} vs 2 × {b}"
        );
    }
}
