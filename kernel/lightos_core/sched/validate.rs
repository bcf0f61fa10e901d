// SPDX-License-Identifier: GPL-2.0

//! Validation, the first stage of the interception chain: a primitive is checked completely before
//! anything acts on it.
//!
//! Rejections (docs/ABI.md lists them): `EINVAL` for a non-zero pad/reserved field or unused
//! operand/parameter, a dependency count over `MAX_DEPS` or a list address that does not match it,
//! an unknown op, dtype, rounding mode or flag, a wrong input count, dtypes the op
//! does not take, inconsistent shapes, a misaligned offset or a forbidden alias; `ENOENT` for an
//! unknown buffer handle; `EOVERFLOW` when a shape's size overflows 64 bits; `ERANGE` when an
//! operand's extent leaves its buffer; `EACCES` when the output is a device-read-only buffer. Each
//! names the field or operand at fault and why ("operand 2: extent 4352 > buffer 4096").

use crate::{
    buffer::object::Buffer,
    context::Context,
    reason::{self, ensure, reject, Rejection},
    sched::account,
    spike::{encode, ring::SpikeQueue},
    uapi,
};
use kernel::{prelude::*, sync::Arc};

/// What validation learned about an accepted primitive.
pub(crate) struct Checked {
    /// The operand buffers, `None` past the output.
    pub(crate) buffers: [Option<Arc<Buffer>>; uapi::MAX_OPERANDS],
    /// The output dtype (resolved from 0).
    pub(crate) out_dtype: u8,
    /// Bytes the operands span.
    pub(crate) bytes: u64,
    /// Operations the primitive represents.
    pub(crate) flops: u64,
    /// The kernel-produced queue an `OP_SPIKE_ENCODE` produces into.
    pub(crate) spike_queue: Option<Arc<SpikeQueue>>,
}

/// The buffers one call has looked up, by handle: a batch whose primitives share buffers takes the
/// context's handle table lock once per distinct buffer, not once per operand. (A handle destroyed
/// during the call still resolves to its buffer for the rest of the call, as if the destruction
/// came after it; the jobs hold the buffer either way.)
pub(crate) struct Lookups {
    recent: [(u32, Option<Arc<Buffer>>); Self::SIZE],
    next: usize,
}

impl Lookups {
    const SIZE: usize = 8;

    /// Nothing looked up yet.
    pub(crate) const fn new() -> Self {
        Self { recent: [const { (0, None) }; Self::SIZE], next: 0 }
    }

    /// The buffer behind `handle` in `ctx` (`ENOENT`), remembered for the rest of the call.
    fn buffer(&mut self, ctx: &Context, handle: u32) -> Result<Arc<Buffer>, Rejection> {
        if let Some((_, Some(buffer))) = self.recent.iter().find(|(h, b)| *h == handle && b.is_some()) {
            return Ok(buffer.clone());
        }
        let buffer = ctx.buffer(handle)?;
        self.recent[self.next] = (handle, Some(buffer.clone()));
        self.next = (self.next + 1) % Self::SIZE;
        Ok(buffer)
    }
}

/// Bytes per element of a valid dtype.
fn elem_size(dtype: u8) -> u64 {
    match dtype {
        uapi::DTYPE_F32 => 4,
        uapi::DTYPE_F16 | uapi::DTYPE_BF16 => 2,
        uapi::DTYPE_SPIKE_EVENT => size_of::<uapi::SpikeEvent>() as u64,
        _ => 1,
    }
}

fn is_float(dtype: u8) -> bool {
    matches!(dtype, uapi::DTYPE_F32 | uapi::DTYPE_F16 | uapi::DTYPE_BF16)
}

fn is_quantized(dtype: u8) -> bool {
    matches!(dtype, uapi::DTYPE_I8 | uapi::DTYPE_FP8_E4M3)
}

/// `(min, max)` inputs and how many `params` words the op uses.
fn arity(op: u16) -> (u8, u8, usize) {
    match op {
        // MATMUL: a third input and two params for quantized operands (1.7).
        // MATMUL: a third input (1.7: per-column scales; 1.11: a float bias) and a third param
        // (1.11: the epilogue).
        uapi::OP_MATMUL => (2, 3, 3),
        uapi::OP_ADD | uapi::OP_MUL => (2, 2, 0),
        // CONV2D: a third param (1.11: the extended form's groups, epilogue and flag).
        uapi::OP_CONV2D => (2, 3, 3),
        uapi::OP_LAYERNORM => (1, 3, 1),
        uapi::OP_ATTENTION => (3, 3, 1),
        uapi::OP_QUANTIZE | uapi::OP_DEQUANTIZE => (1, 1, 2),
        uapi::OP_SPIKE_ENCODE => (1, 1, 4),
        uapi::OP_POOL2D => (1, 1, 3),
        uapi::OP_LRN => (1, 1, 3),
        // SOFTMAX: the axis (1.13); UNARY and BINARY: the function; REDUCE: kind and axes (1.13).
        uapi::OP_SOFTMAX | uapi::OP_UNARY => (1, 1, 1),
        uapi::OP_BINARY => (2, 2, 1),
        uapi::OP_REDUCE => (1, 1, 2),
        uapi::OP_GATHER => (2, 2, 1),
        _ => (1, 1, 0),
    }
}

