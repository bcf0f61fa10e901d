//! INT8 GEMM: `i8 × i8 → i32`, exact on every kernel. Here the AVX2 and portable kernels: operands
//! packed as i16 pairs along k so the AVX2 kernel multiplies and adds two depths per instruction
//! (`vpmaddwd`): 16 multiply-adds per instruction against the AVX2 f32 kernel's 8. The VNNI kernels
//! are in `int8_vnni`.

use super::driver::{self, Family};
use super::pack::{pack_a_grouped, pack_b_grouped};
use super::{check_shapes, int8_vnni, Gemm, Int8Kernel};
use crate::matrix::MatRef;
use crate::{CpuError, Result};

/// The deepest product whose i32 sums cannot overflow: |a·b| ≤ 2^14 per term, and
/// 2^14 · (2^17 − 1) < 2^31.
pub const MAX_I8_DEPTH: usize = (1 << 17) - 1;

/// The tile of the AVX2 and portable INT8 kernels.
const MR: usize = 6;
const NR: usize = 16;

impl Gemm {
    /// `C = A · B` exactly in i32 (`C` row-major with row stride `ldc`); `k` at most
    /// [`MAX_I8_DEPTH`]. Every INT8 kernel gives the same (exact) result.
    pub fn run_i8(&self, a: MatRef<i8>, b: MatRef<i8>, c: &mut [i32], ldc: usize) -> Result<()> {
        let shape = check_shapes(a.rows(), a.cols(), b.rows(), b.cols(), c.len(), ldc)?;
        if shape.1 > MAX_I8_DEPTH {
            return Err(CpuError::Shape(
                "INT8 product of depth 2^17 or more could overflow i32",
            ));
        }
        let kernel = self.kernels().int8;
        if matches!(kernel, Int8Kernel::Avx512Vnni | Int8Kernel::AvxVnni) {
            int8_vnni::run(self, kernel, shape, &a, &b, c, ldc);
            return Ok(());
        }
        let family = Family {
            mr: MR,
            nr: NR,
            kstep: 2,
            b_extra: 0,
            kc: 2 * self.blocking.kc,
            pack_a: |i0, mb, p0, kb, out: &mut [i16]| {
                pack_a_grouped(&a, (MR, 2), (i0, mb), (p0, kb), out, i16::from)
            },
            pack_b: |p0, kb, j0, nb, s, out: &mut [i16]| {
                pack_b_grouped(&b, (NR, 2), (p0, kb), (j0, nb), s, out, i16::from)
            },
            kernel: |kp, ap: &[i16], bp: &[i16], tile: &mut [i32]| {
                run_kernel(kernel, kp, ap, bp, tile)
            },
        };
        driver::run(self, shape, &family, None, c, ldc);
        Ok(())
    }
}

