//! Runs an ABI primitive on its operands' bytes: what `lightosd` calls for each job. The kernel
//! has already validated shapes, dtypes, extents and parameters' reserved bits; what it leaves to
//! the backend (float parameters, bytes actually present) is checked here and refused with an
//! error, never a panic.

use crate::conv::{self, Conv2d};
use crate::elementwise;
use crate::fp8::Fp8E4M3;
use crate::ops::{self, AttentionShape};
use crate::pool::{self, Pool2d, PoolKind};
use crate::quant::{self, QuantParams};
use crate::round::Rounding;
use crate::tensor::{self, dims, dtype_size, load_f32, store_f32, typed, typed_mut};
use crate::{CpuError, Element, Gemm, MatRef, Result};
use half::{bf16, f16};
use lightos_uapi as uapi;

/// The ops [`execute`] runs.
pub const OPS: [u16; 18] = [
    uapi::OP_MATMUL,
    uapi::OP_CONV2D,
    uapi::OP_SOFTMAX,
    uapi::OP_LAYERNORM,
    uapi::OP_ATTENTION,
    uapi::OP_GELU,
    uapi::OP_RELU,
    uapi::OP_ADD,
    uapi::OP_MUL,
    uapi::OP_QUANTIZE,
    uapi::OP_DEQUANTIZE,
    uapi::OP_COPY,
    uapi::OP_POOL2D,
    uapi::OP_LRN,
    uapi::OP_UNARY,
    uapi::OP_BINARY,
    uapi::OP_REDUCE,
    uapi::OP_GATHER,
];

/// The dtypes it accepts (as `1 << DTYPE_*`).
pub const DTYPES: u32 = 1 << uapi::DTYPE_F32
    | 1 << uapi::DTYPE_F16
    | 1 << uapi::DTYPE_BF16
    | 1 << uapi::DTYPE_I8
    | 1 << uapi::DTYPE_FP8_E4M3;

/// A primitive of `op` over `operands` (the inputs, then the output); `out_dtype` 0 for `dtype`.
pub fn primitive(op: u16, dtype: u8, out_dtype: u8, operands: &[uapi::Tensor]) -> uapi::Primitive {
    let mut p = uapi::Primitive {
        op,
        dtype,
        out_dtype,
        n_inputs: operands.len().saturating_sub(1) as u8,
        ..Default::default()
    };
    p.operands[..operands.len()].copy_from_slice(operands);
    p
}

