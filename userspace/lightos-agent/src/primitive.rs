//! One primitive submitted as a job (the control plane's `SubmitJob` without a model): an op of
//! the graph engine by its ONNX name (`MatMul`, `Add`, `Relu`, `Softmax`, …) on the request's
//! tensors, built into a one-node graph and compiled as a model is, so it runs as `/dev/lightos`
//! jobs on the device asked for (or in this process without the module) and its placement is
//! recorded like a model engine's.

use crate::{
    batch::Tensor,
    model::{self, Placement},
    serve::Named,
};
use lightos_graph::ir::{Attr, DType, Dim, Graph, Node, ValueInfo};
use std::collections::BTreeMap;

/// The name of a primitive job's output.
pub const OUTPUT: &str = "y";

/// Why a primitive job did not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrimitiveError {
    /// The op, its attributes or its inputs are not valid (gRPC INVALID_ARGUMENT).
    #[error("{0}")]
    Invalid(String),
    /// The device or the kernel failed it (gRPC UNAVAILABLE).
    #[error("{0}")]
    Failed(String),
}

/// The one-node graph of `op` with integer attributes `attrs` on `inputs` (FP32).
pub fn graph(
    op: &str,
    attrs: &BTreeMap<String, i64>,
    inputs: &[Named],
) -> Result<Graph, PrimitiveError> {
    if op.is_empty() || !op.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(PrimitiveError::Invalid(format!(
            "primitive {op:?} is not an op name (MatMul, Add, Relu, Softmax, …)"
        )));
    }
    if inputs.is_empty() {
        return Err(PrimitiveError::Invalid(format!("{op} needs inputs")));
    }
    let mut values = Vec::with_capacity(inputs.len());
    for n in inputs {
        if n.datatype != "FP32" {
            return Err(PrimitiveError::Invalid(format!(
                "input {} is {}: a primitive job takes FP32 tensors",
                n.name, n.datatype
            )));
        }
        if values.iter().any(|v: &ValueInfo| v.name == n.name) || n.name == OUTPUT {
            return Err(PrimitiveError::Invalid(format!(
                "input name {:?} is used twice (or is the output's, {OUTPUT:?})",
                n.name
            )));
        }
        values.push(ValueInfo {
            name: n.name.clone(),
            dtype: DType::F32,
            shape: Some(n.tensor.dims.iter().map(|&d| Dim::Known(d)).collect()),
        });
    }
    let node = Node {
        name: "job".into(),
        op: op.to_string(),
        inputs: values.iter().map(|v| v.name.clone()).collect(),
        outputs: vec![OUTPUT.into()],
        attrs: attrs
            .iter()
            .map(|(k, &v)| (k.clone(), Attr::Int(v)))
            .collect(),
    };
    Ok(Graph {
        name: format!("job:{op}"),
        opset: 17,
        values: values.iter().map(|v| (v.name.clone(), v.clone())).collect(),
        inputs: values,
        outputs: vec![ValueInfo {
            name: OUTPUT.into(),
            dtype: DType::F32,
            shape: None,
        }],
        initializers: BTreeMap::new(),
        nodes: vec![node],
    })
}

/// Runs `op` on `inputs` on `device` (`auto`, `local` or a backend's name), as `at` places
/// models; returns its output. Blocking: call it off the async runtime.
pub fn run(
    op: &str,
    attrs: &BTreeMap<String, i64>,
    inputs: Vec<Named>,
    device: &str,
    at: &Placement,
) -> Result<Tensor, PrimitiveError> {
    let g = graph(op, attrs, &inputs)?;
    let dims: Vec<Vec<u64>> = inputs.iter().map(|n| n.tensor.dims.clone()).collect();
    let device = if device.is_empty() { "auto" } else { device };
    let mut session = model::start(&g.name, &g, &dims, device, at)
        .map_err(|e| PrimitiveError::Invalid(format!("{op} on {device}: {e}")))?;
    let feeds: Vec<&[u8]> = inputs.iter().map(|n| n.tensor.bytes.as_slice()).collect();
    let mut out = session
        .engine
        .run(&feeds)
        .map_err(|e| PrimitiveError::Failed(format!("{op} on {}: {e}", session.device)))?;
    let dims = session.engine.program().outputs[0].dims.clone();
    Ok(Tensor {
        dims,
        bytes: out.swap_remove(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str, dims: &[u64], values: &[f32]) -> Named {
        Named {
            name: name.into(),
            datatype: "FP32".into(),
            tensor: Tensor {
                dims: dims.to_vec(),
                bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            },
        }
    }

    fn local() -> Placement {
        Placement {
            node: "/nonexistent/lightos".into(),
            threads: 1,
            policy: lightos_graph::placement::default_policy(),
            activity: Default::default(),
        }
    }

    fn floats(t: &Tensor) -> Vec<f32> {
        t.bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    #[test]
    fn a_matmul_runs_and_its_placement_is_recorded() {
        let at = local();
        let a = named("a", &[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let b = named("b", &[3, 2], &[1., 0., 0., 1., 1., 1.]);
        let y = run("MatMul", &BTreeMap::new(), vec![a, b], "auto", &at).unwrap();
        assert_eq!(y.dims, vec![2, 2]);
        assert_eq!(floats(&y), vec![4., 5., 10., 11.]);
        let p = at.activity.placements();
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].model.as_str(), p[0].shape.as_str()),
            ("job:MatMul", "[2, 3] [3, 2]")
        );
    }

    #[test]
    fn softmax_takes_its_axis_attribute() {
        let x = named("x", &[2, 2], &[0., 0., 1., 1.]);
        let attrs = BTreeMap::from([("axis".to_string(), 0)]);
        let y = run("Softmax", &attrs, vec![x], "local", &local()).unwrap();
        let v = floats(&y);
        let e = 1.0 / (1.0 + std::f32::consts::E);
        for (got, want) in v.iter().zip([e, e, 1. - e, 1. - e]) {
            assert!((got - want).abs() < 1e-6, "{v:?}");
        }
    }

    #[test]
    fn bad_jobs_are_refused_with_the_reason() {
        let x = || vec![named("x", &[2], &[1., 2.])];
        let no = BTreeMap::new();
        let e = run("Frobnicate", &no, x(), "auto", &local()).unwrap_err();
        assert!(
            matches!(&e, PrimitiveError::Invalid(m) if m.contains("Frobnicate")),
            "{e}"
        );
        let e = run("Mat Mul", &no, x(), "auto", &local()).unwrap_err();
        assert!(e.to_string().contains("not an op name"), "{e}");
        assert!(run("Relu", &no, vec![], "auto", &local()).is_err());
        let shapes = vec![named("a", &[2, 3], &[0.; 6]), named("b", &[2, 3], &[0.; 6])];
        let e = run("MatMul", &no, shapes, "auto", &local()).unwrap_err();
        assert!(matches!(e, PrimitiveError::Invalid(_)), "{e}");
        let mut twice = x();
        twice.push(named("x", &[2], &[1., 2.]));
        assert!(run("Add", &no, twice, "auto", &local()).is_err());
    }
}
