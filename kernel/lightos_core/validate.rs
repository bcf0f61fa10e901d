// SPDX-License-Identifier: GPL-2.0

//! Validation, the first stage of the interception chain: a primitive is checked completely before
//! anything acts on it.
//!
//! Rejections (docs/ABI.md lists them): `EINVAL` for a non-zero pad/reserved field or unused
//! operand/parameter, an unknown op, dtype, rounding mode or flag, a wrong input count, dtypes the op
//! does not take, inconsistent shapes, a misaligned offset or a forbidden alias; `ENOENT` for an
//! unknown buffer handle; `EOVERFLOW` when a shape's size overflows 64 bits; `ERANGE` when an
//! operand's extent leaves its buffer; `EACCES` when the output is a device-read-only buffer.

use crate::{buffer::Buffer, context::Context, spike::SpikeQueue, spike_encode, uapi};
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
        uapi::OP_MATMUL => (2, 3, 2),
        uapi::OP_ADD | uapi::OP_MUL => (2, 2, 0),
        uapi::OP_CONV2D => (2, 3, 2),
        uapi::OP_LAYERNORM => (1, 3, 1),
        uapi::OP_ATTENTION => (3, 3, 1),
        uapi::OP_QUANTIZE | uapi::OP_DEQUANTIZE => (1, 1, 2),
        uapi::OP_SPIKE_ENCODE => (1, 1, 4),
        _ => (1, 1, 0),
    }
}

/// The dims of a tensor whose `ndim`, dims and strides were checked.
fn dims(t: &uapi::Tensor) -> &[u64] {
    &t.shape[..t.ndim as usize]
}

/// Checks one tensor's own fields: ndim, dims, unused dims and strides.
fn check_tensor(t: &uapi::Tensor) -> Result {
    let n = t.ndim as usize;
    if n == 0 || n > uapi::MAX_DIMS {
        return Err(EINVAL);
    }
    if t.shape[..n].iter().any(|&d| d > uapi::MAX_DIM_SIZE)
        || t.shape[n..].iter().any(|&v| v != 0)
        || t.strides[n..].iter().any(|&v| v != 0)
    {
        return Err(EINVAL);
    }
    Ok(())
}

/// Elements of a checked tensor (`EOVERFLOW` if the product does not fit).
fn numel(t: &uapi::Tensor) -> Result<u64> {
    dims(t).iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)).ok_or(EOVERFLOW)
}

/// The byte range `[start, end)` a checked tensor spans in its buffer (empty for zero elements).
fn extent(t: &uapi::Tensor, esize: u64) -> Result<(u64, u64)> {
    if t.offset % esize != 0 {
        return Err(EINVAL);
    }
    let d = dims(t);
    if d.contains(&0) {
        return Ok((t.offset, t.offset));
    }
    let contiguous = t.strides.iter().all(|&s| s == 0);
    let mut last = 0u64; // index of the last element, in elements
    let mut stride = 1u64;
    for i in (0..d.len()).rev() {
        let s = if contiguous { stride } else { t.strides[i] };
        last = (d[i] - 1).checked_mul(s).and_then(|x| last.checked_add(x)).ok_or(EOVERFLOW)?;
        stride = stride.checked_mul(d[i]).ok_or(EOVERFLOW)?;
    }
    let bytes = last.checked_add(1).and_then(|n| n.checked_mul(esize)).ok_or(EOVERFLOW)?;
    let end = t.offset.checked_add(bytes).ok_or(EOVERFLOW)?;
    Ok((t.offset, end))
}

