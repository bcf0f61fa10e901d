//! The CUDA backend's errors.

use thiserror::Error;

/// What went wrong, from "no CUDA here" to a failed launch.
#[derive(Debug, Error)]
pub enum CudaError {
    /// A library the backend needs cannot be loaded (no driver, no toolkit library).
    #[error("no CUDA driver: {0}")]
    Unavailable(String),
    /// The driver loaded but has no device of this ordinal.
    #[error("no CUDA device {ordinal} ({count} present)")]
    NoDevice {
        /// The ordinal asked for.
        ordinal: usize,
        /// How many the driver reports.
        count: usize,
    },
    /// A CUDA driver call failed.
    #[error("CUDA driver: {0}")]
    Driver(#[from] cudarc::driver::DriverError),
    /// A cuBLAS call failed.
    #[error("cuBLAS: {0}")]
    Blas(#[from] cudarc::cublas::result::CublasError),
    /// NVRTC refused the backend's kernels.
    #[error("NVRTC: {0}")]
    Compile(#[from] cudarc::nvrtc::CompileError),
    /// An NVML query or setting failed.
    #[error("NVML: {0}")]
    Nvml(String),
    /// The operands, checked by the CPU backend's code.
    #[error(transparent)]
    Operand(#[from] lightos_cpu::CpuError),
    /// An op, dtype or mode this backend does not run.
    #[error("unsupported on CUDA: {0}")]
    Unsupported(&'static str),
    /// A size beyond what one cuBLAS call or launch takes.
    #[error("too large for one CUDA call: {0}")]
    TooLarge(&'static str),
}

/// The CUDA backend's result.
pub type Result<T> = std::result::Result<T, CudaError>;
