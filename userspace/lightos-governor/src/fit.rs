//! The least-squares fit of an RC model ([`RcModel`]) to telemetry. Between samples the power is
//! taken as constant, so one step of length `h` is exactly `T' = a·T + b·P + c` with
//! `a = e^(−h/RC)`, `b = R·(1 − a)`, `c = T_amb·(1 − a)`. For an evenly spaced series the fit solves
//! that linear regression and maps `(a, b, c)` back to `(R, C, T_amb)`; for an uneven one `a`
//! differs per step and the time constant is searched (`uneven_fit.rs`).

use super::{
    model::{FitError, RcModel},
    telemetry::Sample,
    uneven_fit::fit_uneven,
};

/// The result of [`fit`]: the model and how well it explains the series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    /// The fitted model.
    pub model: RcModel,
    /// Root-mean-square one-step prediction error (K).
    pub rms_error_c: f64,
    /// Samples used.
    pub samples: usize,
}

/// Steps this close to their mean (relative) are even: the closed form applies. Any jitter beyond
/// rounding biases it (1 % in R at ±25 %), so a polled series takes the search.
const EVEN_STEPS: f64 = 1e-6;

/// Fewest samples [`fit`] accepts.
pub const MIN_FIT_SAMPLES: usize = 8;

/// Fits an RC model to `samples` (oldest first) by least squares on the exact one-step form:
/// in closed form when they are evenly spaced (a simulation's), else by a search over the time
/// constant ([`fit_uneven`]: a live poll loop jitters). Samples without a temperature
/// or power reading are skipped.
pub fn fit(samples: &[Sample]) -> Result<Fit, FitError> {
    let pts: Vec<(f64, f64, f64)> = samples
        .iter()
        .filter_map(|s| Some((s.time_s, s.temp_c?, s.power_w?)))
        .collect();
    if pts.len() < MIN_FIT_SAMPLES {
        return Err(FitError::TooFewSamples);
    }
    // Excitation first: a steady series cannot be fitted however it is spaced, and callers fall
    // back to re-estimating the ambient from it (which needs no even spacing).
    let (p_min, p_max) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.2), hi.max(p.2))
        });
    if p_max - p_min < 1e-3 * p_max.abs().max(1e-3) {
        return Err(FitError::NotExcited);
    }
    let steps: Vec<f64> = pts.windows(2).map(|w| w[1].0 - w[0].0).collect();
    if steps.iter().any(|s| !(*s > 0.0 && s.is_finite())) {
        return Err(FitError::TimeNotIncreasing);
    }
    let h = steps.iter().sum::<f64>() / steps.len() as f64;
    let model = if steps.iter().all(|s| (s - h).abs() <= EVEN_STEPS * h) {
        fit_even(&pts, h)?
    } else {
        fit_uneven(&pts, &steps)?
    };
    if !model.is_physical() {
        return Err(FitError::NotPhysical);
    }
    let sq: f64 = pts
        .windows(2)
        .map(|w| (model.predict_c(w[0].1, w[0].2, w[1].0 - w[0].0) - w[1].1).powi(2))
        .sum();
    Ok(Fit {
        model,
        rms_error_c: (sq / (pts.len() - 1) as f64).sqrt(),
        samples: pts.len(),
    })
}

/// The closed form for steps of `h`: the linear regression `T[k+1] = a·T[k] + b·P[k] + c` on
/// `(time, temperature, power)` points, mapped back to `(R, C, T_amb)`.
fn fit_even(pts: &[(f64, f64, f64)], h: f64) -> Result<RcModel, FitError> {
    // Normal equations of T[k+1] = a·T[k] + b·P[k] + c.
    let mut ata = [[0.0f64; 3]; 3];
    let mut atb = [0.0f64; 3];
    for w in pts.windows(2) {
        let x = [w[0].1, w[0].2, 1.0];
        for i in 0..3 {
            for j in 0..3 {
                ata[i][j] += x[i] * x[j];
            }
            atb[i] += x[i] * w[1].1;
        }
    }
    let [a, b, c] = solve3(ata, atb).ok_or(FitError::NotExcited)?;
    if !(a > 0.0 && a < 1.0 && b > 0.0) {
        return Err(FitError::NotPhysical);
    }
    Ok(RcModel {
        r_k_per_w: b / (1.0 - a),
        c_j_per_k: -h / a.ln() / (b / (1.0 - a)),
        ambient_c: c / (1.0 - a),
    })
}

/// Solves a 3×3 linear system by Gaussian elimination with partial pivoting; `None` when singular.
fn solve3(mut m: [[f64; 3]; 3], mut v: [f64; 3]) -> Option<[f64; 3]> {
    let scale = m.iter().flatten().fold(0.0f64, |s, x| s.max(x.abs()));
    for col in 0..3 {
        let pivot = (col..3).max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))?;
        if m[pivot][col].abs() <= 1e-12 * scale {
            return None;
        }
        m.swap(col, pivot);
        v.swap(col, pivot);
        for row in col + 1..3 {
            let f = m[row][col] / m[col][col];
            let pivot_row = m[col];
            for (x, p) in m[row].iter_mut().zip(pivot_row).skip(col) {
                *x -= f * p;
            }
            v[row] -= f * v[col];
        }
    }
    let mut x = [0.0; 3];
    for row in (0..3).rev() {
        let s: f64 = (row + 1..3).map(|k| m[row][k] * x[k]).sum();
        x[row] = (v[row] - s) / m[row][row];
    }
    Some(x)
}
