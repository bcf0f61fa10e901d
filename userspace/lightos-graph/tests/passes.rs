//! The passes: on the nine light networks every pass keeps the output's shape and does what it
//! says (counted by op); each can be switched off; batch-norm folding is checked numerically
//! against the unfolded convolution and batch norm evaluated by a direct reference in this test.

use lightos_graph::{
    ir::{Attr, DType, Dim, Graph, Node, Tensor, ValueInfo},
    onnx, passes, shape,
};
use std::collections::BTreeMap;

mod common;

fn count(g: &Graph, op: &str) -> usize {
    g.nodes.iter().filter(|n| n.op == op).count()
}

#[test]
fn every_pass_keeps_the_outputs_of_the_nine_networks_and_does_its_job() {
    let Some(dir) = common::light_dir() else {
        return;
    };
    for name in common::NETWORKS {
        let mut g = onnx::load(&dir.join(format!("light_{name}.onnx"))).unwrap();
        shape::infer(&mut g).unwrap();
        let out = g.outputs[0].name.clone();
        let before = g.value(&out).unwrap();
        let dropouts = count(&g, "Dropout");
        let reports = passes::optimize(&mut g, |_| true).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            g.value(&out).unwrap().shape,
            before.shape,
            "{name}: output shape"
        );
        assert_eq!(count(&g, "Dropout") + count(&g, "Identity"), 0, "{name}");
        assert_eq!(reports[1].removed, dropouts, "{name}: identity pass");
        // What stays is a BN that does not follow a Conv (DenseNet's come after a Concat).
        for bn in g.nodes.iter().filter(|n| n.op == "BatchNormalization") {
            let after_conv = g
                .nodes
                .iter()
                .any(|n| n.op == "Conv" && n.outputs[0] == bn.inputs[0]);
            assert!(
                !after_conv,
                "{name}: {} follows a Conv and was not folded",
                bn.name
            );
        }
        // Fills up to the limit are folded; larger ones (the light models' big weights) stay.
        for n in g.nodes.iter().filter(|n| n.op == "ConstantOfShape") {
            let v = g.value(&n.outputs[0]).unwrap();
            let elems: u64 = lightos_graph::ir::known(&v.shape.unwrap())
                .unwrap()
                .iter()
                .product();
            assert!(
                elems * 4 > passes::FOLD_LIMIT as u64,
                "{name}: {} not folded",
                n.name
            );
        }
        eprintln!(
            "{name}: {} nodes after the passes ({})",
            g.nodes.len(),
            reports
                .iter()
                .map(|r| format!("{} -{}", r.pass, r.removed))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

#[test]
fn a_pass_switched_off_leaves_its_ops() {
    let Some(dir) = common::light_dir() else {
        return;
    };
    let mut g = onnx::load(&dir.join("light_resnet50.onnx")).unwrap();
    let bns = count(&g, "BatchNormalization");
    assert!(bns > 0);
    let on = passes::selection("-batchnorm").unwrap();
    let reports = passes::optimize(&mut g, |p| on.contains(p)).unwrap();
    assert_eq!(count(&g, "BatchNormalization"), bns);
    assert!(!reports[2].ran);
    let mut g = onnx::load(&dir.join("light_squeezenet.onnx")).unwrap();
    passes::optimize(&mut g, |_| false).unwrap();
    assert_eq!(count(&g, "Dropout"), 1);
    assert_eq!(count(&g, "ConstantOfShape"), 39);
}

#[test]
fn pass_lists_are_parsed_and_unknown_names_refused() {
    assert_eq!(
        passes::selection("all").unwrap().len(),
        passes::PASSES.len()
    );
    assert!(passes::selection("none").unwrap().is_empty());
    let some = passes::selection("constants,dead-code").unwrap();
    assert!(some.contains("constants") && some.contains("dead-code") && some.len() == 2);
    let err = passes::selection("constants,fusion").unwrap_err();
    assert!(err.contains("fusion") && err.contains("batchnorm"), "{err}");
}

/// y = conv(x, w, b) for NCHW x [1,C,H,W], w [O,C,1,1]: a 1×1 convolution, directly.
fn conv1x1(x: &[f32], c: usize, hw: usize, w: &[f32], b: &[f32]) -> Vec<f32> {
    let o = b.len();
    let mut y = vec![0.0; o * hw];
    for oc in 0..o {
        for p in 0..hw {
            y[oc * hw + p] = b[oc]
                + (0..c)
                    .map(|ic| w[oc * c + ic] * x[ic * hw + p])
                    .sum::<f32>();
        }
    }
    y
}

#[test]
fn batchnorm_folding_computes_what_conv_then_batchnorm_computed() {
    let (c, o, hw) = (3usize, 4usize, 5usize);
    let f = |seed: usize, n: usize| -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7 + seed * 13) % 11) as f32 / 5.0 - 1.0)
            .collect()
    };
    let (w, b, gamma, beta, mean) = (f(1, o * c), f(2, o), f(3, o), f(4, o), f(5, o));
    let var: Vec<f32> = f(6, o).iter().map(|v| v.abs() + 0.5).collect();
    let eps = 1e-3f32;
    let mut g = Graph {
        name: "bn".into(),
        opset: 13,
        ..Graph::default()
    };
    let x = ValueInfo {
        name: "x".into(),
        dtype: DType::F32,
        shape: Some(vec![
            Dim::Known(1),
            Dim::Known(c as u64),
            Dim::Known(1),
            Dim::Known(hw as u64),
        ]),
    };
    g.inputs.push(x.clone());
    g.values.insert("x".into(), x);
    g.outputs.push(ValueInfo {
        name: "y".into(),
        dtype: DType::F32,
        shape: None,
    });
    for (name, dims, v) in [
        ("w", vec![o as u64, c as u64, 1, 1], &w),
        ("b", vec![o as u64], &b),
        ("g", vec![o as u64], &gamma),
        ("be", vec![o as u64], &beta),
        ("m", vec![o as u64], &mean),
        ("v", vec![o as u64], &var),
    ] {
        g.initializers
            .insert(name.into(), Tensor::from_floats(dims, v));
    }
    let node = |name: &str, op: &str, i: &[&str], out: &str, attrs: BTreeMap<String, Attr>| Node {
        name: name.into(),
        op: op.into(),
        inputs: i.iter().map(|s| s.to_string()).collect(),
        outputs: vec![out.into()],
        attrs,
    };
    g.nodes
        .push(node("conv", "Conv", &["x", "w", "b"], "t", BTreeMap::new()));
    g.nodes.push(node(
        "bn",
        "BatchNormalization",
        &["t", "g", "be", "m", "v"],
        "y",
        BTreeMap::from([("epsilon".to_string(), Attr::Float(eps))]),
    ));
    let input = f(7, c * hw);
    let t = conv1x1(&input, c, hw, &w, &b);
    let want: Vec<f32> = (0..o * hw)
        .map(|k| {
            let oc = k / hw;
            (t[k] - mean[oc]) / (var[oc] + eps).sqrt() * gamma[oc] + beta[oc]
        })
        .collect();
    passes::optimize(&mut g, |_| true).unwrap();
    assert_eq!(g.nodes.len(), 1);
    let conv = &g.nodes[0];
    assert_eq!((conv.op.as_str(), conv.outputs[0].as_str()), ("Conv", "y"));
    let fw = g.initializers[&conv.inputs[1]].floats().unwrap();
    let fb = g.initializers[&conv.inputs[2]].floats().unwrap();
    let got = conv1x1(&input, c, hw, &fw, &fb);
    for (k, (a, e)) in got.iter().zip(&want).enumerate() {
        assert!(
            (a - e).abs() <= 1e-5 * (1.0 + e.abs()),
            "element {k}: folded {a}, unfolded {e}"
        );
    }
}