fn run_kernel(kind: Int8Kernel, kp: usize, a: &[i16], b: &[i16], tile: &mut [i32]) {
    let (a, b, tile) = (&a[..kp * MR], &b[..kp * NR], &mut tile[..MR * NR]);
    match kind {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: an engine runs `Avx2` only where AVX2 was detected (`Gemm::with` refuses kernels
        // above the CPU's level); the slices hold exactly `kp/2` pairs of MR and NR values.
        Int8Kernel::Avx2 => unsafe { avx2::kernel(kp, a, b, tile) },
        _ => portable(kp, a, b, tile),
    }
}

fn portable(kp: usize, a: &[i16], b: &[i16], tile: &mut [i32]) {
    let mut acc = [0i32; MR * NR];
    for p in 0..kp / 2 {
        let (ap, bp) = (
            &a[p * 2 * MR..(p + 1) * 2 * MR],
            &b[p * 2 * NR..(p + 1) * 2 * NR],
        );
        for r in 0..MR {
            for c in 0..NR {
                acc[r * NR + c] += i32::from(ap[2 * r]) * i32::from(bp[2 * c])
                    + i32::from(ap[2 * r + 1]) * i32::from(bp[2 * c + 1]);
            }
        }
    }
    tile.copy_from_slice(&acc);
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{MR, NR};
    use core::arch::x86_64::*;

    /// 6×16 i32 tile; per k pair two B vectors of 8 (pair) lanes and one broadcast pair per row.
    ///
    /// # Safety
    /// The CPU must support AVX2; `a.len() == kp * MR`, `b.len() == kp * NR`, `kp` even,
    /// `tile.len() == MR * NR`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn kernel(kp: usize, a: &[i16], b: &[i16], tile: &mut [i32]) {
        let mut c = [[_mm256_setzero_si256(); 2]; MR];
        let (ap, bp) = (a.as_ptr(), b.as_ptr());
        for p in 0..kp / 2 {
            // SAFETY: pair p's B values are b[p*32 .. p*32+32], inside b (kp*NR = kp/2 * 32).
            let (b0, b1) = unsafe {
                (
                    _mm256_loadu_si256(bp.add(p * 2 * NR) as *const __m256i),
                    _mm256_loadu_si256(bp.add(p * 2 * NR + NR) as *const __m256i),
                )
            };
            for (r, row) in c.iter_mut().enumerate() {
                // SAFETY: row r's pair is a[p*12 + 2r ..+2], inside a (kp*MR = kp/2 * 12).
                let pair = unsafe { (ap.add(p * 2 * MR + 2 * r) as *const i32).read_unaligned() };
                let av = _mm256_set1_epi32(pair);
                row[0] = _mm256_add_epi32(row[0], _mm256_madd_epi16(av, b0));
                row[1] = _mm256_add_epi32(row[1], _mm256_madd_epi16(av, b1));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Blocking;
    use crate::gemm::{IsaLevel, Kernels};

    fn naive(a: &[i8], b: &[i8], m: usize, k: usize, n: usize) -> Vec<i32> {
        let mut c = vec![0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k)
                    .map(|p| i32::from(a[i * k + p]) * i32::from(b[p * n + j]))
                    .sum();
            }
        }
        c
    }

    /// `A · B` of row-major operands on `g`.
    fn product(g: &Gemm, a: &[i8], b: &[i8], (m, k, n): (usize, usize, usize)) -> Vec<i32> {
        let mut c = vec![0; m * n];
        g.run_i8(
            MatRef::row_major(a, m, k).unwrap(),
            MatRef::row_major(b, k, n).unwrap(),
            &mut c,
            n,
        )
        .unwrap();
        c
    }

    #[test]
    fn exact_against_naive_on_every_isa_for_odd_depths_and_edges() {
        let small = Blocking {
            mc: 12,
            kc: 8,
            nc: 32,
        };
        for level in IsaLevel::ALL {
            let kernels = match Kernels::exactly(level) {
                Ok(k) => k,
                Err(why) => {
                    eprintln!("skipped: the {level} INT8 kernel: {why}");
                    continue;
                }
            };
            for threads in [1, 3] {
                let g = Gemm::with(threads, small, kernels).unwrap();
                for &(m, k, n) in &[
                    (1, 1, 1),
                    (7, 9, 17),
                    (13, 33, 40),
                    (6, 16, 16),
                    (12, 64, 32),
                    (25, 255, 65),
                    (1, 257, 7),
                ] {
                    let a: Vec<i8> = (0..m * k).map(|i| (i * 37 % 256) as u8 as i8).collect();
                    let b: Vec<i8> = (0..k * n).map(|i| (i * 91 % 256) as u8 as i8).collect();
                    let c = product(&g, &a, &b, (m, k, n));
                    assert_eq!(
                        c,
                        naive(&a, &b, m, k, n),
                        "{m}x{k}x{n} {kernels:?} {threads}"
                    );
                }
            }
        }
    }

    /// Transposed (column-strided) A and B take the packers' general paths on every kernel.
    #[test]
    fn transposed_operands_on_every_isa() {
        let (m, k, n) = (13, 37, 45);
        let at: Vec<i8> = (0..k * m).map(|i| (i * 29 % 256) as u8 as i8).collect(); // [k, m]
        let bt: Vec<i8> = (0..n * k).map(|i| (i * 53 % 256) as u8 as i8).collect(); // [n, k]
        let a: Vec<i8> = (0..m * k).map(|i| at[(i % k) * m + i / k]).collect();
        let b: Vec<i8> = (0..k * n).map(|i| bt[(i % n) * k + i / n]).collect();
        let want = naive(&a, &b, m, k, n);
        for level in IsaLevel::supported() {
            let g = Gemm::with(
                2,
                Blocking::for_caches(crate::cache::CacheSizes::detect()),
                Kernels::exactly(level).unwrap(),
            )
            .unwrap();
            let mut c = vec![0; m * n];
            g.run_i8(
                MatRef::row_major(&at, k, m).unwrap().t(),
                MatRef::row_major(&bt, n, k).unwrap().t(),
                &mut c,
                n,
            )
            .unwrap();
            assert_eq!(c, want, "{level}");
        }
    }

    /// The deepest product allowed, every term at its extreme, exact on every kernel; and once
    /// more in a single panel (a 2^15-deep `kc`, so 2^17 on VNNI), where the VNNI kernels' sums
    /// (A offset by 128) wrap in i32 before the correction brings them back.
    #[test]
    fn exact_at_the_largest_depth_on_every_isa() {
        let (m, k, n) = (2, MAX_I8_DEPTH, 3);
        let a = vec![-128i8; m * k];
        let mut b = vec![-128i8; k * n];
        b.iter_mut().skip(2).step_by(3).for_each(|v| *v = 127); // column 2: +127
        let a_high = vec![127i8; m * k];
        let deep = Blocking {
            kc: 1 << 15,
            ..Blocking::for_caches(crate::cache::CacheSizes::detect())
        };
        for (level, blocking) in IsaLevel::supported().into_iter().flat_map(|l| {
            [
                (l, Blocking::for_caches(crate::cache::CacheSizes::detect())),
                (l, deep),
            ]
        }) {
            let g = Gemm::with(2, blocking, Kernels::exactly(level).unwrap()).unwrap();
            // 127 · -128 per term: A + 128 = 255, so a single VNNI panel's sums pass -2^31.
            let b_low = vec![-128i8; k * n];
            let c = product(&g, &a_high, &b_low, (m, k, n));
            assert!(
                c.iter().all(|&v| i64::from(v) == -16256 * k as i64),
                "{level} {blocking:?}"
            );
            let c = product(&g, &a, &b, (m, k, n));
            let top = 16384 * k as i64;
            let low = -128 * 127 * k as i64;
            assert_eq!(
                c,
                [top, top, low, top, top, low].map(|v| v as i32),
                "{level}"
            );
        }
        let mut c = vec![0; m * n];
        let deeper = vec![0i8; m * (k + 1)];
        assert!(Gemm::new(1)
            .unwrap()
            .run_i8(
                MatRef::row_major(&deeper, m, k + 1).unwrap(),
                MatRef::row_major(&vec![0i8; (k + 1) * n], k + 1, n).unwrap(),
                &mut c,
                n
            )
            .is_err());
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let (m, k, n) = (2, 1000, 3);
        let a = vec![-128i8; m * k];
        let b = vec![-128i8; k * n];
        let mut c = vec![0; m * n];
        Gemm::new(2)
            .unwrap()
            .run_i8(
                MatRef::row_major(&a, m, k).unwrap(),
                MatRef::row_major(&b, k, n).unwrap(),
                &mut c,
                n,
            )
            .unwrap();
        assert!(c.iter().all(|&v| v == 16384 * 1000));
    }
}
