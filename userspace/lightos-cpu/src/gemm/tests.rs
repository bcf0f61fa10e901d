use super::*;
use crate::cache::Blocking;
use crate::test_util::{f64_matmul, rand_f32};

fn check(g: &Gemm, m: usize, k: usize, n: usize, seed: u64) {
    let a = rand_f32(m * k, seed);
    let b = rand_f32(k * n, seed + 1);
    let mut c = vec![f32::NAN; m * n];
    g.run(
        MatRef::row_major(&a, m, k).unwrap(),
        MatRef::row_major(&b, k, n).unwrap(),
        &mut c,
        n,
    )
    .unwrap();
    let want = f64_matmul(&a, &b, m, k, n);
    for (i, (got, w)) in c.iter().zip(&want).enumerate() {
        let tol = 1e-5 * (k as f64).sqrt() * 4.0 + 1e-6;
        assert!(
            ((*got as f64) - w).abs() <= tol,
            "{m}x{k}x{n} at {i}: {got} vs {w}"
        );
    }
}

/// An engine for every ISA level this CPU runs (the others skip, saying so).
fn engines(threads: usize, blocking: Blocking) -> Vec<Gemm> {
    IsaLevel::ALL
        .into_iter()
        .filter_map(|l| match Kernels::exactly(l) {
            Ok(k) => Some(Gemm::with(threads, blocking, k).unwrap()),
            Err(why) => {
                eprintln!("skipped: ISA level {l}: {why}");
                None
            }
        })
        .collect()
}

const SMALL: Blocking = Blocking {
    mc: 12,
    kc: 8,
    nc: 32,
}; // many blocks and panels on small inputs

#[test]
fn matches_f64_reference_on_edge_shapes_on_every_isa() {
    for threads in [1, 3] {
        for g in engines(threads, SMALL) {
            for &(m, k, n) in &[
                (1, 1, 1),
                (5, 7, 3),
                (6, 8, 16),
                (13, 17, 33),
                (40, 9, 70),
                (7, 64, 1),
                (1, 300, 200),
                (25, 31, 65),
            ] {
                check(&g, m, k, n, (m * 100 + k * 10 + n) as u64);
            }
        }
    }
    for g in engines(2, Blocking::for_caches(crate::cache::CacheSizes::detect())) {
        for &(m, k, n) in &[(129, 300, 257), (1, 257, 255), (17, 255, 7), (255, 17, 257)] {
            check(&g, m, k, n, 9);
        }
    }
}

#[test]
fn bit_identical_across_thread_counts() {
    let (m, k, n) = (97, 530, 75);
    let a = rand_f32(m * k, 1);
    let b = rand_f32(k * n, 2);
    let blocking = Blocking {
        mc: 24,
        kc: 128,
        nc: 48,
    };
    let run = |g: &Gemm, m: usize| {
        let mut c = vec![0f32; m * n];
        g.run(
            MatRef::row_major(&a[..m * k], m, k).unwrap(),
            MatRef::row_major(&b, k, n).unwrap(),
            &mut c,
            n,
        )
        .unwrap();
        c.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    };
    for (one, (two, four)) in engines(1, blocking)
        .iter()
        .zip(engines(2, blocking).iter().zip(&engines(4, blocking)))
    {
        for rows in [m, 1] {
            let bits = run(one, rows);
            assert_eq!(bits, run(two, rows), "{:?} m={rows}", one.kernels());
            assert_eq!(bits, run(four, rows), "{:?} m={rows}", one.kernels());
        }
    }
}