/// Runs `p`: `inputs[i]` are the bytes of input `i`'s buffer, `out` the output's.
pub fn execute(g: &Gemm, p: &uapi::Primitive, inputs: &[&[u8]], out: &mut [u8]) -> Result<()> {
    let n_in = usize::from(p.n_inputs);
    if inputs.len() != n_in || n_in == 0 || n_in >= uapi::MAX_OPERANDS {
        return Err(CpuError::Operand("input count"));
    }
    let ot = &p.operands[n_in];
    let out_dtype = p.output_dtype();
    if p.op == uapi::OP_COPY {
        return copy(p, inputs[0], out);
    }
    if p.op == uapi::OP_GATHER {
        return gather(p, inputs, out);
    }
    let mut rounding =
        Rounding::from_abi(p.rounding, p.seed).ok_or(CpuError::Unsupported("rounding mode"))?;
    let load = |i: usize| tensor::view_f32(inputs[i], &p.operands[i], p.dtype);
    if let Some(done) = elementwise_in_place(g, p, &load, out)? {
        return Ok(done);
    }
    let values = match p.op {
        uapi::OP_MATMUL => return matmul(g, p, inputs, out, out_dtype, &mut rounding),
        uapi::OP_ADD | uapi::OP_MUL => {
            let (a, b) = (load(0)?, load(1)?);
            let add = p.op == uapi::OP_ADD;
            a.iter()
                .zip(b.iter())
                .map(|(x, y)| if add { x + y } else { x * y })
                .collect()
        }
        uapi::OP_RELU => load(0)?.iter().map(|v| v.max(0.0)).collect(),
        uapi::OP_GELU => load(0)?.iter().copied().map(ops::gelu).collect(),
        uapi::OP_SOFTMAX => {
            let mut x = load(0)?.into_owned();
            let d = usize_dims(&p.operands[0]);
            // params[0]: 0 for the last axis, else the axis plus one (1.13).
            let axis = (p.params[0] as usize).checked_sub(1).unwrap_or(d.len() - 1);
            g.install(|| elementwise::softmax_axis(&mut x, &d, axis))?;
            x
        }
        uapi::OP_UNARY => {
            let f = elementwise::unary(p.params[0])?;
            let x = load(0)?;
            g.install(|| elementwise::map(&x, f))
        }
        uapi::OP_BINARY => {
            let f = elementwise::binary(p.params[0])?;
            let (a, b) = (load(0)?, load(1)?);
            g.install(|| elementwise::zip_map(&a, &b, f))
        }
        uapi::OP_REDUCE => {
            let d = usize_dims(&p.operands[0]);
            elementwise::reduce(&load(0)?, &d, p.params[1], p.params[0])?
        }
        uapi::OP_LAYERNORM => {
            let mut x = load(0)?.into_owned();
            let eps = layernorm_eps(p)?;
            let (gamma, beta) = if n_in == 3 {
                (Some(load(1)?), Some(load(2)?))
            } else {
                (None, None)
            };
            g.install(|| {
                ops::layernorm_rows(
                    &mut x,
                    last_dim(&p.operands[0]),
                    eps,
                    gamma.as_deref(),
                    beta.as_deref(),
                )
            });
            x
        }
        uapi::OP_ATTENTION => {
            let (q, k, v) = (load(0)?, load(1)?, load(2)?);
            let (qd, kd, vd) = (
                dims(&p.operands[0]),
                dims(&p.operands[1]),
                dims(&p.operands[2]),
            );
            let s = AttentionShape {
                batch: qd[0] as usize,
                queries: qd[1] as usize,
                keys: kd[1] as usize,
                dim: qd[2] as usize,
                value_dim: vd[2] as usize,
            };
            let scale = attention_scale(p, s.dim)?;
            ops::attention(g, &q, &k, &v, s, scale, p.flags & uapi::PRIM_CAUSAL != 0)?
        }
        uapi::OP_CONV2D => return conv(g, p, inputs, out, None),
        uapi::OP_POOL2D => {
            let x = load(0)?;
            let xd = dims(&p.operands[0]);
            let s = pool_params(
                p,
                [
                    xd[0] as usize,
                    xd[1] as usize,
                    xd[2] as usize,
                    xd[3] as usize,
                ],
            )?;
            g.install(|| pool::pool2d(&x, &s))?
        }
        uapi::OP_LRN => {
            let x = load(0)?;
            let xd = dims(&p.operands[0]);
            let rest: u64 = xd[2..].iter().product();
            let shape = [xd[0] as usize, xd[1] as usize, rest as usize, 1];
            let f = |bits: u64| f32::from_bits(bits as u32);
            let (alpha, beta, bias) = (f(p.params[1]), f(p.params[1] >> 32), f(p.params[2]));
            g.install(|| pool::lrn(&x, shape, p.params[0] as usize, alpha, beta, bias))?
        }
        uapi::OP_QUANTIZE => return quantize(p, inputs[0], out, out_dtype, &mut rounding),
        uapi::OP_DEQUANTIZE => {
            // FP8 carries no zero point (`abi_quant_params` refuses one), so one formula serves both.
            let (scale, zero_point) = abi_quant_params(p)?.at(0);
            let zero_point = zero_point as f32;
            load(0)?.iter().map(|v| (v - zero_point) * scale).collect()
        }
        _ => return Err(CpuError::Unsupported("op")),
    };
    store_f32(&values, out, ot, out_dtype, &mut rounding)
}

