//! The RC fit for unevenly spaced samples. For a time constant τ each step of length `h_k` is
//! `T[k+1] − a_k·T[k] = (1 − a_k)·(T_amb + R·P[k])` with `a_k = e^(−h_k/τ)`: linear in
//! `(T_amb, R)`. τ minimises that regression's residual, found on a logarithmic grid and refined by
//! golden-section search around the grid's best point.

use super::model::{FitError, RcModel};

/// Grid points per decade of τ.
const PER_DECADE: f64 = 8.0;
/// Golden-section refinements (each shrinks the bracket by 0.618).
const REFINE_STEPS: usize = 48;

/// The least-squares `(T_amb, R)` for time constant `tau` and the squared residual, or `None`
/// when the regression is singular.
fn regress(pts: &[(f64, f64, f64)], steps: &[f64], tau: f64) -> Option<(f64, f64, f64)> {
    let rows = || {
        pts.windows(2).zip(steps).map(move |(w, h)| {
            let a = (-h / tau).exp();
            let u = 1.0 - a;
            (u, u * w[0].2, w[1].1 - a * w[0].1)
        })
    };
    let (mut suu, mut suv, mut svv, mut suy, mut svy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (u, v, y) in rows() {
        suu += u * u;
        suv += u * v;
        svv += v * v;
        suy += u * y;
        svy += v * y;
    }
    let det = suu * svv - suv * suv;
    if det.is_nan() || det.abs() <= 1e-12 * (suu * svv).abs() {
        return None;
    }
    let ambient = (suy * svv - svy * suv) / det;
    let r = (svy * suu - suy * suv) / det;
    let sq = rows()
        .map(|(u, v, y)| (y - u * ambient - v * r).powi(2))
        .sum();
    Some((sq, ambient, r))
}

/// Fits `(time, temperature, power)` points whose steps `steps` (all positive) are uneven.
/// τ is searched from a tenth of the shortest step to a hundred times the series' span; a best
/// τ at either end means the series does not show its time constant (`NotPhysical`).
pub(super) fn fit_uneven(pts: &[(f64, f64, f64)], steps: &[f64]) -> Result<RcModel, FitError> {
    let shortest = steps.iter().copied().fold(f64::INFINITY, f64::min);
    let span: f64 = steps.iter().sum();
    let (lo, hi) = ((shortest / 10.0).ln(), (span * 100.0).ln());
    let n = ((hi - lo) / std::f64::consts::LN_10 * PER_DECADE)
        .ceil()
        .max(2.0) as usize;
    let grid: Vec<f64> = (0..=n)
        .map(|i| lo + (hi - lo) * i as f64 / n as f64)
        .collect();
    let cost = |ln_tau: f64| regress(pts, steps, ln_tau.exp()).map_or(f64::INFINITY, |r| r.0);
    let best = (0..grid.len())
        .map(|i| (i, cost(grid[i])))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .filter(|b| b.1.is_finite())
        .ok_or(FitError::NotExcited)?
        .0;
    if best == 0 || best == grid.len() - 1 {
        return Err(FitError::NotPhysical);
    }
    let (mut a, mut b) = (grid[best - 1], grid[best + 1]);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut x1, mut x2) = (b - g * (b - a), a + g * (b - a));
    let (mut f1, mut f2) = (cost(x1), cost(x2));
    for _ in 0..REFINE_STEPS {
        if f1 <= f2 {
            (b, x2, f2) = (x2, x1, f1);
            x1 = b - g * (b - a);
            f1 = cost(x1);
        } else {
            (a, x1, f1) = (x1, x2, f2);
            x2 = a + g * (b - a);
            f2 = cost(x2);
        }
    }
    let tau = ((a + b) / 2.0).exp();
    let (_, ambient_c, r_k_per_w) = regress(pts, steps, tau).ok_or(FitError::NotExcited)?;
    // A negative R (and so C) is refused by the caller's physical check.
    Ok(RcModel {
        r_k_per_w,
        c_j_per_k: tau / r_k_per_w,
        ambient_c,
    })
}
