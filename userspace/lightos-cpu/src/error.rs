//! The CPU backend's errors.

/// Why a CPU computation was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CpuError {
    /// Shapes or strides that do not fit the operation or the memory given.
    #[error("shape: {0}")]
    Shape(&'static str),
    /// Bad quantization parameters.
    #[error("quantization: {0}")]
    Quant(&'static str),
    /// An operand's bytes are missing, misaligned or of the wrong type.
    #[error("operand: {0}")]
    Operand(&'static str),
    /// An op or dtype combination this backend does not run.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// A configuration the environment gave is invalid (e.g. `LIGHTOS_CPU_ISA`).
    #[error("configuration: {0}")]
    Config(String),
    /// The worker pool could not start.
    #[error("thread pool: {0}")]
    Pool(String),
}

/// Result of a CPU backend call.
pub type Result<T> = std::result::Result<T, CpuError>;
