//! INT8 GEMM on VNNI (`vpdpbusd`: four u8 × i8 products summed into each i32 lane), AVX-512 (12×32
//! tile) or AVX-VNNI (6×16 on 256-bit vectors). The instruction wants unsigned A, so A is packed as
//! `a + 128` (u8) and each panel's tile corrected by `−128 · Σ_k B[k, j]` over the panel's depth:
//! exact. The correction is computed while B is packed and stored after each sliver (as oneDNN
//! does), so it costs no pass of its own. A panel's sums could wrap in i32 for panels deeper than
//! about 2^16 (`vpdpbusd` does not saturate; the default panel is 2048 deep), and the corrected
//! total would still be the true one, which fits for depths up to `MAX_I8_DEPTH` (a test runs such
//! a panel).

use super::driver::{self, Family};
use super::pack::{pack_a_grouped, pack_b_grouped};
use super::{Gemm, Int8Kernel};
use crate::matrix::MatRef;

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
    let (mr, nr) = tile(kind);
    let family = Family {
        mr,
        nr,
        kstep: 4,
        b_extra: 4 * nr,
        kc: 4 * g.blocking.kc,
        pack_a: |i0, mb, p0, kb, out: &mut [u8]| pack_a(a, mr, (i0, mb), (p0, kb), out),
        pack_b: |p0, kb, j0, nb, s, out: &mut [u8]| {
            pack_b_sliver(b, nr, (p0, kb), (j0, nb), s, out)
        },
        kernel: |kp, ap: &[u8], bp: &[u8], tile: &mut [i32]| run_kernel(kind, kp, ap, bp, tile),
    };
    driver::run(g, shape, &family, None, c, ldc);
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
    if a.col_stride() != 1 {
        let conv = |v: i8| (v as u8) ^ 0x80;
        return pack_a_grouped(a, (mr, 4), (i0, mb), (p0, kb), out, conv);
    }
    let kp = kb.div_ceil(4) * 4;
    for (s, sliver) in out
        .chunks_exact_mut(kp * mr)
        .take(mb.div_ceil(mr))
        .enumerate()
    {
        let rows = (mb - s * mr).min(mr);
        if rows < mr || kb % 4 != 0 {
            sliver.fill(0);
        }
        for r in 0..rows {
            let src: &[u8] = bytemuck::cast_slice(a.row_slice(i0 + s * mr + r, p0, kb));
            let (quads, rest) = src.as_chunks::<4>();
            for (q, four) in quads.iter().enumerate() {
                let v = u32::from_ne_bytes(*four) ^ 0x8080_8080;
                let at = q * 4 * mr + 4 * r;
                sliver[at..at + 4].copy_from_slice(&v.to_ne_bytes());
            }
            if !rest.is_empty() {
                let at = quads.len() * 4 * mr + 4 * r;
                for (d, &v) in sliver[at..at + rest.len()].iter_mut().zip(rest) {
                    *d = v ^ 0x80;
                }
            }
        }
    }
}

/// Packs one B sliver as i8 bytes: per k quad, four bytes for each of the `nr` columns; then `nr`
/// i32 (native endian) `−128 · Σ_k B[k, j]` over the sliver's depth, the A-offset correction.
fn pack_b_sliver(
    b: &MatRef<i8>,
    nr: usize,
    (p0, kb): (usize, usize),
    (j0, nb): (usize, usize),
    s: usize,
    out: &mut [u8],
) {
    let cols = (nb - s * nr).min(nr);
    let kp = kb.div_ceil(4) * 4;
    let (data, comp) = out.split_at_mut(kp * nr);
    let mut sums = [0i32; 32];
    if b.col_stride() == 1 {
        // Four rows of B at a time, interleaved column by column.
        let zeros = [0i8; 64];
        for (q, quad) in data.chunks_exact_mut(4 * nr).enumerate() {
            let row = |d: usize| {
                let kk = 4 * q + d;
                if kk < kb {
                    b.row_slice(p0 + kk, j0 + s * nr, cols)
                } else {
                    &zeros[..cols]
                }
            };
            let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
            #[cfg(target_arch = "x86_64")]
            if cols == nr {
                interleave::full(nr, [r0, r1, r2, r3], quad, &mut sums);
                continue;
            }
            let (words, _) = quad.as_chunks_mut::<4>();
            for (c, w) in words.iter_mut().enumerate().take(cols) {
                *w = [r0[c] as u8, r1[c] as u8, r2[c] as u8, r3[c] as u8];
            }
            for (c, sum) in sums.iter_mut().enumerate().take(cols) {
                *sum += i32::from(r0[c]) + i32::from(r1[c]) + i32::from(r2[c]) + i32::from(r3[c]);
            }
            words[cols..].iter_mut().for_each(|w| *w = [0; 4]);
        }
    } else {
        pack_b_grouped(b, (nr, 4), (p0, kb), (j0, nb), s, data, |v: i8| v as u8);
        for quad in data.chunks_exact(4 * nr) {
            for (c, sum) in sums.iter_mut().enumerate().take(nr) {
                *sum += quad[4 * c..4 * c + 4]
                    .iter()
                    .map(|&v| i32::from(v as i8))
                    .sum::<i32>();
            }
        }
    }
    for (dst, sum) in comp.chunks_exact_mut(4).zip(&sums[..nr]) {
        dst.copy_from_slice(&sum.wrapping_mul(-128).to_ne_bytes());
    }
}

/// Four rows of i8 interleaved into quads with SSE2 (every x86-64 CPU has it), 16 columns per step,
/// and their sums per column.
#[cfg(target_arch = "x86_64")]
mod interleave {
    use core::arch::x86_64::*;

