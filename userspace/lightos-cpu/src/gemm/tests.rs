use super::*;
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

#[test]
fn matches_f64_reference_on_edge_shapes() {
    let small = Blocking {
        mc: 12,
        kc: 8,
        nc: 32,
    }; // many blocks and panels on small inputs
    for kernel in [KernelKind::Portable, KernelKind::detect()] {
        for g in [
            Gemm::with(1, small, kernel).unwrap(),
            Gemm::with(3, small, kernel).unwrap(),
        ] {
            for &(m, k, n) in &[
                (1, 1, 1),
                (5, 7, 3),
                (6, 8, 16),
                (13, 17, 33),
                (40, 9, 70),
                (7, 64, 1),
            ] {
                check(&g, m, k, n, (m * 100 + k * 10 + n) as u64);
            }
        }
    }
    check(&Gemm::new(2).unwrap(), 129, 300, 257, 9);
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
    let run = |threads| {
        let g = Gemm::with(threads, blocking, KernelKind::detect()).unwrap();
        let mut c = vec![0f32; m * n];
        g.run(
            MatRef::row_major(&a, m, k).unwrap(),
            MatRef::row_major(&b, k, n).unwrap(),
            &mut c,
            n,
        )
        .unwrap();
        c.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(4));
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
fn bad_blocking_is_refused() {
    for b in [
        Blocking {
            mc: 7,
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
            nc: 20,
        },
    ] {
        assert!(Gemm::with(1, b, KernelKind::Portable).is_err(), "{b:?}");
    }
}
