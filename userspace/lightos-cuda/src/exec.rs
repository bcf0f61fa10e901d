//! Runs an ABI primitive on the CUDA backend: what `lightosd --backend cuda` calls for each job.
//! Operands arrive as the bytes of mapped kernel buffers; the CPU backend's code reads and writes
//! them (layouts, dtypes, rounding, quantization scales), so both backends check the same things
//! and store results the same way. The arithmetic runs on the GPU: GEMMs in cuBLAS (f32, and
//! f16/bf16 with f32 accumulation; INT8 in f64, exact; FP8 as f32), the other ops in the NVRTC
//! kernels, ATTENTION as two GEMMs around them. COPY moves bytes between host buffers and never
//! visits the device.

use crate::engine::Engine;
use crate::gemm::{ColumnMajorCall, GemmType};
use crate::kernels::Unary;
use crate::pipeline;
use crate::{CudaError, Result};
use lightos_cpu::exec::{self as cpu, scaling::Scaling, MatmulViews};
use lightos_cpu::round::Rounding;
use lightos_cpu::tensor::{self, dtype_size, load_f32, store_f32};
use lightos_uapi as uapi;
use std::borrow::Cow;

/// The ops [`execute`] runs.
pub const OPS: [u16; 11] = [
    uapi::OP_MATMUL,
    uapi::OP_ATTENTION,
    uapi::OP_SOFTMAX,
    uapi::OP_LAYERNORM,
    uapi::OP_GELU,
    uapi::OP_RELU,
    uapi::OP_ADD,
    uapi::OP_MUL,
    uapi::OP_QUANTIZE,
    uapi::OP_DEQUANTIZE,
    uapi::OP_COPY,
];

/// The dtypes it accepts (as `1 << DTYPE_*`): the CPU backend's.
pub const DTYPES: u32 = lightos_cpu::exec::DTYPES;

/// Runs `p`: `inputs[i]` are the bytes of input `i`'s buffer, `out` the output's.
pub fn execute<E: Engine>(
    dev: &E,
    p: &uapi::Primitive,
    inputs: &[&[u8]],
    out: &mut [u8],
) -> Result<()> {
    let n_in = usize::from(p.n_inputs);
    if inputs.len() != n_in || n_in == 0 || n_in >= uapi::MAX_OPERANDS {
        return Err(lightos_cpu::CpuError::Operand("input count").into());
    }
    if !OPS.contains(&p.op) {
        return Err(CudaError::Unsupported("op"));
    }
    if p.op == uapi::OP_COPY {
        return Ok(cpu::copy(p, inputs[0], out)?);
    }
    let out_dtype = p.output_dtype();
    let ot = &p.operands[n_in];
    let mut rounding =
        Rounding::from_abi(p.rounding, p.seed).ok_or(CudaError::Unsupported("rounding mode"))?;
    let load = |i: usize| load_f32(inputs[i], &p.operands[i], p.dtype);
    let values = match p.op {
        uapi::OP_MATMUL => matmul(dev, p, inputs)?,
        uapi::OP_ADD | uapi::OP_MUL => {
            let (av, bv) = (load(0)?, load(1)?);
            let mut c = dev.zeros_f32(av.len())?;
            let (a, b) = (dev.upload_f32(&av)?, dev.upload_f32(&bv)?);
            dev.binary(p.op == uapi::OP_ADD, &a, &b, &mut c)?;
            dev.download_f32(&c)?
        }
        uapi::OP_ATTENTION => attention(dev, p, inputs)?,
        uapi::OP_RELU | uapi::OP_GELU => {
            let op = if p.op == uapi::OP_RELU {
                Unary::Relu
            } else {
                Unary::Gelu
            };
            let mut x = dev.upload_f32(&load(0)?)?;
            dev.unary(op, &mut x, 0.0, 0.0)?;
            dev.download_f32(&x)?
        }
        uapi::OP_SOFTMAX => {
            // The rows kernel: the last axis only (ABI 1.13's other axes run on cpu0).
            let nd = u64::from(p.operands[0].ndim);
            if p.params[0] != 0 && p.params[0] != nd {
                return Err(CudaError::Unsupported("softmax over an axis but the last"));
            }
            let mut x = dev.upload_f32(&load(0)?)?;
            dev.softmax_rows(&mut x, cpu::last_dim(&p.operands[0]))?;
            dev.download_f32(&x)?
        }
        uapi::OP_LAYERNORM => {
            let eps = cpu::layernorm_eps(p)?;
            let mut x = dev.upload_f32(&load(0)?)?;
            let affine = if n_in == 3 {
                Some((dev.upload_f32(&load(1)?)?, dev.upload_f32(&load(2)?)?))
            } else {
                None
            };
            let d = cpu::last_dim(&p.operands[0]);
            dev.layernorm_rows(&mut x, d, eps, affine.as_ref().map(|(g, b)| (g, b)))?;
            dev.download_f32(&x)?
        }
        uapi::OP_QUANTIZE => {
            // The scale step on the GPU; rounding (any mode), zero point and packing as the CPU.
            let (scale, _) = cpu::abi_quant_params(p)?.at(0);
            let mut x = dev.upload_f32(&load(0)?)?;
            dev.unary(Unary::Divide, &mut x, scale, 0.0)?;
            let scaled = dev.download_f32(&x)?;
            return Ok(cpu::store_quantized(
                p,
                &scaled,
                out,
                out_dtype,
                &mut rounding,
            )?);
        }
        uapi::OP_DEQUANTIZE => {
            let (scale, zero_point) = cpu::abi_quant_params(p)?.at(0);
            let mut x = dev.upload_f32(&load(0)?)?;
            dev.unary(Unary::SubMul, &mut x, zero_point as f32, scale)?;
            dev.download_f32(&x)?
        }
        _ => return Err(CudaError::Unsupported("op")),
    };
    Ok(store_f32(&values, out, ot, out_dtype, &mut rounding)?)
}

