//! The CUDA backend against the CPU backend, primitive by primitive, on a real GPU. Every test
//! skips, saying so, where `CudaDevice::open(0)` reports no CUDA driver (CI, the VM).

mod common;

use lightos_cuda::{CudaDevice, CudaError};

/// Device 0, or `None` (with a note) where CUDA cannot run.
fn gpu() -> Option<CudaDevice> {
    match CudaDevice::open(0) {
        Ok(d) => Some(d),
        Err(CudaError::Unavailable(why)) => {
            eprintln!("skipped: no CUDA driver ({why})");
            None
        }
        Err(e) => panic!("opening GPU 0: {e}"),
    }
}

#[test]
fn matmul_agrees_with_the_cpu_backend_in_every_dtype_batched_and_strided() {
    if let Some(dev) = gpu() {
        common::matmul_in_every_dtype_batched_and_strided(&dev);
    }
}

#[test]
fn int8_matmul_is_exact_and_dequantizes_like_the_cpu_backend() {
    if let Some(dev) = gpu() {
        common::int8_matmul_exact_and_dequantized(&dev);
    }
}

#[test]
fn softmax_layernorm_gelu_add_agree_with_the_cpu_backend() {
    if let Some(dev) = gpu() {
        common::row_and_elementwise_ops(&dev);
    }
}

#[test]
fn quantize_and_dequantize_are_bit_identical_to_the_cpu_backend() {
    if let Some(dev) = gpu() {
        common::quantize_and_dequantize(&dev);
    }
}

#[test]
fn attention_agrees_with_the_cpu_backend_causal_or_not() {
    if let Some(dev) = gpu() {
        common::attention(&dev);
    }
}

#[test]
fn bad_input_is_an_error_not_a_panic_on_the_gpu_too() {
    if let Some(dev) = gpu() {
        common::bad_input_is_an_error(&dev);
    }
}
