//! The PowerGovernor: thermal-aware placement, predictive cooling and sparsity-aware power caps.
//!
//! Policy lives here in userspace; the kernel supplies telemetry (`QUERY_THERMAL`, events) and the
//! controls (`lightos_runtime::Context::set_power`). The governor is a plain state machine with no
//! clock and no I/O of its own, so the live governor (`live`, behind the feature of that name) and
//! the cluster simulation ([`sim`]) run the very same decisions:
//!
//! 1. [`Governor::observe`] feeds it a [`Sample`] per device and period; every
//!    [`GovernorConfig::refit_every`] samples it refits the device's [`RcModel`] by least squares.
//! 2. [`Governor::place`] picks a device for a job from its [`JobProfile`] with the selected
//!    [`Policy`], and says why ([`Decision::reason`], also logged with `tracing`).
//! 3. [`Governor::on_start`] and [`Governor::on_finish`] return the [`Action`]s (power caps, cooling)
//!    to apply around a job; [`Governor::rebalance`] moves queued work off devices predicted to
//!    overheat; [`Governor::device_lost`] takes a device out and re-places its queue.
//!
//! When a device's telemetry goes stale the governor degrades to least-loaded placement over the
//! devices it can still see, says so once (`warn`), and marks each such decision `degraded`.

mod decide;
mod device;
mod fit;
pub mod gpu;
#[cfg(feature = "live")]
pub mod live;
mod model;
mod policy;
pub mod powercap;
mod profile;
pub mod sim;
mod stats;
mod telemetry;
#[cfg(test)]
mod tests;
mod uneven_fit;

pub use decide::{Action, Decision, Move};
pub use device::DeviceSpec;
pub use fit::{fit, Fit, MIN_FIT_SAMPLES};
pub use model::{FitError, RcModel};
pub use policy::Policy;
pub use profile::{JobProfile, ProfileError, MAX_JOB_DURATION_S, MAX_JOB_POWER_W};
pub use stats::{DeviceStats, GovernorStats};
pub use telemetry::{Sample, Series, Throttle};

use device::DeviceState;

/// Settings of a [`Governor`].
#[derive(Clone, Copy, Debug)]
pub struct GovernorConfig {
    /// The placement and power policy.
    pub policy: Policy,
    /// Predicted peaks must stay this far under a device's throttle point (K).
    pub margin_c: f64,
    /// Telemetry older than this is stale (s).
    pub stale_after_s: f64,
    /// Samples kept per device.
    pub window: usize,
    /// Refit the thermal model after this many new samples.
    pub refit_every: usize,
}

impl Default for GovernorConfig {
    fn default() -> Self {
        GovernorConfig {
            policy: Policy::Predictive,
            margin_c: 2.0,
            stale_after_s: 1.0,
            window: 256,
            refit_every: 32,
        }
    }
}

/// Why the governor could not decide.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GovernorError {
    /// The job profile is absurd.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// Every device is lost (or none was added).
    #[error("no device left to place work on")]
    NoDevice,
    /// A device index the governor does not have.
    #[error("no device {0}")]
    UnknownDevice(usize),
}

/// The governor over a fixed list of devices (indices are their order in [`Governor::new`]).
#[derive(Debug)]
pub struct Governor {
    cfg: GovernorConfig,
    devices: Vec<DeviceState>,
    rr_next: usize,
    /// Whether the previous decision was degraded (to log transitions once).
    degraded: bool,
    stats: GovernorStats,
}

impl Governor {
    /// A governor over `devices`.
    pub fn new(cfg: GovernorConfig, devices: Vec<DeviceSpec>) -> Governor {
        let stats = GovernorStats::new(&devices);
        Governor {
            devices: devices
                .into_iter()
                .map(|d| DeviceState::new(d, cfg.window))
                .collect(),
            cfg,
            rr_next: 0,
            degraded: false,
            stats,
        }
    }

    /// Its settings.
    pub fn config(&self) -> &GovernorConfig {
        &self.cfg
    }

    /// Number of devices (lost ones included).
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Whether it has no device.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// The description of device `dev`.
    pub fn spec(&self, dev: usize) -> Option<&DeviceSpec> {
        self.devices.get(dev).map(|d| &d.spec)
    }

    /// The thermal model in use for `dev`, and whether it was fitted from telemetry.
    pub fn model(&self, dev: usize) -> Option<(RcModel, bool)> {
        self.devices.get(dev).map(|d| (d.model, d.fitted))
    }

    /// Statistics so far.
    pub fn stats(&self) -> &GovernorStats {
        &self.stats
    }

    /// Feeds one telemetry sample of `dev`.
    pub fn observe(&mut self, dev: usize, s: Sample) -> Result<(), GovernorError> {
        let refit_every = self.cfg.refit_every;
        let d = self
            .devices
            .get_mut(dev)
            .ok_or(GovernorError::UnknownDevice(dev))?;
        let was_hot = d.thermally_throttled;
        d.thermally_throttled = s.throttle.is_thermal();
        d.last_seen_s = Some(s.time_s);
        d.last_temp_c = s.temp_c.or(d.last_temp_c);
        d.series.push(s);
        self.stats
            .record_sample(dev, &s, !was_hot && d.thermally_throttled);
        d.samples_since_fit += 1;
        if d.samples_since_fit >= refit_every && d.series.len() >= MIN_FIT_SAMPLES {
            d.samples_since_fit = 0;
            match fit(d.series.as_slice()) {
                Ok(f) => {
                    tracing::debug!(device = %d.spec.name, r = f.model.r_k_per_w, c = f.model.c_j_per_k,
                        ambient = f.model.ambient_c, rms = f.rms_error_c, "thermal model refitted");
                    d.model = f.model;
                    d.fitted = true;
                }
                Err(FitError::NotExcited) => {
                    // Steady power: R and C cannot be told apart, but the offset can. Heat the
                    // governor cannot see (a neighbour, a failing fan) folds into the ambient.
                    if let Some(ambient) = steady_ambient(d.series.as_slice(), d.model.r_k_per_w) {
                        tracing::debug!(device = %d.spec.name, ambient, "ambient re-estimated from a steady series");
                        d.model.ambient_c = ambient;
                    }
                }
                Err(e) => tracing::trace!(device = %d.spec.name, reason = %e, "thermal model kept"),
            }
        }
        Ok(())
    }
}

/// The ambient that explains a series at steady state (`T = T_amb + R·P`), when its temperature
/// varies by under 0.5 K; `None` otherwise or without temperature and power readings.
fn steady_ambient(samples: &[Sample], r_k_per_w: f64) -> Option<f64> {
    let pts: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|s| Some((s.temp_c?, s.power_w?)))
        .collect();
    if pts.len() < MIN_FIT_SAMPLES {
        return None;
    }
    let (lo, hi) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.0), hi.max(p.0))
        });
    if hi - lo > 0.5 {
        return None;
    }
    let n = pts.len() as f64;
    let (t, p) = pts.iter().fold((0.0, 0.0), |(t, p), x| (t + x.0, p + x.1));
    Some(t / n - r_k_per_w * p / n)
}
