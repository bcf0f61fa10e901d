//! Each ONNX op as primitives: the operands' views, the parameters, the output's place
//! (convolutions in [`conv`], matrix products in [`matmul`], element-wise functions in
//! [`pointwise`], reductions and gathers in [`reduce`]).

mod conv;
mod matmul;
mod pointwise;
mod reduce;

use super::{
    dims_of,
    layout::{self, View},
    Builder,
};
use crate::{
    ir::{Attr, Node, Tensor},
    lower::{self, Lowering},
    GraphError, Result,
};
use conv::conv;
use lightos_runtime::{LrnParams, PoolMode, PoolParams};
use lightos_uapi as uapi;
use matmul::matmul;
use pointwise::{binary, relu, unary};
use reduce::{gather, reduce};

/// Lowers `n` into `b`'s program.
pub(super) fn lower(b: &mut Builder, n: &Node) -> Result<()> {
    let constant = n
        .inputs
        .iter()
        .all(|s| s.is_empty() || b.graph.initializers.contains_key(s));
    if constant {
        return constant_node(b, n);
    }
    match n.op.as_str() {
        "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Identity" | "Dropout" => view(b, n),
        "Conv" => conv(b, n),
        "Gemm" | "MatMul" => matmul(b, n),
        "Relu" => relu(b, n),
        "Add" | "Sum" | "Mul" | "Sub" | "Div" | "Max" | "Min" | "Pow" => binary(b, n),
        "Exp" | "Tanh" | "Sigmoid" | "Sqrt" | "Erf" | "Reciprocal" | "Neg" => unary(b, n),
        "ReduceMean" | "ReduceSum" | "ReduceMax" => reduce(b, n),
        "Gather" => gather(b, n),
        "Softmax" | "LayerNormalization" => rows(b, n),
        "MaxPool" | "AveragePool" | "GlobalAveragePool" | "GlobalMaxPool" => pool(b, n),
        "Concat" => concat(b, n),
        "Transpose" => transpose(b, n),
        "BatchNormalization" => batchnorm(b, n),
        "LRN" => lrn(b, n),
        _ => Err(missing(b, n)),
    }
}

/// The error for a node the ABI cannot run, with lowering's reason.
pub(super) fn missing(b: &Builder, n: &Node) -> GraphError {
    let reason = match lower::lower(b.graph, n) {
        Lowering::Missing(why) => why,
        _ => "not supported by this compiler".into(),
    };
    fail(n, reason)
}

pub(super) fn fail(n: &Node, reason: impl Into<String>) -> GraphError {
    GraphError::Lower {
        node: n.name.clone(),
        op: n.op.clone(),
        reason: reason.into(),
    }
}

/// Input `i` of `n`, which must be present.
pub(super) fn input(n: &Node, i: usize) -> Result<&str> {
    n.input(i)
        .ok_or_else(|| fail(n, format!("input {i} is missing")))
}

/// Parameter-word fields (16 bits, 0 to 4096) from attribute values; `what` names them in errors.
pub(super) fn fields<const N: usize>(n: &Node, what: &str, v: [i64; N]) -> Result<[u16; N]> {
    let mut out = [0u16; N];
    for (o, &x) in out.iter_mut().zip(&v) {
        *o = u16::try_from(x)
            .ok()
            .filter(|&f| f <= 4096)
            .ok_or_else(|| fail(n, format!("{what} {x}: the ABI's fields go from 0 to 4096")))?;
    }
    Ok(out)
}

/// A node whose inputs are all constants, left by constant folding (a fill larger than its limit,
/// or folding switched off): a `ConstantOfShape` or `Constant` becomes weights, a reshape of a
/// weight the same weight with other dimensions.
fn constant_node(b: &mut Builder, n: &Node) -> Result<()> {
    let out = n.outputs.first().cloned().unwrap_or_default();
    match n.op.as_str() {
        "ConstantOfShape" | "Constant" => {
            let dims = dims_of(b.graph, &out, &n.name)?;
            let elements = dims.iter().product::<u64>() as usize;
            let value = match n.attrs.get("value") {
                Some(Attr::Tensor(t)) => t.clone(),
                None if n.op == "ConstantOfShape" => Tensor::from_floats(vec![1], &[0.0]),
                _ => return Err(fail(n, "a constant that is not one f32 tensor")),
            };
            let floats = value
                .floats()
                .ok_or_else(|| fail(n, "a constant that is not f32"))?;
            let bytes: Vec<u8> = if n.op == "Constant" {
                floats.iter().flat_map(|v| v.to_le_bytes()).collect()
            } else {
                let v = floats.first().copied().unwrap_or(0.0).to_le_bytes();
                v.repeat(elements)
            };
            b.pending.insert(out, (dims, bytes));
            Ok(())
        }
        "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Identity" | "Dropout" => {
            let src = input(n, 0)?.to_string();
            let dims = dims_of(b.graph, &out, &n.name)?;
            let bytes = b.constant_bytes(&src, &n.name)?;
            b.pending.insert(out, (dims, bytes));
            Ok(())
        }
        _ => Err(fail(
            n,
            "computed from constants only: run constant folding (the `constants` pass)",
        )),
    }
}

