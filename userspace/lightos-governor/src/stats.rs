//! The governor's statistics: what it decided and what the devices reported.

use super::{DeviceSpec, Sample};

/// Per-device statistics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceStats {
    /// The device's name.
    pub name: String,
    /// Jobs it finished.
    pub jobs_completed: u64,
    /// Times its telemetry entered a thermal throttle or shutdown.
    pub throttle_events: u64,
    /// Samples with a temperature, and their sum (°C).
    temp_samples: u64,
    temp_sum: f64,
    /// Samples with a power reading, and their sum (W).
    power_samples: u64,
    power_sum: f64,
    /// Highest temperature seen (°C).
    pub peak_temp_c: Option<f64>,
}

impl DeviceStats {
    /// Mean of its temperature samples (°C).
    pub fn avg_temp_c(&self) -> Option<f64> {
        (self.temp_samples > 0).then(|| self.temp_sum / self.temp_samples as f64)
    }

    /// Mean of its power samples (W).
    pub fn avg_power_w(&self) -> Option<f64> {
        (self.power_samples > 0).then(|| self.power_sum / self.power_samples as f64)
    }
}

/// Statistics of a [`super::Governor`] since it was made.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GovernorStats {
    /// Placement decisions made.
    pub decisions: u64,
    /// Of those, made by the safe fallback because telemetry was stale.
    pub degraded_decisions: u64,
    /// Power limits set.
    pub caps_applied: u64,
    /// Times cooling was raised ahead of a predicted trip.
    pub cooling_boosts: u64,
    /// Queued jobs moved to another device.
    pub migrations: u64,
    /// Jobs reported finished.
    pub jobs_completed: u64,
    /// Per device, in the governor's order.
    pub per_device: Vec<DeviceStats>,
}

impl GovernorStats {
    pub(crate) fn new(devices: &[DeviceSpec]) -> GovernorStats {
        GovernorStats {
            per_device: devices
                .iter()
                .map(|d| DeviceStats {
                    name: d.name.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    pub(crate) fn record_sample(&mut self, dev: usize, s: &Sample, throttle_began: bool) {
        let d = &mut self.per_device[dev];
        if let Some(t) = s.temp_c {
            d.temp_samples += 1;
            d.temp_sum += t;
            d.peak_temp_c = Some(d.peak_temp_c.map_or(t, |p| p.max(t)));
        }
        if let Some(p) = s.power_w {
            d.power_samples += 1;
            d.power_sum += p;
        }
        d.throttle_events += u64::from(throttle_began);
    }

    /// Throttle events over every device.
    pub fn throttle_events(&self) -> u64 {
        self.per_device.iter().map(|d| d.throttle_events).sum()
    }

    /// Mean temperature over every sample of every device (°C).
    pub fn avg_temp_c(&self) -> Option<f64> {
        let n: u64 = self.per_device.iter().map(|d| d.temp_samples).sum();
        (n > 0).then(|| self.per_device.iter().map(|d| d.temp_sum).sum::<f64>() / n as f64)
    }

    /// Mean power over every sample of every device (W).
    pub fn avg_power_w(&self) -> Option<f64> {
        let n: u64 = self.per_device.iter().map(|d| d.power_samples).sum();
        (n > 0).then(|| self.per_device.iter().map(|d| d.power_sum).sum::<f64>() / n as f64)
    }
}
