//! A simulated accelerator: one RC thermal node, a FIFO of jobs, and throttling like real parts
//! (the clock drops to a fraction when the die reaches its throttle point, until it cools by a
//! hysteresis band).

use super::trace::TraceJob;
use crate::{DeviceSpec, RcModel, Sample, Throttle};
use std::collections::VecDeque;

/// The physical parameters of one simulated device.
#[derive(Clone, Debug)]
pub struct SimDeviceParams {
    /// Its thermal node (the governor starts from a datasheet prior, not from this).
    pub thermal: RcModel,
    /// Power drawn idle (W).
    pub idle_w: f64,
    /// Highest power limit (W).
    pub max_power_w: f64,
    /// Lowest power limit (W).
    pub min_power_w: f64,
    /// The die throttles itself here (°C)...
    pub throttle_c: f64,
    /// ...until it is back under this (°C).
    pub release_c: f64,
    /// Clock while throttled (fraction of full).
    pub throttle_clock: f64,
    /// Heat the fans remove at full boost (W).
    pub cooling_max_w: f64,
    /// Power the fans draw at full boost (W).
    pub fan_w: f64,
}

impl SimDeviceParams {
    /// What the governor is told of this device: its datasheet, with the datasheet's nominal
    /// thermal model rather than the true one.
    pub fn spec(&self, name: String, nominal: RcModel) -> DeviceSpec {
        DeviceSpec {
            name,
            throttle_c: self.throttle_c,
            idle_power_w: self.idle_w,
            max_power_w: self.max_power_w,
            min_power_w: self.min_power_w,
            cooling_max_w: self.cooling_max_w,
            power_cap_control: true,
            prior: nominal,
        }
    }
}

/// A job on a device: the trace entry and the work left (seconds at full speed).
#[derive(Clone, Debug)]
pub struct Running {
    /// The job.
    pub job: TraceJob,
    /// Work left (s at full speed).
    pub left_s: f64,
}

/// One simulated device.
#[derive(Clone, Debug)]
pub struct SimDevice {
    /// Its parameters.
    pub p: SimDeviceParams,
    /// Die temperature (°C).
    pub temp_c: f64,
    /// Whether it is throttled now.
    pub throttled: bool,
    /// Times it began throttling.
    pub throttle_events: u64,
    /// Seconds spent throttled.
    pub throttled_s: f64,
    /// Power limit in force (W).
    pub cap_w: Option<f64>,
    /// Fan boost (0 to 1).
    pub cooling: f64,
    /// Energy drawn, fans included (J).
    pub energy_j: f64,
    /// Jobs waiting, oldest first.
    pub queue: VecDeque<TraceJob>,
    /// The job running.
    pub running: Option<Running>,
    /// Whether it stopped reporting telemetry (it still runs).
    pub silent: bool,
    /// Whether it is gone (runs nothing).
    pub lost: bool,
    busy_s: f64,
    window_s: f64,
    last_net_w: f64,
}

impl SimDevice {
    /// A device at its ambient temperature.
    pub fn new(p: SimDeviceParams) -> SimDevice {
        SimDevice {
            temp_c: p.thermal.ambient_c,
            p,
            throttled: false,
            throttle_events: 0,
            throttled_s: 0.0,
            cap_w: None,
            cooling: 0.0,
            energy_j: 0.0,
            queue: VecDeque::new(),
            running: None,
            silent: false,
            lost: false,
            busy_s: 0.0,
            window_s: 0.0,
            last_net_w: 0.0,
        }
    }

    /// Advances `dt` seconds; returns the job that finished, if one did.
    pub fn step(&mut self, dt: f64) -> Option<TraceJob> {
        if self.lost {
            return None;
        }
        let mut power = self.p.idle_w;
        let mut done = None;
        if let Some(r) = &mut self.running {
            let job = &r.job.truth;
            let hw_clock = if self.throttled {
                self.p.throttle_clock
            } else {
                1.0
            };
            let cap_clock = self.cap_w.map_or(1.0, |c| {
                ((c - self.p.idle_w) / job.power_w.max(1e-9)).max(0.0)
            });
            let clock = hw_clock.min(cap_clock).min(1.0);
            r.left_s -= (clock / job.speed_needed).min(1.0) * dt;
            power += job.power_w * clock;
            self.busy_s += dt;
            if r.left_s <= 0.0 {
                done = self.running.take().map(|r| r.job);
            }
        }
        let net = power - self.cooling * self.p.cooling_max_w;
        self.last_net_w = net;
        self.temp_c = self.p.thermal.predict_c(self.temp_c, net, dt);
        self.energy_j += (power + self.cooling * self.p.fan_w) * dt;
        self.window_s += dt;
        if self.throttled {
            self.throttled_s += dt;
            if self.temp_c < self.p.release_c {
                self.throttled = false;
            }
        } else if self.temp_c >= self.p.throttle_c {
            self.throttled = true;
            self.throttle_events += 1;
        }
        done
    }

    /// The telemetry sample at `now_s` (utilization since the previous sample).
    pub fn sample(&mut self, now_s: f64) -> Sample {
        let util = if self.window_s > 0.0 {
            self.busy_s / self.window_s
        } else {
            0.0
        };
        self.busy_s = 0.0;
        self.window_s = 0.0;
        Sample {
            time_s: now_s,
            temp_c: Some(self.temp_c),
            power_w: Some(self.last_net_w),
            power_limit_w: Some(self.cap_w.unwrap_or(self.p.max_power_w)),
            utilization: Some(util),
            throttle: if self.throttled {
                Throttle::Thermal
            } else if self.cap_w.is_some() {
                Throttle::PowerCap
            } else {
                Throttle::None
            },
        }
    }
}