/// A reshape: the input's bytes with other dimensions, or a copy of them into the arena when the
/// input is not there (a graph input).
fn view(b: &mut Builder, n: &Node) -> Result<()> {
    let read = |v: &String| {
        b.graph.nodes.iter().any(|m| m.inputs.contains(v))
            || b.graph.outputs.iter().any(|o| &o.name == v)
    };
    if n.outputs.get(1).is_some_and(|m| !m.is_empty() && read(m)) {
        return Err(fail(n, "a Dropout's mask output is not computed"));
    }
    let x = b.loc(input(n, 0)?, &n.name)?;
    let out = &n.outputs[0];
    let dims = dims_of(b.graph, out, &n.name)?;
    let viewed = b.plan.values.get(out).is_some_and(|p| p.view_of.is_some());
    if viewed && x.space == 0 {
        b.locs.insert(out.clone(), x.reshaped(&dims));
        return Ok(());
    }
    let o = b.arena(out, n)?;
    copy(b, n, &x.reshaped(&dims), &o)
}

/// A COPY of `src` into `dst` (one logical shape), dimensions merged where both allow it.
pub(super) fn copy(b: &mut Builder, n: &Node, src: &View, dst: &View) -> Result<()> {
    let v = layout::coalesce(&[src.clone(), dst.clone()]);
    b.emit(n, uapi::OP_COPY, &v, [0; 4])
}

/// `SAME_UPPER`/`SAME_LOWER` padding (begin, end) along one axis.
fn same_pads(n: &Node, size: u64, kernel: u64, stride: u64, dilation: u64) -> (i64, i64) {
    let out = size.div_ceil(stride.max(1));
    let need = ((out.saturating_sub(1)) * stride + (kernel.saturating_sub(1)) * dilation + 1)
        .saturating_sub(size) as i64;
    let small = need / 2;
    if n.string("auto_pad") == Some("SAME_LOWER") {
        (need - small, small)
    } else {
        (small, need - small)
    }
}

/// Pads as `[top, left, bottom, right]` from `pads` or `auto_pad`.
pub(super) fn pads(
    n: &Node,
    hw: [u64; 2],
    kernel: [u64; 2],
    stride: [u64; 2],
    dil: [u64; 2],
) -> [i64; 4] {
    match n.string("auto_pad") {
        Some("SAME_UPPER" | "SAME_LOWER") => {
            let (t, bo) = same_pads(n, hw[0], kernel[0], stride[0], dil[0]);
            let (l, r) = same_pads(n, hw[1], kernel[1], stride[1], dil[1]);
            [t, l, bo, r]
        }
        Some("VALID") => [0; 4],
        _ => match n.ints("pads") {
            Some(&[t, l, bo, r]) => [t, l, bo, r],
            _ => [0; 4],
        },
    }
}

/// Two values of an integer-list attribute, or `default`.
pub(super) fn pair(n: &Node, name: &str, default: i64) -> [i64; 2] {
    match n.ints(name) {
        Some(&[a, b]) => [a, b],
        _ => [default; 2],
    }
}

