//! CPU backend GEMM against OpenBLAS (numpy's) in the same run, single- and multi-threaded; and
//! INT8 against f32 on the CPU backend. Host-native: the guest's TCG would measure the emulator.
//!
//! Prints a Markdown table between BENCH-TABLE-BEGIN/END lines.

use lightos_bench::median_secs;
use lightos_cpu::{Gemm, MatRef};
use std::process::Command;

fn numpy(threads: usize, sizes: &[usize]) -> Result<(String, Vec<f64>), String> {
    let mut cmd = Command::new("python3");
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/numpy_gemm.py"))
        .arg(threads.to_string());
    cmd.args(sizes.iter().map(|s| s.to_string()));
    cmd.env("OPENBLAS_NUM_THREADS", threads.to_string());
    let out = cmd.output().map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "numpy baseline failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let secs = sizes
        .iter()
        .map(|n| v["results"][n.to_string()].as_f64().unwrap_or(f64::NAN))
        .collect();
    Ok((v["blas"].as_str().unwrap_or("?").to_string(), secs))
}

fn reps(n: usize) -> usize {
    (2e9 / (2.0 * (n as f64).powi(3))).clamp(3.0, 15.0) as usize
}

/// Median time of `C = A · B` on `n × n` operands whose element `i` is `fill(i * prime)`.
fn time_square<T: Copy, C: Copy + Default>(
    n: usize,
    fill: impl Fn(usize) -> T,
    gemm: impl Fn(MatRef<T>, MatRef<T>, &mut [C]),
) -> f64 {
    let a: Vec<T> = (0..n * n).map(|i| fill(i * 7919)).collect();
    let b: Vec<T> = (0..n * n).map(|i| fill(i * 104_729)).collect();
    let mut c = vec![C::default(); n * n];
    let mut run = || {
        gemm(
            MatRef::row_major(&a, n, n).unwrap(),
            MatRef::row_major(&b, n, n).unwrap(),
            &mut c,
        )
    };
    run();
    median_secs(reps(n), run)
}

fn lightos_f32(g: &Gemm, n: usize) -> f64 {
    time_square(
        n,
        |v| (v % 2001) as f32 / 1000.0 - 1.0,
        |a, b, c: &mut [f32]| g.run(a, b, c, n).unwrap(),
    )
}

fn lightos_i8(g: &Gemm, n: usize) -> f64 {
    time_square(
        n,
        |v| (v % 255) as u8 as i8,
        |a, b, c: &mut [i32]| g.run_i8(a, b, c, n).unwrap(),
    )
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|s| s.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![256, 512, 1024, 2048]
    } else {
        sizes
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let gflops = |n: usize, s: f64| 2.0 * (n as f64).powi(3) / s / 1e9;
    println!("BENCH-TABLE-BEGIN");
    let mut blas_name = String::new();
    println!("| n | threads | LightOS cpu f32 GFLOP/s | OpenBLAS f32 GFLOP/s | LightOS / OpenBLAS | LightOS INT8 GOP/s | INT8 / f32 |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for threads in [1, cpus] {
        let g = Gemm::new(threads).expect("thread pool");
        let (blas, base) = match numpy(threads, &sizes) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        blas_name = blas;
        for (i, &n) in sizes.iter().enumerate() {
            let (f, q) = (lightos_f32(&g, n), lightos_i8(&g, n));
            println!(
                "| {n} | {threads} | {:.1} | {:.1} | {:.2} | {:.1} | {:.2} |",
                gflops(n, f),
                gflops(n, base[i]),
                base[i] / f,
                gflops(n, q),
                f / q
            );
        }
    }
    println!("BENCH-TABLE-END");
    let g = Gemm::new(cpus).expect("thread pool");
    println!(
        "CPU-GEMM-CONFIG: {blas_name}; LightOS kernel {:?}, blocking {:?}",
        g.kernel(),
        g.blocking()
    );
}
