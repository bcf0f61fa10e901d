//! f32 micro-kernels: an mr×nr tile of C from an mr-row sliver of packed A and an nr-column sliver
//! of packed B (the tile of each is [`KernelKind::tile`]). Every kernel sums over k in increasing
//! order, so a tile's value depends only on the data; the AVX-512F and AVX2+FMA kernels both round
//! once per fused multiply-add and so give identical bits, the portable one (separate multiply and
//! add) does not.

pub use super::isa::KernelKind;

/// `tile = a_sliver · b_sliver` over `kb` steps; `a` holds `kb × mr`, `b` holds `kb × nr` values,
/// `tile` `mr × nr` (`kind.tile()`).
pub(crate) fn run(kind: KernelKind, kb: usize, a: &[f32], b: &[f32], tile: &mut [f32]) {
    let (mr, nr) = kind.tile();
    let (a, b, tile) = (&a[..kb * mr], &b[..kb * nr], &mut tile[..mr * nr]);
    match kind {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: an engine runs `Avx512F` only where `IsaLevel::Avx512` is available (AVX-512F,
        // AVX2, FMA; `Kernels::at_most` checks); the slices were cut to the lengths it reads.
        KernelKind::Avx512F => unsafe { avx512::kernel(kb, a, b, tile) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, `Avx2Fma` only where AVX2 and FMA were detected.
        KernelKind::Avx2Fma => unsafe { avx2::kernel(kb, a, b, tile) },
        _ => portable(kb, a, b, tile, mr, nr),
    }
}

fn portable(kb: usize, a: &[f32], b: &[f32], tile: &mut [f32], mr: usize, nr: usize) {
    tile.fill(0.0);
    for p in 0..kb {
        let (ap, bp) = (&a[p * mr..p * mr + mr], &b[p * nr..p * nr + nr]);
        for (i, &av) in ap.iter().enumerate() {
            for (t, &bv) in tile[i * nr..i * nr + nr].iter_mut().zip(bp) {
                *t += av * bv;
            }
        }
    }
}

/// `C[mr × nr] = A · B` over `kb` steps with A, B and C read and written in place (no packing), for
/// small products: A's element (i, p) at `a[i * lda + p]`, B's (p, j) at `b[p * ldb + j]`, C's
/// (i, j) at `c[i * ldc + j]`; a full tile of `kind`. The same multiply-adds in the same order as
/// [`run`], so the same bits.
pub(crate) fn run_in_place(
    kind: KernelKind,
    kb: usize,
    (a, lda): (&[f32], usize),
    (b, ldb): (&[f32], usize),
    (c, ldc): (&mut [f32], usize),
) {
    let (mr, nr) = kind.tile();
    assert!(kb > 0 && lda >= kb && ldb >= nr && ldc >= nr);
    let (a, b) = (&a[..(mr - 1) * lda + kb], &b[..(kb - 1) * ldb + nr]);
    let c = &mut c[..(mr - 1) * ldc + nr];
    match kind {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the features as in `run`; the slices were cut to the extents the kernel reads
        // and writes (rows mr-1 and kb-1 at most, nr columns).
        KernelKind::Avx512F => unsafe {
            avx512::in_place(kb, a.as_ptr(), lda, b.as_ptr(), ldb, c.as_mut_ptr(), ldc)
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        KernelKind::Avx2Fma => unsafe {
            avx2::in_place(kb, a.as_ptr(), lda, b.as_ptr(), ldb, c.as_mut_ptr(), ldc)
        },
        _ => unreachable!("the in-place path runs only SIMD kernels"),
    }
}

/// One register-tile body, instantiated per ISA for packed slivers and for operands in place:
/// A's (i, p) at `a + i*ars + p*aks`, B's (p, j) at `b + p*ldb + j`, C's (i, j) at `c + i*ldc + j`.
#[cfg(target_arch = "x86_64")]
macro_rules! tile_body {
    ($mr:expr, $v:ty, $lanes:expr, $zero:ident, $load:ident, $set1:ident, $fma:ident, $store:ident,
     $kb:expr, ($a:expr, $ars:expr, $aks:expr), ($b:expr, $ldb:expr), ($c:expr, $ldc:expr)) => {{
        let mut acc: [[$v; 2]; $mr] = [[$zero(); 2]; $mr];
        for p in 0..$kb {
            // SAFETY (for the caller's contract): row p of B holds 2 × lanes values at b + p*ldb.
            let (b0, b1) = unsafe { ($load($b.add(p * $ldb)), $load($b.add(p * $ldb + $lanes))) };
            for (i, row) in acc.iter_mut().enumerate() {
                // SAFETY: A's (i, p) lies inside the extent the caller guarantees.
                let av = $set1(unsafe { *$a.add(i * $ars + p * $aks) });
                row[0] = $fma(av, b0, row[0]);
                row[1] = $fma(av, b1, row[1]);
            }
        }
        for (i, row) in acc.iter().enumerate() {
            // SAFETY: C's row i holds 2 × lanes values at c + i*ldc.
            unsafe {
                $store($c.add(i * $ldc), row[0]);
                $store($c.add(i * $ldc + $lanes), row[1]);
            }
        }
    }};
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use core::arch::x86_64::*;

    const MR: usize = 6;
    const NR: usize = 16;

    /// 6×16: twelve 8-lane accumulators, two B vectors and one broadcast per row.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `a.len() == kb * 6`, `b.len() == kb * 16`,
    /// `tile.len() == 96`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn kernel(kb: usize, a: &[f32], b: &[f32], tile: &mut [f32]) {
        let (a, b, c) = (a.as_ptr(), b.as_ptr(), tile.as_mut_ptr());
        tile_body!(
            MR,
            __m256,
            8,
            _mm256_setzero_ps,
            _mm256_loadu_ps,
            _mm256_set1_ps,
            _mm256_fmadd_ps,
            _mm256_storeu_ps,
            kb,
            (a, 1, MR),
            (b, NR),
            (c, NR)
        )
    }

    /// The same tile on operands in place (see `run_in_place`).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; A's rows 0..6 × columns 0..kb at stride `lda`, B's rows
    /// 0..kb × columns 0..16 at stride `ldb` and C's rows 0..6 × columns 0..16 at stride `ldc`
    /// lie inside their allocations.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn in_place(
        kb: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        ldb: usize,
        c: *mut f32,
        ldc: usize,
    ) {
        tile_body!(
            MR,
            __m256,
            8,
            _mm256_setzero_ps,
            _mm256_loadu_ps,
            _mm256_set1_ps,
            _mm256_fmadd_ps,
            _mm256_storeu_ps,
            kb,
            (a, lda, 1),
            (b, ldb),
            (c, ldc)
        )
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use core::arch::x86_64::*;

    const MR: usize = 12;
    const NR: usize = 32;

    /// 12×32: twenty-four 16-lane accumulators, two B vectors and one broadcast per row (27 of the
    /// 32 zmm registers).
    ///
    /// # Safety
    /// The CPU must support AVX-512F; `a.len() == kb * 12`, `b.len() == kb * 32`,
    /// `tile.len() == 384`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn kernel(kb: usize, a: &[f32], b: &[f32], tile: &mut [f32]) {
        let (a, b, c) = (a.as_ptr(), b.as_ptr(), tile.as_mut_ptr());
        tile_body!(
            MR,
            __m512,
            16,
            _mm512_setzero_ps,
            _mm512_loadu_ps,
            _mm512_set1_ps,
            _mm512_fmadd_ps,
            _mm512_storeu_ps,
            kb,
            (a, 1, MR),
            (b, NR),
            (c, NR)
        )
    }

    /// The same tile on operands in place (see `run_in_place`).
    ///
    /// # Safety
    /// The CPU must support AVX-512F; A's rows 0..12 × columns 0..kb at stride `lda`, B's rows
    /// 0..kb × columns 0..32 at stride `ldb` and C's rows 0..12 × columns 0..32 at stride `ldc`
    /// lie inside their allocations.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn in_place(
        kb: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        ldb: usize,
        c: *mut f32,
        ldc: usize,
    ) {
        tile_body!(
            MR,
            __m512,
            16,
            _mm512_setzero_ps,
            _mm512_loadu_ps,
            _mm512_set1_ps,
            _mm512_fmadd_ps,
            _mm512_storeu_ps,
            kb,
            (a, lda, 1),
            (b, ldb),
            (c, ldc)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::isa::{IsaLevel, Kernels};

    #[test]
    fn every_kernel_this_cpu_runs_agrees_on_a_tile() {
        let kb = 37;
        for level in IsaLevel::ALL {
            if let Err(why) = level.available() {
                eprintln!("skipped: the {level} f32 kernel: {why}");
                continue;
            }
            let kind = Kernels::exactly(level).unwrap().f32;
            let (mr, nr) = kind.tile();
            let a: Vec<f32> = (0..kb * mr).map(|i| (i % 13) as f32 - 6.0).collect();
            let b: Vec<f32> = (0..kb * nr).map(|i| (i % 7) as f32 * 0.5).collect();
            let (mut t1, mut t2) = (vec![0f32; mr * nr], vec![f32::NAN; mr * nr]);
            portable(kb, &a, &b, &mut t1, mr, nr);
            run(kind, kb, &a, &b, &mut t2);
            // Small integers and halves: every partial sum is exact, so the kernels agree exactly.
            assert_eq!(t1, t2, "{kind:?}");
            let want: f32 = (0..kb).map(|p| a[p * mr + 2] * b[p * nr + 5]).sum();
            assert_eq!(t2[2 * nr + 5], want);
        }
    }
}