/// Checks that the op's shapes agree; returns its operation count.
fn check_shapes(p: &uapi::Primitive, ins: &[uapi::Tensor], out: &uapi::Tensor) -> Result<u64> {
    let same = |a: &uapi::Tensor, b: &uapi::Tensor| dims(a) == dims(b);
    let n = numel(out)?;
    let flops = |k: u64| n.saturating_mul(k);
    match p.op {
        uapi::OP_MATMUL => {
            let (a, b) = (dims(&ins[0]), dims(&ins[1]));
            let o = dims(out);
            let nd = a.len();
            if !(2..=3).contains(&nd) || b.len() != nd || o.len() != nd {
                return Err(EINVAL);
            }
            if nd == 3 && (a[0] != b[0] || a[0] != o[0]) {
                return Err(EINVAL);
            }
            let (m, k, k2, nn) = (a[nd - 2], a[nd - 1], b[nd - 2], b[nd - 1]);
            if k != k2 || o[nd - 2] != m || o[nd - 1] != nn {
                return Err(EINVAL);
            }
            // B's per-column scales: one f32 per output column.
            if ins.len() == 3 && dims(&ins[2]) != [nn] {
                return Err(EINVAL);
            }
            Ok(n.saturating_mul(k).saturating_mul(2))
        }
        uapi::OP_CONV2D => {
            let (x, w, o) = (dims(&ins[0]), dims(&ins[1]), dims(out));
            if x.len() != 4 || w.len() != 4 || o.len() != 4 || w[1] != x[1] {
                return Err(EINVAL);
            }
            let stride = if p.params[0] == 0 { 1 } else { p.params[0] };
            let pad = p.params[1];
            if stride > 64 || pad > 64 {
                return Err(EINVAL);
            }
            let out_dim = |i: u64, k: u64| -> Result<u64> {
                let span = i.checked_add(2 * pad).ok_or(EOVERFLOW)?;
                span.checked_sub(k).map(|s| s / stride + 1).ok_or(EINVAL)
            };
            if o[0] != x[0] || o[1] != w[0] || o[2] != out_dim(x[2], w[2])? || o[3] != out_dim(x[3], w[3])? {
                return Err(EINVAL);
            }
            if ins.len() == 3 && dims(&ins[2]) != [w[0]] {
                return Err(EINVAL);
            }
            Ok(flops(2).saturating_mul(w[1]).saturating_mul(w[2]).saturating_mul(w[3]))
        }
        uapi::OP_LAYERNORM => {
            let d = *dims(&ins[0]).last().ok_or(EINVAL)?;
            if !same(&ins[0], out) || ins.len() == 2 || ins[1..].iter().any(|g| dims(g) != [d]) {
                return Err(EINVAL);
            }
            Ok(flops(8))
        }
        uapi::OP_ATTENTION => {
            let (q, k, v, o) = (dims(&ins[0]), dims(&ins[1]), dims(&ins[2]), dims(out));
            if q.len() != 3 || k.len() != 3 || v.len() != 3 || o.len() != 3 {
                return Err(EINVAL);
            }
            if k[0] != q[0] || v[0] != q[0] || k[2] != q[2] || v[1] != k[1] || o != [q[0], q[1], v[2]] {
                return Err(EINVAL);
            }
            let scores = q[0].saturating_mul(q[1]).saturating_mul(k[1]);
            Ok(scores.saturating_mul(2).saturating_mul(q[2].saturating_add(v[2])))
        }
        uapi::OP_ADD | uapi::OP_MUL => {
            if !same(&ins[0], out) || !same(&ins[1], out) {
                return Err(EINVAL);
            }
            Ok(n)
        }
        uapi::OP_SPIKE_ENCODE => spike_encode::check(p, dims(&ins[0]), numel(&ins[0])?, dims(out)),
        uapi::OP_COPY => {
            if numel(&ins[0])? != n {
                return Err(EINVAL);
            }
            Ok(0)
        }
        _ => {
            // Element-wise unary ops: SOFTMAX, GELU, RELU, QUANTIZE, DEQUANTIZE.
            if !same(&ins[0], out) {
                return Err(EINVAL);
            }
            Ok(flops(match p.op {
                uapi::OP_SOFTMAX => 5,
                uapi::OP_GELU => 8,
                uapi::OP_RELU => 1,
                _ => 2,
            }))
        }
    }
}

/// A quantized MATMUL's scales and zero points (1.7): `params[0]` for A and `params[1]` for B, each
/// an f32 scale's bits in the low word and an i32 zero point in the high word; a third input holds
/// B's scales per output column instead (then B's scale word is 0). All zero with two inputs: the
/// raw sums, as before 1.7. Scales must be positive and finite (checked on the bits: the kernel does
/// no floating point); zero points in i8's range for i8, 0 for FP8 (it has no zero point).
fn check_matmul_quant(p: &uapi::Primitive, out_dtype: u8) -> Result {
    if p.params[0] == 0 && p.params[1] == 0 && p.n_inputs == 2 {
        return Ok(());
    }
    if !is_quantized(p.dtype) || !is_float(out_dtype) {
        return Err(EINVAL);
    }
    let scale_ok = |bits: u32| bits != 0 && bits < 0x7f80_0000;
    let zero_ok = |z: i32| match p.dtype {
        uapi::DTYPE_I8 => (-128..=127).contains(&z),
        _ => z == 0,
    };
    let split = |w: u64| (w as u32, (w >> 32) as u32 as i32);
    let ((sa, za), (sb, zb)) = (split(p.params[0]), split(p.params[1]));
    let b_scale_ok = if p.n_inputs == 3 { sb == 0 } else { scale_ok(sb) };
    if scale_ok(sa) && b_scale_ok && zero_ok(za) && zero_ok(zb) {
        Ok(())
    } else {
        Err(EINVAL)
    }
}

