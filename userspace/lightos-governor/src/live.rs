//! The live governor: the [`Governor`] fed by `/dev/lightos` telemetry and acting through the
//! kernel's controls.
//!
//! Telemetry per device: a device with a thermal guard (the photonic NPU) from `QUERY_THERMAL`
//! (temperature, laser + heater + compute power, laser cap, throttle state); a userspace executor
//! (lightosd's CPU backend) from `/sys/class/thermal` when the machine has thermal zones (else it
//! has no sensor and is never thermally limited) and the package power from powercap (RAPL) where
//! present (the machine's, shared by every executor on it), its utilization from the backend's load.
//! A GPU executor (`cudaN`, see [`super::gpu`]) reads its own sensors through the
//! [`GpuTelemetry`] given to [`LiveGovernor::with_gpus`] (NVML): temperature, board power, power
//! limit, utilization and throttle reasons.
//! Actions: a power cap becomes a laser cap (`POWER_SET`, the cap less the non-laser power now
//! drawn) or a GPU's power limit; cooling becomes a TEC floor. CPU executors have no controls,
//! so the governor never caps them.

use super::{
    gpu::{self, GpuTelemetry},
    powercap::{RaplMeter, POWERCAP_ROOT},
    Action, Decision, DeviceSpec, Governor, GovernorConfig, GovernorError, JobProfile, RcModel,
    Sample, Throttle,
};
use lightos_runtime::{
    thermal::{PowerControls, ThermalDevice, ThermalState, LASER_CAP_MIN_MW, LASER_MAX_MW},
    Context,
};
use std::{fs, time::Instant};

/// The emulated photonic chip's datasheet model in wall-clock seconds (R = 20 K/W, C = 0.5 J/K
/// of model time at the VM's default time scale of 10, so 0.05 J/K of wall time), 25 °C ambient.
pub const PHOTONIC_PRIOR: RcModel = RcModel {
    r_k_per_w: 20.0,
    c_j_per_k: 0.05,
    ambient_c: 25.0,
};
/// Heater power while weights are held (W): the photonic chip's power not under the laser cap.
const PHOTONIC_HEATER_W: f64 = 0.3;
/// The TEC's cooling at full drive (W).
const PHOTONIC_TEC_W: f64 = 2.0;

