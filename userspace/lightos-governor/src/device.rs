//! What the governor knows of each device: its fixed description and its changing state.

use super::{model::RcModel, telemetry::Series};

/// The fixed description of a device (datasheet values).
#[derive(Clone, Debug)]
pub struct DeviceSpec {
    /// Its name (`photonic0`, `cpu0`, `gpu3`).
    pub name: String,
    /// Temperature at which the part throttles itself (°C).
    pub throttle_c: f64,
    /// Power drawn idle (W).
    pub idle_power_w: f64,
    /// Highest power limit (W); also the default limit.
    pub max_power_w: f64,
    /// Lowest power limit the device accepts (W).
    pub min_power_w: f64,
    /// Heat active cooling removes at full drive (W); 0 when cooling cannot be controlled.
    pub cooling_max_w: f64,
    /// Whether its power limit can be set.
    pub power_cap_control: bool,
    /// The thermal model used until telemetry gives a fit.
    pub prior: RcModel,
}

/// The governor's running view of one device.
#[derive(Clone, Debug)]
pub(crate) struct DeviceState {
    pub spec: DeviceSpec,
    pub series: Series,
    pub model: RcModel,
    /// Whether `model` comes from a fit (not the prior).
    pub fitted: bool,
    pub samples_since_fit: usize,
    /// Estimated seconds of work placed and not finished.
    pub backlog_s: f64,
    /// Estimated energy above idle of that work (J).
    pub backlog_j: f64,
    /// Jobs placed and not finished.
    pub jobs: u32,
    pub lost: bool,
    /// The newest temperature reading (°C).
    pub last_temp_c: Option<f64>,
    /// Time of the newest sample (s); `None` before the first.
    pub last_seen_s: Option<f64>,
    /// Power limit set by the governor (W); `None`: the device's own maximum.
    pub cap_w: Option<f64>,
    /// Cooling drive set by the governor (0 to 1).
    pub cooling: f64,
    /// Whether the newest sample showed a thermal throttle.
    pub thermally_throttled: bool,
}

impl DeviceState {
    pub fn new(spec: DeviceSpec, window: usize) -> DeviceState {
        DeviceState {
            model: spec.prior,
            spec,
            series: Series::new(window),
            fitted: false,
            samples_since_fit: 0,
            backlog_s: 0.0,
            backlog_j: 0.0,
            jobs: 0,
            lost: false,
            last_temp_c: None,
            last_seen_s: None,
            cap_w: None,
            cooling: 0.0,
            thermally_throttled: false,
        }
    }

    /// Average power above idle of the work placed on it (W).
    pub fn backlog_power_w(&self) -> f64 {
        if self.backlog_s > 1e-9 {
            self.backlog_j / self.backlog_s
        } else {
            0.0
        }
    }

    /// Whether its telemetry is older than `stale_after_s` at `now_s` (or never came).
    pub fn is_stale(&self, now_s: f64, stale_after_s: f64) -> bool {
        self.last_seen_s.is_none_or(|t| now_s - t > stale_after_s)
    }

    /// The net heat it takes in at `above_idle_w` above idle, with its present cooling drive.
    pub fn net_power_w(&self, above_idle_w: f64) -> f64 {
        self.spec.idle_power_w + above_idle_w - self.cooling * self.spec.cooling_max_w
    }
}