/// An element-wise op (ADD, MUL, RELU, GELU, UNARY, BINARY) whose output is contiguous f32 of its
/// inputs' length, computed straight into the output (no intermediate vector, no copy after it);
/// `None` for any other op or output, which [`execute`] computes and stores as before.
fn elementwise_in_place<'a>(
    g: &Gemm,
    p: &uapi::Primitive,
    load: &dyn Fn(usize) -> Result<std::borrow::Cow<'a, [f32]>>,
    out: &mut [u8],
) -> Result<Option<()>> {
    let binary = match p.op {
        uapi::OP_ADD | uapi::OP_MUL | uapi::OP_BINARY => true,
        uapi::OP_RELU | uapi::OP_GELU | uapi::OP_UNARY => false,
        _ => return Ok(None),
    };
    let ot = &p.operands[usize::from(p.n_inputs)];
    let Some(y) = tensor::view_f32_mut(out, ot, p.output_dtype()) else {
        return Ok(None);
    };
    let a = load(0)?;
    if a.len() != y.len() {
        return Ok(None);
    }
    if binary {
        let b = load(1)?;
        if b.len() != y.len() {
            return Ok(None);
        }
        match p.op {
            uapi::OP_ADD => g.install(|| elementwise::zip_map_into(&a, &b, |x, v| x + v, y)),
            uapi::OP_MUL => g.install(|| elementwise::zip_map_into(&a, &b, |x, v| x * v, y)),
            _ => {
                let f = elementwise::binary(p.params[0])?;
                g.install(|| elementwise::zip_map_into(&a, &b, f, y))
            }
        }
    } else {
        let f: fn(f32) -> f32 = match p.op {
            uapi::OP_RELU => |v| v.max(0.0),
            uapi::OP_GELU => ops::gelu,
            _ => elementwise::unary(p.params[0])?,
        };
        g.install(|| elementwise::map_into(&a, f, y));
    }
    Ok(Some(()))
}

/// A primitive's constant operands prepared once for the runs that follow ([`prepare`]): today a
/// convolution's filter packed in its kernel's layout, as onnxruntime packs it when a session is
/// created, instead of on every run.
#[derive(Clone, Debug)]
pub enum Prepared {
    /// An `OP_CONV2D`'s weights (input 1), packed.
    ConvFilter(conv::PackedFilter),
}

/// Prepares `p` on `g` for runs whose input 1 is `weights` every time (the caller's promise: a
/// model's constant), or `None` where it has nothing to prepare (any op but an f32 `OP_CONV2D`).
pub fn prepare(g: &Gemm, p: &uapi::Primitive, weights: &[u8]) -> Result<Option<Prepared>> {
    if p.op != uapi::OP_CONV2D || p.dtype != uapi::DTYPE_F32 || p.n_inputs < 2 {
        return Ok(None);
    }
    let s = conv_shape(p)?;
    let w = tensor::view_f32(weights, &p.operands[1], p.dtype)?;
    Ok(Some(Prepared::ConvFilter(conv::PackedFilter::new(
        g, &w, &s,
    )?)))
}

/// [`execute`] with what [`prepare`] made for `p` from the same constant input.
pub fn execute_prepared(
    g: &Gemm,
    p: &uapi::Primitive,
    inputs: &[&[u8]],
    out: &mut [u8],
    prepared: &Prepared,
) -> Result<()> {
    match prepared {
        Prepared::ConvFilter(f) if p.op == uapi::OP_CONV2D => conv(g, p, inputs, out, Some(f)),
        Prepared::ConvFilter(_) => Err(CpuError::Operand("a packed filter for another op")),
    }
}

/// An `OP_CONV2D`'s shape from its operands and parameters.
fn conv_shape(p: &uapi::Primitive) -> Result<Conv2d> {
    if p.n_inputs < 2 {
        return Err(CpuError::Operand("input count"));
    }
    let (xd, wd) = (dims(&p.operands[0]), dims(&p.operands[1]));
    if xd.len() != 4 || wd.len() != 4 {
        return Err(CpuError::Shape("a convolution's input and weights are 4-D"));
    }
    let four = |d: &[u64]| [d[0] as usize, d[1] as usize, d[2] as usize, d[3] as usize];
    Ok(conv_params(p, four(xd), four(wd)))
}

