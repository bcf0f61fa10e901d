//! Graph passes, each on by default and each switchable off by name (`lightos model optimize
//! --passes`): what each one changed is reported. Passes keep the graph's outputs and their
//! shapes; shape inference runs again after them.
//!
//! - `constants`: nodes whose inputs are all constants are evaluated now and become initializers
//!   (shape arithmetic: `Shape`, `Gather`, `Unsqueeze`, `Squeeze`, `Concat`, `Cast`, `Reshape`,
//!   `Identity`; `ConstantOfShape` fills), up to a size limit per tensor (a fill larger than it
//!   stays a node, so a "light" model's multi-hundred-megabyte weights are not materialised twice).
//! - `identity`: `Identity` and (inference) `Dropout` removed, their consumers reading the input.
//! - `batchnorm`: a `BatchNormalization` that is its `Conv`'s only consumer is folded into the
//!   convolution's weights and bias.
//! - `fuse`: a `Relu` that is the only reader of a `Conv`, `Gemm` or `MatMul` output becomes that
//!   node's epilogue (attribute `activation = "Relu"`; CONV2D's and MATMUL's ReLU epilogue), so one
//!   primitive does both.
//! - `dead-code`: nodes no output depends on, and initializers nothing reads, removed.

use crate::{
    ir::{Attr, DType, Graph, Node, Tensor},
    shape, GraphError, Result,
};
use bytes::Bytes;
use std::collections::HashSet;

/// Every pass, in the order they run.
pub const PASSES: [&str; 5] = ["constants", "identity", "batchnorm", "fuse", "dead-code"];

/// The attribute `fuse` gives a `Conv`, `Gemm` or `MatMul` (not ONNX's; kept by the native format):
/// `"Relu"`, the epilogue its primitive applies.
pub const ACTIVATION: &str = "activation";

/// Whether `node` is a `Conv`, `Gemm` or `MatMul` whose [`ACTIVATION`] is a fused ReLU.
pub fn fused_relu(node: &Node) -> bool {
    matches!(node.op.as_str(), "Conv" | "Gemm" | "MatMul")
        && node.string(ACTIVATION) == Some("Relu")
}

/// The largest tensor `constants` materialises, in bytes.
pub const FOLD_LIMIT: usize = 16 << 20;

/// What one pass did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    /// The pass.
    pub pass: &'static str,
    /// Whether it ran (it was not switched off).
    pub ran: bool,
    /// Nodes it removed.
    pub removed: usize,
    /// Details: what was folded or removed, by node.
    pub changes: Vec<String>,
}

/// Runs every pass `enabled` accepts, in [`PASSES`] order, then infers shapes again.
pub fn optimize(graph: &mut Graph, enabled: impl Fn(&str) -> bool) -> Result<Vec<Report>> {
    let mut reports = Vec::new();
    for pass in PASSES {
        let mut report = Report {
            pass,
            ran: enabled(pass),
            removed: 0,
            changes: Vec::new(),
        };
        if report.ran {
            let before = graph.nodes.len();
            match pass {
                "constants" => fold_constants(graph, &mut report.changes)?,
                "identity" => remove_identities(graph, &mut report.changes),
                "batchnorm" => fold_batchnorm(graph, &mut report.changes)?,
                "fuse" => fuse_activations(graph, &mut report.changes),
                _ => remove_dead_code(graph, &mut report.changes),
            }
            report.removed = before - graph.nodes.len();
        }
        reports.push(report);
    }
    graph.values.retain(|name, _| {
        graph.inputs.iter().any(|i| &i.name == name)
            || graph.outputs.iter().any(|o| &o.name == name)
    });
    shape::infer(graph)?;
    Ok(reports)
}

/// Parses a `--passes` list: `all`, `none`, or names (each optionally prefixed by `-` to switch it
/// off from `all`). Unknown names are an error listing the known ones.
pub fn selection(spec: &str) -> std::result::Result<HashSet<&'static str>, String> {
    let mut on: HashSet<&'static str> = HashSet::new();
    let parts: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if parts
        .first()
        .is_some_and(|p| *p == "all" || p.starts_with('-'))
    {
        on.extend(PASSES);
    }
    for p in parts {
        match p {
            "all" => on.extend(PASSES),
            "none" => on.clear(),
            _ => {
                let (off, name) = p.strip_prefix('-').map_or((false, p), |n| (true, n));
                let known = PASSES.iter().find(|k| **k == name).ok_or_else(|| {
                    format!(
                        "unknown pass {name:?} (passes: {}, all, none)",
                        PASSES.join(", ")
                    )
                })?;
                if off {
                    on.remove(known);
                } else {
                    on.insert(known);
                }
            }
        }
    }
    Ok(on)
}