/// The name of a valid dtype, for reasons.
fn dtype_name(dtype: u8) -> &'static str {
    match dtype {
        uapi::DTYPE_F32 => "f32",
        uapi::DTYPE_F16 => "f16",
        uapi::DTYPE_BF16 => "bf16",
        uapi::DTYPE_I8 => "i8",
        uapi::DTYPE_FP8_E4M3 => "fp8e4m3",
        uapi::DTYPE_SPIKE_EVENT => "spike_event",
        _ => "?",
    }
}

/// The dims of a tensor whose `ndim`, dims and strides were checked.
fn dims(t: &uapi::Tensor) -> &[u64] {
    &t.shape[..t.ndim as usize]
}

/// Checks one tensor's own fields: ndim, dims, unused dims and strides.
fn check_tensor(t: &uapi::Tensor) -> Result<(), Rejection> {
    let n = t.ndim as usize;
    ensure!((1..=uapi::MAX_DIMS).contains(&n), EINVAL, "ndim {n}: 1 to {}", uapi::MAX_DIMS);
    if let Some(i) = t.shape[..n].iter().position(|&d| d > uapi::MAX_DIM_SIZE) {
        return Err(reject!(EINVAL, "shape[{i}] {} > {}", t.shape[i], uapi::MAX_DIM_SIZE));
    }
    if let Some(i) = (n..uapi::MAX_DIMS).find(|&i| t.shape[i] != 0 || t.strides[i] != 0) {
        return Err(reject!(EINVAL, "shape/strides[{i}]: beyond ndim {n}, must be zero"));
    }
    Ok(())
}

/// Elements of a checked tensor (`EOVERFLOW` if the product does not fit).
fn numel(t: &uapi::Tensor) -> Result<u64, Rejection> {
    let n = dims(t).iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    n.ok_or_else(|| reject!(EOVERFLOW, "{:?}: element count overflows 64 bits", dims(t)))
}

/// The byte range `[start, end)` a checked tensor spans in its buffer (empty for zero elements).
fn extent(t: &uapi::Tensor, esize: u64) -> Result<(u64, u64), Rejection> {
    ensure!(
        t.offset.is_multiple_of(esize),
        EINVAL,
        "offset {} is not a multiple of the element size {esize}",
        t.offset
    );
    let d = dims(t);
    if d.contains(&0) {
        return Ok((t.offset, t.offset));
    }
    let overflow = || reject!(EOVERFLOW, "offset {} + extent of {d:?} overflows 64 bits", t.offset);
    let contiguous = t.strides.iter().all(|&s| s == 0);
    let mut last = 0u64; // index of the last element, in elements
    let mut stride = 1u64;
    for i in (0..d.len()).rev() {
        let s = if contiguous { stride } else { t.strides[i] };
        last = (d[i] - 1).checked_mul(s).and_then(|x| last.checked_add(x)).ok_or_else(overflow)?;
        stride = stride.checked_mul(d[i]).ok_or_else(overflow)?;
    }
    let bytes = last.checked_add(1).and_then(|n| n.checked_mul(esize)).ok_or_else(overflow)?;
    let end = t.offset.checked_add(bytes).ok_or_else(overflow)?;
    Ok((t.offset, end))
}

/// `EINVAL`: the op's shapes disagree, with what it needs.
fn shapes(op: u16, needs: &str) -> Rejection {
    reject!(EINVAL, "shapes: {} needs {needs}", account::op_name(op.into()))
}

