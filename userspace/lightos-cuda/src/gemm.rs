//! Row-major batched GEMM through cuBLAS, which is column-major: a row-major `X[r×c]` is the
//! column-major `Xᵀ` with leading dimension `c`, so `C = A·B` is computed as `Cᵀ = Bᵀ·Aᵀ`, B
//! passed first. [`ColumnMajorCall::for_row_major`] holds that mapping (tested on the host
//! against a column-major reference); [`run`] makes the call.

use crate::{CudaError, Result};
use cudarc::cublas::{result, sys, CudaBlas};
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DevicePtrMut};
use std::ffi::c_void;

/// The arguments of one `cublasGemmStridedBatchedEx` call, no transposes, `α = 1`, `β = 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnMajorCall {
    /// cuBLAS's m: rows of its (column-major) output.
    pub m: i32,
    /// cuBLAS's n.
    pub n: i32,
    /// cuBLAS's k.
    pub k: i32,
    /// Leading dimension of its first operand.
    pub lda: i32,
    /// Leading dimension of its second operand.
    pub ldb: i32,
    /// Leading dimension of its output.
    pub ldc: i32,
    /// Elements between batches of its first operand.
    pub stride_a: i64,
    /// Elements between batches of its second operand.
    pub stride_b: i64,
    /// Elements between batches of its output.
    pub stride_c: i64,
    /// Batch count.
    pub batch: i32,
    /// Whether cuBLAS's first operand is transposed (row-major B stored as `n×k`: `C = A·Bᵀ`).
    pub first_transposed: bool,
}

impl ColumnMajorCall {
    /// The call computing row-major `C[b][m×n] = A[b][m×k]·B[b][k×n]` (contiguous batches),
    /// with cuBLAS's first operand B and its second A. Sizes past `i32` are refused.
    pub fn for_row_major(batch: usize, m: usize, k: usize, n: usize) -> Result<Self> {
        let int = |v: usize| i32::try_from(v).map_err(|_| CudaError::TooLarge("GEMM dimension"));
        let long =
            |v: usize| i64::try_from(v).map_err(|_| CudaError::TooLarge("GEMM batch stride"));
        Ok(ColumnMajorCall {
            m: int(n)?,
            n: int(m)?,
            k: int(k)?,
            lda: int(n.max(1))?,
            ldb: int(k.max(1))?,
            ldc: int(n.max(1))?,
            stride_a: long(k * n)?,
            stride_b: long(m * k)?,
            stride_c: long(m * n)?,
            batch: int(batch)?,
            first_transposed: false,
        })
    }

    /// The call computing row-major `C[b][m×n] = A[b][m×k]·B[b]ᵀ` with `B[b]` stored `n×k`
    /// (attention's `Q·Kᵀ`): cuBLAS's first operand is B read transposed.
    pub fn for_row_major_bt(batch: usize, m: usize, k: usize, n: usize) -> Result<Self> {
        Ok(ColumnMajorCall {
            lda: i32::try_from(k.max(1)).map_err(|_| CudaError::TooLarge("GEMM dimension"))?,
            first_transposed: true,
            ..Self::for_row_major(batch, m, k, n)?
        })
    }
}

impl ColumnMajorCall {
    /// `Ok` when operands of `a_len`, `b_len` and `c_len` bytes (row-major A, B and C, as
    /// [`run`] takes them) hold everything the call reads and writes for element types `ty`.
    pub fn check_sizes(
        &self,
        ty: GemmType,
        a_len: usize,
        b_len: usize,
        c_len: usize,
    ) -> Result<()> {
        let bytes = |stride: i64, size: usize| stride as usize * self.batch as usize * size;
        // cuBLAS's first operand is B (k×n), its second A (m×k), its output C (m×n).
        if b_len < bytes(self.stride_a, ty.in_size())
            || a_len < bytes(self.stride_b, ty.in_size())
            || c_len < bytes(self.stride_c, ty.out_size())
        {
            return Err(CudaError::TooLarge("operand smaller than the GEMM"));
        }
        Ok(())
    }
}