/// Replaces every read of `from` by `to` (node inputs).
fn rename_reads(graph: &mut Graph, from: &str, to: &str) {
    for n in &mut graph.nodes {
        for i in n.inputs.iter_mut().filter(|i| *i == from) {
            *i = to.to_string();
        }
    }
}

fn fold_constants(graph: &mut Graph, changes: &mut Vec<String>) -> Result<()> {
    shape::infer(graph)?;
    let mut kept = Vec::with_capacity(graph.nodes.len());
    for node in std::mem::take(&mut graph.nodes) {
        let constant_inputs = node
            .inputs
            .iter()
            .all(|i| i.is_empty() || graph.initializers.contains_key(i));
        let folded = if constant_inputs || node.op == "Shape" {
            evaluate(graph, &node)?
        } else {
            None
        };
        match folded {
            Some(value) if node.outputs.len() == 1 => {
                changes.push(format!(
                    "{} ({}) → constant {}",
                    node.name, node.op, node.outputs[0]
                ));
                graph.initializers.insert(node.outputs[0].clone(), value);
            }
            _ => kept.push(node),
        }
    }
    graph.nodes = kept;
    Ok(())
}

/// The value of `node` when its inputs are constants (or, for `Shape`, known), if it is an op
/// this pass evaluates and the result fits [`FOLD_LIMIT`].
fn evaluate(graph: &Graph, node: &Node) -> Result<Option<Tensor>> {
    let input = |i: usize| node.input(i).and_then(|n| graph.initializers.get(n));
    let out_shape = node
        .outputs
        .first()
        .and_then(|o| graph.values.get(o))
        .and_then(|v| v.shape.as_ref())
        .and_then(|s| crate::ir::known(s));
    let Some(dims) = out_shape else {
        return Ok(None);
    };
    let elements: u64 = dims.iter().product();
    Ok(match node.op.as_str() {
        "Shape" => {
            let v = graph
                .value(node.input(0).unwrap_or_default())
                .and_then(|v| v.shape)
                .and_then(|s| crate::ir::known(&s));
            let Some(full) = v else { return Ok(None) };
            let r = full.len() as i64;
            let clamp = |x: i64| (if x < 0 { x + r } else { x }).clamp(0, r) as usize;
            let (s, e) = (clamp(node.int("start", 0)), clamp(node.int("end", r)));
            let part: Vec<i64> = full[s..e.max(s)].iter().map(|&d| d as i64).collect();
            Some(Tensor::from_ints(dims, &part))
        }
        "ConstantOfShape" => {
            let value = match node.attrs.get("value") {
                Some(Attr::Tensor(t)) => t.clone(),
                _ => Tensor::from_floats(vec![1], &[0.0]),
            };
            let bytes = elements as usize * value.dtype.size();
            if bytes > FOLD_LIMIT || value.data.len() != value.dtype.size() {
                return Ok(None);
            }
            Some(Tensor {
                dtype: value.dtype,
                dims,
                data: Bytes::from(value.data.repeat(elements as usize)),
            })
        }
        // Data movement that keeps the row-major bytes: only the dims change.
        "Unsqueeze" | "Squeeze" | "Reshape" | "Identity" | "Flatten" => input(0).map(|t| Tensor {
            dtype: t.dtype,
            dims,
            data: t.data.clone(),
        }),
        "Concat" if node.inputs.len() == 1 || node.int("axis", 0) == 0 || dims.len() == 1 => {
            let parts: Option<Vec<&Tensor>> = (0..node.inputs.len()).map(input).collect();
            let parts = parts.unwrap_or_default();
            let dtype = parts.first().map(|t| t.dtype);
            match dtype {
                Some(dtype)
                    if parts.iter().all(|t| t.dtype == dtype) && node.int("axis", 0) == 0 =>
                {
                    let data: Vec<u8> = parts.iter().flat_map(|t| t.data.iter().copied()).collect();
                    Some(Tensor {
                        dtype,
                        dims,
                        data: Bytes::from(data),
                    })
                }
                _ => None,
            }
        }
        "Gather" => match (input(0), input(1).and_then(Tensor::ints)) {
            (Some(data), Some(idx)) if elements as usize * data.dtype.size() <= FOLD_LIMIT => {
                let d: Vec<usize> = data.dims.iter().map(|&x| x as usize).collect();
                let axis = node.int("axis", 0);
                let axis = if axis < 0 {
                    axis + d.len() as i64
                } else {
                    axis
                };
                let out = lightos_cpu::elementwise::gather(
                    &data.data,
                    &d,
                    data.dtype.size(),
                    usize::try_from(axis).unwrap_or(usize::MAX),
                    &idx,
                )
                .map_err(|e| GraphError::Shape {
                    node: node.name.clone(),
                    op: node.op.clone(),
                    reason: e.to_string(),
                })?;
                Some(Tensor {
                    dtype: data.dtype,
                    dims,
                    data: Bytes::from(out),
                })
            }
            _ => None,
        },
        "Cast" => match (input(0), DType::from_onnx(node.int("to", 0) as i32)) {
            (Some(t), Some(to)) if t.dtype == to => Some(Tensor {
                dtype: to,
                dims,
                data: t.data.clone(),
            }),
            (Some(t), Some(DType::I64)) => t.ints().map(|v| Tensor::from_ints(dims, &v)),
            (Some(t), Some(DType::F32)) => t.ints().map(|v| {
                Tensor::from_floats(dims, &v.iter().map(|&x| x as f32).collect::<Vec<_>>())
            }),
            _ => None,
        },
        _ => None,
    })
}

