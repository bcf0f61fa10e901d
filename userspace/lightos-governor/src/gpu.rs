//! GPUs under the live governor. The runtime does not load NVML itself: whoever builds a
//! [`super::live::LiveGovernor`] hands it a [`GpuTelemetry`] (the `lightos` CLI passes
//! `lightos_cuda::nvml::Telemetry`; tests pass a fake). A kernel backend named `cudaN` — the
//! name `lightosd --backend cuda --gpu N` registers by default — is GPU `N`.

use super::{DeviceSpec, RcModel, Throttle};

/// A GPU's fixed facts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GpuLimits {
    /// Temperature at which it slows itself down (°C).
    pub slowdown_c: f64,
    /// Lowest power limit it accepts (W).
    pub min_power_w: f64,
    /// Highest power limit (W).
    pub max_power_w: f64,
    /// Its default power limit (W), restored when a cap is lifted.
    pub default_power_w: f64,
}

/// One reading of a GPU.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GpuReading {
    /// Core temperature (°C).
    pub temp_c: f64,
    /// Board power (W).
    pub power_w: f64,
    /// Power limit in force (W).
    pub power_limit_w: f64,
    /// Busy fraction (0 to 1).
    pub utilization: f64,
    /// Whether and why its clocks are held back.
    pub throttle: Throttle,
}

/// What the live governor needs of the machine's GPUs.
pub trait GpuTelemetry: std::fmt::Debug {
    /// GPU `gpu`'s limits.
    fn limits(&self, gpu: u32) -> Result<GpuLimits, String>;
    /// Reads GPU `gpu`.
    fn read(&self, gpu: u32) -> Result<GpuReading, String>;
    /// Sets GPU `gpu`'s power limit to `watts`; returns the limit set (clamped to its range).
    fn set_power_limit(&self, gpu: u32, watts: f64) -> Result<f64, String>;
}

/// The GPU a backend named `name` runs on: `cuda3` → 3.
pub fn gpu_of(name: &str) -> Option<u32> {
    name.strip_prefix("cuda")?.parse().ok()
}

/// A GPU's description for the governor. The prior is a datacenter GPU's (0.06 K/W, 600 J/K,
/// 30 °C inlet: ~40 K above inlet at 700 W, a time constant of ~36 s); the governor refits it
/// from telemetry.
pub fn gpu_spec(name: &str, limits: &GpuLimits, idle_power_w: f64) -> DeviceSpec {
    DeviceSpec {
        name: name.to_string(),
        throttle_c: limits.slowdown_c,
        idle_power_w,
        max_power_w: limits.max_power_w,
        min_power_w: limits.min_power_w,
        cooling_max_w: 0.0,
        power_cap_control: true,
        prior: RcModel {
            r_k_per_w: 0.06,
            c_j_per_k: 600.0,
            ambient_c: 30.0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_names_map_to_gpu_ordinals_and_nothing_else_does() {
        assert_eq!(gpu_of("cuda0"), Some(0));
        assert_eq!(gpu_of("cuda12"), Some(12));
        assert_eq!(gpu_of("cuda"), None);
        assert_eq!(gpu_of("cudax"), None);
        assert_eq!(gpu_of("cpu0"), None);
        assert_eq!(gpu_of("photonic0"), None);
    }

    #[test]
    fn a_gpu_spec_takes_its_limits_and_has_no_cooling_control() {
        let l = GpuLimits {
            slowdown_c: 87.0,
            min_power_w: 200.0,
            max_power_w: 700.0,
            default_power_w: 700.0,
        };
        let s = gpu_spec("cuda0", &l, 70.0);
        assert_eq!(
            (s.throttle_c, s.min_power_w, s.max_power_w),
            (87.0, 200.0, 700.0)
        );
        assert_eq!(s.cooling_max_w, 0.0);
        assert!(s.power_cap_control);
    }
}
