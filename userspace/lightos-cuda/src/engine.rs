//! What [`crate::exec`] needs of a device: memory in and out, the GEMM and the kernels.
//! [`crate::CudaDevice`] is the GPU; the tests also run `exec` on a host engine that makes the
//! same calls with cuBLAS's documented semantics, so the orchestration (operand gathering, dtype
//! paths, scales, rounding) is checked on machines without a GPU.

use crate::gemm::{ColumnMajorCall, GemmType};
use crate::kernels::Unary;
use crate::Result;

/// A device `exec` can run primitives on.
pub trait Engine {
    /// Device memory holding f32 values.
    type F32;
    /// Device memory holding raw bytes (GEMM operands of any [`GemmType`]).
    type Bytes;
    /// About how many bytes one chunk of a pipelined MATMUL moves ([`crate::pipeline`]).
    fn chunk_bytes(&self) -> usize {
        32 << 20
    }
    /// Copies f32 values to new device memory.
    fn upload_f32(&self, host: &[f32]) -> Result<Self::F32>;
    /// Copies bytes to new device memory.
    fn upload_bytes(&self, host: &[u8]) -> Result<Self::Bytes>;
    /// New zeroed f32 memory.
    fn zeros_f32(&self, len: usize) -> Result<Self::F32>;
    /// New zeroed byte memory.
    fn zeros_bytes(&self, len: usize) -> Result<Self::Bytes>;
    /// Copies f32 memory back, after all work queued before.
    fn download_f32(&self, dev: &Self::F32) -> Result<Vec<f32>>;
    /// Copies byte memory back, after all work queued before.
    fn download_bytes(&self, dev: &Self::Bytes) -> Result<Vec<u8>>;
    /// Row-major `c = a·b` as `call` and `ty` say.
    fn gemm(
        &self,
        ty: GemmType,
        call: &ColumnMajorCall,
        a: &Self::Bytes,
        b: &Self::Bytes,
        c: &mut Self::Bytes,
    ) -> Result<()>;
    /// Row-major f32 `c = a·b` (or `a·bᵀ`) as `call` says, on f32 memory.
    fn gemm_f32(
        &self,
        call: &ColumnMajorCall,
        a: &Self::F32,
        b: &Self::F32,
        c: &mut Self::F32,
    ) -> Result<()>;
    /// Attention scores `[batch × s × t]` in place: each times `scale`, and `-inf` where key
    /// `j` > query `i` when `causal`.
    fn scale_mask(
        &self,
        x: &mut Self::F32,
        s: usize,
        t: usize,
        scale: f32,
        causal: bool,
    ) -> Result<()>;
    /// `out = a + b` (`add`) or `a * b`.
    fn binary(&self, add: bool, a: &Self::F32, b: &Self::F32, out: &mut Self::F32) -> Result<()>;
    /// `op` on each value in place.
    fn unary(&self, op: Unary, x: &mut Self::F32, p: f32, q: f32) -> Result<()>;
    /// Softmax of each `d`-long row in place.
    fn softmax_rows(&self, x: &mut Self::F32, d: usize) -> Result<()>;
    /// Layer normalisation of each `d`-long row in place, with optional gamma and beta.
    fn layernorm_rows(
        &self,
        x: &mut Self::F32,
        d: usize,
        eps: f32,
        affine: Option<(&Self::F32, &Self::F32)>,
    ) -> Result<()>;
}