fn remove_identities(graph: &mut Graph, changes: &mut Vec<String>) {
    let outputs: HashSet<String> = graph.outputs.iter().map(|o| o.name.clone()).collect();
    let mut i = 0;
    while i < graph.nodes.len() {
        let n = &graph.nodes[i];
        let removable = matches!(n.op.as_str(), "Identity" | "Dropout")
            && n.input(0).is_some()
            && n.outputs
                .iter()
                .skip(1)
                .all(|o| o.is_empty() || !is_read(graph, o));
        if !removable {
            i += 1;
            continue;
        }
        let node = graph.nodes.remove(i);
        let (input, output) = (node.inputs[0].clone(), node.outputs[0].clone());
        if outputs.contains(&output) {
            // The graph's output keeps its name: its producer writes it directly.
            let renamed = graph
                .nodes
                .iter_mut()
                .flat_map(|n| n.outputs.iter_mut())
                .find(|o| **o == input);
            match renamed {
                Some(o) => {
                    *o = output.clone();
                    rename_reads(graph, &input, &output);
                }
                None => {
                    graph.nodes.insert(i, node);
                    i += 1;
                    continue;
                }
            }
        } else {
            rename_reads(graph, &output, &input);
        }
        changes.push(format!("{} ({}) removed", node.name, node.op));
    }
}

fn is_read(graph: &Graph, value: &str) -> bool {
    graph
        .nodes
        .iter()
        .any(|n| n.inputs.iter().any(|i| i == value))
        || graph.outputs.iter().any(|o| o.name == value)
}

/// The `fuse` pass: see the module documentation.
fn fuse_activations(graph: &mut Graph, changes: &mut Vec<String>) {
    let mut i = 0;
    while i < graph.nodes.len() {
        let relu = &graph.nodes[i];
        let Some(x) = relu
            .input(0)
            .filter(|_| relu.op == "Relu")
            .map(str::to_string)
        else {
            i += 1;
            continue;
        };
        let producer = graph.nodes[..i].iter().position(|n| {
            matches!(n.op.as_str(), "Conv" | "Gemm" | "MatMul")
                && n.outputs.first() == Some(&x)
                && !n.attrs.contains_key(ACTIVATION)
        });
        let single_reader = graph.nodes.iter().filter(|n| n.inputs.contains(&x)).count() == 1
            && !graph.outputs.iter().any(|o| o.name == x);
        let Some(p) = producer.filter(|_| single_reader) else {
            i += 1;
            continue;
        };
        let relu = graph.nodes.remove(i);
        let node = &mut graph.nodes[p];
        node.outputs[0] = relu.outputs[0].clone();
        node.attrs
            .insert(ACTIVATION.into(), Attr::String("Relu".into()));
        graph.values.remove(&x);
        changes.push(format!(
            "{} ({}) applies {}'s ReLU",
            node.name, node.op, relu.name
        ));
    }
}