/// Runs an `OP_CONV2D`, with its filter packed ahead when `packed` is given (for this shape). A
/// contiguous f32 output is written in place; any other goes through `store_f32`.
fn conv(
    g: &Gemm,
    p: &uapi::Primitive,
    inputs: &[&[u8]],
    out: &mut [u8],
    packed: Option<&conv::PackedFilter>,
) -> Result<()> {
    let n_in = usize::from(p.n_inputs);
    if inputs.len() != n_in || n_in < 2 {
        return Err(CpuError::Operand("input count"));
    }
    let mut rounding =
        Rounding::from_abi(p.rounding, p.seed).ok_or(CpuError::Unsupported("rounding mode"))?;
    let load = |i: usize| tensor::view_f32(inputs[i], &p.operands[i], p.dtype);
    let x = load(0)?;
    let bias = if n_in == 3 { Some(load(2)?) } else { None };
    let s = conv_shape(p)?;
    let relu =
        p.params[2] & uapi::CONV2D_EXTENDED != 0 && p.params[2] & uapi::CONV2D_EPILOGUE_RELU != 0;
    let ot = &p.operands[n_in];
    let out_dtype = p.output_dtype();
    if let Some(f) = packed {
        if *f.shape() != s {
            return Err(CpuError::Operand("a packed filter for another convolution"));
        }
    }
    let into = |y: &mut [f32]| match packed {
        Some(f) => conv::conv2d_packed_into(g, &x, f, bias.as_deref(), relu, y),
        None => conv::conv2d_into(g, &x, &load(1)?, bias.as_deref(), &s, relu, y),
    };
    if let Some(y) = tensor::view_f32_mut(out, ot, out_dtype) {
        return into(y);
    }
    // Any other output: computed into a vector, then stored (converted, strided).
    let mut y = vec![0f32; tensor::numel(ot)];
    into(&mut y)?;
    store_f32(&y, out, ot, out_dtype, &mut rounding)
}

/// An `OP_CONV2D`'s shape and parameters: the original form (one stride, the same padding on every
/// side) or the extended one (ABI 1.11: per-axis stride and dilation, asymmetric padding, groups).
fn conv_params(p: &uapi::Primitive, input: [usize; 4], weights: [usize; 4]) -> Conv2d {
    if p.params[2] & uapi::CONV2D_EXTENDED == 0 {
        return Conv2d::new(
            input,
            weights,
            p.params[0].max(1) as usize,
            p.params[1] as usize,
        );
    }
    let f = |word: u64| uapi::param_fields(word).map(|x| x as usize);
    let ([sh, sw, dh, dw], pads) = (f(p.params[0]), f(p.params[1]));
    Conv2d {
        input,
        weights,
        stride: [sh, sw],
        dilation: [dh, dw],
        pads,
        groups: f(p.params[2])[0],
    }
}

/// An `OP_POOL2D`'s parameters (ABI 1.11; the kernel checked their ranges and reserved bits) for
/// an input of `input`.
fn pool_params(p: &uapi::Primitive, input: [usize; 4]) -> Result<Pool2d> {
    let kind = match (p.params[2] >> 32) & 0xff {
        uapi::POOL_MAX => PoolKind::Max,
        uapi::POOL_AVG => PoolKind::Avg {
            count_include_pad: false,
        },
        uapi::POOL_AVG_INCLUDE_PAD => PoolKind::Avg {
            count_include_pad: true,
        },
        _ => return Err(CpuError::Unsupported("pooling mode")),
    };
    let f = |word: u64| uapi::param_fields(word).map(|x| x as usize);
    let ([kh, kw, sh, sw], pads, [dh, dw, ..]) = (f(p.params[0]), f(p.params[1]), f(p.params[2]));
    Ok(Pool2d {
        input,
        kernel: [kh, kw],
        stride: [sh, sw],
        dilation: [dh, dw],
        pads,
        ceil: p.params[2] & uapi::POOL_CEIL != 0,
        kind,
    })
}
/// The tensor's dims as `usize`.
fn usize_dims(t: &uapi::Tensor) -> Vec<usize> {
    dims(t).iter().map(|&d| d as usize).collect()
}

