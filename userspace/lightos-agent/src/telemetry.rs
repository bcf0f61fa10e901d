//! Device telemetry, sampled once a second from `/dev/lightos` by a thread: every backend's load,
//! jobs and errors, and for devices with a thermal guard (photonic0) temperature, power, state and
//! event counts. Energy is the agent's integral of the guard's power readings over the samples
//! (the ABI has no energy counter). `/metrics` and the dashboard read the latest sample.

use lightos_runtime::{accel::Accelerator, Context};
use std::{
    collections::{BTreeMap, VecDeque},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::broadcast;

/// A thermal event of a device, as the kernel logged it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EventSample {
    /// Its sequence number.
    pub seq: u64,
    /// The device's name.
    pub device: String,
    /// `throttle`, `throttle-end`, `shutdown`, `restart`, `device-lost`, `fault-latched`.
    pub kind: &'static str,
    /// °C when it happened.
    pub temperature_c: f64,
    /// The laser limit the guard set (mW).
    pub laser_limit_mw: u32,
    /// Seconds since the agent started when the agent saw it.
    pub at_s: f64,
}

/// One backend, as last sampled.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct DeviceSample {
    /// Its name.
    pub name: String,
    /// `device` or `executor`.
    pub kind: &'static str,
    /// Jobs queued or running.
    pub load: u64,
    /// Jobs completed.
    pub jobs: u64,
    /// Jobs that failed.
    pub errors: u64,
    /// °C, for a guarded device.
    pub temperature_c: Option<f64>,
    /// W, for a guarded device.
    pub power_w: Option<f64>,
    /// J since the agent started, integrated from `power_w`.
    pub energy_j: f64,
    /// The guard's state.
    pub thermal_state: Option<&'static str>,
    /// Entries into throttling.
    pub throttles: u64,
    /// Emergency shutdowns.
    pub shutdowns: u64,
    /// Guard ticks missed (a period or more late).
    pub missed_ticks: u64,
    /// The guard's worst tick lateness (s).
    pub worst_late_s: f64,
}

/// Thermal events kept for the dashboard.
pub const EVENTS_KEPT: usize = 32;

/// The kernel's counters of each op, by op name.
pub type OpCounters = Vec<(String, lightos_runtime::OpStats)>;

/// The latest sample of every backend, by name, the kernel's counters of each op, and whether the
/// kernel answered.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Backends by name.
    pub devices: BTreeMap<String, DeviceSample>,
    /// Module-wide counters of each op (`QUERY_OPS`), by op name.
    pub ops: OpCounters,
    /// Why the last sample failed (no module, …), if it did.
    pub error: Option<String>,
}

/// The sampler's shared state.
#[derive(Debug)]
pub struct Telemetry {
    latest: Mutex<Snapshot>,
    /// The newest events, oldest first (at most [`EVENTS_KEPT`]).
    recent: Mutex<VecDeque<EventSample>>,
    events: broadcast::Sender<EventSample>,
    /// When sampling started (the streams' time base).
    pub started: Instant,
}

impl Telemetry {
    /// Starts sampling `node` every `period` on a thread of its own.
    pub fn start(node: PathBuf, period: Duration) -> Arc<Telemetry> {
        let t = Arc::new(Telemetry {
            latest: Mutex::new(Snapshot::default()),
            recent: Mutex::new(VecDeque::new()),
            events: broadcast::channel(256).0,
            started: Instant::now(),
        });
        let watcher = Arc::clone(&t);
        let event_node = node.clone();
        let _ = std::thread::Builder::new()
            .name("thermal-events".into())
            .spawn(move || watcher.watch_events(&event_node));
        let shared = Arc::clone(&t);
        let _ = std::thread::Builder::new()
            .name("telemetry".into())
            .spawn(move || {
                let mut last = Instant::now();
                loop {
                    let now = Instant::now();
                    shared.sample(&node, now.duration_since(last));
                    last = now;
                    std::thread::sleep(period);
                }
            });
        t
    }