/// `Softmax` and `LayerNormalization` over the trailing axes from `axis`, as rows.
fn rows(b: &mut Builder, n: &Node) -> Result<()> {
    let x = b.loc(input(n, 0)?, &n.name)?;
    let rank = x.dims.len() as i64;
    let softmax = n.op == "Softmax";
    let default = if softmax && b.graph.opset < 13 { 1 } else { -1 };
    let axis = n.int("axis", default);
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..rank.max(1)).contains(&axis) {
        return Err(fail(n, format!("axis {axis} of a rank-{rank} input")));
    }
    let axis = axis as usize;
    // Opset 13's Softmax works along one axis: the input seen as [outer, axis, inner], the middle
    // axis named in params[0] (ABI 1.13); older ones (and LayerNormalization) take all trailing
    // axes as rows.
    let inner: u64 = x.dims.get(axis + 1..).unwrap_or_default().iter().product();
    if softmax && b.graph.opset >= 13 && inner != 1 {
        let len = x.dims[axis];
        let outer = x.elements() / (len * inner).max(1);
        let out = b.arena(&n.outputs[0], n)?;
        let shape = [outer, len, inner];
        return b.emit(
            n,
            uapi::OP_SOFTMAX,
            &[x.reshaped(&shape), out.reshaped(&shape)],
            [2, 0, 0, 0],
        );
    }
    let cols: u64 = x.dims[axis..].iter().product();
    let rows = x.elements() / cols.max(1);
    let out = b.arena(&n.outputs[0], n)?;
    let shape = [rows, cols];
    if softmax {
        return b.emit(
            n,
            uapi::OP_SOFTMAX,
            &[x.reshaped(&shape), out.reshaped(&shape)],
            [0; 4],
        );
    }
    if n.outputs.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(fail(
            n,
            "the mean and inverse deviation outputs are not computed",
        ));
    }
    let mut ops = vec![x.reshaped(&shape)];
    for i in [1, 2] {
        match n.input(i) {
            Some(name) => {
                let v = b.loc(name, &n.name)?;
                if v.elements() != cols {
                    return Err(fail(n, format!("input {i} is not one value per column")));
                }
                ops.push(v.reshaped(&[cols]));
            }
            None if i == 2 && ops.len() == 2 => {
                // A scale without a bias: a zero bias.
                let zeros = vec![0u8; cols as usize * 4];
                let name = format!("{}.bias", n.name);
                ops.push(b.place(&name, &[cols], &zeros)?);
            }
            None => {}
        }
    }
    ops.push(out.reshaped(&shape));
    let eps = n.float("epsilon", 1e-5);
    b.emit(
        n,
        uapi::OP_LAYERNORM,
        &ops,
        [u64::from(eps.to_bits()), 0, 0, 0],
    )
}

fn pool(b: &mut Builder, n: &Node) -> Result<()> {
    if n.outputs.get(1).is_some_and(|o| !o.is_empty()) {
        return Err(fail(n, "MaxPool's indices output is not computed"));
    }
    if n.int("storage_order", 0) != 0 {
        return Err(fail(n, "column-major storage order"));
    }
    let x = b.loc(input(n, 0)?, &n.name)?;
    if x.dims.len() != 4 {
        return Err(fail(n, "POOL2D pools NCHW planes"));
    }
    let global = n.op.starts_with("Global");
    let kernel = if global {
        [x.dims[2] as i64, x.dims[3] as i64]
    } else {
        pair(n, "kernel_shape", 1)
    };
    let stride = pair(n, "strides", 1);
    let dilation = pair(n, "dilations", 1);
    let u = |v: [i64; 2]| [v[0].max(0) as u64, v[1].max(0) as u64];
    let p = if global {
        [0; 4]
    } else {
        pads(n, [x.dims[2], x.dims[3]], u(kernel), u(stride), u(dilation))
    };
    let mode = match n.op.as_str() {
        "MaxPool" | "GlobalMaxPool" => PoolMode::Max,
        _ if n.int("count_include_pad", 0) != 0 => PoolMode::AvgIncludePad,
        _ => PoolMode::Avg,
    };
    let params = PoolParams {
        kernel: fields(n, "kernel", kernel)?,
        stride: fields(n, "stride", stride)?,
        pads: fields(n, "pad", p)?,
        dilation: fields(n, "dilation", dilation)?,
        mode,
        ceil: n.int("ceil_mode", 0) != 0,
    };
    let out = b.arena(&n.outputs[0], n)?;
    let [p0, p1, p2] = params.encode();
    b.emit(n, uapi::OP_POOL2D, &[x, out], [p0, p1, p2, 0])
}

/// `LRN` across channels (ABI 1.12).
fn lrn(b: &mut Builder, n: &Node) -> Result<()> {
    let x = b.loc(input(n, 0)?, &n.name)?;
    if !(2..=4).contains(&x.dims.len()) {
        return Err(missing(b, n));
    }
    let size = n.int("size", 0);
    let params = LrnParams {
        size: u16::try_from(size)
            .ok()
            .filter(|&s| s >= 1 && u64::from(s) <= uapi::LRN_MAX_SIZE)
            .ok_or_else(|| fail(n, format!("size {size}: 1 to {}", uapi::LRN_MAX_SIZE)))?,
        alpha: n.float("alpha", 1e-4),
        beta: n.float("beta", 0.75),
        bias: n.float("bias", 1.0),
    };
    let out = b.arena(&n.outputs[0], n)?;
    let [p0, p1, p2] = params.encode();
    b.emit(n, uapi::OP_LRN, &[x, out], [p0, p1, p2, 0])
}