/// Checks that the op's shapes agree; returns its operation count.
fn check_shapes(
    p: &uapi::Primitive,
    ins: &[uapi::Tensor],
    out: &uapi::Tensor,
) -> Result<u64, Rejection> {
    let same = |a: &uapi::Tensor, b: &uapi::Tensor| dims(a) == dims(b);
    let n = numel(out).map_err(|r| r.context(format_args!("operand {} (output)", ins.len())))?;
    let flops = |k: u64| n.saturating_mul(k);
    let op = p.op;
    match op {
        uapi::OP_MATMUL => {
            let (a, b) = (dims(&ins[0]), dims(&ins[1]));
            let o = dims(out);
            let nd = a.len();
            let needs = "a[(B,)M,K] b[(B,)K,N] out[(B,)M,N]";
            if !(2..=3).contains(&nd) || b.len() != nd || o.len() != nd {
                return Err(shapes(op, needs));
            }
            if nd == 3 && (a[0] != b[0] || a[0] != o[0]) {
                return Err(shapes(op, "the same batch B in a, b and out"));
            }
            let (m, k, k2, nn) = (a[nd - 2], a[nd - 1], b[nd - 2], b[nd - 1]);
            if k != k2 {
                return Err(reject!(EINVAL, "shapes: matmul's K differs: a has {k}, b has {k2}"));
            }
            if o[nd - 2] != m || o[nd - 1] != nn {
                return Err(reject!(EINVAL, "shapes: matmul's out must be {m}x{nn}, not {o:?}"));
            }
            // B's per-column scales (quantized), or the bias (float): one per output column.
            if ins.len() == 3 && dims(&ins[2]) != [nn] {
                return Err(reject!(EINVAL, "shapes: matmul's scales or bias (operand 2) must be [{nn}]"));
            }
            Ok(n.saturating_mul(k).saturating_mul(2).saturating_add(if ins.len() == 3 { n } else { 0 }))
        }
        uapi::OP_CONV2D if p.params[2] & uapi::CONV2D_EXTENDED != 0 => {
            check_conv_extended(p, dims(&ins[0]), dims(&ins[1]), ins.get(2).map(dims), dims(out))
        }
        uapi::OP_CONV2D => {
            let (x, w, o) = (dims(&ins[0]), dims(&ins[1]), dims(out));
            ensure!(p.params[2] == 0, EINVAL, "params[2]: without CONV2D_EXTENDED, must be 0");
            if x.len() != 4 || w.len() != 4 || o.len() != 4 || w[1] != x[1] {
                return Err(shapes(op, "x[N,C,H,W] w[F,C,KH,KW] out[N,F,OH,OW]"));
            }
            let stride = if p.params[0] == 0 { 1 } else { p.params[0] };
            let pad = p.params[1];
            ensure!(stride <= 64, EINVAL, "params[0]: stride {stride} > 64");
            ensure!(pad <= 64, EINVAL, "params[1]: padding {pad} > 64");
            let out_dim = |i: u64, k: u64| -> Result<u64, Rejection> {
                // `pad` is at most 64, so this cannot overflow a dim of at most 2^32.
                let span = i.saturating_add(2 * pad);
                let fits = span.checked_sub(k).map(|s| s / stride + 1);
                fits.ok_or_else(|| reject!(EINVAL, "shapes: conv2d's kernel {k} > padded input {span}"))
            };
            let (oh, ow) = (out_dim(x[2], w[2])?, out_dim(x[3], w[3])?);
            if o[0] != x[0] || o[1] != w[0] || o[2] != oh || o[3] != ow {
                return Err(reject!(
                    EINVAL,
                    "shapes: conv2d's out must be [{}, {}, {oh}, {ow}], not {o:?}",
                    x[0],
                    w[0]
                ));
            }
            if ins.len() == 3 && dims(&ins[2]) != [w[0]] {
                return Err(reject!(EINVAL, "shapes: conv2d's bias (operand 2) must be [{}]", w[0]));
            }
            Ok(flops(2).saturating_mul(w[1]).saturating_mul(w[2]).saturating_mul(w[3]))
        }
        uapi::OP_LAYERNORM => {
            let d = dims(&ins[0]).last().copied().unwrap_or(0);
            if !same(&ins[0], out) || ins.len() == 2 || ins[1..].iter().any(|g| dims(g) != [d]) {
                let needs = "out shaped as x, and gamma and beta [last dim of x] (both or none)";
                return Err(shapes(op, needs));
            }
            Ok(flops(8))
        }
        uapi::OP_ATTENTION => {
            let (q, k, v, o) = (dims(&ins[0]), dims(&ins[1]), dims(&ins[2]), dims(out));
            if q.len() != 3 || k.len() != 3 || v.len() != 3 || o.len() != 3 {
                return Err(shapes(op, "3-D q, k, v and out"));
            }
            if k[0] != q[0] || v[0] != q[0] || k[2] != q[2] || v[1] != k[1] || o != [q[0], q[1], v[2]] {
                return Err(shapes(op, "q[B,S,D] k[B,T,D] v[B,T,E] out[B,S,E]"));
            }
            let scores = q[0].saturating_mul(q[1]).saturating_mul(k[1]);
            Ok(scores.saturating_mul(2).saturating_mul(q[2].saturating_add(v[2])))
        }
        uapi::OP_ADD | uapi::OP_MUL | uapi::OP_BINARY => {
            if op == uapi::OP_BINARY {
                let f = p.params[0];
                let max = uapi::BINARY_MAX_FN;
                ensure!((1..=max).contains(&f), EINVAL, "params[0]: binary function {f}: 1 to {max}");
            }
            if !same(&ins[0], out) || !same(&ins[1], out) {
                return Err(reject!(
                    EINVAL,
                    "shapes: {} needs equal shapes, not {:?} {:?} -> {:?}",
                    account::op_name(op.into()),
                    dims(&ins[0]),
                    dims(&ins[1]),
                    dims(out)
                ));
            }
            Ok(n)
        }
        uapi::OP_SPIKE_ENCODE => {
            let x = numel(&ins[0]).map_err(|r| r.context(format_args!("operand 0")))?;
            encode::check(p, dims(&ins[0]), x, dims(out))
        }
        uapi::OP_POOL2D => check_pool(p, dims(&ins[0]), dims(out)),
        uapi::OP_LRN => check_lrn(p, dims(&ins[0]), dims(out)),
        uapi::OP_REDUCE => check_reduce(p, dims(&ins[0]), dims(out)),
        uapi::OP_GATHER => check_gather(p, dims(&ins[0]), dims(&ins[1]), dims(out)),
        uapi::OP_COPY => {
            let x = numel(&ins[0]).map_err(|r| r.context(format_args!("operand 0")))?;
            ensure!(x == n, EINVAL, "shapes: copy's input has {x} elements, its output {n}");
            Ok(0)
        }
        _ => {
            // Element-wise unary ops: SOFTMAX, GELU, RELU, QUANTIZE, DEQUANTIZE, UNARY.
            let nd = dims(&ins[0]).len() as u64;
            if op == uapi::OP_SOFTMAX {
                let a = p.params[0];
                ensure!(a <= nd, EINVAL, "params[0]: softmax axis + 1 = {a}, 0 (last) to {nd}");
            }
            if op == uapi::OP_UNARY {
                let (f, max) = (p.params[0], uapi::UNARY_MAX);
                ensure!((1..=max).contains(&f), EINVAL, "params[0]: unary function {f}: 1 to {max}");
            }
            if !same(&ins[0], out) {
                return Err(reject!(
                    EINVAL,
                    "shapes: {} needs out shaped as its input: {:?} -> {:?}",
                    account::op_name(op.into()),
                    dims(&ins[0]),
                    dims(out)
                ));
            }
            Ok(flops(match op {
                uapi::OP_SOFTMAX => 5,
                uapi::OP_GELU => 8,
                uapi::OP_RELU => 1,
                uapi::OP_UNARY => 8,
                _ => 2,
            }))
        }
    }
}

