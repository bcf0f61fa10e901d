//! The ONNX model zoo's nine "light" networks, which nobody here wrote (tests/models/fetch-light.sh
//! takes them from the `onnx` wheel on PyPI into the cache; `make test` passes their directory in
//! `LIGHTOS_LIGHT_MODELS`): each loads, its shapes are inferred, and its output's shape equals that
//! of the reference output shipped with it.

use lightos_graph::{
    inspect,
    ir::{known, Dim},
    onnx, shape,
};

mod common;

/// (file stem, nodes) for each network; the node counts were read with the `onnx` package.
const NETWORKS: [(&str, usize); 9] = [
    ("bvlc_alexnet", 40),
    ("zfnet512", 38),
    ("vgg19", 82),
    ("resnet50", 415),
    ("densenet121", 1746),
    ("inception_v1", 237),
    ("inception_v2", 916),
    ("shufflenet", 446),
    ("squeezenet", 105),
];

#[test]
fn the_nine_light_networks_load_and_their_output_shapes_match_the_references() {
    let Some(dir) = common::light_dir() else {
        return;
    };
    for (name, nodes) in NETWORKS {
        let path = dir.join(format!("light_{name}.onnx"));
        let mut graph = onnx::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(graph.opset, 9, "{name}");
        assert_eq!(graph.nodes.len(), nodes, "{name}: nodes");
        assert_eq!(graph.inputs.len(), 1, "{name}: inputs");
        let input = graph.inputs[0].shape.clone().unwrap();
        assert_eq!(known(&input), Some(vec![1, 3, 224, 224]), "{name}: input");
        shape::infer(&mut graph).unwrap_or_else(|e| panic!("{name}: {e}"));
        let reference = std::fs::read(dir.join(format!("light_{name}_output_0.pb"))).unwrap();
        let reference = onnx::load_tensor(reference, name).unwrap();
        let out = graph.value(&graph.outputs[0].name).unwrap();
        let dims: Vec<Dim> = reference.dims.iter().map(|&d| Dim::Known(d)).collect();
        assert_eq!(out.shape, Some(dims), "{name}: output shape");
        let summary = inspect::summarize(&graph);
        assert_eq!(summary.flops_unknown, 0, "{name}: every node's FLOPs known");
        assert!(
            summary.flops > 100_000_000,
            "{name}: {} FLOPs",
            summary.flops
        );
        eprintln!(
            "{name}: {} nodes, {:.2} GFLOPs",
            summary.nodes,
            summary.flops as f64 / 1e9
        );
        // Two networks whose cost everyone quotes: ResNet-50 4.1 G multiply-adds and VGG-19 19.6 G
        // at 224×224 (He et al. 2016; Simonyan and Zisserman 2015), two FLOPs each.
        let quoted = match name {
            "resnet50" => Some(8.2e9),
            "vgg19" => Some(39.2e9),
            _ => None,
        };
        if let Some(q) = quoted {
            let ratio = summary.flops as f64 / q;
            assert!(
                (0.98..1.02).contains(&ratio),
                "{name}: {} FLOPs, {ratio:.3} of the quoted {q:e}",
                summary.flops
            );
        }
    }
}
