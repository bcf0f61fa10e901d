//! What one simulation run measured.

use super::{SimDevice, TraceJob};
use crate::{Governor, Policy};

/// One temperature point of the recorded trace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TempPoint {
    /// Simulated time (s).
    pub time_s: f64,
    /// Device index.
    pub device: usize,
    /// Its temperature (°C).
    pub temp_c: f64,
}

/// The results of one policy on one trace.
#[derive(Clone, Debug)]
pub struct SimReport {
    /// The policy.
    pub policy: Policy,
    /// Jobs in the trace.
    pub jobs: usize,
    /// Jobs finished.
    pub completed: usize,
    /// Time from the first arrival to the last completion (s).
    pub makespan_s: f64,
    /// Completion latencies (arrival to finish, s), in completion order.
    pub latencies_s: Vec<f64>,
    /// Mean die temperature over devices and time (°C).
    pub avg_temp_c: f64,
    /// Highest die temperature (°C).
    pub peak_temp_c: f64,
    /// Energy drawn by every device, fans included (J).
    pub energy_j: f64,
    /// Times a device began throttling.
    pub throttle_events: u64,
    /// Device-seconds spent throttled.
    pub throttled_s: f64,
    /// Power limits the governor set.
    pub caps_applied: u64,
    /// Cooling boosts the governor made.
    pub cooling_boosts: u64,
    /// Queued jobs it moved.
    pub migrations: u64,
    /// Decisions made by the safe fallback.
    pub degraded: u64,
    /// Temperature over time, when recorded.
    pub trace: Vec<TempPoint>,
    temp_sum: f64,
    temp_n: u64,
}

impl SimReport {
    pub(crate) fn new(policy: Policy, jobs: usize) -> SimReport {
        SimReport {
            policy,
            jobs,
            completed: 0,
            makespan_s: 0.0,
            latencies_s: Vec::with_capacity(jobs),
            avg_temp_c: 0.0,
            peak_temp_c: f64::NEG_INFINITY,
            energy_j: 0.0,
            throttle_events: 0,
            throttled_s: 0.0,
            caps_applied: 0,
            cooling_boosts: 0,
            migrations: 0,
            degraded: 0,
            trace: Vec::new(),
            temp_sum: 0.0,
            temp_n: 0,
        }
    }

    pub(crate) fn finished(&mut self, job: &TraceJob, now_s: f64) {
        self.completed += 1;
        self.latencies_s.push(now_s - job.arrival_s);
        self.makespan_s = self.makespan_s.max(now_s);
    }

    pub(crate) fn record_temps(&mut self, devs: &[SimDevice]) {
        for d in devs.iter().filter(|d| !d.lost) {
            self.temp_sum += d.temp_c;
            self.temp_n += 1;
            self.peak_temp_c = self.peak_temp_c.max(d.temp_c);
        }
    }

    pub(crate) fn finish(&mut self, devs: &[SimDevice], gov: &Governor) {
        self.avg_temp_c = self.temp_sum / self.temp_n.max(1) as f64;
        self.energy_j = devs.iter().map(|d| d.energy_j).sum();
        self.throttle_events = devs.iter().map(|d| d.throttle_events).sum();
        self.throttled_s = devs.iter().map(|d| d.throttled_s).sum();
        let s = gov.stats();
        self.caps_applied = s.caps_applied;
        self.cooling_boosts = s.cooling_boosts;
        self.migrations = s.migrations;
    }

    /// Jobs finished per second of makespan.
    pub fn throughput(&self) -> f64 {
        self.completed as f64 / self.makespan_s.max(1e-9)
    }

    /// Latency quantile `q` (0 to 1) in seconds.
    pub fn latency_s(&self, q: f64) -> f64 {
        percentile(&self.latencies_s, q)
    }
}

/// Quantile `q` (0 to 1, nearest rank) of `values`; NaN when empty.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}
