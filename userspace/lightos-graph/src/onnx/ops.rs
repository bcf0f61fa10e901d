//! The ops this engine accepts from ONNX, per op version: the attributes each version has, and
//! the attribute values it supports. Anything else is refused at load time with the node, the op
//! and the opset, never run wrongly.

use crate::{ir::Node, GraphError, Result};

/// One version of an op: in force from opset `since` until the next version's `since`.
struct OpVersion {
    op: &'static str,
    since: i64,
    attrs: &'static [&'static str],
}

const fn v(op: &'static str, since: i64, attrs: &'static [&'static str]) -> OpVersion {
    OpVersion { op, since, attrs }
}

const CONV: &[&str] = &[
    "auto_pad",
    "dilations",
    "group",
    "kernel_shape",
    "pads",
    "strides",
];
const MAXPOOL: &[&str] = &[
    "auto_pad",
    "ceil_mode",
    "dilations",
    "kernel_shape",
    "pads",
    "storage_order",
    "strides",
];
const REDUCE_ATTR_AXES: &[&str] = &["axes", "keepdims"];
const REDUCE_INPUT_AXES: &[&str] = &["keepdims", "noop_with_empty_axes"];

/// The table: every op version the engine knows, by op and opset.
const OPS: &[OpVersion] = &[
    v("Add", 7, &[]),
    v(
        "AveragePool",
        7,
        &[
            "auto_pad",
            "ceil_mode",
            "count_include_pad",
            "kernel_shape",
            "pads",
            "strides",
        ],
    ),
    v(
        "AveragePool",
        19,
        &[
            "auto_pad",
            "ceil_mode",
            "count_include_pad",
            "dilations",
            "kernel_shape",
            "pads",
            "strides",
        ],
    ),
    v("BatchNormalization", 9, &["epsilon", "momentum"]),
    v(
        "BatchNormalization",
        14,
        &["epsilon", "momentum", "training_mode"],
    ),
    v("Cast", 9, &["to"]),
    v("Cast", 19, &["saturate", "to"]),
    v("Concat", 4, &["axis"]),
    v(
        "Constant",
        9,
        &[
            "value",
            "value_float",
            "value_floats",
            "value_int",
            "value_ints",
        ],
    ),
    v("ConstantOfShape", 9, &["value"]),
    v("Conv", 1, CONV),
    v("Div", 7, &[]),
    v("Dropout", 7, &["ratio"]),
    v("Dropout", 12, &["seed"]),
    v("Erf", 9, &[]),
    v("Exp", 6, &[]),
    v("Flatten", 9, &["axis"]),
    v("Gather", 1, &["axis"]),
    v("Gemm", 7, &["alpha", "beta", "transA", "transB"]),
    v("GlobalAveragePool", 1, &[]),
    v("GlobalMaxPool", 1, &[]),
    v("Identity", 1, &[]),
    v("LayerNormalization", 17, &["axis", "epsilon", "stash_type"]),
    v("LRN", 1, &["alpha", "beta", "bias", "size"]),
    v("MatMul", 9, &[]),
    v("Max", 8, &[]),
    v("MaxPool", 8, MAXPOOL),
    v("Min", 8, &[]),
    v("Mul", 7, &[]),
    v("Neg", 6, &[]),
    v("Pow", 7, &[]),
    v("Reciprocal", 6, &[]),
    v("ReduceMax", 1, REDUCE_ATTR_AXES),
    v("ReduceMax", 18, REDUCE_INPUT_AXES),
    v("ReduceMean", 1, REDUCE_ATTR_AXES),
    v("ReduceMean", 18, REDUCE_INPUT_AXES),
    v("ReduceSum", 1, REDUCE_ATTR_AXES),
    v("ReduceSum", 13, REDUCE_INPUT_AXES),
    v("Relu", 6, &[]),
    v("Reshape", 5, &[]),
    v("Reshape", 14, &["allowzero"]),
    v("Shape", 1, &[]),
    v("Shape", 15, &["end", "start"]),
    v("Sigmoid", 6, &[]),
    v("Softmax", 1, &["axis"]),
    v("Sqrt", 6, &[]),
    v("Squeeze", 1, &["axes"]),
    v("Squeeze", 13, &[]),
    v("Sub", 7, &[]),
    v("Sum", 8, &[]),
    v("Tanh", 6, &[]),
    v("Transpose", 1, &["perm"]),
    v("Unsqueeze", 1, &["axes"]),
    v("Unsqueeze", 13, &[]),
];

/// The version of `op` in force at `opset`, if the engine knows one.
fn version(op: &str, opset: i64) -> Option<&'static OpVersion> {
    OPS.iter()
        .filter(|o| o.op == op && o.since <= opset)
        .max_by_key(|o| o.since)
}

/// Whether `op` (Unsqueeze, Squeeze, Reduce*) at `opset` takes its axes from an input rather than
/// an attribute.
pub fn axes_from_input(op: &str, opset: i64) -> bool {
    version(op, opset).is_some_and(|v| !v.attrs.contains(&"axes"))
}

/// Whether Softmax at `opset` has the old semantics (the input coerced to 2-D at `axis`).
pub fn softmax_coerces(opset: i64) -> bool {
    opset < 13
}

/// The ops the engine knows, in table order (for error hints and docs).
pub fn known_ops() -> Vec<&'static str> {
    let mut ops: Vec<&str> = OPS.iter().map(|o| o.op).collect();
    ops.dedup();
    ops
}

/// Checks that the engine supports `node` (its op, version and attributes) at `opset`.
pub fn check(node: &Node, domain: &str, opset: i64) -> Result<()> {
    let unsupported = || GraphError::UnsupportedOp {
        node: node.name.clone(),
        op: node.op.clone(),
        domain: domain.into(),
        opset,
    };
    if !(domain.is_empty() || domain == "ai.onnx") {
        return Err(unsupported());
    }
    let known = version(&node.op, opset).ok_or_else(unsupported)?;
    let refuse = |attr: &str, reason: String| GraphError::UnsupportedAttr {
        node: node.name.clone(),
        op: node.op.clone(),
        opset,
        attr: attr.into(),
        reason,
    };
    for name in node.attrs.keys() {
        if !known.attrs.contains(&name.as_str()) {
            return Err(refuse(
                name,
                format!(
                    "not an attribute of {} version {} (it has: {})",
                    node.op,
                    known.since,
                    if known.attrs.is_empty() {
                        "none".into()
                    } else {
                        known.attrs.join(", ")
                    }
                ),
            ));
        }
    }
    // Values this engine does not run.
    if let Some(pad) = node.string("auto_pad") {
        if !matches!(pad, "NOTSET" | "VALID" | "SAME_UPPER" | "SAME_LOWER") {
            return Err(refuse("auto_pad", format!("unknown value {pad:?}")));
        }
    }
    if node.op == "MaxPool" && node.int("storage_order", 0) != 0 {
        return Err(refuse(
            "storage_order",
            "only row-major (0) is supported".into(),
        ));
    }
    if node.op == "BatchNormalization" && node.int("training_mode", 0) != 0 {
        return Err(refuse("training_mode", "inference only (0)".into()));
    }
    if node.op == "LayerNormalization" && node.int("stash_type", 1) != 1 {
        return Err(refuse(
            "stash_type",
            "only f32 statistics (1) are supported".into(),
        ));
    }
    if node.op == "Reshape" && node.int("allowzero", 0) != 0 {
        return Err(refuse(
            "allowzero",
            "0 in the shape copies the input's size (allowzero 0) only".into(),
        ));
    }
    Ok(())
}
