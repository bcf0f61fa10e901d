//! Photonic device model GEMM against an optimized host GEMM of the same shape, on the host.
//!
//! The model's MATMUL (weights already programmed and calibrated, one input batch: detection,
//! noise and ADC included) against `matrixmultiply::sgemm` of the same N×N by N×B product in f32.
//! Building the chip's transfer matrix after programming is timed separately: it is part of
//! programming (once per weights, calibration and temperature), not of a MATMUL.

use lightos_bench::median_secs;
use nalgebra::DMatrix;
use photonic_emu::chip::{Chip, ChipConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

/// `C = A·B` for row-major f32 `a` (m×k) and `b` (k×n).
fn sgemm(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    // SAFETY: the slices hold m×k, k×n and m×n elements with the row-major strides given.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            n as isize,
            1,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

fn main() {
    let n = ChipConfig::default().n;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let w: Vec<f64> = (0..n * n).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let mut chip = Chip::new(ChipConfig::default());
    chip.program(&w).expect("valid weights");
    chip.calibrate(25.0, 1.0);
    // A new temperature makes the next MATMUL rebuild the transfer matrix (and only that).
    let mut temp = 25.0;
    let build = median_secs(5, || {
        temp += 1e-6;
        black_box(
            chip.matmul(&DMatrix::zeros(n, 1), temp, 1.0)
                .expect("programmed"),
        );
    });
    println!("BENCH-TABLE-BEGIN");
    println!("| N×N weights × N×B inputs | device model MATMUL | host sgemm (matrixmultiply, f32) | ratio (lower is better) |");
    println!("|---|---|---|---|");
    for batch in [64usize, 256, 1024] {
        let x64 = DMatrix::from_fn(n, batch, |_, _| rng.gen_range(-1.0..1.0));
        let a32: Vec<f32> = w.iter().map(|&v| v as f32).collect();
        let b32: Vec<f32> = (0..n * batch)
            .map(|i| x64[(i / batch, i % batch)] as f32)
            .collect();
        // The device's layout: input vectors one after another (column-major N×B).
        let x32: Vec<f32> = x64.iter().map(|&v| v as f32).collect();
        let mut c32 = vec![0f32; n * batch];
        let reps = (200_000 / batch).max(20);
        black_box(chip.matmul_f32(&x32, n, 25.0, 1.0).expect("programmed"));
        let model = median_secs(9, || {
            for _ in 0..reps {
                black_box(
                    chip.matmul_f32(black_box(&x32), n, 25.0, 1.0)
                        .expect("programmed"),
                );
            }
        }) / reps as f64;
        let host = median_secs(9, || {
            for _ in 0..reps {
                sgemm(n, n, batch, black_box(&a32), black_box(&b32), &mut c32);
                black_box(&c32);
            }
        }) / reps as f64;
        println!(
            "| {n}×{n} × {n}×{batch} | {:.1} µs | {:.1} µs | {:.2}× |",
            model * 1e6,
            host * 1e6,
            model / host
        );
    }
    println!("BENCH-TABLE-END");
    println!(
        "TRANSFER-BUILD: {:.0} µs per weights/calibration/temperature change (N = {n})",
        build * 1e6
    );
}
