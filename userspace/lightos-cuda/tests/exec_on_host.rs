//! `lightos_cuda::exec` on a host engine: the same calls the GPU gets (GEMM with cuBLAS's
//! column-major semantics for each `GemmType`, the kernels' element-wise and row ops), on host
//! memory, against the CPU backend. Checks the CUDA backend's orchestration — operand gathering,
//! the dtype paths (native f16/bf16, INT8 in f64, FP8 widened), the chunked GEMM pipeline,
//! scales, the quantization halves, buffer sizes — without a GPU. It says nothing about cuBLAS or the GPU themselves.

mod common;

use lightos_cpu::ops;
use lightos_cuda::engine::Engine;
use lightos_cuda::gemm::{ColumnMajorCall, GemmType};
use lightos_cuda::kernels::Unary;
use lightos_cuda::{CudaError, Result};

/// Host memory standing in for device memory.
struct HostEngine;

fn decode(bytes: &[u8], ty: GemmType) -> Vec<f64> {
    match ty {
        GemmType::F32 => bytes
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())))
            .collect(),
        GemmType::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
        GemmType::Bf16 | GemmType::Bf16ToBf16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
        GemmType::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
    }
}

fn encode(v: f64, ty: GemmType, out: &mut [u8]) {
    match ty {
        GemmType::F32 | GemmType::F16 | GemmType::Bf16 => {
            out.copy_from_slice(&(v as f32).to_le_bytes())
        }
        GemmType::Bf16ToBf16 => out.copy_from_slice(&half::bf16::from_f64(v).to_le_bytes()),
        GemmType::F64 => out.copy_from_slice(&v.to_le_bytes()),
    }
}

impl Engine for HostEngine {
    type F32 = Vec<f32>;
    type Bytes = Vec<u8>;
    /// Small, so the shared MATMUL cases run as pipelines of several chunks.
    fn chunk_bytes(&self) -> usize {
        2 << 10
    }
    fn upload_f32(&self, host: &[f32]) -> Result<Vec<f32>> {
        Ok(host.to_vec())
    }
    fn upload_bytes(&self, host: &[u8]) -> Result<Vec<u8>> {
        Ok(host.to_vec())
    }
    fn zeros_f32(&self, len: usize) -> Result<Vec<f32>> {
        Ok(vec![0.0; len])
    }
    fn zeros_bytes(&self, len: usize) -> Result<Vec<u8>> {
        Ok(vec![0; len])
    }
    fn download_f32(&self, dev: &Vec<f32>) -> Result<Vec<f32>> {
        Ok(dev.clone())
    }
    fn download_bytes(&self, dev: &Vec<u8>) -> Result<Vec<u8>> {
        Ok(dev.clone())
    }
    /// cuBLAS `GemmStridedBatchedEx` (no transposes, α 1, β 0) with B as its first operand and
    /// A as its second, as `gemm::run` passes them; sums in f64.
    fn gemm(
        &self,
        ty: GemmType,
        call: &ColumnMajorCall,
        a: &Vec<u8>,
        b: &Vec<u8>,
        c: &mut Vec<u8>,
    ) -> Result<()> {
        call.check_sizes(ty, a.len(), b.len(), c.len())?;
        let c_values = call.on_host(&decode(b, ty), &decode(a, ty));
        let out = ty.out_size();
        for (i, &v) in c_values.iter().enumerate() {
            encode(v, ty, &mut c[i * out..(i + 1) * out]);
        }
        Ok(())
    }
    fn gemm_f32(
        &self,
        call: &ColumnMajorCall,
        a: &Vec<f32>,
        b: &Vec<f32>,
        c: &mut Vec<f32>,
    ) -> Result<()> {
        let bytes = |v: &Vec<f32>| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let mut out = bytes(c);
        self.gemm(GemmType::F32, call, &bytes(a), &bytes(b), &mut out)?;
        *c = out
            .chunks_exact(4)
            .map(|x| f32::from_le_bytes(x.try_into().unwrap()))
            .collect();
        Ok(())
    }
    fn scale_mask(
        &self,
        x: &mut Vec<f32>,
        s: usize,
        t: usize,
        scale: f32,
        causal: bool,
    ) -> Result<()> {
        for (idx, v) in x.iter_mut().enumerate() {
            let (j, i) = (idx % t, (idx / t) % s);
            *v = if causal && j > i {
                f32::NEG_INFINITY
            } else {
                *v * scale
            };
        }
        Ok(())
    }
    fn binary(&self, add: bool, a: &Vec<f32>, b: &Vec<f32>, out: &mut Vec<f32>) -> Result<()> {
        if a.len() < out.len() || b.len() < out.len() {
            return Err(CudaError::TooLarge(
                "element-wise operands shorter than the output",
            ));
        }
        for (i, o) in out.iter_mut().enumerate() {
            *o = if add { a[i] + b[i] } else { a[i] * b[i] };
        }
        Ok(())
    }
    fn unary(&self, op: Unary, x: &mut Vec<f32>, p: f32, q: f32) -> Result<()> {
        for v in x.iter_mut() {
            *v = match op {
                Unary::Relu => v.max(0.0),
                Unary::Gelu => ops::gelu(*v),
                Unary::Divide => *v / p,
                Unary::SubMul => (*v - p) * q,
            };
        }
        Ok(())
    }
    fn softmax_rows(&self, x: &mut Vec<f32>, d: usize) -> Result<()> {
        ops::softmax_rows(x, d);
        Ok(())
    }
    fn layernorm_rows(
        &self,
        x: &mut Vec<f32>,
        d: usize,
        eps: f32,
        affine: Option<(&Vec<f32>, &Vec<f32>)>,
    ) -> Result<()> {
        let (g, b) = affine.map_or((None, None), |(g, b)| (Some(&g[..]), Some(&b[..])));
        ops::layernorm_rows(x, d, eps, g, b);
        Ok(())
    }
}

#[test]
fn matmul_agrees_with_the_cpu_backend_in_every_dtype_batched_and_strided() {
    common::matmul_in_every_dtype_batched_and_strided(&HostEngine);
}

#[test]
fn int8_matmul_is_exact_and_dequantizes_like_the_cpu_backend() {
    common::int8_matmul_exact_and_dequantized(&HostEngine);
}

#[test]
fn softmax_layernorm_gelu_add_agree_with_the_cpu_backend() {
    common::row_and_elementwise_ops(&HostEngine);
}

#[test]
fn quantize_and_dequantize_are_bit_identical_to_the_cpu_backend() {
    common::quantize_and_dequantize(&HostEngine);
}

#[test]
fn attention_agrees_with_the_cpu_backend_causal_or_not() {
    common::attention(&HostEngine);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    common::bad_input_is_an_error(&HostEngine);
}