/// GATHER (1.13): `data`'s raw elements (any dtype) picked along `params[0]` by the i64 indices of
/// input 1.
fn gather(p: &uapi::Primitive, inputs: &[&[u8]], out: &mut [u8]) -> Result<()> {
    let esize = dtype_size(p.dtype)?;
    let (dt, it) = (&p.operands[0], &p.operands[1]);
    let data = tensor::load_raw(inputs[0], dt, esize)?;
    let indices: Vec<i64> = tensor::load_raw(inputs[1], it, 8)?
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect();
    let axis = p.params[0] as usize;
    let values = elementwise::gather(&data, &usize_dims(dt), esize, axis, &indices)?;
    tensor::store_raw(&values, out, &p.operands[2], esize)
}

/// The length of the tensor's rows (its last dim), what SOFTMAX and LAYERNORM reduce over.
pub fn last_dim(t: &uapi::Tensor) -> usize {
    dims(t).last().map_or(1, |&d| d as usize)
}

/// LAYERNORM's epsilon: `params[0]` as f32 bits, 0 for the default 1e-5; finite, non-negative.
pub fn layernorm_eps(p: &uapi::Primitive) -> Result<f32> {
    let eps = match p.params[0] as u32 {
        0 => 1e-5,
        bits => f32::from_bits(bits),
    };
    if !eps.is_finite() || eps < 0.0 {
        return Err(CpuError::Operand(
            "layernorm epsilon must be finite and non-negative",
        ));
    }
    Ok(eps)
}

/// ATTENTION's score scale: `params[0]` as f32 bits, 0 for `1/√dim`; finite.
pub fn attention_scale(p: &uapi::Primitive, dim: usize) -> Result<f32> {
    let scale = match p.params[0] as u32 {
        0 => 1.0 / (dim as f32).sqrt(),
        bits => f32::from_bits(bits),
    };
    if !scale.is_finite() {
        return Err(CpuError::Operand("attention scale must be finite"));
    }
    Ok(scale)
}

/// QUANTIZE/DEQUANTIZE's per-tensor parameters: `params[0]` scale (f32 bits), `params[1]` zero
/// point (i32; FP8 takes none).
pub fn abi_quant_params(p: &uapi::Primitive) -> Result<QuantParams> {
    let fp8 = p.dtype == uapi::DTYPE_FP8_E4M3 || p.out_dtype == uapi::DTYPE_FP8_E4M3;
    let zp = p.params[1] as u32 as i32;
    if fp8 && zp != 0 {
        return Err(CpuError::Quant("FP8 takes no zero point"));
    }
    QuantParams::per_tensor(f32::from_bits(p.params[0] as u32), zp)
}

fn quantize(
    p: &uapi::Primitive,
    input: &[u8],
    out: &mut [u8],
    out_dtype: u8,
    rounding: &mut Rounding,
) -> Result<()> {
    let (scale, _) = abi_quant_params(p)?.at(0);
    let scaled: Vec<f32> = load_f32(input, &p.operands[0], p.dtype)?
        .into_iter()
        .map(|v| v / scale)
        .collect();
    store_quantized(p, &scaled, out, out_dtype, rounding)
}

/// QUANTIZE's second half: rounds values already divided by the scale with `rounding`, adds the
/// zero point, saturates, and stores them as `out_dtype` (i8 or FP8) into the output operand.
pub fn store_quantized(
    p: &uapi::Primitive,
    scaled: &[f32],
    out: &mut [u8],
    out_dtype: u8,
    rounding: &mut Rounding,
) -> Result<()> {
    let (_, zero_point) = abi_quant_params(p)?.at(0);
    let unit = QuantParams::per_tensor(1.0, zero_point)?;
    let ot = &p.operands[1];
    let bytes: Vec<u8> = if out_dtype == uapi::DTYPE_I8 {
        quant::quantize_i8(scaled, &unit, rounding)
            .into_iter()
            .map(|v| v as u8)
            .collect()
    } else {
        quant::quantize_fp8(scaled, &unit, rounding)?
            .into_iter()
            .map(|v| v.0)
            .collect()
    };
    if tensor::is_contiguous(ot) {
        let start = ot.offset as usize;
        out.get_mut(start..start + bytes.len())
            .ok_or(CpuError::Operand("tensor past its buffer"))?
            .copy_from_slice(&bytes);
        return Ok(());
    }
    tensor::store_raw(&bytes, out, ot, 1)
}

