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
        let mut c = [[_mm256_setzero_ps(); 2]; MR];
        let (ap, bp) = (a.as_ptr(), b.as_ptr());
        for p in 0..kb {
            // SAFETY: p < kb, so p*NR+16 <= b.len() and p*MR+6 <= a.len().
            let (b0, b1) = unsafe {
                (
                    _mm256_loadu_ps(bp.add(p * NR)),
                    _mm256_loadu_ps(bp.add(p * NR + 8)),
                )
            };
            for (i, row) in c.iter_mut().enumerate() {
                // SAFETY: as above, p*MR+i < a.len().
                let av = _mm256_set1_ps(unsafe { *ap.add(p * MR + i) });
                row[0] = _mm256_fmadd_ps(av, b0, row[0]);
                row[1] = _mm256_fmadd_ps(av, b1, row[1]);
            }
        }
        let out = tile.as_mut_ptr();
        for (i, row) in c.iter().enumerate() {
            // SAFETY: i*NR+16 <= MR*NR, the tile's length.
            unsafe {
                _mm256_storeu_ps(out.add(i * NR), row[0]);
                _mm256_storeu_ps(out.add(i * NR + 8), row[1]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use core::arch::x86_64::*;

    const MR: usize = 12;
    const NR: usize = 32;

    /// 12×32: twenty-four 16-lane accumulators, two B vectors and one broadcast per row (29 of the
    /// 32 zmm registers).
    ///
    /// # Safety
    /// The CPU must support AVX-512F; `a.len() == kb * 12`, `b.len() == kb * 32`,
    /// `tile.len() == 384`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn kernel(kb: usize, a: &[f32], b: &[f32], tile: &mut [f32]) {
        let mut c = [[_mm512_setzero_ps(); 2]; MR];
        let (ap, bp) = (a.as_ptr(), b.as_ptr());
        for p in 0..kb {
            // SAFETY: p < kb, so p*NR+32 <= b.len() and p*MR+12 <= a.len().
            let (b0, b1) = unsafe {
                (
                    _mm512_loadu_ps(bp.add(p * NR)),
                    _mm512_loadu_ps(bp.add(p * NR + 16)),
                )
            };
            for (i, row) in c.iter_mut().enumerate() {
                // SAFETY: as above, p*MR+i < a.len().
                let av = _mm512_set1_ps(unsafe { *ap.add(p * MR + i) });
                row[0] = _mm512_fmadd_ps(av, b0, row[0]);
                row[1] = _mm512_fmadd_ps(av, b1, row[1]);
            }
        }
        let out = tile.as_mut_ptr();
        for (i, row) in c.iter().enumerate() {
            // SAFETY: i*NR+32 <= MR*NR, the tile's length.
            unsafe {
                _mm512_storeu_ps(out.add(i * NR), row[0]);
                _mm512_storeu_ps(out.add(i * NR + 16), row[1]);
            }
        }
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
