//! The LightOS CUDA backend, behind `lightosd --backend cuda`: every job's arithmetic on an
//! NVIDIA GPU through [cudarc](https://docs.rs/cudarc), its libraries loaded at run time.
//!
//! - [`probe`]: whether the driver, cuBLAS and NVRTC load here; without them the backend reports
//!   [`CudaError::Unavailable`] ("no CUDA driver") instead of calling anything.
//! - [`CudaDevice`]: a context, a compute and a copy stream, a cuBLAS handle and the
//!   NVRTC-compiled [`kernels`].
//! - [`engine`]: what `exec` needs of a device ([`CudaDevice`] is one).
//! - [`gemm`]: row-major batched GEMM through cuBLAS's column-major `GemmStridedBatchedEx`.
//! - [`pipeline`]: a MATMUL in chunks, copies overlapping compute (two streams).
//! - [`exec`]: runs an ABI primitive (MATMUL, ATTENTION, SOFTMAX, LAYERNORM, GELU, RELU, ADD, MUL,
//!   QUANTIZE, DEQUANTIZE, COPY) on mapped operand bytes.
//! - [`nvml`]: temperature, power and power limits through NVML.
//!
//! The tests that need a GPU skip, saying so, where none is present.

mod device;
pub mod engine;
mod error;
pub mod exec;
pub mod gemm;
pub mod kernels;
pub mod nvml;
pub mod pipeline;
pub mod probe;

pub use device::{CudaDevice, GpuInfo};
pub use error::{CudaError, Result};
