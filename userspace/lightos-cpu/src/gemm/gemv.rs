//! The one-row product `c = a · B` (batch-1 inference: a vector times a weight matrix), without
//! packing: B's rows stream through once, each thread owning a contiguous range of columns whose
//! partial sums stay in L1 (blocks of 2048), four rows of B per pass. Every element is one fused
//! multiply-add per k, in increasing k, whichever ISA and however many threads: AVX-512F and
//! AVX2+FMA give the same bits (the GEMM path, which rounds per k-panel, can differ in the last
//! bit).

use super::{Gemm, KernelKind};
use crate::matrix::MatRef;

/// Columns whose partial sums one pass keeps (8 KiB of L1).
const BLOCK: usize = 2048;

/// Whether this path runs the product: a SIMD kernel, A's row and B's rows contiguous.
pub(super) fn fits(g: &Gemm, a: &MatRef<f32>, b: &MatRef<f32>) -> bool {
    g.kernels.f32 != KernelKind::Portable && a.col_stride() == 1 && b.col_stride() == 1
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
    let a = a.row_slice(0, 0, k);
    let work = |(j, out): (usize, &mut [f32]), width: usize| {
        for (blk, out) in out.chunks_mut(BLOCK).enumerate() {
            let j0 = j * width + blk * BLOCK;
            #[cfg(target_arch = "x86_64")]
            match kind {
                // SAFETY: `Gemm::with` accepted these kernels, so the CPU has the features; `out`
                // is columns j0 .. j0 + out.len() <= n of B's contiguous rows.
                KernelKind::Avx512F => unsafe { avx512::cols(a, b, j0, out) },
                // SAFETY: as above.
                KernelKind::Avx2Fma => unsafe { avx2::cols(a, b, j0, out) },
                KernelKind::Portable => unreachable!("fits() refuses the portable kernel"),
            }
        }
    };
    let c = &mut c[..n];
    // Below ~64 K multiply-adds a second thread costs more than it saves.
    if g.threads == 1 || k.saturating_mul(n) < 1 << 16 {
        work((0, c), n);
        return;
    }
    // The calling thread takes the first range itself and hands the others to the pool: one
    // wake-up fewer than sending all of them (the product takes tens of microseconds).
    let width = n.div_ceil(g.threads).div_ceil(16) * 16;
    let mut chunks = c.chunks_mut(width).enumerate();
    let first = chunks.next();
    g.pool.in_place_scope(|s| {
        for jc in chunks {
            s.spawn(move |_| work(jc, width));
        }
        if let Some(jc) = first {
            work(jc, width);
        }
    });
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use crate::matrix::MatRef;
    use core::arch::x86_64::*;

    /// `out[j] = Σ_p a[p]·B[p, j0 + j]`: `out` holds the partial sums while four rows of B at a
    /// time stream through; masked loads and stores at the right edge.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; B's rows hold columns `j0 .. j0 + out.len()` contiguously.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn cols(a: &[f32], b: &MatRef<f32>, j0: usize, out: &mut [f32]) {
        let w = out.len();
        out.fill(0.0);
        let o = out.as_mut_ptr();
        let tail = ((1u32 << (w % 16)) - 1) as __mmask16;
        let mut p = 0;
        while p < a.len() {
            let rows = (a.len() - p).min(4);
            let r: [*const f32; 4] =
                std::array::from_fn(|i| b.row_slice(p + i.min(rows - 1), j0, w).as_ptr());
            let av: [__m512; 4] = std::array::from_fn(|i| _mm512_set1_ps(a[p + i.min(rows - 1)]));
            let mut j = 0;
            while j < w {
                let m = if j + 16 <= w { 0xffff } else { tail };
                // SAFETY: lanes j .. j+16 masked to those below w, inside `out` and every row.
                unsafe {
                    let mut acc = _mm512_maskz_loadu_ps(m, o.add(j));
                    for i in 0..rows {
                        let bv = _mm512_maskz_loadu_ps(m, r[i].add(j));
                        acc = _mm512_fmadd_ps(av[i], bv, acc);
                    }
                    _mm512_mask_storeu_ps(o.add(j), m, acc);
                }
                j += 16;
            }
            p += rows;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use crate::matrix::MatRef;
    use core::arch::x86_64::*;

    /// As the AVX-512F version, on 8-lane vectors.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; B's rows hold columns `j0 .. j0 + out.len()`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn cols(a: &[f32], b: &MatRef<f32>, j0: usize, out: &mut [f32]) {
        let w = out.len();
        out.fill(0.0);
        let o = out.as_mut_ptr();
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let tail = _mm256_cmpgt_epi32(_mm256_set1_epi32((w % 8) as i32), lanes);
        let all = _mm256_set1_epi32(-1);
        let mut p = 0;
        while p < a.len() {
            let rows = (a.len() - p).min(4);
            let r: [*const f32; 4] =
                std::array::from_fn(|i| b.row_slice(p + i.min(rows - 1), j0, w).as_ptr());
            let av: [__m256; 4] = std::array::from_fn(|i| _mm256_set1_ps(a[p + i.min(rows - 1)]));
            let mut j = 0;
            while j < w {
                let m = if j + 8 <= w { all } else { tail };
                // SAFETY: lanes j .. j+8 masked to those below w, inside `out` and every row.
                unsafe {
                    let mut acc = _mm256_maskload_ps(o.add(j), m);
                    for i in 0..rows {
                        let bv = _mm256_maskload_ps(r[i].add(j), m);
                        acc = _mm256_fmadd_ps(av[i], bv, acc);
                    }
                    _mm256_maskstore_ps(o.add(j), m, acc);
                }
                j += 8;
            }
            p += rows;
        }
    }
}
