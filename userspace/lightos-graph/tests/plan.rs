//! The memory planner: values live at the same time never share bytes, reuse brings the peak
//! below the naive sum, and views share their input's bytes.

use lightos_graph::{
    ir::{DType, Dim, Graph, Node, ValueInfo},
    onnx, passes, plan, shape,
};

mod common;

fn check(name: &str, p: &plan::Plan) {
    let roots: Vec<(&String, &plan::Placement)> = p
        .values
        .iter()
        .filter(|(_, v)| v.view_of.is_none())
        .collect();
    for (i, (a, pa)) in roots.iter().enumerate() {
        assert_eq!(pa.offset % plan::ALIGN, 0, "{name}: {a} misaligned");
        assert!(
            pa.offset + pa.size <= p.peak,
            "{name}: {a} beyond the arena"
        );
        for (b, pb) in &roots[i + 1..] {
            let live_together = pa.live.0 <= pb.live.1 && pb.live.0 <= pa.live.1;
            let bytes_overlap = pa.offset < pb.offset + pb.size && pb.offset < pa.offset + pa.size;
            assert!(
                !(live_together && bytes_overlap),
                "{name}: {a} {pa:?} and {b} {pb:?} share bytes while both live"
            );
        }
    }
    assert!(
        p.peak <= p.naive.next_multiple_of(plan::ALIGN) + plan::ALIGN * p.values.len() as u64,
        "{name}"
    );
}

#[test]
fn the_nine_networks_plans_reuse_memory_without_overlap() {
    let Some(dir) = common::light_dir() else {
        return;
    };
    for name in common::NETWORKS {
        let mut g = onnx::load(&dir.join(format!("light_{name}.onnx"))).unwrap();
        shape::infer(&mut g).unwrap();
        passes::optimize(&mut g, |_| true).unwrap();
        let p = plan::plan(&g).unwrap();
        check(name, &p);
        // Reuse always saves something; on the deep networks (not the 5-convolution AlexNet and
        // ZFNet, whose few activations are mostly live at once) it saves more than half.
        let deep = g.nodes.len() > 30;
        assert!(
            p.peak < p.naive && (!deep || p.peak < p.naive / 2),
            "{name}: peak {} of naive {}",
            p.peak,
            p.naive
        );
        eprintln!(
            "{name}: peak {:.1} MB, naive {:.1} MB",
            p.peak as f64 / 1e6,
            p.naive as f64 / 1e6
        );
    }
}

fn relu(name: &str, from: &str, to: &str) -> Node {
    Node {
        name: name.into(),
        op: "Relu".into(),
        inputs: vec![from.into()],
        outputs: vec![to.into()],
        attrs: Default::default(),
    }
}

#[test]
fn a_chain_reuses_the_first_buffer_and_views_share_bytes() {
    let info = |n: &str| ValueInfo {
        name: n.into(),
        dtype: DType::F32,
        shape: Some(vec![Dim::Known(1000)]),
    };
    let mut g = Graph {
        name: "chain".into(),
        opset: 13,
        ..Graph::default()
    };
    g.inputs.push(info("x"));
    g.values.insert("x".into(), info("x"));
    g.outputs.push(info("c"));
    g.nodes = vec![
        relu("n0", "x", "a"),
        relu("n1", "a", "b"),
        relu("n2", "b", "c"),
    ];
    g.nodes.push(Node {
        name: "n3".into(),
        op: "Identity".into(),
        inputs: vec!["c".into()],
        outputs: vec!["d".into()],
        attrs: Default::default(),
    });
    g.outputs.push(info("d"));
    shape::infer(&mut g).unwrap();
    let p = plan::plan(&g).unwrap();
    let size = 4000u64.next_multiple_of(plan::ALIGN);
    assert_eq!(p.naive, 3 * 4000);
    assert_eq!(p.peak, 2 * size, "two buffers at a time");
    assert_eq!(
        p.values["c"].offset, p.values["a"].offset,
        "c takes a's place once a is dead"
    );
    assert_eq!(p.values["d"].view_of.as_deref(), Some("c"));
    assert_eq!(p.values["d"].offset, p.values["c"].offset);
    // A value whose size is unknown cannot be planned.
    g.values.get_mut("b").unwrap().shape = Some(vec![Dim::Sym("n".into())]);
    let err = plan::plan(&g).unwrap_err().to_string();
    assert!(err.contains("node n1") && err.contains("output b"), "{err}");
}