/// COPY: the input's elements into the output's positions (any strides), as raw bytes.
pub fn copy(p: &uapi::Primitive, input: &[u8], out: &mut [u8]) -> Result<()> {
    let esize = dtype_size(p.dtype)?;
    let (it, ot) = (&p.operands[0], &p.operands[1]);
    if tensor::is_contiguous(it) && tensor::is_contiguous(ot) {
        let len = tensor::numel(it) * esize;
        let (si, so) = (it.offset as usize, ot.offset as usize);
        let src = input
            .get(si..si + len)
            .ok_or(CpuError::Operand("tensor past its buffer"))?;
        out.get_mut(so..so + len)
            .ok_or(CpuError::Operand("tensor past its buffer"))?
            .copy_from_slice(src);
        return Ok(());
    }
    let raw = tensor::load_raw(input, it, esize)?;
    tensor::store_raw(&raw, out, ot, esize)
}

/// MATMUL, 2-D or batched 3-D, any strides: f32/f16/bf16/FP8 inputs through the f32 kernel, i8
/// through the exact INT8 kernel; quantized inputs with scales (ABI 1.7) are dequantized after the
/// sums ([`scaling`]), without them the output receives the raw sums.
fn matmul(
    g: &Gemm,
    p: &uapi::Primitive,
    inputs: &[&[u8]],
    out: &mut [u8],
    out_dtype: u8,
    rounding: &mut Rounding,
) -> Result<()> {
    let ot = &p.operands[usize::from(p.n_inputs)];
    let views = MatmulViews::of(p)?;
    let (batch, m, n) = (views.batch, views.m, views.n);
    let direct = out_dtype == uapi::DTYPE_F32 && tensor::is_contiguous(ot);
    let mut scratch = Vec::new();
    let c: &mut [f32] = if direct {
        let start = ot.offset as usize / 4;
        typed_mut::<f32>(out)?
            .get_mut(start..start + batch * m * n)
            .ok_or(CpuError::Operand("tensor past its buffer"))?
    } else {
        scratch.resize(batch * m * n, 0f32);
        &mut scratch
    };
    let scaling = scaling::Scaling::from_prim(p, inputs, n)?;
    match p.dtype {
        uapi::DTYPE_F32 => views.run::<f32>(g, inputs, c, false)?,
        uapi::DTYPE_F16 => views.run::<f16>(g, inputs, c, false)?,
        // A deterministic bf16 primitive widens to f32: the same bits on every ISA level.
        uapi::DTYPE_BF16 if p.flags & uapi::PRIM_DETERMINISTIC != 0 => {
            views.run::<bf16>(g, inputs, c, true)?
        }
        uapi::DTYPE_BF16 => views.run::<bf16>(g, inputs, c, false)?,
        uapi::DTYPE_FP8_E4M3 => views.run::<Fp8E4M3>(g, inputs, c, false)?,
        uapi::DTYPE_I8 => views.run_i8(g, inputs, c)?,
        _ => return Err(CpuError::Unsupported("dtype")),
    }
    if let Some(s) = &scaling {
        s.apply(&views, inputs, c)?;
    }
    matmul_epilogue(p, inputs, n, c)?;
    if direct {
        return Ok(());
    }
    store_f32(&scratch, out, ot, out_dtype, rounding)
}

/// A float MATMUL's epilogue (ABI 1.11): its third input, a bias `[n]` of its dtype, added to every
/// row of `c`, then ReLU when `params[2]` asks for it. (The CUDA backend applies it too.)
pub fn matmul_epilogue(
    p: &uapi::Primitive,
    inputs: &[&[u8]],
    n: usize,
    c: &mut [f32],
) -> Result<()> {
    let float = matches!(
        p.dtype,
        uapi::DTYPE_F32 | uapi::DTYPE_F16 | uapi::DTYPE_BF16
    );
    if float && p.n_inputs == 3 {
        let bias = load_f32(inputs[2], &p.operands[2], p.dtype)?;
        if bias.len() != n {
            return Err(CpuError::Shape("one bias per output column"));
        }
        for row in c.chunks_mut(n) {
            for (x, b) in row.iter_mut().zip(&bias) {
                *x += b;
            }
        }
    }
    match p.params[2] {
        0 => {}
        uapi::MATMUL_EPILOGUE_RELU if float => c.iter_mut().for_each(|x| *x = x.max(0.0)),
        _ => return Err(CpuError::Unsupported("matmul epilogue")),
    }
    Ok(())
}