impl ColumnMajorCall {
    /// The call's result by cuBLAS's documented semantics, computed on the host in f64: `first`
    /// and `second` are cuBLAS's operands (row-major B and A, as [`run`] passes them), the result
    /// its column-major output (row-major C). The reference for tests and GPU-less engines.
    pub fn on_host(&self, first: &[f64], second: &[f64]) -> Vec<f64> {
        let (m, n, k) = (self.m as usize, self.n as usize, self.k as usize);
        let (lda, ldb, ldc) = (self.lda as usize, self.ldb as usize, self.ldc as usize);
        let mut c = vec![0.0; self.stride_c as usize * self.batch as usize];
        for bi in 0..self.batch as usize {
            let (ao, bo, co) = (
                bi * self.stride_a as usize,
                bi * self.stride_b as usize,
                bi * self.stride_c as usize,
            );
            for j in 0..n {
                for i in 0..m {
                    c[co + i + j * ldc] = (0..k)
                        .map(|l| {
                            let f = if self.first_transposed {
                                first[ao + l + i * lda]
                            } else {
                                first[ao + i + l * lda]
                            };
                            f * second[bo + l + j * ldb]
                        })
                        .sum();
                }
            }
        }
        c
    }
}

/// An element type cuBLAS takes, with the compute type used for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmType {
    /// f32 in, f32 out, FP32 compute (no TF32, for the CPU backend's tolerance).
    F32,
    /// f16 in, f32 out, FP32 accumulation.
    F16,
    /// bf16 in, f32 out, FP32 accumulation.
    Bf16,
    /// bf16 in, bf16 out, FP32 accumulation (the tensor-core benchmark's shape).
    Bf16ToBf16,
    /// f64 in and out: exact for INT8 sums, which this backend runs in f64.
    F64,
}

impl GemmType {
    fn types(
        self,
    ) -> (
        sys::cudaDataType,
        sys::cudaDataType,
        sys::cublasComputeType_t,
    ) {
        use sys::cublasComputeType_t as C;
        use sys::cudaDataType as D;
        match self {
            GemmType::F32 => (D::CUDA_R_32F, D::CUDA_R_32F, C::CUBLAS_COMPUTE_32F),
            GemmType::F16 => (D::CUDA_R_16F, D::CUDA_R_32F, C::CUBLAS_COMPUTE_32F),
            GemmType::Bf16 => (D::CUDA_R_16BF, D::CUDA_R_32F, C::CUBLAS_COMPUTE_32F),
            GemmType::Bf16ToBf16 => (D::CUDA_R_16BF, D::CUDA_R_16BF, C::CUBLAS_COMPUTE_32F),
            GemmType::F64 => (D::CUDA_R_64F, D::CUDA_R_64F, C::CUBLAS_COMPUTE_64F),
        }
    }

    /// Bytes per input element.
    pub fn in_size(self) -> usize {
        match self {
            GemmType::F32 => 4,
            GemmType::F16 | GemmType::Bf16 | GemmType::Bf16ToBf16 => 2,
            GemmType::F64 => 8,
        }
    }

    /// Bytes per output element.
    pub fn out_size(self) -> usize {
        match self {
            GemmType::F32 | GemmType::F16 | GemmType::Bf16 => 4,
            GemmType::Bf16ToBf16 => 2,
            GemmType::F64 => 8,
        }
    }
}