    /// `out[4c + d] = rows[d][c]` and `sums[c] += Σ_d rows[d][c]` for the `nr` (a multiple of 16)
    /// columns every row holds.
    pub(super) fn full(nr: usize, rows: [&[i8]; 4], out: &mut [u8], sums: &mut [i32; 32]) {
        assert!(
            nr.is_multiple_of(16)
                && nr <= sums.len()
                && rows.iter().all(|r| r.len() >= nr)
                && out.len() >= 4 * nr
        );
        for c0 in (0..nr).step_by(16) {
            // SAFETY: SSE2 is part of x86-64; every load reads 16 bytes inside rows[d][c0..c0+16],
            // every store writes 16 bytes inside out[4*c0..4*c0+64] or 4 i32 inside
            // sums[c0..c0+16] (lengths asserted above: c0 + 16 <= nr <= 32).
            unsafe {
                let ld = |d: usize| _mm_loadu_si128(rows[d].as_ptr().add(c0) as *const __m128i);
                let (x0, x1, x2, x3) = (ld(0), ld(1), ld(2), ld(3));
                let (t0, t1) = (_mm_unpacklo_epi8(x0, x1), _mm_unpackhi_epi8(x0, x1));
                let (t2, t3) = (_mm_unpacklo_epi8(x2, x3), _mm_unpackhi_epi8(x2, x3));
                let q = [
                    _mm_unpacklo_epi16(t0, t2),
                    _mm_unpackhi_epi16(t0, t2),
                    _mm_unpacklo_epi16(t1, t3),
                    _mm_unpackhi_epi16(t1, t3),
                ];
                let dst = out.as_mut_ptr().add(4 * c0) as *mut __m128i;
                for (i, v) in q.iter().enumerate() {
                    _mm_storeu_si128(dst.add(i), *v);
                }
                // Sign-extended sums: i8 → i16 (high byte of a self-unpack, shifted down), the
                // four rows added in i16 (|Σ| ≤ 512), then i16 → i32.
                let wide = |x: __m128i| {
                    (
                        _mm_srai_epi16(_mm_unpacklo_epi8(x, x), 8),
                        _mm_srai_epi16(_mm_unpackhi_epi8(x, x), 8),
                    )
                };
                let (a0, a1) = wide(x0);
                let (b0, b1) = wide(x1);
                let (c0v, c1v) = wide(x2);
                let (d0, d1) = wide(x3);
                let lo = _mm_add_epi16(_mm_add_epi16(a0, b0), _mm_add_epi16(c0v, d0));
                let hi = _mm_add_epi16(_mm_add_epi16(a1, b1), _mm_add_epi16(c1v, d1));
                let s32 = |x: __m128i| {
                    (
                        _mm_srai_epi32(_mm_unpacklo_epi16(x, x), 16),
                        _mm_srai_epi32(_mm_unpackhi_epi16(x, x), 16),
                    )
                };
                let (s0, s1) = s32(lo);
                let (s2, s3) = s32(hi);
                let sp = sums.as_mut_ptr().add(c0) as *mut __m128i;
                for (i, v) in [s0, s1, s2, s3].into_iter().enumerate() {
                    _mm_storeu_si128(sp.add(i), _mm_add_epi32(_mm_loadu_si128(sp.add(i)), v));
                }
            }
        }
    }
}

fn run_kernel(kind: Int8Kernel, kp: usize, a: &[u8], b: &[u8], tile: &mut [i32]) {
    let (mr, nr) = self::tile(kind);
    let (a, b, tile) = (&a[..kp * mr], &b[..kp * nr + 4 * nr], &mut tile[..mr * nr]);
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
    /// The CPU must support AVX-512F and AVX-512 VNNI; `a.len() == kp * 12`, `b.len() == kp * 32 + 128`,
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
        // SAFETY: the sliver's 32 correction values follow its kp*NR bytes (b.len()).
        let (k0, k1) = unsafe {
            (
                _mm512_loadu_si512(bp.add(kp * NR) as *const __m512i),
                _mm512_loadu_si512(bp.add(kp * NR + 64) as *const __m512i),
            )
        };
        let out = tile.as_mut_ptr();
        for (r, row) in c.iter().enumerate() {
            // SAFETY: r*NR+32 <= MR*NR.
            unsafe {
                _mm512_storeu_si512(
                    out.add(r * NR) as *mut __m512i,
                    _mm512_add_epi32(row[0], k0),
                );
                _mm512_storeu_si512(
                    out.add(r * NR + 16) as *mut __m512i,
                    _mm512_add_epi32(row[1], k1),
                );
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
    /// The CPU must support AVX2 and AVX-VNNI; `a.len() == kp * 6`, `b.len() == kp * 16 + 64`, `kp` a
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
        // SAFETY: the sliver's 16 correction values follow its kp*NR bytes (b.len()).
        let (k0, k1) = unsafe {
            (
                _mm256_loadu_si256(bp.add(kp * NR) as *const __m256i),
                _mm256_loadu_si256(bp.add(kp * NR + 32) as *const __m256i),
            )
        };
        let out = tile.as_mut_ptr();
        for (r, row) in c.iter().enumerate() {
            // SAFETY: r*NR+16 <= MR*NR.
            unsafe {
                _mm256_storeu_si256(
                    out.add(r * NR) as *mut __m256i,
                    _mm256_add_epi32(row[0], k0),
                );
                _mm256_storeu_si256(
                    out.add(r * NR + 8) as *mut __m256i,
                    _mm256_add_epi32(row[1], k1),
                );
            }
        }
    }
}
