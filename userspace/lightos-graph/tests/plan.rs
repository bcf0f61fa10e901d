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