/// An extended `OP_CONV2D` (1.11): per-axis stride and dilation, asymmetric padding, groups and
/// the ReLU epilogue; every field in range, unused bits zero, the shapes consistent. Returns the
/// operation count.
fn check_conv_extended(
    p: &uapi::Primitive,
    x: &[u64],
    w: &[u64],
    bias: Option<&[u64]>,
    o: &[u64],
) -> Result<u64, Rejection> {
    let max = uapi::CONV2D_MAX_PARAM;
    let [sh, sw, dh, dw] = uapi::param_fields(p.params[0]);
    let (s, d) = ([sh, sw], [dh, dw]);
    let pads = uapi::param_fields(p.params[1]);
    let groups = uapi::param_fields(p.params[2])[0];
    let unknown = p.params[2] & !(0xffff | uapi::CONV2D_EPILOGUE_RELU | uapi::CONV2D_EXTENDED);
    ensure!(unknown == 0, EINVAL, "params[2]: unknown bit {}", unknown.trailing_zeros());
    for (name, v) in [("stride", s), ("dilation", d)] {
        ensure!(v.iter().all(|&x| (1..=max).contains(&x)), EINVAL, "params[0]: {name} {v:?}: 1 to {max}");
    }
    ensure!(pads.iter().all(|&x| x <= max), EINVAL, "params[1]: padding {pads:?}: at most {max}");
    if x.len() != 4 || w.len() != 4 || o.len() != 4 {
        return Err(shapes(p.op, "x[N,C,H,W] w[F,C/groups,KH,KW] out[N,F,OH,OW]"));
    }
    ensure!(
        groups >= 1 && w[0] % groups == 0 && w[1].checked_mul(groups) == Some(x[1]),
        EINVAL,
        "params[2]: groups {groups}: x has {} channels and w is {w:?}: C must be groups x {} and F a multiple of groups",
        x[1],
        w[1]
    );
    let mut want = [x[0], w[0], 0, 0];
    for a in 0..2 {
        ensure!(w[2 + a] >= 1, EINVAL, "shapes: conv2d's kernel has a zero dimension");
        // Saturating (and a stride of at least 1) so that no arithmetic can panic, whatever the
        // fields; the ranges checked above keep every value far below saturation anyway.
        let span = w[2 + a].saturating_sub(1).saturating_mul(d[a]).saturating_add(1);
        let padded = x[2 + a].saturating_add(pads[a]).saturating_add(pads[a + 2]);
        ensure!(span <= padded, EINVAL, "shapes: conv2d's (dilated) kernel {span} > padded input {padded}");
        want[2 + a] = (padded - span) / s[a].max(1) + 1;
    }
    ensure!(o == want, EINVAL, "shapes: conv2d's out must be {want:?}, not {o:?}");
    if let Some(b) = bias {
        ensure!(b == [w[0]], EINVAL, "shapes: conv2d's bias (operand 2) must be [{}]", w[0]);
    }
    let n: u64 = o.iter().product();
    Ok(n.saturating_mul(2).saturating_mul(w[1]).saturating_mul(w[2]).saturating_mul(w[3]))
}

