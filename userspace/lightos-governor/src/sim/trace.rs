//! The job trace generator: dense, sparse (MoE-like) and bursty jobs from one seed.

use crate::JobProfile;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The kind of a job in the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// Dense, compute-bound (GEMM-heavy training or prefill).
    Dense,
    /// Sparse or mixture-of-experts: most weights skipped, memory-bound.
    Sparse,
    /// Dense, arriving in a burst with others.
    Burst,
}

/// What a job really does on a device (the governor sees only the estimate).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Truth {
    /// Power above idle at full speed (W).
    pub power_w: f64,
    /// Run time at full speed (s).
    pub duration_s: f64,
    /// Fraction of full speed needed for full throughput.
    pub speed_needed: f64,
}

/// One job of the trace.
#[derive(Clone, Debug)]
pub struct TraceJob {
    /// Its index in the trace.
    pub id: usize,
    /// Arrival time (s).
    pub arrival_s: f64,
    /// Its kind.
    pub kind: JobKind,
    /// The profile the governor is given.
    pub estimate: JobProfile,
    /// What it really does (estimate ± 10–15 %).
    pub truth: Truth,
}

/// Settings of the generator.
#[derive(Clone, Copy, Debug)]
pub struct TraceConfig {
    /// Seed of every draw.
    pub seed: u64,
    /// Arrivals stop after this (s).
    pub duration_s: f64,
    /// Offered load: busy fraction of the cluster if every job ran at full speed.
    pub load: f64,
    /// Devices in the cluster (sets the arrival rate).
    pub devices: usize,
}

/// Mean run time of a job at full speed (s), used to set the arrival rate.
const MEAN_DURATION_S: f64 = 4.0;

/// Generates the trace: Poisson arrivals; 50 % dense, 30 % sparse, and bursts of 6 dense jobs
/// arriving together making up the rest.
pub fn generate(cfg: &TraceConfig) -> Vec<TraceJob> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let rate = cfg.load * cfg.devices as f64 / MEAN_DURATION_S;
    let mut jobs = Vec::new();
    let mut t = 0.0;
    loop {
        // Each arrival event is one job, or a burst of 6 counting as 6 arrivals.
        t += -(1.0 - rng.gen::<f64>()).ln() / rate;
        if t >= cfg.duration_s {
            break;
        }
        let pick: f64 = rng.gen();
        let (kind, n) = if pick < 0.5 {
            (JobKind::Dense, 1)
        } else if pick < 0.8 {
            (JobKind::Sparse, 1)
        } else {
            (JobKind::Burst, 6)
        };
        for _ in 0..n {
            let estimate = match kind {
                JobKind::Sparse => JobProfile {
                    power_w: rng.gen_range(150.0..250.0),
                    duration_s: rng.gen_range(1.0..7.0),
                    sparsity: rng.gen_range(0.5..0.9),
                    intensity: rng.gen_range(10.0..40.0),
                },
                _ => JobProfile::dense(rng.gen_range(220.0..320.0), rng.gen_range(1.0..7.0)),
            };
            let truth = Truth {
                power_w: estimate.power_w * rng.gen_range(0.9..1.1),
                duration_s: estimate.duration_s * rng.gen_range(0.85..1.15),
                speed_needed: (estimate.speed_needed() * rng.gen_range(0.9..1.1)).min(1.0),
            };
            jobs.push(TraceJob {
                id: jobs.len(),
                arrival_s: t,
                kind,
                estimate,
                truth,
            });
        }
        if n > 1 {
            t += (n - 1) as f64 / rate;
        }
    }
    jobs
}