/// Checks the dtypes the op takes.
fn check_dtypes(p: &uapi::Primitive, out_dtype: u8) -> Result {
    let (d, o) = (p.dtype, out_dtype);
    let events = uapi::DTYPE_SPIKE_EVENT;
    let ok = match p.op {
        uapi::OP_SPIKE_ENCODE => d == uapi::DTYPE_F32 && o == events,
        _ if d == events || o == events => false,
        uapi::OP_QUANTIZE => is_float(d) && is_quantized(o),
        uapi::OP_DEQUANTIZE => is_quantized(d) && is_float(o),
        uapi::OP_MATMUL => o == d || (is_quantized(d) && is_float(o)),
        uapi::OP_SOFTMAX | uapi::OP_LAYERNORM | uapi::OP_ATTENTION | uapi::OP_GELU => {
            is_float(d) && o == d
        }
        _ => o == d,
    };
    if ok { Ok(()) } else { Err(EINVAL) }
}

/// Validates `p` against `ctx`'s buffers.
pub(crate) fn check(ctx: &Context, p: &uapi::Primitive) -> Result<Checked> {
    if p.pad != 0 || p.pad2 != 0 || p.reserved.iter().any(|&r| r != 0) {
        return Err(EINVAL);
    }
    if p.op == 0 || usize::from(p.op) > uapi::OP_COUNT {
        return Err(EINVAL);
    }
    if p.dtype == 0 || p.dtype > uapi::DTYPE_MAX || p.out_dtype > uapi::DTYPE_MAX {
        return Err(EINVAL);
    }
    if p.rounding > uapi::ROUND_MAX || p.flags & !uapi::PRIM_FLAGS_ALL != 0 {
        return Err(EINVAL);
    }
    if p.flags & uapi::PRIM_CAUSAL != 0 && p.op != uapi::OP_ATTENTION {
        return Err(EINVAL);
    }
    let (min_in, max_in, nparams) = arity(p.op);
    if p.n_inputs < min_in || p.n_inputs > max_in || p.params[nparams..].iter().any(|&v| v != 0) {
        return Err(EINVAL);
    }
    let out_dtype = p.output_dtype();
    check_dtypes(p, out_dtype)?;
    if p.op == uapi::OP_MATMUL {
        check_matmul_quant(p, out_dtype)?;
    }

    let n_in = usize::from(p.n_inputs);
    let used = &p.operands[..=n_in];
    if p.operands[n_in + 1..].iter().any(|t| *t != uapi::Tensor::default()) {
        return Err(EINVAL);
    }
    for t in used {
        check_tensor(t)?;
    }
    let flops = check_shapes(p, &used[..n_in], &used[n_in])?;

    let mut buffers: [Option<Arc<Buffer>>; uapi::MAX_OPERANDS] = [None, None, None, None];
    let mut ranges = [(0u64, 0u64); uapi::MAX_OPERANDS];
    let mut bytes = 0u64;
    for (i, t) in used.iter().enumerate() {
        let buffer = ctx.buffer(t.buffer)?;
        let esize = match i {
            _ if i == n_in => elem_size(out_dtype),
            // A quantized MATMUL's per-column scales are f32 whatever the inputs' dtype.
            2 if p.op == uapi::OP_MATMUL => elem_size(uapi::DTYPE_F32),
            _ => elem_size(p.dtype),
        };
        let (start, end) = extent(t, esize)?;
        if end > buffer.size() as u64 {
            return Err(ERANGE);
        }
        bytes = bytes.saturating_add(end - start);
        ranges[i] = (start, end);
        buffers[i] = Some(buffer);
    }
    let out = buffers[n_in].as_ref().ok_or(EINVAL)?;
    if out.flags() & uapi::BUFFER_DEVICE_READ_ONLY != 0 {
        return Err(EACCES);
    }
    // The output may alias an input only for element-wise ops, and then only exactly.
    let in_place_ok = matches!(p.op, uapi::OP_GELU | uapi::OP_RELU | uapi::OP_ADD | uapi::OP_MUL);
    let (os, oe) = ranges[n_in];
    for i in 0..n_in {
        let (is, ie) = ranges[i];
        let same_buffer = buffers[i].as_ref().is_some_and(|b| Arc::ptr_eq(b, out));
        if same_buffer && os < ie && is < oe {
            let exact = used[i].offset == used[n_in].offset
                && used[i].shape == used[n_in].shape
                && used[i].strides == used[n_in].strides;
            if !(in_place_ok && exact) {
                return Err(EINVAL);
            }
        }
    }
    let spike_queue = if p.op == uapi::OP_SPIKE_ENCODE {
        let queue = ctx.spike_queue(p.params[0] as u32)?;
        if !queue.kernel_producer() {
            return Err(EINVAL);
        }
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
