//! Bad input: each malformed model is refused with an error naming the node, tensor or file at
//! fault, and nothing is returned. The models are built here with the generated protobuf types.

use bytes::Bytes;
use lightos_graph::{
    ir::{known, Dim},
    onnx::{self, proto},
    shape, GraphError,
};
use prost::Message;

fn tensor_type(elem: i32, dims: &[i64]) -> proto::TypeProto {
    use proto::tensor_shape_proto::{dimension::Value, Dimension};
    proto::TypeProto {
        value: Some(proto::type_proto::Value::TensorType(
            proto::type_proto::Tensor {
                elem_type: Some(elem),
                shape: Some(proto::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(if d < 0 {
                                Value::DimParam("batch".into())
                            } else {
                                Value::DimValue(d)
                            }),
                            ..Default::default()
                        })
                        .collect(),
                }),
            },
        )),
        ..Default::default()
    }
}

fn value(name: &str, elem: i32, dims: &[i64]) -> proto::ValueInfoProto {
    proto::ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(tensor_type(elem, dims)),
        ..Default::default()
    }
}

fn node(name: &str, op: &str, inputs: &[&str], outputs: &[&str]) -> proto::NodeProto {
    proto::NodeProto {
        name: Some(name.into()),
        op_type: Some(op.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn weights(name: &str, dims: &[i64], bytes: usize) -> proto::TensorProto {
    proto::TensorProto {
        name: Some(name.into()),
        data_type: Some(1),
        dims: dims.to_vec(),
        raw_data: Some(Bytes::from(vec![0u8; bytes])),
        ..Default::default()
    }
}

/// Y = relu(X[batch,4] · W[4,2]).
fn model() -> proto::ModelProto {
    proto::ModelProto {
        ir_version: Some(8),
        opset_import: vec![proto::OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(17),
        }],
        graph: Some(proto::GraphProto {
            name: Some("tiny".into()),
            node: vec![
                node("mm", "MatMul", &["X", "W"], &["H"]),
                node("act", "Relu", &["H"], &["Y"]),
            ],
            initializer: vec![weights("W", &[4, 2], 32)],
            input: vec![value("X", 1, &[-1, 4])],
            output: vec![value("Y", 1, &[-1, 2])],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn load(m: &proto::ModelProto) -> Result<lightos_graph::ir::Graph, GraphError> {
    let mut g = onnx::load_bytes(m.encode_to_vec())?;
    shape::infer(&mut g)?;
    Ok(g)
}

fn graph_mut(m: &mut proto::ModelProto) -> &mut proto::GraphProto {
    m.graph.as_mut().unwrap()
}

#[test]
fn a_valid_model_loads_with_its_symbolic_batch_kept() {
    let g = load(&model()).unwrap();
    let y = g.value("Y").unwrap();
    assert_eq!(y.shape, Some(vec![Dim::Sym("batch".into()), Dim::Known(2)]));
    assert_eq!(
        g.nodes.iter().map(|n| n.op.as_str()).collect::<Vec<_>>(),
        ["MatMul", "Relu"]
    );
}

#[test]
fn a_truncated_file_is_not_a_model() {
    let bytes = model().encode_to_vec();
    let err = onnx::load_bytes(bytes[..bytes.len() / 2].to_vec()).unwrap_err();
    assert!(matches!(err, GraphError::Decode { .. }), "{err}");
    assert!(err.to_string().contains("not a valid ONNX model"), "{err}");
}

#[test]
fn corrupt_bytes_are_not_a_model() {
    let err = onnx::load_bytes(vec![0xff; 64]).unwrap_err();
    assert!(matches!(err, GraphError::Decode { .. }), "{err}");
    let dir = std::env::temp_dir().join(format!("lightos-graph-empty-{}", std::process::id()));
    std::fs::write(&dir, b"").unwrap();
    let err = onnx::load(&dir).unwrap_err();
    std::fs::remove_file(&dir).unwrap();
    assert!(err.to_string().contains("empty file"), "{err}");
}

#[test]
fn an_unknown_op_is_named_with_its_node_and_opset() {
    let mut m = model();
    graph_mut(&mut m).node[1].op_type = Some("Frobnicate".into());
    let err = load(&m).unwrap_err().to_string();
    assert!(
        err.contains("node act") && err.contains("Frobnicate") && err.contains("opset 17"),
        "{err}"
    );
    // An op of another domain, too.
    let mut m = model();
    graph_mut(&mut m).node[1].domain = Some("com.microsoft".into());
    let err = load(&m).unwrap_err().to_string();
    assert!(err.contains("com.microsoft"), "{err}");
}

#[test]
fn an_unsupported_attribute_is_named() {
    let mut m = model();
    graph_mut(&mut m).node[1]
        .attribute
        .push(proto::AttributeProto {
            name: Some("alpha".into()),
            r#type: Some(proto::attribute_proto::AttributeType::Float as i32),
            f: Some(0.1),
            ..Default::default()
        });
    let err = load(&m).unwrap_err().to_string();
    assert!(
        err.contains("node act") && err.contains("attribute alpha"),
        "{err}"
    );
}

#[test]
fn an_opset_outside_9_to_28_is_refused() {
    for v in [8, 29] {
        let mut m = model();
        m.opset_import[0].version = Some(v);
        let err = load(&m).unwrap_err();
        assert!(
            matches!(err, GraphError::Opset { opset, .. } if opset == v),
            "{err}"
        );
    }
}

#[test]
fn an_initializer_whose_data_does_not_fit_its_dims_is_named() {
    let mut m = model();
    graph_mut(&mut m).initializer[0] = weights("W", &[4, 2], 31);
    let err = load(&m).unwrap_err().to_string();
    assert!(
        err.contains("tensor W") && err.contains("31 bytes"),
        "{err}"
    );
}

#[test]
fn external_data_larger_than_its_file_is_refused() {
    let dir = std::env::temp_dir().join(format!("lightos-graph-ext-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("w.bin"), [0u8; 16]).unwrap();
    let mut m = model();
    let w = &mut graph_mut(&mut m).initializer[0];
    w.raw_data = None;
    w.data_location = Some(proto::tensor_proto::DataLocation::External as i32);
    let entry = |k: &str, v: &str| proto::StringStringEntryProto {
        key: Some(k.into()),
        value: Some(v.into()),
    };
    w.external_data = vec![
        entry("location", "w.bin"),
        entry("offset", "8"),
        entry("length", "32"),
    ];
    std::fs::write(dir.join("m.onnx"), m.encode_to_vec()).unwrap();
    let err = onnx::load(&dir.join("m.onnx")).unwrap_err().to_string();
    assert!(
        err.contains("tensor W") && err.contains("larger than its file"),
        "{err}"
    );
    // The same weights, fitting: loaded from the mapped file.
    std::fs::write(dir.join("w.bin"), [0u8; 40]).unwrap();
    let g = onnx::load(&dir.join("m.onnx")).unwrap();
    assert_eq!(g.initializers["W"].data.len(), 32);
    // A location outside the model's directory is refused.
    let w = &mut graph_mut(&mut m).initializer[0];
    w.external_data[0] = entry("location", "../w.bin");
    std::fs::write(dir.join("m.onnx"), m.encode_to_vec()).unwrap();
    let err = onnx::load(&dir.join("m.onnx")).unwrap_err().to_string();
    assert!(err.contains("leaves the model's directory"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn initializers_share_the_mapped_model_file() {
    let dir = std::env::temp_dir().join(format!("lightos-graph-map-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.onnx");
    std::fs::write(&path, model().encode_to_vec()).unwrap();
    let g = onnx::load(&path).unwrap();
    let at = g.initializers["W"].data.as_ptr() as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let region = maps
        .lines()
        .find(|l| {
            let range = l.split_whitespace().next().unwrap();
            let (lo, hi) = range.split_once('-').unwrap();
            let (lo, hi) = (
                usize::from_str_radix(lo, 16).unwrap(),
                usize::from_str_radix(hi, 16).unwrap(),
            );
            (lo..hi).contains(&at)
        })
        .unwrap();
    assert!(
        region.ends_with(path.to_str().unwrap()),
        "W's bytes are not in the file's mapping: {region}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_cycle_is_named() {
    let mut m = model();
    let g = graph_mut(&mut m);
    g.node = vec![
        node("a", "Relu", &["B"], &["A"]),
        node("b", "Relu", &["A"], &["B"]),
        node("c", "Relu", &["A"], &["Y"]),
    ];
    let err = load(&m).unwrap_err();
    assert!(matches!(err, GraphError::Cycle { .. }), "{err}");
    assert!(
        err.to_string().contains("cycle through node a")
            || err.to_string().contains("cycle through node b"),
        "{err}"
    );
}

#[test]
fn an_input_nothing_produces_is_named() {
    let mut m = model();
    graph_mut(&mut m).node[1].input[0] = "nowhere".into();
    let err = load(&m).unwrap_err().to_string();
    assert!(err.contains("node act") && err.contains("nowhere"), "{err}");
}

#[test]
fn a_shape_mismatch_names_the_node() {
    let mut m = model();
    graph_mut(&mut m).initializer[0] = weights("W", &[3, 2], 24);
    let err = load(&m).unwrap_err().to_string();
    assert!(
        err.contains("node mm (MatMul)") && err.contains("inner dimensions"),
        "{err}"
    );
}

#[test]
fn a_dtype_mismatch_names_the_node() {
    let mut m = model();
    let g = graph_mut(&mut m);
    g.node = vec![node("sum", "Add", &["X", "K"], &["Y"])];
    g.initializer = vec![proto::TensorProto {
        name: Some("K".into()),
        data_type: Some(7),
        dims: vec![4],
        int64_data: vec![1, 2, 3, 4],
        ..Default::default()
    }];
    g.output = vec![value("Y", 1, &[-1, 4])];
    let err = load(&m).unwrap_err().to_string();
    assert!(
        err.contains("node sum (Add)") && err.contains("i64"),
        "{err}"
    );
}

#[test]
fn a_computed_reshape_target_is_evaluated() {
    // Y = reshape(X, concat(shape(X)[0], [-1])) with X [3, 2, 2]: [3, 4].
    let mut m = model();
    let g = graph_mut(&mut m);
    g.input = vec![value("X", 1, &[3, 2, 2])];
    g.initializer = vec![
        proto::TensorProto {
            name: Some("zero".into()),
            data_type: Some(7),
            dims: vec![1],
            int64_data: vec![0],
            ..Default::default()
        },
        proto::TensorProto {
            name: Some("rest".into()),
            data_type: Some(7),
            dims: vec![1],
            int64_data: vec![-1],
            ..Default::default()
        },
    ];
    g.node = vec![
        node("shape", "Shape", &["X"], &["S"]),
        node("first", "Gather", &["S", "zero"], &["B"]),
        node("target", "Concat", &["B", "rest"], &["T"]),
        node("flat", "Reshape", &["X", "T"], &["Y"]),
    ];
    g.node[2].attribute.push(proto::AttributeProto {
        name: Some("axis".into()),
        r#type: Some(proto::attribute_proto::AttributeType::Int as i32),
        i: Some(0),
        ..Default::default()
    });
    g.output = vec![value("Y", 1, &[3, 4])];
    let g = load(&m).unwrap();
    assert_eq!(
        known(&g.value("Y").unwrap().shape.unwrap()),
        Some(vec![3, 4])
    );
}

#[test]
fn a_reshape_copying_a_symbolic_dimension_keeps_it() {
    // Y = reshape(X[batch, 4], [0, 2, 2]): [batch, 2, 2].
    let mut m = model();
    let g = graph_mut(&mut m);
    g.initializer = vec![proto::TensorProto {
        name: Some("to".into()),
        data_type: Some(7),
        dims: vec![3],
        int64_data: vec![0, 2, 2],
        ..Default::default()
    }];
    g.node = vec![node("r", "Reshape", &["X", "to"], &["Y"])];
    g.output = vec![value("Y", 1, &[-1, 2, 2])];
    let g = load(&m).unwrap();
    let y = g.value("Y").unwrap().shape.unwrap();
    assert_eq!(
        y,
        vec![Dim::Sym("batch".into()), Dim::Known(2), Dim::Known(2)]
    );
}