/// Runs `call` on `stream` (the one `blas` was made with): `c = a·b` row-major, the operands
/// device memory holding `ty`'s element types (whatever `T` the slices are typed as), sizes
/// checked against the call.
pub fn run<T>(
    blas: &CudaBlas,
    stream: &CudaStream,
    ty: GemmType,
    call: &ColumnMajorCall,
    a: &CudaSlice<T>,
    b: &CudaSlice<T>,
    c: &mut CudaSlice<T>,
) -> Result<()> {
    call.check_sizes(ty, a.num_bytes(), b.num_bytes(), c.num_bytes())?;
    let (in_type, out_type, compute) = ty.types();
    let (one_f64, zero_f64) = (1f64, 0f64);
    let (one_f32, zero_f32) = (1f32, 0f32);
    let (alpha, beta): (*const c_void, *const c_void) = if ty == GemmType::F64 {
        (&one_f64 as *const f64 as _, &zero_f64 as *const f64 as _)
    } else {
        (&one_f32 as *const f32 as _, &zero_f32 as *const f32 as _)
    };
    let (pa, _ra) = a.device_ptr(stream);
    let (pb, _rb) = b.device_ptr(stream);
    let (pc, _rc) = c.device_ptr_mut(stream);
    // SAFETY: the three device allocations hold at least the elements the call reads and writes
    // (checked above); alpha and beta point to scalars of the compute type that outlive the
    // call, which cuBLAS reads before it returns (host pointer mode, cuBLAS's default).
    unsafe {
        result::gemm_strided_batched_ex(
            *blas.handle(),
            if call.first_transposed {
                sys::cublasOperation_t::CUBLAS_OP_T
            } else {
                sys::cublasOperation_t::CUBLAS_OP_N
            },
            sys::cublasOperation_t::CUBLAS_OP_N,
            call.m,
            call.n,
            call.k,
            alpha,
            pb as *const c_void,
            in_type,
            call.lda,
            call.stride_a,
            pa as *const c_void,
            in_type,
            call.ldb,
            call.stride_b,
            beta,
            pc as *mut c_void,
            out_type,
            call.ldc,
            call.stride_c,
            call.batch,
            compute,
            sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_column_major_call_computes_the_row_major_product() {
        for &(batch, m, k, n) in &[(1, 3, 4, 5), (2, 5, 1, 3), (3, 1, 7, 1), (1, 6, 6, 6)] {
            let a: Vec<f64> = (0..batch * m * k).map(|i| (i % 7) as f64 - 3.0).collect();
            let b: Vec<f64> = (0..batch * k * n).map(|i| (i % 5) as f64 * 0.5).collect();
            let call = ColumnMajorCall::for_row_major(batch, m, k, n).unwrap();
            // B goes first, A second, as `run` passes them.
            let c = call.on_host(&b, &a);
            for bi in 0..batch {
                for i in 0..m {
                    for j in 0..n {
                        let want: f64 = (0..k)
                            .map(|l| a[bi * m * k + i * k + l] * b[bi * k * n + l * n + j])
                            .sum();
                        assert_eq!(c[bi * m * n + i * n + j], want, "{batch}x{m}x{k}x{n}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_transposed_call_computes_a_times_b_transposed() {
        let (batch, m, k, n) = (2, 3, 5, 4);
        let a: Vec<f64> = (0..batch * m * k).map(|i| (i % 7) as f64 - 3.0).collect();
        // B stored n×k per batch.
        let b: Vec<f64> = (0..batch * n * k).map(|i| (i % 5) as f64 * 0.5).collect();
        let call = ColumnMajorCall::for_row_major_bt(batch, m, k, n).unwrap();
        let c = call.on_host(&b, &a);
        for bi in 0..batch {
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k)
                        .map(|l| a[bi * m * k + i * k + l] * b[bi * n * k + j * k + l])
                        .sum();
                    assert_eq!(c[bi * m * n + i * n + j], want);
                }
            }
        }
    }

    #[test]
    fn dimensions_past_i32_are_refused() {
        assert!(matches!(
            ColumnMajorCall::for_row_major(1, 1 << 31, 1, 1),
            Err(CudaError::TooLarge(_))
        ));
        assert!(ColumnMajorCall::for_row_major(1, 8192, 8192, 8192).is_ok());
    }
}