/// `softmax(q·kᵀ·scale [+ causal mask])·v` for `q[B,S,D]`, `k[B,T,D]`, `v[B,T,E]`: two batched
/// GEMMs (the first with k transposed) around the scale-and-mask and softmax kernels; the scores
/// never leave the device.
fn attention<E: Engine>(dev: &E, p: &uapi::Primitive, inputs: &[&[u8]]) -> Result<Vec<f32>> {
    let d3 = |i: usize| -> Result<[usize; 3]> {
        match tensor::dims(&p.operands[i]) {
            &[a, b, c] => Ok([a as usize, b as usize, c as usize]),
            _ => Err(lightos_cpu::CpuError::Shape("ATTENTION takes 3-D q, k and v").into()),
        }
    };
    let ([batch, s, d], [_, t, _], [_, _, e]) = (d3(0)?, d3(1)?, d3(2)?);
    let scale = cpu::attention_scale(p, d)?;
    let load = |i: usize| load_f32(inputs[i], &p.operands[i], p.dtype);
    let (q, k, v) = (
        dev.upload_f32(&load(0)?)?,
        dev.upload_f32(&load(1)?)?,
        dev.upload_f32(&load(2)?)?,
    );
    let mut scores = dev.zeros_f32(batch * s * t)?;
    dev.gemm_f32(
        &ColumnMajorCall::for_row_major_bt(batch, s, d, t)?,
        &q,
        &k,
        &mut scores,
    )?;
    dev.scale_mask(&mut scores, s, t, scale, p.flags & uapi::PRIM_CAUSAL != 0)?;
    dev.softmax_rows(&mut scores, t)?;
    let mut out = dev.zeros_f32(batch * s * e)?;
    dev.gemm_f32(
        &ColumnMajorCall::for_row_major(batch, s, t, e)?,
        &scores,
        &v,
        &mut out,
    )?;
    dev.download_f32(&out)
}

/// The tensor's elements in logical order: borrowed when it is contiguous, gathered otherwise.
fn logical_bytes<'a>(bytes: &'a [u8], t: &uapi::Tensor, esize: usize) -> Result<Cow<'a, [u8]>> {
    if tensor::is_contiguous(t) {
        let start = t.offset as usize;
        let len = tensor::numel(t) * esize;
        return Ok(Cow::Borrowed(bytes.get(start..start + len).ok_or(
            lightos_cpu::CpuError::Operand("tensor past its buffer"),
        )?));
    }
    Ok(Cow::Owned(tensor::load_raw(bytes, t, esize)?))
}

/// MATMUL's raw sums (batch × m × n, f32), dequantized when the primitive carries scales.
fn matmul<E: Engine>(dev: &E, p: &uapi::Primitive, inputs: &[&[u8]]) -> Result<Vec<f32>> {
    let views = MatmulViews::of(p)?;
    let scaling = Scaling::from_prim(p, inputs, views.n)?;
    let shape = (views.batch, views.m, views.k, views.n);
    let (ta, tb) = (&p.operands[0], &p.operands[1]);
    let mut c = match p.dtype {
        uapi::DTYPE_F32 | uapi::DTYPE_F16 | uapi::DTYPE_BF16 => {
            let ty = match p.dtype {
                uapi::DTYPE_F32 => GemmType::F32,
                uapi::DTYPE_F16 => GemmType::F16,
                _ => GemmType::Bf16,
            };
            let esize = dtype_size(p.dtype)?;
            let a = logical_bytes(inputs[0], ta, esize)?;
            let b = logical_bytes(inputs[1], tb, esize)?;
            bytemuck::pod_collect_to_vec::<u8, f32>(&pipeline::gemm(dev, ty, shape, &a, &b)?)
        }
        uapi::DTYPE_I8 => {
            // Products of i8 sum exactly in f64 up to k = 2^53 / 127²: the CPU's exact INT8.
            let wide = |i: usize| -> Result<Vec<u8>> {
                let v: Vec<f64> = load_f32(inputs[i], &p.operands[i], p.dtype)?
                    .into_iter()
                    .map(f64::from)
                    .collect();
                Ok(bytemuck::cast_slice(&v).to_vec())
            };
            let c = pipeline::gemm(dev, GemmType::F64, shape, &wide(0)?, &wide(1)?)?;
            bytemuck::pod_collect_to_vec::<u8, f64>(&c)
                .into_iter()
                .map(|v| v as f32)
                .collect()
        }
        uapi::DTYPE_FP8_E4M3 => {
            // FP8 values are exact in f32; the CPU backend widens them the same way.
            let wide = |i: usize| -> Result<Vec<u8>> {
                Ok(bytemuck::cast_slice(&load_f32(inputs[i], &p.operands[i], p.dtype)?).to_vec())
            };
            let c = pipeline::gemm(dev, GemmType::F32, shape, &wide(0)?, &wide(1)?)?;
            bytemuck::pod_collect_to_vec::<u8, f32>(&c)
        }
        _ => return Err(CudaError::Unsupported("dtype")),
    };
    if let Some(s) = &scaling {
        s.apply(&views, inputs, &mut c)?;
    }
    // The bias and ReLU epilogue (ABI 1.11), on the host like the dequantization above.
    cpu::matmul_epilogue(p, inputs, views.n, &mut c)?;
    Ok(c)
}
