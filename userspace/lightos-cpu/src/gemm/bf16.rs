//! bf16 × bf16 on AVX-512 BF16 (`vdpbf16ps`: two bf16 products per f32 lane, accumulated in f32),
//! a 12×32 tile. Products of bf16 values are exact in f32 and the sums are f32, as on the widened
//! path, but the instruction adds each pair before accumulating and flushes denormals, so the bits
//! differ from the widened path's: deterministic primitives use [`Gemm::run_widened`].

use super::driver::{self, Family};
use super::pack::{pack_a_grouped, pack_b_grouped};
use super::Gemm;
use crate::matrix::MatRef;
use crate::Result;
use half::bf16;

const MR: usize = 12;
const NR: usize = 32;

/// `C = A · B` on the native bf16 kernel; the caller checked the shapes and that the CPU has it.
pub(super) fn run(
    g: &Gemm,
    shape: (usize, usize, usize),
    a: &MatRef<bf16>,
    b: &MatRef<bf16>,
    c: &mut [f32],
    ldc: usize,
) -> Result<()> {
    let family = Family {
        mr: MR,
        nr: NR,
        kstep: 2,
        b_extra: 0,
        kc: g.blocking.kc,
        pack_a: |i0, mb, p0, kb, out: &mut [u16]| {
            pack_a_grouped(a, (MR, 2), (i0, mb), (p0, kb), out, bf16::to_bits)
        },
        pack_b: |p0, kb, j0, nb, s, out: &mut [u16]| {
            pack_b_grouped(b, (NR, 2), (p0, kb), (j0, nb), s, out, bf16::to_bits)
        },
        kernel: |kp, ap: &[u16], bp: &[u16], tile: &mut [f32]| {
            let (ap, bp, tile) = (&ap[..kp * MR], &bp[..kp * NR], &mut tile[..MR * NR]);
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Gemm::run` comes here only when the engine's kernels include
            // `Bf16Kernel::Avx512Bf16`, which `Kernels::at_most` picks only where AVX-512F and
            // AVX-512 BF16 were detected; the slices have the lengths the kernel reads.
            unsafe {
                avx512::kernel(kp, ap, bp, tile)
            }
            #[cfg(not(target_arch = "x86_64"))]
            unreachable!("no native bf16 kernel off x86-64: {kp} {ap:?} {bp:?} {tile:?}")
        },
    };
    driver::run(g, shape, &family, None, c, ldc);
    Ok(())
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{MR, NR};
    use core::arch::x86_64::*;

    /// The same 512 bits seen as 32 bf16 values.
    #[inline]
    fn as_bh(v: __m512i) -> __m512bh {
        // SAFETY: both are plain 512-bit vectors; every bit pattern is a valid value of each.
        unsafe { core::mem::transmute::<__m512i, __m512bh>(v) }
    }

    /// 12×32 f32 tile; per k pair two B vectors (16 columns × 2 bf16 each) and one broadcast pair
    /// per row.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and AVX-512 BF16; `a.len() == kp * 12`, `b.len() == kp * 32`,
    /// `kp` even, `tile.len() == 384`.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn kernel(kp: usize, a: &[u16], b: &[u16], tile: &mut [f32]) {
        let mut c = [[_mm512_setzero_ps(); 2]; MR];
        let (ap, bp) = (a.as_ptr(), b.as_ptr());
        for p in 0..kp / 2 {
            // SAFETY: pair p's B values are b[p*64 .. p*64+64], inside b (kp*NR = kp/2 * 64).
            let (b0, b1) = unsafe {
                (
                    as_bh(_mm512_loadu_si512(bp.add(p * 2 * NR) as *const __m512i)),
                    as_bh(_mm512_loadu_si512(bp.add(p * 2 * NR + NR) as *const __m512i)),
                )
            };
            for (r, row) in c.iter_mut().enumerate() {
                // SAFETY: row r's pair is a[p*24 + 2r .. +2], inside a (kp*MR = kp/2 * 24).
                let pair = unsafe { (ap.add(p * 2 * MR + 2 * r) as *const i32).read_unaligned() };
                let av = as_bh(_mm512_set1_epi32(pair));
                row[0] = _mm512_dpbf16_ps(row[0], av, b0);
                row[1] = _mm512_dpbf16_ps(row[1], av, b1);
            }
        }
        let out = tile.as_mut_ptr();
        for (r, row) in c.iter().enumerate() {
            // SAFETY: r*NR+32 <= MR*NR.
            unsafe {
                _mm512_storeu_ps(out.add(r * NR), row[0]);
                _mm512_storeu_ps(out.add(r * NR + 16), row[1]);
            }
        }
    }
}
