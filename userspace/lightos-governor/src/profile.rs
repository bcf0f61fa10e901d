//! What the governor knows of a job before it runs: its profile, and the checks that reject
//! absurd ones.

/// The estimated profile of one job.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JobProfile {
    /// Power the job draws above idle at full speed (W).
    pub power_w: f64,
    /// Run time at full speed (s).
    pub duration_s: f64,
    /// Fraction of zero operands (0: dense, towards 1: sparse or MoE-like routing).
    pub sparsity: f64,
    /// Arithmetic intensity (flop per byte moved).
    pub intensity: f64,
}

/// Largest power a profile may claim (W).
pub const MAX_JOB_POWER_W: f64 = 10_000.0;
/// Longest duration a profile may claim (s).
pub const MAX_JOB_DURATION_S: f64 = 86_400.0;
/// Arithmetic intensity above which a job is taken as compute-bound (flop/byte).
pub const RIDGE_INTENSITY: f64 = 50.0;
/// Speed a job never needs less of, however sparse or memory-bound (fraction of full clock).
pub const MIN_SPEED_NEEDED: f64 = 0.3;

/// Why a profile was rejected.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("absurd job profile: {0}")]
pub struct ProfileError(pub String);

impl JobProfile {
    /// A dense, compute-bound job.
    pub fn dense(power_w: f64, duration_s: f64) -> JobProfile {
        JobProfile {
            power_w,
            duration_s,
            sparsity: 0.0,
            intensity: RIDGE_INTENSITY * 4.0,
        }
    }

    /// Checks every field is finite and in range.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let bad = |what: &str, v: f64, range: &str| {
            Err(ProfileError(format!("{what} {v} is outside {range}")))
        };
        if !(self.power_w.is_finite() && (0.0..=MAX_JOB_POWER_W).contains(&self.power_w)) {
            return bad("power_w", self.power_w, "0..=10000 W");
        }
        if !(self.duration_s.is_finite()
            && self.duration_s > 0.0
            && self.duration_s <= MAX_JOB_DURATION_S)
        {
            return bad("duration_s", self.duration_s, "(0, 86400] s");
        }
        if !(0.0..=1.0).contains(&self.sparsity) {
            return bad("sparsity", self.sparsity, "0..=1");
        }
        if !(self.intensity.is_finite() && self.intensity > 0.0) {
            return bad("intensity", self.intensity, "(0, ∞) flop/byte");
        }
        Ok(())
    }

    /// The fraction of full speed (clock, laser power) the job needs to run at full throughput:
    /// sparse and memory-bound jobs stall on data, not on arithmetic, and gain nothing from more.
    pub fn speed_needed(&self) -> f64 {
        let dense_part = 1.0 - 0.7 * self.sparsity;
        let compute_bound = (self.intensity / RIDGE_INTENSITY).min(1.0);
        (dense_part * compute_bound.max(0.5)).clamp(MIN_SPEED_NEEDED, 1.0)
    }
}
