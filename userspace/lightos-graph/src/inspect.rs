//! What `lightos model inspect` prints: a graph's inputs and outputs, op counts, parameters and the
//! floating-point operations of one run (from inferred shapes; multiply-add counted as two).

use crate::ir::{known, DType, Graph, Node, ValueInfo};
use serde::Serialize;
use std::collections::BTreeMap;

/// A summary of a graph.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// The graph's name.
    pub name: String,
    /// The default domain's opset.
    pub opset: i64,
    /// What the caller feeds.
    pub inputs: Vec<ValueInfo>,
    /// What a run returns.
    pub outputs: Vec<ValueInfo>,
    /// Nodes per op type.
    pub ops: BTreeMap<String, usize>,
    /// Nodes in all.
    pub nodes: usize,
    /// Initializers, their elements and bytes.
    pub initializers: usize,
    /// Elements of all initializers.
    pub parameters: u64,
    /// Bytes of all initializers.
    pub parameter_bytes: u64,
    /// Floating-point operations of one run, where shapes are known.
    pub flops: u64,
    /// Nodes whose FLOPs are not counted (shapes unknown).
    pub flops_unknown: usize,
    /// The memory plan's activation arena (peak) and the naive sum, in bytes, and the bytes of
    /// values computed from constants; `None` while a size is symbolic.
    pub memory: Option<Memory>,
    /// How the nodes lower onto today's ABI: primitives by ABI op, `view`, `constant`, and
    /// `missing: why` per reason, each with its node count.
    pub lowering: BTreeMap<String, usize>,
}

/// What the memory planner ([`crate::plan`]) found.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Memory {
    /// Arena bytes with reuse by liveness.
    pub peak: u64,
    /// Every activation in its own buffer.
    pub naive: u64,
    /// Values computed from constants only.
    pub constants: u64,
}

/// Summarises `graph` (run [`crate::shape::infer`] first for FLOPs).
pub fn summarize(graph: &Graph) -> Summary {
    let mut ops = BTreeMap::new();
    for n in &graph.nodes {
        *ops.entry(n.op.clone()).or_insert(0) += 1;
    }
    let (mut flops, mut unknown) = (0u64, 0usize);
    for n in &graph.nodes {
        match node_flops(graph, n) {
            Some(f) => flops = flops.saturating_add(f),
            None => unknown += 1,
        }
    }
    Summary {
        name: graph.name.clone(),
        opset: graph.opset,
        inputs: graph.inputs.clone(),
        outputs: graph
            .outputs
            .iter()
            .map(|o| graph.value(&o.name).unwrap_or_else(|| o.clone()))
            .collect(),
        ops,
        nodes: graph.nodes.len(),
        initializers: graph.initializers.len(),
        parameters: graph.initializers.values().map(|t| t.elements()).sum(),
        parameter_bytes: graph
            .initializers
            .values()
            .map(|t| t.data.len() as u64)
            .sum(),
        flops,
        flops_unknown: unknown,
        lowering: lowering(graph),
        memory: crate::plan::plan(graph).ok().map(|p| Memory {
            peak: p.peak,
            naive: p.naive,
            constants: p.constants,
        }),
    }
}

/// Node counts per lowering (see [`Summary::lowering`]).
fn lowering(graph: &Graph) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for n in &graph.nodes {
        let key = match crate::lower::lower(graph, n) {
            crate::lower::Lowering::Primitive(op) => op.to_string(),
            crate::lower::Lowering::View => "view".into(),
            crate::lower::Lowering::Constant => "constant".into(),
            crate::lower::Lowering::Missing(why) => format!("missing: {} ({why})", n.op),
        };
        *out.entry(key).or_insert(0) += 1;
    }
    out
}

/// The known dimensions of value `name`.
fn dims(graph: &Graph, name: &str) -> Option<Vec<u64>> {
    graph
        .value(name)
        .and_then(|v| v.shape)
        .and_then(|s| known(&s))
}

/// Floating-point operations of one node, when its shapes are known (0 for data movement).
pub fn node_flops(graph: &Graph, n: &Node) -> Option<u64> {
    let out = n.outputs.first().and_then(|o| dims(graph, o))?;
    let elems: u64 = out.iter().product();
    let float = graph
        .value(n.outputs.first()?)
        .is_some_and(|v| matches!(v.dtype, DType::F32 | DType::F16 | DType::Bf16 | DType::F64));
    Some(match n.op.as_str() {
        "Conv" => {
            let w = dims(graph, n.input(1)?)?;
            let per_out: u64 = w[1..].iter().product();
            elems * (2 * per_out + u64::from(n.input(2).is_some()))
        }
        "Gemm" | "MatMul" => {
            let a = dims(graph, n.input(0)?)?;
            let k = if n.op == "Gemm" && n.int("transA", 0) != 0 {
                a[0]
            } else {
                *a.last()?
            };
            elems * (2 * k + u64::from(n.input(2).is_some()))
        }
        "MaxPool" | "AveragePool" => {
            elems
                * n.ints("kernel_shape")?
                    .iter()
                    .map(|&k| k as u64)
                    .product::<u64>()
        }
        "GlobalAveragePool" | "GlobalMaxPool" | "ReduceMean" | "ReduceSum" | "ReduceMax" => {
            dims(graph, n.input(0)?)?.iter().product()
        }
        "LRN" => elems * (n.int("size", 1) as u64 + 3),
        "BatchNormalization" => 2 * elems,
        "Softmax" => 3 * elems,
        "LayerNormalization" => 8 * elems,
        "Relu" | "Sigmoid" | "Tanh" | "Exp" | "Sqrt" | "Erf" | "Reciprocal" | "Neg" | "Add"
        | "Sub" | "Mul" | "Div" | "Pow" | "Max" | "Min"
            if float =>
        {
            elems
        }
        "Sum" if float => elems * (n.inputs.len() as u64).saturating_sub(1),
        _ => 0,
    })
}