/// Why the live governor failed.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// A device name that `/dev/lightos` does not know.
    #[error("no backend named {0:?} (see `lightos devices`)")]
    UnknownDevice(String),
    /// The governor refused.
    #[error(transparent)]
    Governor(#[from] GovernorError),
    /// An ioctl failed.
    #[error(transparent)]
    Device(#[from] lightos_runtime::Error),
    /// A GPU's telemetry could not be read when it joined.
    #[error("GPU telemetry of {name}: {why}")]
    Gpu {
        /// The device's name.
        name: String,
        /// What the telemetry source said.
        why: String,
    },
}

/// One governed device.
#[derive(Clone, Debug)]
struct Member {
    name: String,
    backend_id: u32,
    /// Whether it has a thermal guard (and so telemetry and controls in the kernel).
    guarded: bool,
    /// The GPU it runs on and that GPU's default power limit (W), for a GPU executor.
    gpu: Option<(u32, f64)>,
}

/// The governor over named `/dev/lightos` backends.
#[derive(Debug)]
pub struct LiveGovernor {
    dev: Context,
    gov: Governor,
    members: Vec<Member>,
    start: Instant,
    /// CPU package power, where the machine has RAPL.
    rapl: Option<RaplMeter>,
    /// Its newest reading (W).
    cpu_power_w: Option<f64>,
    /// The GPUs' sensors and power limits, when given.
    gpus: Option<Box<dyn GpuTelemetry>>,
}

impl LiveGovernor {
    /// Governs the backends `names` (in that order) with `cfg`; GPU executors get no telemetry
    /// (see [`LiveGovernor::with_gpus`]).
    pub fn new(
        dev: Context,
        cfg: GovernorConfig,
        names: &[&str],
    ) -> Result<LiveGovernor, LiveError> {
        Self::with_gpus(dev, cfg, names, None)
    }

    /// As [`LiveGovernor::new`], reading and capping the GPUs of `cudaN` executors through `gpus`.
    pub fn with_gpus(
        dev: Context,
        cfg: GovernorConfig,
        names: &[&str],
        gpus: Option<Box<dyn GpuTelemetry>>,
    ) -> Result<LiveGovernor, LiveError> {
        let backends = dev.backends()?;
        let thermal = dev.thermal()?;
        let mut members = Vec::new();
        let mut specs = Vec::new();
        for &name in names {
            let b = backends
                .iter()
                .find(|b| b.name == name)
                .ok_or_else(|| LiveError::UnknownDevice(name.to_string()))?;
            let guard = thermal.devices.iter().find(|t| t.backend_id == b.id);
            let on_gpu = match (gpu::gpu_of(name), &gpus) {
                (Some(g), Some(src)) if guard.is_none() => {
                    let err = |why| LiveError::Gpu {
                        name: name.to_string(),
                        why,
                    };
                    let limits = src.limits(g).map_err(err)?;
                    let now = src.read(g).map_err(err)?;
                    // Idle power from a reading of an idle GPU, else a tenth of its range's top.
                    let idle = if now.utilization < 0.05 {
                        now.power_w
                    } else {
                        0.1 * limits.max_power_w
                    };
                    specs.push(gpu::gpu_spec(name, &limits, idle));
                    Some((g, limits.default_power_w))
                }
                _ => {
                    specs.push(match guard {
                        Some(t) => photonic_spec(name, t),
                        None => executor_spec(name),
                    });
                    None
                }
            };
            members.push(Member {
                name: name.to_string(),
                backend_id: b.id,
                guarded: guard.is_some(),
                gpu: on_gpu,
            });
        }
        Ok(LiveGovernor {
            dev,
            gov: Governor::new(cfg, specs),
            members,
            start: Instant::now(),
            rapl: RaplMeter::open(std::path::Path::new(POWERCAP_ROOT)),
            cpu_power_w: None,
            gpus,
        })
    }

    /// Seconds since the governor started (the time base of its samples).
    pub fn now_s(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// The governor.
    pub fn governor(&self) -> &Governor {
        &self.gov
    }

    /// The name of device `i`.
    pub fn name(&self, i: usize) -> &str {
        &self.members[i].name
    }

    /// The index of the device named `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.members.iter().position(|m| m.name == name)
    }

    /// Takes one telemetry sample of every device. A device gone from the kernel (unbound) or
    /// reported lost is marked lost; a device whose sample cannot be read is skipped, so its
    /// telemetry ages and the governor degrades if it stays silent.
    pub fn poll(&mut self) -> Result<(), LiveError> {
        let now = self.now_s();
        let backends = self.dev.backends()?;
        let thermal = self.dev.thermal()?;
        if let Some(rapl) = &mut self.rapl {
            self.cpu_power_w = rapl.sample(now).or(self.cpu_power_w);
        }
        for (i, m) in self.members.iter().enumerate() {
            let Some(b) = backends.iter().find(|b| b.id == m.backend_id) else {
                self.gov.device_lost(i, &[], now)?;
                continue;
            };
            let utilization = Some(if b.running > 0 { 1.0 } else { 0.0 });
            let sample = if let (Some((g, _)), Some(src)) = (m.gpu, &self.gpus) {
                // Unreadable: skipped, so its telemetry ages and the governor degrades.
                let Ok(r) = src.read(g) else { continue };
                Sample {
                    time_s: now,
                    temp_c: Some(r.temp_c),
                    power_w: Some(r.power_w),
                    power_limit_w: Some(r.power_limit_w),
                    utilization: Some(r.utilization),
                    throttle: r.throttle,
                }
            } else if m.guarded {
                let Some(t) = thermal
                    .devices
                    .iter()
                    .find(|t| t.backend_id == m.backend_id)
                else {
                    continue;
                };
                if t.state == ThermalState::Lost {
                    self.gov.device_lost(i, &[], now)?;
                    continue;
                }
                Sample {
                    time_s: now,
                    temp_c: Some(f64::from(t.temp_mc) / 1000.0),
                    power_w: Some(f64::from(t.power_mw) / 1000.0),
                    power_limit_w: Some(f64::from(t.laser_cap_mw) / 1000.0 + PHOTONIC_HEATER_W),
                    utilization,
                    throttle: match t.state {
                        ThermalState::Throttle => Throttle::Thermal,
                        ThermalState::Shutdown => Throttle::Shutdown,
                        _ if t.laser_cap_mw < LASER_MAX_MW => Throttle::PowerCap,
                        _ => Throttle::None,
                    },
                }
            } else {
                Sample {
                    time_s: now,
                    temp_c: cpu_temp_c(),
                    power_w: self.cpu_power_w,
                    power_limit_w: None,
                    utilization,
                    throttle: Throttle::None,
                }
            };
            self.gov.observe(i, sample)?;
        }
        Ok(())
    }

    /// Places `job` (see [`Governor::place`]).
    pub fn place(&mut self, job: &JobProfile) -> Result<Decision, LiveError> {
        let now = self.now_s();
        Ok(self.gov.place(job, now)?)
    }

    /// Where `job` would go now and why (see [`Governor::preview`]).
    pub fn preview(&self, job: &JobProfile) -> Result<Decision, LiveError> {
        Ok(self.gov.preview(job, self.now_s())?)
    }

    /// The job is about to start on `dev`: applies the governor's actions and returns them.
    pub fn start(&mut self, dev: usize, job: &JobProfile) -> Result<Vec<Action>, LiveError> {
        let actions = self.gov.on_start(dev, job)?;
        self.apply(&actions)?;
        Ok(actions)
    }

    /// The job ended on `dev`: applies the governor's relaxations and returns them.
    pub fn finish(&mut self, dev: usize, job: &JobProfile) -> Result<Vec<Action>, LiveError> {
        let actions = self.gov.on_finish(dev, job)?;
        self.apply(&actions)?;
        Ok(actions)
    }

    /// Applies actions through `POWER_SET`, or a GPU's power limit.
    fn apply(&self, actions: &[Action]) -> Result<(), LiveError> {
        let thermal = self.dev.thermal()?;
        for a in actions {
            if self.apply_to_gpu(a) {
                continue;
            }
            let (dev, controls) = match *a {
                Action::PowerCap { device, watts } => {
                    let m = &self.members[device];
                    // The laser is the controllable part: the cap less what else the chip draws now.
                    let t = thermal
                        .devices
                        .iter()
                        .find(|t| t.backend_id == m.backend_id);
                    let other_w = t.map_or(PHOTONIC_HEATER_W, |t| {
                        f64::from(t.power_mw.saturating_sub(t.laser_mw)) / 1000.0
                    });
                    let mw = ((watts - other_w) * 1000.0)
                        .clamp(f64::from(LASER_CAP_MIN_MW), f64::from(LASER_MAX_MW));
                    (
                        device,
                        PowerControls {
                            laser_cap_mw: Some(mw as u32),
                            tec_floor_permille: None,
                        },
                    )
                }
                Action::ClearCap { device } => (
                    device,
                    PowerControls {
                        laser_cap_mw: Some(LASER_MAX_MW),
                        tec_floor_permille: None,
                    },
                ),
                Action::Cooling { device, drive } => {
                    let permille = (drive.clamp(0.0, 1.0) * 1000.0).round() as u32;
                    (
                        device,
                        PowerControls {
                            laser_cap_mw: None,
                            tec_floor_permille: Some(permille),
                        },
                    )
                }
            };
            let m = &self.members[dev];
            if m.guarded {
                self.dev.set_power(m.backend_id, controls)?;
                tracing::info!(device = %m.name, ?controls, "power controls applied");
            }
        }
        Ok(())
    }
}

impl LiveGovernor {
    /// Applies `a` when it is for a GPU executor (returns whether it was). A refused power limit
    /// (NVML needs root) is logged, not fatal: placement goes on without the cap.
    fn apply_to_gpu(&self, a: &Action) -> bool {
        let device = match *a {
            Action::PowerCap { device, .. }
            | Action::ClearCap { device }
            | Action::Cooling { device, .. } => device,
        };
        let (Some((g, default_w)), Some(src)) = (self.members[device].gpu, &self.gpus) else {
            return false;
        };
        let name = &self.members[device].name;
        let watts = match *a {
            Action::PowerCap { watts, .. } => watts,
            Action::ClearCap { .. } => default_w,
            // No cooling control on a GPU (its spec says so); nothing to do.
            Action::Cooling { .. } => return true,
        };
        match src.set_power_limit(g, watts) {
            Ok(set) => tracing::info!(device = %name, watts = set, "GPU power limit set"),
            Err(why) => tracing::warn!(device = %name, watts, %why, "GPU power limit refused"),
        }
        true
    }
}

/// A guarded device's description from its `QUERY_THERMAL` entry.
fn photonic_spec(name: &str, t: &ThermalDevice) -> DeviceSpec {
    DeviceSpec {
        name: name.to_string(),
        throttle_c: f64::from(t.throttle_mc) / 1000.0,
        // Laser at its default 1 W and the heaters holding weights.
        idle_power_w: 1.0 + PHOTONIC_HEATER_W,
        max_power_w: f64::from(LASER_MAX_MW) / 1000.0 + PHOTONIC_HEATER_W + 1.5,
        min_power_w: f64::from(LASER_CAP_MIN_MW) / 1000.0 + PHOTONIC_HEATER_W,
        cooling_max_w: PHOTONIC_TEC_W,
        power_cap_control: true,
        prior: PHOTONIC_PRIOR,
    }
}

/// An executor's description: no controls; thermal figures of a server CPU package.
fn executor_spec(name: &str) -> DeviceSpec {
    DeviceSpec {
        name: name.to_string(),
        throttle_c: 95.0,
        idle_power_w: 0.0,
        max_power_w: 0.0,
        min_power_w: 0.0,
        cooling_max_w: 0.0,
        power_cap_control: false,
        prior: RcModel {
            r_k_per_w: 0.3,
            c_j_per_k: 100.0,
            ambient_c: 30.0,
        },
    }
}

/// The hottest of the machine's thermal zones (°C), if it has any.
pub fn cpu_temp_c() -> Option<f64> {
    let zones = fs::read_dir("/sys/class/thermal").ok()?;
    zones
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("thermal_zone"))
        .filter_map(|e| fs::read_to_string(e.path().join("temp")).ok())
        .filter_map(|s| s.trim().parse::<f64>().ok())
        .map(|mc| mc / 1000.0)
        .reduce(f64::max)
}