/// A MATMUL's shape and operands: `[batch ×] m × k` times `[batch ×] k × n`.
pub struct MatmulViews<'a> {
    /// A's tensor.
    pub at: &'a uapi::Tensor,
    /// B's tensor.
    pub bt: &'a uapi::Tensor,
    /// Batch count (1 for 2-D operands).
    pub batch: usize,
    /// Rows of A and C.
    pub m: usize,
    /// The reduction length.
    pub k: usize,
    /// Columns of B and C.
    pub n: usize,
}

impl<'a> MatmulViews<'a> {
    /// The shape of MATMUL `p` (2-D or batched 3-D operands).
    pub fn of(p: &'a uapi::Primitive) -> Result<Self> {
        let (at, bt) = (&p.operands[0], &p.operands[1]);
        let (ad, bd) = (dims(at), dims(bt));
        let nd = ad.len();
        if !(2..=3).contains(&nd) || bd.len() != nd {
            return Err(CpuError::Shape("MATMUL takes 2-D or 3-D operands"));
        }
        Ok(MatmulViews {
            at,
            bt,
            batch: if nd == 3 { ad[0] as usize } else { 1 },
            m: ad[nd - 2] as usize,
            k: ad[nd - 1] as usize,
            n: bd[nd - 1] as usize,
        })
    }

    /// The view of batch `bi` of tensor `t` (`rows × cols`) in `data`.
    pub fn view<'d, T: Copy>(
        t: &uapi::Tensor,
        data: &'d [T],
        bi: usize,
        rows: usize,
        cols: usize,
    ) -> Result<MatRef<'d, T>> {
        let st = tensor::strides(t);
        let nd = st.len();
        let esize = std::mem::size_of::<T>();
        let base = t.offset as usize / esize + if nd == 3 { bi * st[0] } else { 0 };
        let data = data
            .get(base..)
            .ok_or(CpuError::Operand("tensor past its buffer"))?;
        MatRef::new(data, rows, cols, st[nd - 2], st[nd - 1])
    }

    /// Every batch on the f32 path; `widened` forces [`Gemm::run_widened`] (no native bf16).
    fn run<T: Element + bytemuck::Pod>(
        &self,
        g: &Gemm,
        inputs: &[&[u8]],
        c: &mut [f32],
        widened: bool,
    ) -> Result<()> {
        let (a, b) = (typed::<T>(inputs[0])?, typed::<T>(inputs[1])?);
        let (m, k, n) = (self.m, self.k, self.n);
        for (bi, cb) in c.chunks_mut((m * n).max(1)).take(self.batch).enumerate() {
            let (va, vb) = (
                Self::view(self.at, a, bi, m, k)?,
                Self::view(self.bt, b, bi, k, n)?,
            );
            if widened {
                g.run_widened(va, vb, cb, n)?;
            } else {
                g.run(va, vb, cb, n)?;
            }
        }
        Ok(())
    }

    fn run_i8(&self, g: &Gemm, inputs: &[&[u8]], c: &mut [f32]) -> Result<()> {
        let (a, b) = (typed::<i8>(inputs[0])?, typed::<i8>(inputs[1])?);
        let (m, k, n) = (self.m, self.k, self.n);
        let mut acc = vec![0i32; m * n];
        for (bi, cb) in c.chunks_mut((m * n).max(1)).take(self.batch).enumerate() {
            g.run_i8(
                Self::view(self.at, a, bi, m, k)?,
                Self::view(self.bt, b, bi, k, n)?,
                &mut acc,
                n,
            )?;
            cb.iter_mut().zip(&acc).for_each(|(d, &v)| *d = v as f32);
        }
        Ok(())
    }
}

pub mod scaling;
#[cfg(test)]
mod tests;
