//! The cluster simulation: N simulated devices, a generated job trace, and the same [`Governor`]
//! the live path uses, stepped on a fixed clock. Every policy sees the same trace and the same
//! devices (same seed), so their reports compare side by side.
//!
//! What is modelled: one RC node per device with per-slot spread (inlet temperature, thermal
//! resistance), hardware throttling with hysteresis, fan boost that costs power, power limits that
//! cut the clock, jobs whose true power, length and speed need differ from their estimates. What
//! is not: memory, interconnect, DVFS curves (power is linear in clock), inter-device heating.

mod device;
mod report;
mod trace;

pub use device::{Running, SimDevice, SimDeviceParams};
pub use report::{percentile, SimReport, TempPoint};
pub use trace::{generate, JobKind, TraceConfig, TraceJob, Truth};

use super::{Action, Governor, GovernorConfig, GovernorError, Policy, RcModel};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Settings of one simulation run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Devices (default 8).
    pub devices: usize,
    /// Seed of the cluster's spread and of the trace.
    pub seed: u64,
    /// Arrivals stop after this (s).
    pub duration_s: f64,
    /// Offered load (0 to 1).
    pub load: f64,
    /// Simulation step (s).
    pub step_s: f64,
    /// Telemetry period (s).
    pub sample_s: f64,
    /// Rebalancing period (s).
    pub rebalance_s: f64,
    /// Device that stops reporting telemetry at the given time (it keeps running).
    pub silence: Option<(usize, f64)>,
    /// Device lost at the given time (its queue must move).
    pub lose: Option<(usize, f64)>,
    /// Record each device's temperature every this many seconds (0: not at all).
    pub trace_every_s: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            devices: 8,
            seed: 7,
            duration_s: 600.0,
            load: 0.8,
            step_s: 0.05,
            sample_s: 0.1,
            rebalance_s: 1.0,
            silence: None,
            lose: None,
            trace_every_s: 0.0,
        }
    }
}

/// The datasheet model every device of the simulated cluster is sold with.
pub const NOMINAL: RcModel = RcModel {
    r_k_per_w: 0.15,
    c_j_per_k: 150.0,
    ambient_c: 32.0,
};

/// The cluster: GPU-class parts (60 W idle, 400 W limit, throttle at 83 °C to 60 % clock) whose
/// true thermal resistance and inlet temperature spread by slot around [`NOMINAL`].
pub fn cluster(cfg: &SimConfig) -> Vec<SimDeviceParams> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xc1a5_7e25);
    (0..cfg.devices)
        .map(|_| SimDeviceParams {
            thermal: RcModel {
                r_k_per_w: NOMINAL.r_k_per_w * rng.gen_range(0.9..1.2),
                c_j_per_k: NOMINAL.c_j_per_k * rng.gen_range(0.9..1.1),
                ambient_c: rng.gen_range(26.0..40.0),
            },
            idle_w: 60.0,
            max_power_w: 400.0,
            min_power_w: 150.0,
            throttle_c: 83.0,
            release_c: 80.0,
            throttle_clock: 0.6,
            cooling_max_w: 60.0,
            fan_w: 25.0,
        })
        .collect()
}

/// Runs the trace of `cfg` under `policy`.
pub fn run(cfg: &SimConfig, policy: Policy) -> Result<SimReport, GovernorError> {
    let params = cluster(cfg);
    let specs = params
        .iter()
        .enumerate()
        .map(|(i, p)| p.spec(format!("dev{i}"), NOMINAL))
        .collect();
    let mut gov = Governor::new(
        GovernorConfig {
            policy,
            stale_after_s: 5.0 * cfg.sample_s,
            ..GovernorConfig::default()
        },
        specs,
    );
    let mut devs: Vec<SimDevice> = params.into_iter().map(SimDevice::new).collect();
    let trace = generate(&TraceConfig {
        seed: cfg.seed,
        duration_s: cfg.duration_s,
        load: cfg.load,
        devices: cfg.devices,
    });
    let mut report = SimReport::new(policy, trace.len());
    let steps_per_sample = (cfg.sample_s / cfg.step_s).round().max(1.0) as u64;
    let steps_per_rebalance = (cfg.rebalance_s / cfg.step_s).round().max(1.0) as u64;
    let steps_per_trace = (cfg.trace_every_s / cfg.step_s).round() as u64;
    let mut next = 0;
    let mut done = 0;
    let mut step: u64 = 0;
    // Drain for as long again as the arrivals lasted, at most.
    let end_s = 2.0 * cfg.duration_s + 60.0;
    while done < trace.len() {
        let now = step as f64 * cfg.step_s;
        if now > end_s {
            break;
        }
        if let Some((d, at)) = cfg.silence {
            devs[d].silent = now >= at;
        }
        if let Some((d, at)) = cfg.lose {
            if now >= at && !devs[d].lost {
                devs[d].lost = true;
                let mut orphans: Vec<TraceJob> =
                    devs[d].running.take().map(|r| r.job).into_iter().collect();
                orphans.extend(devs[d].queue.drain(..));
                let profiles: Vec<_> = orphans.iter().map(|j| j.estimate).collect();
                for (job, to) in orphans.into_iter().zip(gov.device_lost(d, &profiles, now)?) {
                    devs[to].queue.push_back(job);
                }
            }
        }
        while next < trace.len() && trace[next].arrival_s <= now {
            let dec = gov.place(&trace[next].estimate, now)?;
            report.degraded += u64::from(dec.degraded);
            devs[dec.device].queue.push_back(trace[next].clone());
            next += 1;
        }
        for i in 0..devs.len() {
            if devs[i].running.is_none() && !devs[i].lost {
                if let Some(job) = devs[i].queue.pop_front() {
                    for a in gov.on_start(i, &job.estimate)? {
                        apply(&mut devs, a);
                    }
                    let left_s = job.truth.duration_s;
                    devs[i].running = Some(Running { job, left_s });
                }
            }
            if let Some(job) = devs[i].step(cfg.step_s) {
                report.finished(&job, now + cfg.step_s);
                done += 1;
                for a in gov.on_finish(i, &job.estimate)? {
                    apply(&mut devs, a);
                }
            }
        }
        step += 1;
        let now = step as f64 * cfg.step_s;
        if step.is_multiple_of(steps_per_sample) {
            for (i, d) in devs.iter_mut().enumerate() {
                if !d.silent && !d.lost {
                    let s = d.sample(now);
                    gov.observe(i, s)?;
                }
            }
        }
        if step.is_multiple_of(steps_per_rebalance) {
            let queues: Vec<Vec<_>> = devs
                .iter()
                .map(|d| d.queue.iter().map(|j| j.estimate).collect())
                .collect();
            for m in gov.rebalance(now, &queues) {
                if let Some(job) = devs[m.from].queue.remove(m.index) {
                    devs[m.to].queue.push_back(job);
                }
            }
        }
        if steps_per_trace > 0 && step.is_multiple_of(steps_per_trace) {
            report
                .trace
                .extend(devs.iter().enumerate().map(|(i, d)| TempPoint {
                    time_s: now,
                    device: i,
                    temp_c: d.temp_c,
                }));
        }
        report.record_temps(&devs);
    }
    report.finish(&devs, &gov);
    Ok(report)
}

/// Applies one governor action to the simulated devices.
fn apply(devs: &mut [SimDevice], a: Action) {
    match a {
        Action::PowerCap { device, watts } => devs[device].cap_w = Some(watts),
        Action::ClearCap { device } => devs[device].cap_w = None,
        Action::Cooling { device, drive } => devs[device].cooling = drive.clamp(0.0, 1.0),
    }
}