/// `OP_LRN` (1.12): its window, coefficients (finite; alpha non-negative, bias positive, so the
/// base of the power is positive) and shapes; returns the operation count.
fn check_lrn(p: &uapi::Primitive, x: &[u64], o: &[u64]) -> Result<u64, Rejection> {
    let size = p.params[0];
    ensure!(
        (1..=uapi::LRN_MAX_SIZE).contains(&size),
        EINVAL,
        "params[0]: lrn size {size}, 1 to {}",
        uapi::LRN_MAX_SIZE
    );
    let f = |bits: u64| f32::from_bits(bits as u32);
    let (alpha, beta, bias) = (f(p.params[1]), f(p.params[1] >> 32), f(p.params[2]));
    ensure!(
        p.params[2] >> 32 == 0 && bias.is_finite() && bias > 0.0,
        EINVAL,
        "params[2]: lrn bias must be a positive finite f32 (upper bits 0)"
    );
    ensure!(
        alpha.is_finite() && alpha >= 0.0 && beta.is_finite(),
        EINVAL,
        "params[1]: lrn alpha must be finite and non-negative, beta finite"
    );
    ensure!(x.len() >= 2, EINVAL, "shapes: lrn needs x[N,C,...] (2 to 4 dims)");
    ensure!(x == o, EINVAL, "shapes: lrn needs out shaped as its input: {x:?} -> {o:?}");
    let n: u64 = x.iter().product();
    Ok(n.saturating_mul(size.saturating_mul(2).saturating_add(4)))
}

/// `OP_REDUCE` (1.13): its kind, its axes (a non-empty mask of the input's axes) and the output
/// shape (the input's, each reduced axis 1); returns the operation count (one per input element).
fn check_reduce(p: &uapi::Primitive, x: &[u64], o: &[u64]) -> Result<u64, Rejection> {
    let (kind, mask) = (p.params[0], p.params[1]);
    let max = uapi::REDUCE_MAX_KIND;
    ensure!((1..=max).contains(&kind), EINVAL, "params[0]: reduce kind {kind}: 1 to {max}");
    let all = (1u64 << x.len()) - 1;
    ensure!(
        mask != 0 && mask & !all == 0,
        EINVAL,
        "params[1]: axes mask {mask:#x}: not zero, bits of the input's {} axes only",
        x.len()
    );
    let mut want = [0u64; uapi::MAX_DIMS];
    for (i, &d) in x.iter().enumerate() {
        want[i] = if mask >> i & 1 == 1 { 1 } else { d };
    }
    let want = &want[..x.len()];
    ensure!(o == want, EINVAL, "shapes: reduce's out must be {want:?}, not {o:?}");
    Ok(x.iter().product())
}

/// `OP_GATHER` (1.13): the axis and the output shape (data's dims before the axis, the indices',
/// data's after it); returns 0 operations (it moves elements).
fn check_gather(p: &uapi::Primitive, data: &[u64], idx: &[u64], o: &[u64]) -> Result<u64, Rejection> {
    let axis = p.params[0];
    ensure!(
        axis < data.len() as u64,
        EINVAL,
        "params[0]: gather axis {axis} of a {}-dimensional input",
        data.len()
    );
    let axis = axis as usize;
    ensure!(data[axis] > 0, EINVAL, "shapes: gather's axis {axis} is empty: no index is valid");
    let n = data.len() - 1 + idx.len();
    ensure!(n <= uapi::MAX_DIMS, EINVAL, "shapes: gather's out would have {n} dims, at most {}", uapi::MAX_DIMS);
    // Element by element (no slice copy, whose length check could panic).
    let mut want = [0u64; uapi::MAX_DIMS];
    for (i, w) in want.iter_mut().enumerate().take(n) {
        let from = if i < axis {
            data.get(i)
        } else if i < axis + idx.len() {
            idx.get(i - axis)
        } else {
            data.get(i + 1 - idx.len())
        };
        *w = from.copied().unwrap_or(0);
    }
    let want = &want[..n];
    ensure!(o == want, EINVAL, "shapes: gather's out must be {want:?}, not {o:?}");
    Ok(0)
}

