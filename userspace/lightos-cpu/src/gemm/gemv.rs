//! The one-row product `c = a · B` (batch-1 inference: a vector times a weight matrix), without
//! packing: each task owns a block of columns, keeps it in registers and streams the rows of B
//! through it. Every element is one fused multiply-add per k, in increasing k, whichever ISA and
//! however many threads: AVX-512F and AVX2+FMA give the same bits (the GEMM path, which rounds per
//! k-panel, can differ in the last bit).

use super::{Gemm, KernelKind};
use crate::matrix::MatRef;
use rayon::prelude::*;

/// Columns per task: 8 vectors of 16 (AVX-512) or 8 of 8 (AVX2) accumulators.
fn block(kind: KernelKind) -> usize {
    match kind {
        KernelKind::Avx512F => 128,
        _ => 64,
    }
}

/// Whether this path runs the product: a SIMD kernel, and B's rows contiguous.
pub(super) fn fits(g: &Gemm, _shape: (usize, usize, usize), b: &MatRef<f32>) -> bool {
    g.kernels.f32 != KernelKind::Portable && b.col_stride() == 1
}

/// `c[0..n] = a[0, ..] · B` for a product `fits` accepted, `(1, k, n)`.
pub(super) fn run(
    g: &Gemm,
    (_, k, n): (usize, usize, usize),
    a: &MatRef<f32>,
    b: &MatRef<f32>,
    c: &mut [f32],
) {
    let kind = g.kernels.f32;
    let a: Vec<f32> = (0..k).map(|p| a.at(0, p)).collect();
    let w = block(kind);
    let work = |(j, out): (usize, &mut [f32])| {
        let j0 = j * w;
        #[cfg(target_arch = "x86_64")]
        match kind {
            // SAFETY: `Gemm::with` accepted these kernels, so the CPU has the features; `out` holds
            // at most one block of columns, all inside B's rows (j0 + out.len() <= n).
            KernelKind::Avx512F => unsafe { avx512::cols(&a, b, j0, out) },
            // SAFETY: as above.
            KernelKind::Avx2Fma => unsafe { avx2::cols(&a, b, j0, out) },
            KernelKind::Portable => unreachable!("fits() refuses the portable kernel"),
        }
    };
    let c = &mut c[..n];
    // Below ~64 K multiply-adds a second thread costs more than it saves.
    if g.threads == 1 || k * n < 1 << 16 {
        c.chunks_mut(w).enumerate().for_each(work);
    } else {
        g.pool
            .install(|| c.par_chunks_mut(w).enumerate().for_each(work));
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use crate::matrix::MatRef;
    use core::arch::x86_64::*;

    /// `out[j] = Σ_p a[p]·B[p, j0 + j]` for `out.len() <= 128` columns: eight 16-lane accumulators,
    /// masked loads at the edge.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; B's rows hold columns `j0 .. j0 + out.len()` contiguously.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn cols(a: &[f32], b: &MatRef<f32>, j0: usize, out: &mut [f32]) {
        let w = out.len();
        let vecs = w.div_ceil(16);
        let mask = |v: usize| -> __mmask16 {
            let lanes = (w - 16 * v).min(16);
            ((1u32 << lanes) - 1) as __mmask16
        };
        let mut acc = [_mm512_setzero_ps(); 8];
        for (p, &av) in a.iter().enumerate() {
            let row = b.row_slice(p, j0, w).as_ptr();
            let av = _mm512_set1_ps(av);
            for (v, acc) in acc.iter_mut().enumerate().take(vecs) {
                // SAFETY: lanes past `w` are masked off (not read); the rest lie in `row`.
                let bv = unsafe { _mm512_maskz_loadu_ps(mask(v), row.add(16 * v)) };
                *acc = _mm512_fmadd_ps(av, bv, *acc);
            }
        }
        for (v, acc) in acc.iter().enumerate().take(vecs) {
            // SAFETY: as for the loads, masked lanes are not written.
            unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr().add(16 * v), mask(v), *acc) };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use crate::matrix::MatRef;
    use core::arch::x86_64::*;

    /// `out[j] = Σ_p a[p]·B[p, j0 + j]` for `out.len() <= 64` columns: eight 8-lane accumulators,
    /// masked loads at the edge.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; B's rows hold columns `j0 .. j0 + out.len()`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn cols(a: &[f32], b: &MatRef<f32>, j0: usize, out: &mut [f32]) {
        let w = out.len();
        let vecs = w.div_ceil(8);
        let mask = |v: usize| -> __m256i {
            let lanes = (w - 8 * v).min(8) as i32;
            let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), idx)
        };
        let masks: [__m256i; 8] = std::array::from_fn(|v| {
            if v < vecs {
                mask(v)
            } else {
                _mm256_setzero_si256()
            }
        });
        let mut acc = [_mm256_setzero_ps(); 8];
        for (p, &av) in a.iter().enumerate() {
            let row = b.row_slice(p, j0, w).as_ptr();
            let av = _mm256_set1_ps(av);
            for (v, acc) in acc.iter_mut().enumerate().take(vecs) {
                // SAFETY: lanes past `w` are masked off (not read); the rest lie in `row`.
                let bv = unsafe { _mm256_maskload_ps(row.add(8 * v), masks[v]) };
                *acc = _mm256_fmadd_ps(av, bv, *acc);
            }
        }
        for (v, acc) in acc.iter().enumerate().take(vecs) {
            // SAFETY: as for the loads, masked lanes are not written.
            unsafe { _mm256_maskstore_ps(out.as_mut_ptr().add(8 * v), masks[v], *acc) };
        }
    }
}
