//! `lightos bench`: one primitive timed on each chosen device through the device API, side by side
//! (the first device is the baseline of the ratio column), with a progress bar per device.

use lightos_runtime::{accel::Accelerator, Context, DType};
use std::{path::Path, time::Duration};

/// The primitives `lightos bench` times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchOp {
    /// `C[n,n] = A[n,n]·B[n,n]` (2n³ flop).
    Matmul,
    /// Row-wise softmax of an n×n matrix.
    Softmax,
    /// Element-wise sum of two n×n matrices.
    Add,
}

/// What `lightos bench` was asked to do.
pub struct BenchArgs {
    /// Devices, in order (the first is the baseline).
    pub devices: Vec<String>,
    /// The primitive.
    pub op: BenchOp,
    /// Matrix side.
    pub size: u64,
    /// Timed runs per device.
    pub repeats: usize,
    /// Untimed runs first.
    pub warmup: usize,
}

/// One device's result.
struct Timing {
    device: String,
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

/// Times the primitive on every device; an error names the device that failed.
pub fn run(
    device_node: &Path,
    a: &BenchArgs,
    json: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    if a.size == 0 || a.size > 8192 {
        return Err("--size must be 1 to 8192".into());
    }
    if a.repeats == 0 {
        return Err("--repeats must be at least 1".into());
    }
    let n = a.size;
    let mut results = Vec::new();
    for name in &a.devices {
        let mut acc = Accelerator::with(Context::open_path(device_node)?)?;
        acc.select(name).map_err(|e| format!("{name}: {e}"))?;
        let values: Vec<f32> = (0..n * n)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        let x = acc.tensor_from_f32(&[n, n], &values)?;
        let y = acc.tensor_from_f32(&[n, n], &values)?;
        let out = acc.zeros(&[n, n], DType::F32)?;
        let acc = acc;
        let launch = || match a.op {
            BenchOp::Matmul => acc.matmul(&x, &y, &out),
            BenchOp::Softmax => acc.softmax(&x, &out),
            BenchOp::Add => acc.add(&x, &y, &out),
        };
        let bar = crate::progress::bar((a.warmup + a.repeats) as u64, name, json);
        bar.set_message("warm-up");
        for _ in 0..a.warmup {
            launch()?.wait().map_err(|e| format!("{name}: {e}"))?;
            bar.inc(1);
        }
        bar.set_message("timing");
        let mut times = Vec::with_capacity(a.repeats);
        for _ in 0..a.repeats {
            times.push(launch()?.wait().map_err(|e| format!("{name}: {e}"))?);
            bar.inc(1);
        }
        bar.finish_and_clear();
        times.sort();
        let pick =
            |q: f64| times[((q * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
        let mean = times.iter().sum::<Duration>() / times.len() as u32;
        results.push(Timing {
            device: name.clone(),
            p50: pick(0.5),
            p99: pick(0.99),
            mean,
        });
    }
    let flop = match a.op {
        BenchOp::Matmul => 2.0 * (n * n * n) as f64,
        BenchOp::Softmax | BenchOp::Add => (n * n) as f64,
    };
    let unit = if a.op == BenchOp::Matmul {
        "GFLOP/s"
    } else {
        "Gelem/s"
    };
    let base = results[0].p50.as_secs_f64();
    if json {
        let rows: Vec<_> = results
            .iter()
            .map(|r| {
                serde_json::json!({
                    "device": r.device, "p50_s": r.p50.as_secs_f64(), "p99_s": r.p99.as_secs_f64(),
                    "mean_s": r.mean.as_secs_f64(), "rate": flop / r.p50.as_secs_f64() / 1e9, "unit": unit,
                    "p50_vs_first": r.p50.as_secs_f64() / base,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"op": format!("{:?}", a.op).to_lowercase(), "size": n, "repeats": a.repeats, "results": rows})
        );
        return Ok(());
    }
    println!("{:?} {n}×{n} f32, {} timed runs after {} warm-up, launch to completion through /dev/lightos", a.op, a.repeats, a.warmup);
    println!(
        "{:<14} {:>11} {:>11} {:>11} {:>10} {:>13}",
        "device",
        "p50 (ms)",
        "p99 (ms)",
        "mean (ms)",
        unit,
        format!("p50 vs {}", results[0].device)
    );
    for r in &results {
        println!(
            "{:<14} {:>11.3} {:>11.3} {:>11.3} {:>10.2} {:>13.3}",
            r.device,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            r.mean.as_secs_f64() * 1e3,
            flop / r.p50.as_secs_f64() / 1e9,
            r.p50.as_secs_f64() / base
        );
    }
    Ok(())
}