/// `OP_POOL2D` (1.11): its parameters (every field in range, unused bits zero) and the output shape
/// they give `x`; returns the operation count (one per window element and output).
fn check_pool(p: &uapi::Primitive, x: &[u64], o: &[u64]) -> Result<u64, Rejection> {
    let max = uapi::POOL_MAX_PARAM;
    let [kh, kw, sh, sw] = uapi::param_fields(p.params[0]);
    let pads = uapi::param_fields(p.params[1]);
    let [dh, dw, ..] = uapi::param_fields(p.params[2]);
    let (k, s, d) = ([kh, kw], [sh, sw], [dh, dw]);
    let mode = (p.params[2] >> 32) & 0xff;
    let unknown = p.params[2] & !(0xffff_ffff | (0xff << 32) | uapi::POOL_CEIL);
    ensure!(unknown == 0, EINVAL, "params[2]: unknown bit {}", unknown.trailing_zeros());
    ensure!(mode <= uapi::POOL_AVG_INCLUDE_PAD, EINVAL, "params[2]: mode {mode} (0 max, 1 average, 2 average with padding)");
    for (name, v, lo) in [("kernel", k, 1), ("stride", s, 1), ("dilation", d, 1)] {
        ensure!(v.iter().all(|&x| (lo..=max).contains(&x)), EINVAL, "params: {name} {v:?}: {lo} to {max}");
    }
    ensure!(pads.iter().all(|&x| x <= max), EINVAL, "params[1]: padding {pads:?}: at most {max}");
    if x.len() != 4 || o.len() != 4 {
        return Err(shapes(p.op, "x[N,C,H,W] out[N,C,OH,OW]"));
    }
    let ceil = p.params[2] & uapi::POOL_CEIL != 0;
    let mut want = [x[0], x[1], 0, 0];
    for a in 0..2 {
        // Saturating, and a stride of at least 1, as for the extended CONV2D: no arithmetic panics.
        let span = k[a].saturating_sub(1).saturating_mul(d[a]).saturating_add(1);
        let padded = x[2 + a].saturating_add(pads[a]).saturating_add(pads[a + 2]);
        let step = s[a].max(1);
        ensure!(span <= padded, EINVAL, "shapes: pool2d's window {span} > padded input {padded}");
        let mut n = if ceil { (padded - span).div_ceil(step) + 1 } else { (padded - span) / step + 1 };
        // ONNX: in ceil mode a last window starting past the input and its top/left padding is dropped.
        if ceil && (n - 1).saturating_mul(step) >= x[2 + a].saturating_add(pads[a]) {
            n -= 1;
        }
        want[2 + a] = n;
    }
    ensure!(o == want, EINVAL, "shapes: pool2d's out must be {want:?}, not {o:?}");
    let n: u64 = o.iter().product();
    Ok(n.saturating_mul(k[0] * k[1]))
}

