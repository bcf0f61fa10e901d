//! Lowering, as far as today's ABI (1.13) goes: for each node, the `/dev/lightos` primitive it
//! becomes, or that it needs no primitive (a view of its input's bytes, a constant computed once),
//! or why no primitive runs it yet. `lightos model inspect` prints the tally, which is also the
//! list of what issue 20's ABI growth has to add before a network can run through the kernel.

use crate::ir::{known, Graph, Node};
use serde::Serialize;

/// What running one node takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum Lowering {
    /// One primitive of this ABI op (`"CONV2D"`, `"MATMUL"`, …).
    Primitive(&'static str),
    /// No work: its output is its input's bytes (a reshape).
    View,
    /// Computed once from constants (a fill larger than the folding limit).
    Constant,
    /// No ABI op runs it yet; why.
    Missing(String),
}

/// How `node` of `graph` (shapes inferred) lowers onto today's ABI.
pub fn lower(graph: &Graph, node: &Node) -> Lowering {
    let dims = |i: usize| {
        node.input(i)
            .and_then(|n| graph.value(n))
            .and_then(|v| v.shape)
            .and_then(|s| known(&s))
    };
    let out = node
        .outputs
        .first()
        .and_then(|o| graph.value(o))
        .and_then(|v| v.shape)
        .and_then(|s| known(&s));
    let missing = |why: &str| Lowering::Missing(why.to_string());
    if node
        .inputs
        .iter()
        .all(|i| i.is_empty() || graph.initializers.contains_key(i))
        && node.op == "ConstantOfShape"
    {
        return Lowering::Constant;
    }
    match node.op.as_str() {
        "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Identity" | "Dropout" => Lowering::View,
        "Relu" => Lowering::Primitive("RELU"),
        "Conv" => {
            // CONV2D's extended form (1.11): per-axis stride and dilation, asymmetric padding and
            // groups, every field up to 4096; SAME auto-padding computed from the shapes.
            let small = |name: &str| {
                node.ints(name)
                    .is_none_or(|v| v.iter().all(|&x| (0..=4096).contains(&x)))
            };
            let rank4 = dims(0).is_some_and(|d| d.len() == 4);
            if !rank4 {
                missing("CONV2D is 2-D (NCHW)")
            } else if !(["strides", "dilations", "pads"].iter().all(|n| small(n))
                && (1..=0xffff).contains(&node.int("group", 1)))
            {
                missing("CONV2D's fields go up to 4096 (groups to 65535)")
            } else {
                Lowering::Primitive("CONV2D")
            }
        }
        // A 2-D right operand takes any rank of left one (its rows merged); equal batch
        // dimensions merge into MATMUL's one.
        "MatMul" => match (dims(0), dims(1)) {
            (Some(a), Some(b))
                if a.len() >= 2
                    && (b.len() == 2
                        || (a.len() == b.len() && a[..a.len() - 2] == b[..b.len() - 2])) =>
            {
                Lowering::Primitive("MATMUL")
            }
            _ => missing("MATMUL broadcasts only a 2-D right operand (or equal batch dimensions)"),
        },
        "Gemm" => {
            // MATMUL with its bias epilogue (1.11); a transposed operand is a strided view.
            let n = out.as_ref().and_then(|o| o.get(1).copied());
            let bias_fits = match dims(2) {
                None => node.input(2).is_none(),
                Some(c) => {
                    n.is_some_and(|n| c == [n] || c == [1, n]) && node.float("beta", 1.0) == 1.0
                }
            };
            if node.int("transA", 0) != 0 || node.float("alpha", 1.0) != 1.0 {
                missing("MATMUL has no transposed A or alpha")
            } else if !bias_fits {
                missing("MATMUL's bias is one value per output column (beta 1)")
            } else {
                Lowering::Primitive("MATMUL")
            }
        }
        "Add" | "Mul" | "Sum" | "Sub" | "Div" | "Max" | "Min" | "Pow" => {
            // numpy broadcasting as stride-0 operand views (compile::layout).
            let fits = |i: usize| match (dims(i), out.as_ref()) {
                (Some(d), Some(o)) => {
                    d.len() <= o.len()
                        && d.iter()
                            .rev()
                            .zip(o.iter().rev())
                            .all(|(&a, &b)| a == b || a == 1)
                }
                _ => false,
            };
            let inputs = node.inputs.iter().filter(|s| !s.is_empty()).count();
            let variadic = matches!(node.op.as_str(), "Sum" | "Max" | "Min");
            if inputs >= 2 && (0..inputs).all(fits) && (variadic || inputs == 2) {
                Lowering::Primitive(match node.op.as_str() {
                    "Mul" => "MUL",
                    "Add" | "Sum" => "ADD",
                    _ => "BINARY",
                })
            } else {
                missing("operands that do not broadcast to the output")
            }
        }
        // Softmax along any axis (1.13: the input seen as [outer, axis, inner]); LayerNormalization
        // over all axes from `axis`, as rows.
        "Softmax" => Lowering::Primitive("SOFTMAX"),
        "LayerNormalization" => Lowering::Primitive("LAYERNORM"),
        "Exp" | "Tanh" | "Sigmoid" | "Sqrt" | "Erf" | "Reciprocal" | "Neg" => {
            Lowering::Primitive("UNARY")
        }
        // The reduced and kept axes merged into at most four runs.
        "ReduceMean" | "ReduceSum" | "ReduceMax" => {
            if dims(0).is_some_and(|d| !d.is_empty()) {
                Lowering::Primitive("REDUCE")
            } else {
                missing("REDUCE needs an input of at least one dimension")
            }
        }
        "Gather" => {
            // The compiler drops data's leading size-1 dims before the axis (a batch of one).
            let fits = match (dims(0), dims(1)) {
                (Some(d), Some(i)) if !d.is_empty() => {
                    let axis = node.int("axis", 0);
                    let axis = if axis < 0 {
                        axis + d.len() as i64
                    } else {
                        axis
                    };
                    let axis = (axis.max(0) as usize).min(d.len() - 1);
                    let ones = d[..axis].iter().take_while(|&&x| x == 1).count();
                    d.len() - ones + i.len().max(1) <= 5
                }
                _ => false,
            };
            if fits {
                Lowering::Primitive("GATHER")
            } else {
                missing("GATHER's output has at most 4 dimensions")
            }
        }
        // Each input copied into its slice of the output, the input read with permuted strides:
        // strided COPYs (compile::layout merges dimensions to fit the ABI's four).
        "Concat" | "Transpose" => Lowering::Primitive("COPY"),
        "MaxPool" | "AveragePool" | "GlobalAveragePool" | "GlobalMaxPool" => {
            // POOL2D (1.11): every field up to 4096, NCHW only.
            let small = |name: &str| {
                node.ints(name)
                    .is_none_or(|v| v.iter().all(|&x| (0..=4096).contains(&x)))
            };
            let plane_fits = dims(0).is_some_and(|d| d.len() == 4 && d[2] <= 4096 && d[3] <= 4096);
            if plane_fits
                && ["kernel_shape", "strides", "pads", "dilations"]
                    .iter()
                    .all(|n| small(n))
            {
                Lowering::Primitive("POOL2D")
            } else {
                missing("POOL2D pools NCHW planes with fields up to 4096")
            }
        }
        "LRN" => {
            if dims(0).is_some_and(|d| (2..=4).contains(&d.len())) {
                Lowering::Primitive("LRN")
            } else {
                missing("LRN normalizes [N,C,…] inputs of 2 to 4 dimensions")
            }
        }
        // Not folded into a convolution: a MUL by the per-channel scale, an ADD of the shift.
        "BatchNormalization" => Lowering::Primitive("MUL+ADD"),
        "Cast" | "Shape" => missing("computed at run time from non-constant inputs"),
        other => Lowering::Missing(format!("no lowering for {other}")),
    }
}

/// The lowering of every node of `graph`, in order.
pub fn lower_all(graph: &Graph) -> Vec<(String, String, Lowering)> {
    graph
        .nodes
        .iter()
        .map(|n| (n.name.clone(), n.op.clone(), lower(graph, n)))
        .collect()
}
