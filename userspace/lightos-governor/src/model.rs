//! The RC thermal model of one device: one thermal node, `C·dT/dt = P − (T − T_amb)/R`, with `P`
//! the net heat flowing in (W, cooling counted negative); its predictions, and why a series of
//! telemetry may not give one (its least-squares fit is `fit.rs`).

/// A fitted (or assumed) RC model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RcModel {
    /// Thermal resistance to ambient (K/W).
    pub r_k_per_w: f64,
    /// Heat capacity (J/K).
    pub c_j_per_k: f64,
    /// Ambient temperature (°C).
    pub ambient_c: f64,
}

impl RcModel {
    /// Time constant `R·C` (s).
    pub fn tau_s(&self) -> f64 {
        self.r_k_per_w * self.c_j_per_k
    }

    /// Temperature reached after a long time at `power_w`.
    pub fn steady_c(&self, power_w: f64) -> f64 {
        self.ambient_c + self.r_k_per_w * power_w
    }

    /// Temperature `dt_s` seconds after `t0_c` at constant `power_w`.
    pub fn predict_c(&self, t0_c: f64, power_w: f64, dt_s: f64) -> f64 {
        let ss = self.steady_c(power_w);
        ss + (t0_c - ss) * (-dt_s.max(0.0) / self.tau_s()).exp()
    }

    /// Highest temperature over `dt_s` seconds from `t0_c` at `power_w` (the node moves
    /// monotonically towards its steady state, so the peak is at one end).
    pub fn peak_c(&self, t0_c: f64, power_w: f64, dt_s: f64) -> f64 {
        t0_c.max(self.predict_c(t0_c, power_w, dt_s))
    }

    /// The largest constant power that keeps the node at or below `limit_c` for `dt_s` seconds
    /// from `t0_c`; `None` when even zero power exceeds it (the node is above the limit already).
    pub fn max_power_for(&self, t0_c: f64, limit_c: f64, dt_s: f64) -> Option<f64> {
        if t0_c > limit_c {
            return None;
        }
        let decay = (-dt_s.max(1e-9) / self.tau_s()).exp();
        // limit = ss + (t0 − ss)·decay  ⇒  ss = (limit − t0·decay)/(1 − decay)
        let ss = (limit_c - t0_c * decay) / (1.0 - decay);
        Some((ss - self.ambient_c) / self.r_k_per_w)
    }

    /// Whether every parameter is finite and physical (`R, C > 0`).
    pub fn is_physical(&self) -> bool {
        self.r_k_per_w.is_finite()
            && self.c_j_per_k.is_finite()
            && self.ambient_c.is_finite()
            && self.r_k_per_w > 0.0
            && self.c_j_per_k > 0.0
    }
}

/// Why a series could not be fitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FitError {
    /// Fewer than [`crate::MIN_FIT_SAMPLES`] samples with temperature and power.
    #[error("too few samples with temperature and power")]
    TooFewSamples,
    /// Sample times do not increase.
    #[error("sample times do not increase")]
    TimeNotIncreasing,
    /// Power hardly changed over the window, so `R` and `C` cannot be told apart.
    #[error("power did not vary enough to separate R from C")]
    NotExcited,
    /// The regression gave a non-physical model (R or C not positive).
    #[error("the fit is not physical")]
    NotPhysical,
}