    /// Thermal events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EventSample> {
        self.events.subscribe()
    }

    /// Forwards the kernel's thermal events to the subscribers, from the newest at start on;
    /// retries every few seconds while the module is not there.
    fn watch_events(&self, node: &std::path::Path) {
        loop {
            let ctx = match Context::open_path(node) {
                Ok(c) => c,
                Err(_) => {
                    std::thread::sleep(Duration::from_secs(5));
                    continue;
                }
            };
            let mut after = ctx.thermal().map_or(0, |t| t.last_event_seq);
            let mut names = BTreeMap::new();
            while let Ok(batch) = ctx.wait_events(after, Some(Duration::from_secs(1))) {
                if batch.events.is_empty() {
                    continue;
                }
                if batch
                    .events
                    .iter()
                    .any(|e| !names.contains_key(&e.backend_id))
                {
                    if let Ok(list) = ctx.backends() {
                        names = list.into_iter().map(|b| (b.id, b.name)).collect();
                    }
                }
                for e in &batch.events {
                    let sample = EventSample {
                        seq: e.seq,
                        device: names.get(&e.backend_id).cloned().unwrap_or_default(),
                        kind: e.kind.name(),
                        temperature_c: f64::from(e.temp_mc) / 1000.0,
                        laser_limit_mw: e.laser_limit_mw,
                        at_s: self.started.elapsed().as_secs_f64(),
                    };
                    if let Ok(mut recent) = self.recent.lock() {
                        if recent.len() == EVENTS_KEPT {
                            recent.pop_front();
                        }
                        recent.push_back(sample.clone());
                    }
                    let _ = self.events.send(sample);
                }
                after = batch.last_seq;
            }
        }
    }

    /// The newest thermal events seen since the agent started, oldest first.
    pub fn recent_events(&self) -> Vec<EventSample> {
        self.recent
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The latest sample.
    pub fn snapshot(&self) -> Snapshot {
        self.latest.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn sample(&self, node: &std::path::Path, dt: Duration) {
        let read = || -> Result<(Vec<DeviceSample>, OpCounters), String> {
            let ctx = Context::open_path(node).map_err(|e| e.to_string())?;
            let guards = ctx.thermal().map_err(|e| e.to_string())?.devices;
            let per_op = ctx.op_stats().map_err(|e| e.to_string())?;
            let ops = lightos_runtime::Op::ALL
                .iter()
                .map(|&op| (format!("{op:?}").to_lowercase(), per_op[op]))
                .collect();
            let props = Accelerator::with(ctx)
                .and_then(|a| a.devices())
                .map_err(|e| e.to_string())?;
            let samples = props
                .into_iter()
                .map(|p| {
                    let g = guards.iter().find(|g| g.backend_id == p.backend_id);
                    DeviceSample {
                        kind: match p.kind {
                            lightos_runtime::accel::DeviceKind::Hardware => "device",
                            lightos_runtime::accel::DeviceKind::Executor => "executor",
                        },
                        load: u64::from(p.queued + p.running),
                        jobs: p.jobs,
                        errors: p.errors,
                        temperature_c: p.temperature_c,
                        power_w: p.power_w,
                        thermal_state: p.thermal_state,
                        throttles: g.map_or(0, |g| g.throttles),
                        shutdowns: g.map_or(0, |g| g.shutdowns),
                        missed_ticks: g.map_or(0, |g| g.missed),
                        worst_late_s: g.map_or(0.0, |g| g.worst_late_ns as f64 / 1e9),
                        energy_j: 0.0,
                        name: p.name,
                    }
                })
                .collect();
            Ok((samples, ops))
        };
        let Ok(mut latest) = self.latest.lock() else {
            return;
        };
        match read() {
            Ok((samples, ops)) => {
                let mut devices = BTreeMap::new();
                for mut s in samples {
                    let before = latest.devices.get(&s.name).map_or(0.0, |d| d.energy_j);
                    s.energy_j = before + s.power_w.unwrap_or(0.0) * dt.as_secs_f64();
                    devices.insert(s.name.clone(), s);
                }
                *latest = Snapshot {
                    devices,
                    ops,
                    error: None,
                };
            }
            Err(e) => latest.error = Some(e),
        }
    }
}