/// A quantized MATMUL's scales and zero points (1.7): `params[0]` for A and `params[1]` for B, each
/// an f32 scale's bits in the low word and an i32 zero point in the high word; a third input holds
/// B's scales per output column instead (then B's scale word is 0). All zero with two inputs: the
/// raw sums, as before 1.7. Scales must be positive and finite (checked on the bits: the kernel does
/// no floating point); zero points in i8's range for i8, 0 for FP8 (it has no zero point).
fn check_matmul_quant(p: &uapi::Primitive, out_dtype: u8) -> Result<(), Rejection> {
    // The epilogue (1.11): a float MATMUL's optional bias (its third input) and ReLU.
    let epilogue = p.params[2];
    if is_float(p.dtype) {
        ensure!(
            epilogue & !uapi::MATMUL_EPILOGUE_RELU == 0,
            EINVAL,
            "params[2]: unknown epilogue bit {}",
            (epilogue & !uapi::MATMUL_EPILOGUE_RELU).trailing_zeros()
        );
        if p.params[0] == 0 && p.params[1] == 0 {
            return Ok(());
        }
    } else {
        ensure!(epilogue == 0, EINVAL, "params[2]: the epilogue is for float matmuls, not {}", dtype_name(p.dtype));
    }
    if p.params[0] == 0 && p.params[1] == 0 && p.n_inputs == 2 {
        return Ok(());
    }
    ensure!(
        is_quantized(p.dtype) && is_float(out_dtype),
        EINVAL,
        "params/scales: only an i8 or fp8e4m3 matmul with a float output takes them, not {} -> {}",
        dtype_name(p.dtype),
        dtype_name(out_dtype)
    );
    let scale_ok = |bits: u32| bits != 0 && bits < 0x7f80_0000;
    let zero_ok = |z: i32| match p.dtype {
        uapi::DTYPE_I8 => (-128..=127).contains(&z),
        _ => z == 0,
    };
    let split = |w: u64| (w as u32, (w >> 32) as u32 as i32);
    let ((sa, za), (sb, zb)) = (split(p.params[0]), split(p.params[1]));
    ensure!(scale_ok(sa), EINVAL, "params[0]: A's scale {sa:#x} is not a positive finite f32");
    if p.n_inputs == 3 {
        ensure!(sb == 0, EINVAL, "params[1]: B's scale must be 0 with per-column scales (operand 2)");
    } else {
        ensure!(scale_ok(sb), EINVAL, "params[1]: B's scale {sb:#x} is not a positive finite f32");
    }
    let range = if p.dtype == uapi::DTYPE_I8 { "-128 to 127" } else { "0 for fp8e4m3" };
    ensure!(zero_ok(za), EINVAL, "params[0]: A's zero point {za} is out of range ({range})");
    ensure!(zero_ok(zb), EINVAL, "params[1]: B's zero point {zb} is out of range ({range})");
    Ok(())
}

/// Checks the dtypes the op takes.
fn check_dtypes(p: &uapi::Primitive, out_dtype: u8) -> Result<(), Rejection> {
    let (d, o) = (p.dtype, out_dtype);
    let events = uapi::DTYPE_SPIKE_EVENT;
    let ok = match p.op {
        uapi::OP_SPIKE_ENCODE => d == uapi::DTYPE_F32 && o == events,
        _ if d == events || o == events => false,
        uapi::OP_QUANTIZE => is_float(d) && is_quantized(o),
        uapi::OP_DEQUANTIZE => is_quantized(d) && is_float(o),
        uapi::OP_MATMUL => o == d || (is_quantized(d) && is_float(o)),
        uapi::OP_SOFTMAX | uapi::OP_LAYERNORM | uapi::OP_ATTENTION | uapi::OP_GELU | uapi::OP_POOL2D
        | uapi::OP_LRN | uapi::OP_UNARY | uapi::OP_BINARY | uapi::OP_REDUCE => {
            is_float(d) && o == d
        }
        _ => o == d,
    };
    ensure!(
        ok,
        EINVAL,
        "dtypes: {} does not take {} -> {}",
        account::op_name(p.op.into()),
        dtype_name(d),
        dtype_name(o)
    );
    Ok(())
}