#[test]
fn a_concatenation_of_computed_channels_is_planned_in_place() {
    use lightos_graph::{compile, engine::Engine, engine::InProcess, ir::Attr};
    let info = |n: &str, c: u64| ValueInfo {
        name: n.into(),
        dtype: DType::F32,
        shape: Some(vec![Dim::Known(1), Dim::Known(c), Dim::Known(3)]),
    };
    let mut g = Graph {
        name: "cat".into(),
        opset: 13,
        ..Graph::default()
    };
    for (name, c) in [("x", 2), ("y", 5)] {
        g.inputs.push(info(name, c));
        g.values.insert(name.into(), info(name, c));
    }
    g.outputs.push(info("z", 9));
    g.nodes = vec![relu("ra", "x", "a"), relu("rb", "y", "b")];
    g.nodes.push(Node {
        name: "cat".into(),
        op: "Concat".into(),
        // a and b are computed here: placed in their slices; x is the caller's: copied.
        inputs: vec!["a".into(), "b".into(), "x".into()],
        outputs: vec!["c".into()],
        attrs: [("axis".to_string(), Attr::Int(1))].into(),
    });
    g.nodes.push(relu("rz", "c", "z"));
    shape::infer(&mut g).unwrap();
    let p = plan::plan(&g).unwrap();
    check("cat", &p);
    let c = &p.values["c"];
    assert_eq!(p.values["a"].offset, c.offset);
    assert_eq!(p.values["b"].offset, c.offset + 2 * 3 * 4);
    assert_eq!(p.values["b"].size, 5 * 3 * 4);
    assert_eq!(p.values["a"].view_of.as_deref(), Some("c"));
    // a and b are counted once, inside c: c and z.
    assert_eq!(p.naive, 2 * 9 * 3 * 4);

    // The concatenation copies only x; the run is the concatenation of relu(x), relu(y), x.
    let program = compile::compile(&g).unwrap();
    let copies: Vec<&str> = program
        .steps
        .iter()
        .filter(|s| s.node == "cat")
        .map(|s| s.op.as_str())
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    let x: Vec<f32> = (0..6).map(|i| i as f32 - 3.0).collect();
    let y: Vec<f32> = (0..15).map(|i| 7.0 - i as f32).collect();
    let bytes = |v: &[f32]| v.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>();
    let out = InProcess::new(program, 1)
        .unwrap()
        .run(&[&bytes(&x), &bytes(&y)])
        .unwrap();
    let got: Vec<f32> = out[0]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let relu = |v: &[f32]| v.iter().map(|f| f.max(0.0)).collect::<Vec<_>>();
    let want: Vec<f32> = [relu(&x), relu(&y), relu(&x)].concat();
    assert_eq!(got, want);

    // With two images the slices are strided: planned apart and copied, as before.
    let mut g2 = g.clone();
    for v in g2.inputs.iter_mut().chain(g2.outputs.iter_mut()) {
        if let Some(s) = v.shape.as_mut() {
            s[0] = Dim::Known(2);
        }
    }
    g2.values.clear();
    for v in g2.inputs.clone() {
        g2.values.insert(v.name.clone(), v);
    }
    shape::infer(&mut g2).unwrap();
    let p2 = plan::plan(&g2).unwrap();
    assert_eq!(p2.values["a"].view_of, None);
    check("cat2", &p2);
}
