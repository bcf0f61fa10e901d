//! INT8 GEMM on VNNI (`vpdpbusd`: four u8 × i8 products summed into each i32 lane), AVX-512 (12×32
//! tile) or AVX-VNNI (6×16 on 256-bit vectors). The instruction wants unsigned A, so A is packed as
//! `a + 128` (u8) and the result corrected by `128 · Σ_k B[k, j]` per column: exact. Sums wrap in
//! i32 on the way (`vpdpbusd` does not saturate), and the corrected total is the true one, which
//! fits for depths up to `MAX_I8_DEPTH`.

use super::driver::{self, Family};
use super::{Gemm, Int8Kernel};
use crate::matrix::MatRef;
use rayon::prelude::*;

/// Register tile of a VNNI kernel.
pub(super) fn tile(kind: Int8Kernel) -> (usize, usize) {
    match kind {
        Int8Kernel::Avx512Vnni => (12, 32),
        _ => (6, 16),
    }
}

/// `C = A · B` on the VNNI kernel `kind` (`Avx512Vnni` or `AvxVnni`), shapes checked.
pub(super) fn run(
    g: &Gemm,
    kind: Int8Kernel,
    shape: (usize, usize, usize),
    a: &MatRef<i8>,
    b: &MatRef<i8>,
    c: &mut [i32],
    ldc: usize,
) {
    let (m, k, n) = shape;
    let (mr, nr) = tile(kind);
    let family = Family {
        mr,
        nr,
        kstep: 4,
        kc: 4 * g.blocking.kc,
        pack_a: |i0, mb, p0, kb, out: &mut [u8]| pack_a(a, mr, (i0, mb), (p0, kb), out),
        pack_b: |p0, kb, j0, nb, s, out: &mut [u8]| {
            pack_b_sliver(b, nr, (p0, kb), (j0, nb), s, out)
        },
        kernel: |kp, ap: &[u8], bp: &[u8], tile: &mut [i32]| run_kernel(kind, kp, ap, bp, tile),
    };
    driver::run(g, shape, &family, c, ldc);
    if m == 0 || n == 0 {
        return;
    }
    // 128 · column sums of B (|Σ| < 2^24; the product wraps like the kernel's sums), subtracted
    // from every row. Blocks of columns, B read along its rows.
    let mut comp = vec![0i32; n];
    let sums = |(blk, sums): (usize, &mut [i32])| {
        let (j0, w) = (blk * 256, sums.len());
        for p in 0..k {
            match b.col_stride() {
                1 => sums
                    .iter_mut()
                    .zip(b.row_slice(p, j0, w))
                    .for_each(|(s, &v)| *s += i32::from(v)),
                _ => sums
                    .iter_mut()
                    .enumerate()
                    .for_each(|(j, s)| *s += i32::from(b.at(p, j0 + j))),
            }
        }
        sums.iter_mut().for_each(|s| *s = s.wrapping_mul(128));
    };
    let inline = g.threads == 1 || m * n * k <= 1 << 19;
    if inline {
        comp.chunks_mut(256).enumerate().for_each(sums);
    } else {
        g.install(|| comp.par_chunks_mut(256).enumerate().for_each(sums));
    }
    let correct = |row: &mut [i32]| {
        for (v, &s) in row[..n].iter_mut().zip(&comp) {
            *v = v.wrapping_sub(s);
        }
    };
    if inline {
        c.chunks_mut(ldc).take(m).for_each(correct);
    } else {
        g.install(|| c.par_chunks_mut(ldc).take(m).for_each(correct));
    }
}

/// Packs `A[i0.., p0..]` as u8 `a + 128`: per k quad, four bytes for each of the `mr` rows.
/// Rows and depths past the edge are 0 (they add nothing; the correction covers real depths only).
fn pack_a(
    a: &MatRef<i8>,
    mr: usize,
    (i0, mb): (usize, usize),
    (p0, kb): (usize, usize),
    out: &mut [u8],
) {
    let kp = kb.div_ceil(4) * 4;
    for (s, sliver) in out
        .chunks_exact_mut(kp * mr)
        .take(mb.div_ceil(mr))
        .enumerate()
    {
        let rows = (mb - s * mr).min(mr);
        if a.col_stride() == 1 {
            sliver.fill(0);
            for r in 0..rows {
                let src = a.row_slice(i0 + s * mr + r, p0, kb);
                for (q, four) in src.chunks(4).enumerate() {
                    let at = q * 4 * mr + 4 * r;
                    for (d, &v) in sliver[at..at + four.len()].iter_mut().zip(four) {
                        *d = (v as u8) ^ 0x80;
                    }
                }
            }
            continue;
        }
        for (q, quad) in sliver.chunks_exact_mut(4 * mr).enumerate() {
            for r in 0..mr {
                for d in 0..4 {
                    let kk = 4 * q + d;
                    quad[4 * r + d] = if r < rows && kk < kb {
                        (a.at(i0 + s * mr + r, p0 + kk) as u8) ^ 0x80
                    } else {
                        0
                    };
                }
            }
        }
    }
}