/// Validates `p` against `ctx`'s buffers (looked up through the call's `lookups`).
pub(crate) fn check(ctx: &Context, p: &uapi::Primitive, lookups: &mut Lookups) -> Result<Checked, Rejection> {
    reason::zero("pad", p.pad.into())?;
    reason::zero("pad2", p.pad2.into())?;
    reason::zero("pad3", p.pad3.into())?;
    ensure!(
        p.n_deps <= uapi::MAX_DEPS,
        EINVAL,
        "n_deps {}: at most {} dependencies",
        p.n_deps,
        uapi::MAX_DEPS
    );
    ensure!(
        (p.n_deps == 0) == (p.deps == 0),
        EINVAL,
        "deps: {} with n_deps {}",
        if p.deps == 0 { "null" } else { "an address" },
        p.n_deps
    );
    let op_known = (1..=uapi::OP_COUNT).contains(&usize::from(p.op));
    ensure!(op_known, EINVAL, "op {}: unknown (1 to {})", p.op, uapi::OP_COUNT);
    let name = account::op_name(p.op.into());
    for (field, d) in [("dtype", p.dtype), ("out_dtype", p.out_dtype)] {
        let known = d <= uapi::DTYPE_MAX && (d != 0 || field == "out_dtype");
        ensure!(known, EINVAL, "{field} {d}: unknown (1 to {})", uapi::DTYPE_MAX);
    }
    let max = uapi::ROUND_MAX;
    ensure!(p.rounding <= max, EINVAL, "rounding {}: unknown (0 to {max})", p.rounding);
    reason::known_flags(p.flags.into(), uapi::PRIM_FLAGS_ALL.into())?;
    ensure!(
        p.flags & uapi::PRIM_CAUSAL == 0 || p.op == uapi::OP_ATTENTION,
        EINVAL,
        "flags: CAUSAL is for attention, not {name}"
    );
    let (min_in, max_in, nparams) = arity(p.op);
    ensure!(
        (min_in..=max_in).contains(&p.n_inputs),
        EINVAL,
        "n_inputs {}: {name} takes {min_in} to {max_in}",
        p.n_inputs
    );
    if let Some(i) = (nparams..p.params.len()).find(|&i| p.params[i] != 0) {
        return Err(reject!(EINVAL, "params[{i}]: {name} uses {nparams} params, the rest must be zero"));
    }
    let out_dtype = p.output_dtype();
    check_dtypes(p, out_dtype)?;
    if p.op == uapi::OP_MATMUL {
        check_matmul_quant(p, out_dtype)?;
    }

    let n_in = usize::from(p.n_inputs);
    let used = &p.operands[..=n_in];
    let at = |i: usize| move |r: Rejection| r.context(format_args!("operand {i}"));
    let unused = (n_in + 1..uapi::MAX_OPERANDS).find(|&i| p.operands[i] != uapi::Tensor::default());
    if let Some(i) = unused {
        return Err(reject!(EINVAL, "operand {i}: unused ({name} has {n_in} inputs), must be zero"));
    }
    for (i, t) in used.iter().enumerate() {
        check_tensor(t).map_err(at(i))?;
    }
    let flops = check_shapes(p, &used[..n_in], &used[n_in])?;

    let mut buffers: [Option<Arc<Buffer>>; uapi::MAX_OPERANDS] = [None, None, None, None];
    let mut ranges = [(0u64, 0u64); uapi::MAX_OPERANDS];
    let mut bytes = 0u64;
    for (i, t) in used.iter().enumerate() {
        let buffer = lookups.buffer(ctx, t.buffer).map_err(at(i))?;
        let esize = match i {
            _ if i == n_in => elem_size(out_dtype),
            // A quantized MATMUL's per-column scales are f32 whatever the inputs' dtype (a float
            // MATMUL's third input is its bias, of its dtype).
            2 if p.op == uapi::OP_MATMUL && is_quantized(p.dtype) => elem_size(uapi::DTYPE_F32),
            // GATHER's indices are i64 whatever the data's dtype (1.13).
            1 if p.op == uapi::OP_GATHER => 8,
            _ => elem_size(p.dtype),
        };
        let (start, end) = extent(t, esize).map_err(at(i))?;
        let size = buffer.size() as u64;
        ensure!(end <= size, ERANGE, "operand {i}: extent {end} > buffer {size}");
        bytes = bytes.saturating_add(end - start);
        ranges[i] = (start, end);
        buffers[i] = Some(buffer);
    }
    let out_handle = used[n_in].buffer;
    let out = buffers[n_in].as_ref().ok_or(EINVAL)?;
    ensure!(
        out.flags() & uapi::BUFFER_DEVICE_READ_ONLY == 0,
        EACCES,
        "operand {n_in} (output): buffer {out_handle} is device-read-only"
    );
    // The output may alias an input only for element-wise ops, and then only exactly.
    let in_place_ok = matches!(
        p.op,
        uapi::OP_GELU | uapi::OP_RELU | uapi::OP_ADD | uapi::OP_MUL | uapi::OP_UNARY | uapi::OP_BINARY
    );
    let (os, oe) = ranges[n_in];
    for i in 0..n_in {
        let (is, ie) = ranges[i];
        let same_buffer = buffers[i].as_ref().is_some_and(|b| Arc::ptr_eq(b, out));
        if same_buffer && os < ie && is < oe {
            let exact = used[i].offset == used[n_in].offset
                && used[i].shape == used[n_in].shape
                && used[i].strides == used[n_in].strides;
            ensure!(
                in_place_ok && exact,
                EINVAL,
                "operand {n_in} (output) overlaps operand {i}: only relu, gelu, add, mul, unary and \
                 binary run in place, on exactly the same range"
            );
        }
    }
    let spike_queue = if p.op == uapi::OP_SPIKE_ENCODE {
        let id = p.params[0] as u32;
        let queue = ctx.spike_queue(id).map_err(|r| r.context(format_args!("params[0]")))?;
        ensure!(
            queue.kernel_producer(),
            EINVAL,
            "params[0]: spike queue {id} is not kernel-produced (SPIKE_QUEUE_KERNEL_PRODUCER)"
        );
        Some(queue)
    } else {
        None
    };
    Ok(Checked {
        buffers,
        out_dtype,
        bytes,
        flops,
        spike_queue,
    })
}
