//! The LightOS CPU backend: the computation behind `lightosd`'s `cpu0`, on plain host memory.
//!
//! - [`Gemm`]: a cache-blocked (block sizes from this machine's caches), multithreaded GEMM with an
//!   AVX2+FMA micro-kernel, double-buffered packing, f32/f16/bf16/FP8 inputs through one f32 kernel
//!   and an exact INT8 path; bit-identical results for any thread count.
//! - [`quant`]: INT8 and FP8-E4M3 quantization, per tensor or per channel, and the INT8 matmul.
//! - [`conv`]: 2-D convolution with groups, dilation and padding on the GEMM's kernels (implicit
//!   im2col), depthwise by direct loops.
//! - [`ops`]: softmax, layernorm, attention, GELU and the element-wise ops.
//! - [`elementwise`]: ABI 1.13's unary and binary functions, reductions over axes, softmax along
//!   any axis and gather.
//! - [`pool`]: max and average pooling (ONNX semantics: asymmetric padding, ceil mode, padding
//!   counted or not, dilation), global pooling and LRN.
//! - [`exec`]: runs an ABI [`lightos_uapi::Primitive`] on mapped operand bytes, for every op and
//!   dtype the ABI allows (but SPIKE_ENCODE, which the runtime's spike module runs).

pub mod cache;
pub mod conv;
mod element;
pub mod elementwise;
mod error;
pub mod exec;
pub mod fp8;
pub mod gemm;
mod matrix;
pub mod ops;
pub mod pool;
pub mod quant;
pub mod round;
pub mod tensor;
#[cfg(test)]
mod test_util;

pub use element::Element;
pub use error::{CpuError, Result};
pub use gemm::{Gemm, KernelKind};
pub use matrix::MatRef;