/// Packs one B sliver as i8 bytes: per k quad, four bytes for each of the `nr` columns.
fn pack_b_sliver(
    b: &MatRef<i8>,
    nr: usize,
    (p0, kb): (usize, usize),
    (j0, nb): (usize, usize),
    s: usize,
    out: &mut [u8],
) {
    let cols = (nb - s * nr).min(nr);
    if b.col_stride() == 1 {
        let kp = kb.div_ceil(4) * 4;
        out[..kp * nr].fill(0);
        for kk in 0..kb {
            let src = b.row_slice(p0 + kk, j0 + s * nr, cols);
            let quad = &mut out[(kk / 4) * 4 * nr..];
            for (c, &v) in src.iter().enumerate() {
                quad[4 * c + kk % 4] = v as u8;
            }
        }
        return;
    }
    for (q, quad) in out.chunks_exact_mut(4 * nr).enumerate() {
        for c in 0..nr {
            for d in 0..4 {
                let kk = 4 * q + d;
                quad[4 * c + d] = if c < cols && kk < kb {
                    b.at(p0 + kk, j0 + s * nr + c) as u8
                } else {
                    0
                };
            }
        }
    }
}

fn run_kernel(kind: Int8Kernel, kp: usize, a: &[u8], b: &[u8], tile: &mut [i32]) {
    let (mr, nr) = self::tile(kind);
    let (a, b, tile) = (&a[..kp * mr], &b[..kp * nr], &mut tile[..mr * nr]);
    match kind {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: an engine runs `Avx512Vnni` only where AVX-512F and AVX-512 VNNI were detected
        // (`Kernels::at_most`, checked by `Gemm::with`); the slices have the lengths it reads.
        Int8Kernel::Avx512Vnni => unsafe { avx512::kernel(kp, a, b, tile) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, `AvxVnni` only where AVX2 and AVX-VNNI were detected.
        Int8Kernel::AvxVnni => unsafe { avx_vnni::kernel(kp, a, b, tile) },
        _ => unreachable!("run_i8 sends only the VNNI kernels here"),
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use core::arch::x86_64::*;

    const MR: usize = 12;
    const NR: usize = 32;

    /// 12×32 i32 tile; per k quad two B vectors (16 columns × 4 bytes each) and one broadcast
    /// quad per row.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and AVX-512 VNNI; `a.len() == kp * 12`, `b.len() == kp * 32`,
    /// `kp` a multiple of 4, `tile.len() == 384`.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub(super) unsafe fn kernel(kp: usize, a: &[u8], b: &[u8], tile: &mut [i32]) {
        let mut c = [[_mm512_setzero_si512(); 2]; MR];
        let (ap, bp) = (a.as_ptr(), b.as_ptr());
        for q in 0..kp / 4 {
            // SAFETY: quad q's B bytes are b[q*128 .. q*128+128], inside b (kp*NR = kp/4 * 128).
            let (b0, b1) = unsafe {
                (
                    _mm512_loadu_si512(bp.add(q * 4 * NR) as *const __m512i),
                    _mm512_loadu_si512(bp.add(q * 4 * NR + 64) as *const __m512i),
                )
            };
            for (r, row) in c.iter_mut().enumerate() {
                // SAFETY: row r's quad is a[q*48 + 4r .. +4], inside a (kp*MR = kp/4 * 48).
                let quad = unsafe { (ap.add(q * 4 * MR + 4 * r) as *const i32).read_unaligned() };
                let av = _mm512_set1_epi32(quad);
                row[0] = _mm512_dpbusd_epi32(row[0], av, b0);
                row[1] = _mm512_dpbusd_epi32(row[1], av, b1);
            }
        }
        let out = tile.as_mut_ptr();
        for (r, row) in c.iter().enumerate() {
            // SAFETY: r*NR+32 <= MR*NR.
            unsafe {
                _mm512_storeu_si512(out.add(r * NR) as *mut __m512i, row[0]);
                _mm512_storeu_si512(out.add(r * NR + 16) as *mut __m512i, row[1]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx_vnni {
    use core::arch::x86_64::*;

    const MR: usize = 6;
    const NR: usize = 16;

    /// 6×16 i32 tile on 256-bit vectors; per k quad two B vectors (8 columns × 4 bytes each).
    ///
    /// # Safety
    /// The CPU must support AVX2 and AVX-VNNI; `a.len() == kp * 6`, `b.len() == kp * 16`, `kp` a
    /// multiple of 4, `tile.len() == 96`.
    #[target_feature(enable = "avx2,avxvnni")]
    pub(super) unsafe fn kernel(kp: usize, a: &[u8], b: &[u8], tile: &mut [i32]) {
        let mut c = [[_mm256_setzero_si256(); 2]; MR];
        let (ap, bp) = (a.as_ptr(), b.as_ptr());
        for q in 0..kp / 4 {
            // SAFETY: quad q's B bytes are b[q*64 .. q*64+64], inside b (kp*NR = kp/4 * 64).
            let (b0, b1) = unsafe {
                (
                    _mm256_loadu_si256(bp.add(q * 4 * NR) as *const __m256i),
                    _mm256_loadu_si256(bp.add(q * 4 * NR + 32) as *const __m256i),
                )
            };
            for (r, row) in c.iter_mut().enumerate() {
                // SAFETY: row r's quad is a[q*24 + 4r .. +4], inside a (kp*MR = kp/4 * 24).
                let quad = unsafe { (ap.add(q * 4 * MR + 4 * r) as *const i32).read_unaligned() };
                let av = _mm256_set1_epi32(quad);
                row[0] = _mm256_dpbusd_avx_epi32(row[0], av, b0);
                row[1] = _mm256_dpbusd_avx_epi32(row[1], av, b1);
            }
        }
        let out = tile.as_mut_ptr();
        for (r, row) in c.iter().enumerate() {
            // SAFETY: r*NR+16 <= MR*NR.
            unsafe {
                _mm256_storeu_si256(out.add(r * NR) as *mut __m256i, row[0]);
                _mm256_storeu_si256(out.add(r * NR + 8) as *mut __m256i, row[1]);
            }
        }
    }
}