fn fold_batchnorm(graph: &mut Graph, changes: &mut Vec<String>) -> Result<()> {
    let mut i = 0;
    while i < graph.nodes.len() {
        let bn = &graph.nodes[i];
        if bn.op != "BatchNormalization" {
            i += 1;
            continue;
        }
        let conv_out = bn.inputs[0].clone();
        let conv_at = graph
            .nodes
            .iter()
            .position(|n| n.op == "Conv" && n.outputs.first() == Some(&conv_out));
        let single_reader = graph
            .nodes
            .iter()
            .filter(|n| n.inputs.contains(&conv_out))
            .count()
            == 1
            && !graph.outputs.iter().any(|o| o.name == conv_out);
        let params: Option<Vec<Vec<f32>>> = (1..5)
            .map(|k| {
                bn.input(k)
                    .and_then(|n| graph.initializers.get(n))
                    .and_then(Tensor::floats)
            })
            .collect();
        let (Some(c), true, Some(params)) = (conv_at, single_reader, params) else {
            i += 1;
            continue;
        };
        let conv = graph.nodes[c].clone();
        let weight = conv
            .input(1)
            .and_then(|n| graph.initializers.get(n))
            .and_then(|t| t.floats().map(|v| (t.dims.clone(), v)));
        let Some((wdims, mut w)) = weight else {
            i += 1;
            continue;
        };
        let out_channels = wdims[0] as usize;
        if params.iter().any(|p| p.len() != out_channels) {
            i += 1;
            continue;
        }
        let eps = bn.float("epsilon", 1e-5);
        let (gamma, beta, mean, var) = (&params[0], &params[1], &params[2], &params[3]);
        let mut bias = match conv
            .input(2)
            .and_then(|n| graph.initializers.get(n))
            .and_then(Tensor::floats)
        {
            Some(b) if b.len() == out_channels => b,
            _ => vec![0.0; out_channels],
        };
        let per = w.len() / out_channels;
        for o in 0..out_channels {
            let scale = gamma[o] / (var[o] + eps).sqrt();
            for x in &mut w[o * per..(o + 1) * per] {
                *x *= scale;
            }
            bias[o] = (bias[o] - mean[o]) * scale + beta[o];
        }
        let (wname, bname) = (
            format!("{}.folded_weight", conv.name),
            format!("{}.folded_bias", conv.name),
        );
        graph
            .initializers
            .insert(wname.clone(), Tensor::from_floats(wdims, &w));
        graph.initializers.insert(
            bname.clone(),
            Tensor::from_floats(vec![out_channels as u64], &bias),
        );
        let bn = graph.nodes.remove(i);
        let conv = &mut graph.nodes[c];
        conv.inputs = vec![conv.inputs[0].clone(), wname, bname];
        conv.outputs[0] = bn.outputs[0].clone();
        changes.push(format!(
            "{} (BatchNormalization) folded into {}",
            bn.name, conv.name
        ));
    }
    Ok(())
}

fn remove_dead_code(graph: &mut Graph, changes: &mut Vec<String>) {
    let mut live: HashSet<String> = graph.outputs.iter().map(|o| o.name.clone()).collect();
    let mut keep = vec![false; graph.nodes.len()];
    for (k, n) in graph.nodes.iter().enumerate().rev() {
        if n.outputs.iter().any(|o| live.contains(o)) {
            keep[k] = true;
            live.extend(n.inputs.iter().filter(|s| !s.is_empty()).cloned());
        }
    }
    let mut k = 0;
    graph.nodes.retain(|n| {
        let kept = keep[k];
        k += 1;
        if !kept {
            changes.push(format!(
                "{} ({}) removed: no output depends on it",
                n.name, n.op
            ));
        }
        kept
    });
    let before = graph.initializers.len();
    graph.initializers.retain(|name, _| live.contains(name));
    if before > graph.initializers.len() {
        changes.push(format!(
            "{} unused initializers removed",
            before - graph.initializers.len()
        ));
    }
}
