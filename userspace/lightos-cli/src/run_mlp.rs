//! `lightos run mlp`: the MLP workload on each chosen backend, against the f64 reference.

use lightos_cli::mlp;
use lightos_runtime::{accel::Accelerator, Context};
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

/// What `lightos run mlp` was asked to do.
pub struct MlpArgs {
    /// Backends, in order.
    pub devices: Vec<String>,
    /// Layer sizes when generating.
    pub layers: Vec<usize>,
    /// Samples per pass.
    pub batch: usize,
    /// Seed of weights and inputs.
    pub seed: u64,
    /// A model file to load.
    pub model: Option<PathBuf>,
    /// Where to save the model.
    pub save: Option<PathBuf>,
}

/// Runs the model on every device; an error if any fails or misses its tolerance.
pub fn run(device: &Path, a: MlpArgs, json: bool) -> Result<(), Box<dyn std::error::Error>> {
    let model = match &a.model {
        Some(p) => mlp::Mlp::load(p)?,
        None => mlp::Mlp::generate(&a.layers, a.seed)?,
    };
    if let Some(p) = &a.save {
        model.save(p)?;
    }
    let sizes = model.sizes().to_vec();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed ^ 0x5eed);
    let x: Vec<f32> = (0..a.batch * sizes[0])
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    let want = model.reference(&x, a.batch)?;
    let flops: f64 = sizes
        .windows(2)
        .map(|w| 2.0 * (a.batch * w[0] * w[1]) as f64)
        .sum();
    let mut acc = Accelerator::with(Context::open_path(device)?)?;
    if !json {
        println!(
            "MLP {sizes:?}, batch {}, {:.1} MFLOP per pass; f64 reference on this CPU",
            a.batch,
            flops / 1e6
        );
    }
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for d in &a.devices {
        let bar = crate::progress::spinner(d, "uploading weights, running the forward pass", json);
        let run = model.run_on(&mut acc, d, &x, a.batch);
        bar.finish_and_clear();
        match run {
            Ok(r) => {
                let err = mlp::relative_error(&r.output, &want);
                let secs = r.elapsed.as_secs_f64();
                let tolerance = lightos_runtime::tolerance::mlp(d);
                let ok = err <= tolerance;
                if !json {
                    println!(
                        "  {d:<12} max error {err:.2e} of max |ref| (tolerance {:.0e}) {}  latency {:.2} ms  {:.0} samples/s  {:.3} GFLOP/s",
                        tolerance,
                        if ok { "ok" } else { "TOO LARGE" },
                        secs * 1e3,
                        a.batch as f64 / secs,
                        flops / secs / 1e9
                    );
                }
                if !ok {
                    failed.push(format!("{d}: error {err:.2e} above {tolerance:.0e}"));
                }
                rows.push(serde_json::json!({"device": d, "error": err, "tolerance": tolerance, "latency_s": secs, "samples_per_s": a.batch as f64 / secs}));
            }
            Err(e) => {
                if !json {
                    println!("  {d:<12} failed: {e}");
                }
                failed.push(format!("{d}: {e}"));
                rows.push(serde_json::json!({"device": d, "error_message": e.to_string()}));
            }
        }
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"layers": sizes, "batch": a.batch, "flops": flops, "runs": rows})
        );
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; ").into())
    }
}