/// `Concat`: each input copied into its slice of the output (a strided view), unless the memory
/// plan already placed it there (its producer wrote it in place: nothing to copy).
fn concat(b: &mut Builder, n: &Node) -> Result<()> {
    let out = b.arena(&n.outputs[0], n)?;
    let rank = out.dims.len() as i64;
    let axis = n.int("axis", 0);
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&axis) {
        return Err(fail(n, format!("axis {axis} of a rank-{rank} output")));
    }
    let axis = axis as usize;
    let mut at = 0u64;
    let names: Vec<String> = n.inputs.iter().filter(|s| !s.is_empty()).cloned().collect();
    for name in names {
        let x = b.loc(&name, &n.name)?;
        let slice = View {
            space: out.space,
            offset: out.offset + at * out.strides[axis] * 4,
            dims: x.dims.clone(),
            strides: out.strides.clone(),
        };
        if !same_bytes(&x, &slice) {
            copy(b, n, &x, &slice)?;
        }
        at += x.dims[axis];
    }
    Ok(())
}

/// Whether two views address the same elements in the same order (a dimension of 1 has no
/// stride that matters).
fn same_bytes(a: &View, b: &View) -> bool {
    a.space == b.space
        && a.offset == b.offset
        && a.dims == b.dims
        && a.dims
            .iter()
            .zip(a.strides.iter().zip(&b.strides))
            .all(|(&d, (s, t))| d == 1 || s == t)
}

/// `Transpose`: a COPY from the input read with permuted strides.
fn transpose(b: &mut Builder, n: &Node) -> Result<()> {
    let x = b.loc(input(n, 0)?, &n.name)?;
    let rank = x.dims.len();
    let perm: Vec<usize> = match n.ints("perm") {
        Some(p) => p.iter().map(|&i| i as usize).collect(),
        None => (0..rank).rev().collect(),
    };
    let mut seen = vec![false; rank];
    if perm.len() != rank
        || perm
            .iter()
            .any(|&p| p >= rank || std::mem::replace(&mut seen[p], true))
    {
        return Err(fail(
            n,
            format!("perm {perm:?} is not a permutation of {rank} axes"),
        ));
    }
    let out = b.arena(&n.outputs[0], n)?;
    copy(b, n, &x.permuted(&perm), &out)
}

/// An inference `BatchNormalization` not folded into a convolution: a MUL by the per-channel scale
/// and an ADD of the shift (both computed here from the weights), the ADD in place.
fn batchnorm(b: &mut Builder, n: &Node) -> Result<()> {
    let x = b.loc(input(n, 0)?, &n.name)?;
    if x.dims.len() < 2 || n.outputs.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(fail(
            n,
            "inference BatchNormalization of an [N, C, …] input only",
        ));
    }
    let c = x.dims[1];
    let mut params = Vec::new();
    for i in 1..5 {
        let name = input(n, i)?;
        let t = b
            .graph
            .initializers
            .get(name)
            .and_then(Tensor::floats)
            .filter(|v| v.len() as u64 == c)
            .ok_or_else(|| fail(n, format!("input {i} is not {c} constant f32 values")))?;
        params.push(t);
    }
    let eps = n.float("epsilon", 1e-5);
    let scale: Vec<f32> = (0..c as usize)
        .map(|i| params[0][i] / (params[3][i] + eps).sqrt())
        .collect();
    let shift: Vec<f32> = (0..c as usize)
        .map(|i| params[1][i] - params[2][i] * scale[i])
        .collect();
    let mut per_channel = vec![c];
    per_channel.resize(x.dims.len() - 1, 1);
    let bytes = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|f| f.to_le_bytes()).collect() };
    let s = b.place(&format!("{}.scale", n.name), &per_channel, &bytes(&scale))?;
    let t = b.place(&format!("{}.shift", n.name), &per_channel, &bytes(&shift))?;
    let out = b.arena(&n.outputs[0], n)?;
    let bc = |v: &View| v.broadcast_to(&out.dims).ok_or_else(|| fail(n, "channels"));
    let mul = layout::coalesce(&[x, bc(&s)?, out.clone()]);
    b.emit(n, uapi::OP_MUL, &mul, [0; 4])?;
    let add = layout::coalesce(&[out.clone(), bc(&t)?, out]);
    b.emit(n, uapi::OP_ADD, &add, [0; 4])
}

impl Builder<'_> {
    /// The bytes of constant `name`: an initializer or a fill not yet placed.
    pub(super) fn constant_bytes(&self, name: &str, node: &str) -> Result<Vec<u8>> {
        if let Some(t) = self.graph.initializers.get(name) {
            return Ok(t.data.to_vec());
        }
        if let Some((_, bytes)) = self.pending.get(name) {
            return Ok(bytes.clone());
        }
        Err(GraphError::UnknownValue {
            node: node.into(),
            value: name.into(),
        })
    }
}
