//! GPU telemetry and power limits through NVML ([`nvml_wrapper`], which loads
//! `libnvidia-ml.so` at run time): temperature, board power, the enforced power limit and
//! utilization, the inputs the PowerGovernor needs; and setting the power limit (root only).

use crate::{CudaError, Result};
use lightos_governor::{
    gpu::{GpuLimits, GpuReading, GpuTelemetry},
    Throttle,
};
use nvml_wrapper::bitmasks::device::ThrottleReasons;
use nvml_wrapper::enum_wrappers::device::{TemperatureSensor, TemperatureThreshold};
use nvml_wrapper::error::NvmlError;

/// One reading of a GPU.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GpuSample {
    /// Core temperature, °C.
    pub temperature_c: f64,
    /// Board power draw, W.
    pub power_w: f64,
    /// The power limit the board enforces now, W.
    pub power_limit_w: f64,
    /// Share of the last sample period a kernel ran, 0..=1.
    pub utilization: f64,
}

/// An NVML session.
pub struct Telemetry {
    nvml: nvml_wrapper::Nvml,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

fn nvml_error(e: NvmlError) -> CudaError {
    match e {
        NvmlError::LibloadingError(_) | NvmlError::DriverNotLoaded | NvmlError::LibraryNotFound => {
            CudaError::Unavailable(format!("NVML: {e}"))
        }
        e => CudaError::Nvml(e.to_string()),
    }
}

impl Telemetry {
    /// Loads and initialises NVML; [`CudaError::Unavailable`] where it is not installed.
    pub fn open() -> Result<Self> {
        Ok(Telemetry {
            nvml: nvml_wrapper::Nvml::init().map_err(nvml_error)?,
        })
    }

    /// GPUs NVML sees (its indices are the driver's ordinals unless `CUDA_VISIBLE_DEVICES`
    /// reorders them).
    pub fn count(&self) -> Result<u32> {
        self.nvml.device_count().map_err(nvml_error)
    }

    /// GPU `index`'s name.
    pub fn name(&self, index: u32) -> Result<String> {
        let d = self.nvml.device_by_index(index).map_err(nvml_error)?;
        d.name().map_err(nvml_error)
    }

    /// Reads GPU `index`.
    pub fn sample(&self, index: u32) -> Result<GpuSample> {
        let d = self.nvml.device_by_index(index).map_err(nvml_error)?;
        Ok(GpuSample {
            temperature_c: f64::from(d.temperature(TemperatureSensor::Gpu).map_err(nvml_error)?),
            power_w: f64::from(d.power_usage().map_err(nvml_error)?) / 1000.0,
            power_limit_w: f64::from(d.enforced_power_limit().map_err(nvml_error)?) / 1000.0,
            utilization: f64::from(d.utilization_rates().map_err(nvml_error)?.gpu) / 100.0,
        })
    }

    /// The range the power limit may be set in, W.
    pub fn power_limit_range(&self, index: u32) -> Result<(f64, f64)> {
        let d = self.nvml.device_by_index(index).map_err(nvml_error)?;
        let c = d.power_management_limit_constraints().map_err(nvml_error)?;
        Ok((
            f64::from(c.min_limit) / 1000.0,
            f64::from(c.max_limit) / 1000.0,
        ))
    }

    /// Sets GPU `index`'s power limit to `watts`, clamped to its range; returns the limit set.
    /// NVML refuses it (`NoPermission`) unless the caller is root.
    pub fn set_power_limit(&self, index: u32, watts: f64) -> Result<f64> {
        if !watts.is_finite() || watts <= 0.0 {
            return Err(CudaError::Nvml(format!(
                "power limit {watts} W is not a positive number"
            )));
        }
        let (lo, hi) = self.power_limit_range(index)?;
        let set = watts.clamp(lo, hi);
        let mut d = self.nvml.device_by_index(index).map_err(nvml_error)?;
        d.set_power_management_limit((set * 1000.0).round() as u32)
            .map_err(nvml_error)?;
        Ok(set)
    }
}

/// Why the clocks are held back, as the governor counts it: thermal before power.
pub fn throttle_of(reasons: ThrottleReasons) -> Throttle {
    if reasons.intersects(
        ThrottleReasons::SW_THERMAL_SLOWDOWN
            | ThrottleReasons::HW_THERMAL_SLOWDOWN
            | ThrottleReasons::HW_SLOWDOWN,
    ) {
        Throttle::Thermal
    } else if reasons
        .intersects(ThrottleReasons::SW_POWER_CAP | ThrottleReasons::HW_POWER_BRAKE_SLOWDOWN)
    {
        Throttle::PowerCap
    } else {
        Throttle::None
    }
}

/// NVML as the live PowerGovernor's GPU source.
impl GpuTelemetry for Telemetry {
    fn limits(&self, gpu: u32) -> std::result::Result<GpuLimits, String> {
        let d = self.nvml.device_by_index(gpu).map_err(|e| e.to_string())?;
        let (min_power_w, max_power_w) = self.power_limit_range(gpu).map_err(|e| e.to_string())?;
        Ok(GpuLimits {
            slowdown_c: f64::from(
                d.temperature_threshold(TemperatureThreshold::Slowdown)
                    .map_err(|e| e.to_string())?,
            ),
            min_power_w,
            max_power_w,
            default_power_w: f64::from(
                d.power_management_limit_default()
                    .map_err(|e| e.to_string())?,
            ) / 1000.0,
        })
    }

    fn read(&self, gpu: u32) -> std::result::Result<GpuReading, String> {
        let s = self.sample(gpu).map_err(|e| e.to_string())?;
        let d = self.nvml.device_by_index(gpu).map_err(|e| e.to_string())?;
        Ok(GpuReading {
            temp_c: s.temperature_c,
            power_w: s.power_w,
            power_limit_w: s.power_limit_w,
            utilization: s.utilization,
            throttle: d
                .current_throttle_reasons()
                .map(throttle_of)
                .unwrap_or_default(),
        })
    }

    fn set_power_limit(&self, gpu: u32, watts: f64) -> std::result::Result<f64, String> {
        Telemetry::set_power_limit(self, gpu, watts).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_reasons_map_to_the_governors_throttle_thermal_first() {
        assert_eq!(throttle_of(ThrottleReasons::empty()), Throttle::None);
        assert_eq!(throttle_of(ThrottleReasons::GPU_IDLE), Throttle::None);
        assert_eq!(
            throttle_of(ThrottleReasons::SW_POWER_CAP),
            Throttle::PowerCap
        );
        assert_eq!(
            throttle_of(ThrottleReasons::SW_POWER_CAP | ThrottleReasons::HW_THERMAL_SLOWDOWN),
            Throttle::Thermal
        );
        assert_eq!(throttle_of(ThrottleReasons::HW_SLOWDOWN), Throttle::Thermal);
    }

    #[test]
    fn without_nvml_opening_is_unavailable_not_a_panic() {
        match Telemetry::open() {
            Ok(t) => {
                // A machine with a GPU: every GPU reads plausibly.
                for i in 0..t.count().unwrap() {
                    let s = t.sample(i).unwrap();
                    assert!((0.0..150.0).contains(&s.temperature_c), "{s:?}");
                    assert!(s.power_w >= 0.0 && s.power_limit_w > 0.0, "{s:?}");
                    assert!((0.0..=1.0).contains(&s.utilization), "{s:?}");
                }
            }
            Err(CudaError::Unavailable(msg)) => {
                eprintln!("skipped: {msg}");
                assert!(msg.starts_with("NVML"));
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
}