/// The f32 kernels with fused multiply-add give the same bits on AVX2 and AVX-512, on the GEMM and
/// on the one-row path: a deterministic result does not depend on the machine's ISA level.
#[test]
fn avx2_and_avx512_give_the_same_f32_bits() {
    let (Ok(k2), Ok(k5)) = (
        Kernels::exactly(IsaLevel::Avx2),
        Kernels::exactly(IsaLevel::Avx512),
    ) else {
        eprintln!("skipped: this CPU lacks AVX2 or AVX-512F: nothing to compare");
        return;
    };
    let b = Blocking::for_caches(crate::cache::CacheSizes::detect());
    let (g2, g5) = (Gemm::with(2, b, k2).unwrap(), Gemm::with(2, b, k5).unwrap());
    for &(m, k, n) in &[(33, 700, 45), (1, 1000, 300), (64, 64, 64)] {
        let a = rand_f32(m * k, 5);
        let bm = rand_f32(k * n, 6);
        let run = |g: &Gemm| {
            let mut c = vec![0f32; m * n];
            g.run(
                MatRef::row_major(&a, m, k).unwrap(),
                MatRef::row_major(&bm, k, n).unwrap(),
                &mut c,
                n,
            )
            .unwrap();
            c.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        assert_eq!(run(&g2), run(&g5), "{m}x{k}x{n}");
    }
}

/// bf16 on the native kernel (where the CPU has AVX-512 BF16) and widened: both within f32
/// accumulation error of the exact product of the bf16 values.
#[test]
fn bf16_native_and_widened_match_the_reference() {
    use half::bf16;
    let mut gs = engines(2, SMALL);
    match Kernels::at_most(IsaLevel::Avx512).with_native_bf16() {
        Some(k) => gs.push(Gemm::with(2, SMALL, k).unwrap()),
        None => eprintln!("skipped: the native bf16 kernel: this CPU lacks AVX-512 BF16"),
    }
    for g in gs {
        for &(m, k, n) in &[(1, 1, 1), (7, 17, 33), (13, 255, 40), (12, 64, 32)] {
            let a: Vec<bf16> = rand_f32(m * k, 11)
                .into_iter()
                .map(bf16::from_f32)
                .collect();
            let b: Vec<bf16> = rand_f32(k * n, 12)
                .into_iter()
                .map(bf16::from_f32)
                .collect();
            let want = f64_matmul(
                &a.iter().map(|v| v.to_f32()).collect::<Vec<_>>(),
                &b.iter().map(|v| v.to_f32()).collect::<Vec<_>>(),
                m,
                k,
                n,
            );
            for widened in [false, true] {
                let mut c = vec![f32::NAN; m * n];
                let (ma, mb) = (
                    MatRef::row_major(&a, m, k).unwrap(),
                    MatRef::row_major(&b, k, n).unwrap(),
                );
                if widened {
                    g.run_widened(ma, mb, &mut c, n).unwrap();
                } else {
                    g.run(ma, mb, &mut c, n).unwrap();
                }
                for (got, w) in c.iter().zip(&want) {
                    let tol = 1e-5 * (k as f64).sqrt() * 4.0 + 1e-6;
                    assert!(
                        (*got as f64 - w).abs() <= tol,
                        "{:?} widened={widened} {m}x{k}x{n}: {got} vs {w}",
                        g.kernels()
                    );
                }
            }
        }
    }
}

#[test]
fn strided_and_transposed_views_and_row_stride_of_c() {
    let (m, k, n) = (9, 11, 5);
    let a = rand_f32(m * k, 3);
    let bt = rand_f32(n * k, 4); // B stored transposed: [n, k]
    let g = Gemm::new(2).unwrap();
    let ldc = n + 3;
    let mut c = vec![-1f32; m * ldc];
    g.run(
        MatRef::row_major(&a, m, k).unwrap(),
        MatRef::row_major(&bt, n, k).unwrap().t(),
        &mut c,
        ldc,
    )
    .unwrap();
    let b: Vec<f32> = (0..k * n).map(|i| bt[(i % n) * k + i / n]).collect();
    let want = f64_matmul(&a, &b, m, k, n);
    for i in 0..m {
        for j in 0..n {
            assert!((c[i * ldc + j] as f64 - want[i * n + j]).abs() < 1e-4);
        }
        assert!(
            c[i * ldc + n..i * ldc + ldc].iter().all(|&v| v == -1.0),
            "padding untouched"
        );
    }
}

#[test]
fn bad_shapes_are_errors() {
    let g = Gemm::new(1).unwrap();
    let a = [0f32; 6];
    let ma = MatRef::row_major(&a, 2, 3).unwrap();
    let mb = MatRef::row_major(&a, 2, 3).unwrap();
    assert!(
        g.run(ma, mb, &mut [0f32; 9], 3).is_err(),
        "inner dimensions differ"
    );
    let mb = MatRef::row_major(&a, 3, 2).unwrap();
    assert!(
        g.run(ma, mb, &mut [0f32; 3], 2).is_err(),
        "output too small"
    );
    assert!(g.run(ma, mb, &mut [0f32; 4], 1).is_err(), "ldc below n");
    assert!(MatRef::row_major(&a, 3, 3).is_err());
}

#[test]
fn zero_depth_gives_zeros() {
    let g = Gemm::new(1).unwrap();
    let mut c = [5f32; 4];
    g.run(
        MatRef::<f32>::row_major(&[], 2, 0).unwrap(),
        MatRef::<f32>::row_major(&[], 0, 2).unwrap(),
        &mut c,
        2,
    )
    .unwrap();
    assert_eq!(c, [0.0; 4]);
}

#[test]
fn bad_blocking_and_kernels_above_the_cpu_are_refused() {
    for b in [
        Blocking {
            mc: 0,
            kc: 8,
            nc: 32,
        },
        Blocking {
            mc: 12,
            kc: 0,
            nc: 32,
        },
        Blocking {
            mc: 12,
            kc: 8,
            nc: 0,
        },
    ] {
        let k = Kernels::at_most(IsaLevel::Portable);
        assert!(Gemm::with(1, b, k).is_err(), "{b:?}");
    }
    // Blocks that are not multiples of a tile are rounded up, not refused.
    let odd = Blocking {
        mc: 7,
        kc: 5,
        nc: 20,
    };
    for g in engines(2, odd) {
        check(&g, 30, 23, 70, 4);
    }
    // A kernel set that claims a level it does not have.
    let mut k = Kernels::at_most(IsaLevel::Portable);
    k.f32 = KernelKind::Avx512F;
    assert!(Gemm::with(1, SMALL, k).is_err());
}

/// The one-row path: the reference, and the same bits on 1, 2 and 3 threads (columns split
/// differently), edges of every width.
#[test]
fn one_row_path_matches_and_is_bit_identical_across_threads() {
    for &(k, n) in &[(1000, 1000), (333, 4099), (5, 70_000)] {
        let a = rand_f32(k, 21);
        let b = rand_f32(k * n, 22);
        let want = f64_matmul(&a, &b, 1, k, n);
        let mut first: Option<Vec<u32>> = None;
        for threads in [1, 2, 3] {
            for g in engines(threads, SMALL) {
                let mut c = vec![f32::NAN; n];
                g.run(
                    MatRef::row_major(&a, 1, k).unwrap(),
                    MatRef::row_major(&b, k, n).unwrap(),
                    &mut c,
                    n,
                )
                .unwrap();
                for (j, (got, w)) in c.iter().zip(&want).enumerate() {
                    assert!(
                        (*got as f64 - w).abs() < 1e-3,
                        "{k}x{n} col {j}: {got} vs {w}"
                    );
                }
                if g.kernel() != KernelKind::Portable {
                    let bits: Vec<u32> = c.iter().map(|v| v.to_bits()).collect();
                    match &first {
                        Some(f) => assert_eq!(f, &bits, "{:?} {threads} threads", g.kernels()),
                        None => first = Some(bits),
                    }
                }
            }
        }
    }
}

/// A packed once and multiplied many times (its slivers read where they lie): the bits of `run`
/// (beyond one row), several panels and edge rows, on the calling thread and (past 2 Mi
/// multiply-adds) on the pool, on both the A-stationary and the blocked path; an engine with
/// another kernel refuses it.
#[test]
fn a_packed_once_gives_the_bits_of_run() {
    let blocking = Blocking {
        mc: 24,
        kc: 64,
        nc: 64,
    };
    for g in engines(2, blocking) {
        let shapes = [
            (2, 1, 3),
            (13, 200, 70),
            (37, 129, 5),
            (100, 64, 33),
            (40, 300, 200),
            (301, 150, 80),
        ];
        for &(m, k, n) in &shapes {
            let a = rand_f32(m * k, 41);
            let b = rand_f32(k * n, 42);
            let packed = g.pack_a(MatRef::row_major(&a, m, k).unwrap());
            assert_eq!((packed.rows(), packed.cols()), (m, k));
            let (mut c1, mut c2) = (vec![0f32; m * n], vec![0f32; m * n]);
            let mb = MatRef::row_major(&b, k, n).unwrap();
            g.run(MatRef::row_major(&a, m, k).unwrap(), mb, &mut c1, n)
                .unwrap();
            g.run_packed(&packed, mb, &mut c2, n).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&c1), bits(&c2), "{:?} {m}x{k}x{n}", g.kernels());
        }
    }
    let all = engines(1, blocking);
    if let [first, .., last] = &all[..] {
        let a = rand_f32(64, 1);
        let packed = last.pack_a(MatRef::row_major(&a, 8, 8).unwrap());
        let mb = MatRef::row_major(&a, 8, 8).unwrap();
        assert!(first.run_packed(&packed, mb, &mut [0f32; 64], 8).is_err());
    }
}
