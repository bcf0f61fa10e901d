//! `lightos run matmul`: one MATMUL through the kernel's interception chain to whatever backend the
//! kernel routes it to, checked against an f64 reference computed here.

use lightos_runtime::{BufferFlags, Context, DType, JobStatus, Op, Placement, PrimitiveBuilder};
use std::{path::Path, time::Duration, time::Instant};

/// Fails with the formatted message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+).into());
        }
    };
}

/// A deterministic test matrix value for element `i` of matrix `salt`.
fn value(i: usize, salt: usize) -> f32 {
    (((i * 7 + salt * 13) % 17) as f32 - 8.0) / 8.0
}

/// What `lightos run matmul` was asked to do.
pub struct MatmulArgs {
    /// Rows of a and out.
    pub m: usize,
    /// Columns of a, rows of b.
    pub k: usize,
    /// Columns of b and out.
    pub n: usize,
    /// Runs (the median latency is reported).
    pub repeats: u32,
    /// The backend to route to, by name; the kernel's choice when `None`.
    pub backend: Option<String>,
    /// Largest accepted relative error.
    pub tolerance: f64,
}

/// Runs `out[M,N] = a[M,K] · b[K,N]` `repeats` times and reports the error and the latency.
pub fn matmul(
    device: &Path,
    args: MatmulArgs,
    json: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let MatmulArgs {
        m, k, n, repeats, ..
    } = args;
    ensure!(
        args.tolerance.is_finite() && args.tolerance >= 0.0,
        "--tolerance must be a non-negative number"
    );
    for (name, v) in [("m", m), ("k", k), ("n", n)] {
        ensure!(
            (1..=4096).contains(&v),
            "--{name} must be 1 to 4096, not {v}"
        );
    }
    let dev = Context::open_path(device)?;
    let backends = dev.backends()?;
    ensure!(
        !backends.is_empty(),
        "no backend is registered with the kernel: start one, e.g. `lightos executor &`"
    );
    if let Some(want) = &args.backend {
        let Some(b) = backends.iter().find(|b| &b.name == want) else {
            let names: Vec<&str> = backends.iter().map(|b| b.name.as_str()).collect();
            return Err(format!(
                "no backend named '{want}' (registered: {})",
                names.join(", ")
            )
            .into());
        };
        dev.add_route(Some(Op::Matmul), None, 0..=u64::MAX, b.id)?;
    }
    let (a_off, b_off) = (0, (m * k * 4) as u64);
    let out_off = b_off + (k * n * 4) as u64;
    let size = out_off as usize + m * n * 4;
    let buf = dev.create_buffer(size, BufferFlags::empty(), Placement::Any)?;
    let mut map = buf.map()?;
    let (a, b): (Vec<f32>, Vec<f32>) = (
        (0..m * k).map(|i| value(i, 1)).collect(),
        (0..k * n).map(|i| value(i, 2)).collect(),
    );
    for (i, v) in a.iter().chain(&b).enumerate() {
        map[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    let prim = PrimitiveBuilder::new(Op::Matmul, DType::F32)
        .input(&buf, a_off, &[m as u64, k as u64])
        .input(&buf, b_off, &[k as u64, n as u64])
        .output(&buf, out_off, &[m as u64, n as u64]);
    let queue = dev.create_queue(0, Duration::ZERO)?;
    let mut latencies = Vec::new();
    let bar = crate::progress::bar(u64::from(repeats.max(1)), "MATMUL", json);
    for _ in 0..repeats.max(1) {
        bar.inc(1);
        let t = Instant::now();
        let s = queue.submit(&[prim])?;
        let c = queue.wait(s.last_seq, Some(Duration::from_secs(60)))?;
        latencies.push(t.elapsed());
        ensure!(
            c.status == JobStatus::Ok,
            "the job ended with {:?}",
            c.status
        );
    }
    bar.finish_and_clear();
    // f64 reference, read back through this process's own mapping (the backend wrote these pages).
    let mut max_err = 0f64;
    let (mut err2, mut ref2) = (0f64, 0f64);
    for i in 0..m {
        for j in 0..n {
            let want: f64 = (0..k)
                .map(|x| f64::from(a[i * k + x]) * f64::from(b[x * n + j]))
                .sum();
            let o = out_off as usize + (i * n + j) * 4;
            let got = f32::from_le_bytes(map[o..o + 4].try_into()?);
            max_err = max_err.max((f64::from(got) - want).abs());
            err2 += (f64::from(got) - want).powi(2);
            ref2 += want * want;
        }
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let flops = 2.0 * (m * n * k) as f64;
    let rel_err = if ref2 > 0.0 {
        (err2 / ref2).sqrt()
    } else {
        err2.sqrt()
    };
    let backend = match &args.backend {
        Some(name) => name.clone(),
        None => dev
            .backends()?
            .into_iter()
            .max_by_key(|b| b.stats.count)
            .map(|b| b.name)
            .unwrap_or_default(),
    };
    if json {
        println!(
            "{}",
            serde_json::json!({"op": "matmul", "m": m, "k": k, "n": n, "repeats": latencies.len(),
                "backend": backend, "max_abs_error_vs_f64": max_err, "rel_error_vs_f64": rel_err,
                "median_latency_us": median.as_secs_f64() * 1e6,
                "gflops": flops / median.as_secs_f64() / 1e9})
        );
    } else {
        println!(
            "MATMUL {m}x{k} · {k}x{n} f32, {} runs via the kernel → backend {backend}",
            latencies.len()
        );
        println!("  max |error| vs f64 reference   {max_err:.3e}");
        println!("  relative error ‖Δ‖/‖ref‖       {rel_err:.3e}");
        println!(
            "  median submit→complete latency {:.1} µs",
            median.as_secs_f64() * 1e6
        );
        println!(
            "  throughput                     {:.3} GFLOP/s",
            flops / median.as_secs_f64() / 1e9
        );
    }
    let close = rel_err.is_finite() && rel_err <= args.tolerance;
    ensure!(
        close,
        "result differs from the f64 reference by {rel_err:.3e} relative (tolerance {:.1e})",
        args.tolerance
    );
    Ok(())
}
