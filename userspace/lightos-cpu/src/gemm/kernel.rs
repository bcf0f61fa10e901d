//! f32 micro-kernels: an MR×NR tile of C from an MR-row sliver of packed A and an NR-column sliver
//! of packed B. The AVX2+FMA kernel is chosen at run time where the CPU has it; the portable one
//! elsewhere. Both sum over k in increasing order, so a tile's value depends only on the data.

use super::{MR, NR};

/// An accumulated MR×NR tile, row-major.
pub(crate) type Tile = [f32; MR * NR];

/// Which micro-kernel this CPU runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelKind {
    /// 256-bit vectors with fused multiply-add (x86-64 AVX2 + FMA).
    Avx2Fma,
    /// Plain Rust, whatever the compiler vectorises.
    Portable,
}

impl KernelKind {
    /// The best kernel this CPU supports.
    pub fn detect() -> KernelKind {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return KernelKind::Avx2Fma;
        }
        KernelKind::Portable
    }
}

/// `tile = a_sliver · b_sliver` over `kb` steps; `a` holds `kb × MR`, `b` holds `kb × NR` values.
pub(crate) fn run(kind: KernelKind, kb: usize, a: &[f32], b: &[f32], tile: &mut Tile) {
    let (a, b) = (&a[..kb * MR], &b[..kb * NR]);
    match kind {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: an engine runs `Avx2Fma` only after `detect` found both features (`Gemm::with`
        // refuses it otherwise); the slices were cut to exactly the lengths the kernel reads.
        KernelKind::Avx2Fma => unsafe { avx2::kernel(kb, a, b, tile) },
        _ => portable(kb, a, b, tile),
    }
}

fn portable(kb: usize, a: &[f32], b: &[f32], tile: &mut Tile) {
    let mut acc = [0f32; MR * NR];
    for p in 0..kb {
        let (ap, bp) = (&a[p * MR..p * MR + MR], &b[p * NR..p * NR + NR]);
        for i in 0..MR {
            for j in 0..NR {
                acc[i * NR + j] += ap[i] * bp[j];
            }
        }
    }
    *tile = acc;
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Tile, MR, NR};
    use core::arch::x86_64::*;

    /// 6×16: twelve 8-lane accumulators, two B vectors and one broadcast per row.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `a.len() == kb * MR` and `b.len() == kb * NR`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn kernel(kb: usize, a: &[f32], b: &[f32], tile: &mut Tile) {
        const { assert!(MR == 6 && NR == 16) };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_agree_on_a_tile() {
        let kb = 37;
        let a: Vec<f32> = (0..kb * MR).map(|i| (i % 13) as f32 - 6.0).collect();
        let b: Vec<f32> = (0..kb * NR).map(|i| (i % 7) as f32 * 0.5).collect();
        let (mut t1, mut t2) = ([0f32; MR * NR], [0f32; MR * NR]);
        run(KernelKind::Portable, kb, &a, &b, &mut t1);
        run(KernelKind::detect(), kb, &a, &b, &mut t2);
        // Small integers and halves: every partial sum is exact, so the kernels agree exactly.
        assert_eq!(t1, t2);
        let want: f32 = (0..kb).map(|p| a[p * MR + 2] * b[p * NR + 5]).sum();
        assert_eq!(t1[2 * NR + 5], want);
    }
}
