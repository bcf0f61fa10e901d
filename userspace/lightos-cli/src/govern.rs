//! `lightos governor`: a stream of MATMUL jobs placed by the live PowerGovernor across devices,
//! one worker thread per device (each its own context and stream), with the thermal trace.

use lightos_governor::{live::LiveGovernor, GovernorConfig, JobProfile, Policy};
use lightos_runtime::{accel::Accelerator, Context, DType};
use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

/// What `lightos governor` was asked to do.
pub struct GovernArgs {
    /// Devices to place on.
    pub devices: Vec<String>,
    /// Jobs in the stream.
    pub jobs: usize,
    /// The policy.
    pub policy: Policy,
    /// Time between arrivals.
    pub interval: Duration,
}

/// A job of the stream: its matrix side and the profile the governor is told.
#[derive(Clone, Copy)]
struct StreamJob {
    id: usize,
    side: u64,
    profile: JobProfile,
}

/// The stream: every third job heavy (a 192³ MATMUL), the rest light (64³).
fn stream(n: usize) -> Vec<StreamJob> {
    (0..n)
        .map(|id| {
            let heavy = id % 3 == 0;
            let (side, profile) = if heavy {
                (192, JobProfile::dense(1.5, 0.3))
            } else {
                (64, JobProfile::dense(0.2, 0.05))
            };
            StreamJob { id, side, profile }
        })
        .collect()
}

/// One device's worker: runs the MATMULs it is sent, in order, and reports each end.
fn worker(
    node: PathBuf,
    name: String,
    jobs: mpsc::Receiver<StreamJob>,
    done: mpsc::Sender<(String, usize, Result<Duration, String>)>,
) {
    let setup = || -> Result<Accelerator, String> {
        let mut acc = Accelerator::with(Context::open_path(&node).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        acc.select(&name).map_err(|e| e.to_string())?;
        Ok(acc)
    };
    let acc = setup();
    for job in jobs {
        let r = acc.as_ref().map_err(Clone::clone).and_then(|acc| {
            let n = job.side;
            let v: Vec<f32> = (0..n * n)
                .map(|i| ((i * 31 % 97) as f32 / 48.0) - 1.0)
                .collect();
            let a = acc
                .tensor_from_f32(&[n, n], &v)
                .map_err(|e| e.to_string())?;
            let out = acc.zeros(&[n, n], DType::F32).map_err(|e| e.to_string())?;
            acc.matmul(&a, &a, &out)
                .map_err(|e| e.to_string())?
                .wait()
                .map_err(|e| e.to_string())
        });
        if done.send((name.clone(), job.id, r)).is_err() {
            return;
        }
    }
}

/// Runs the stream; an error if a job fails or a device is unknown.
pub fn run(node: &Path, a: &GovernArgs, json: bool) -> Result<(), Box<dyn std::error::Error>> {
    if a.jobs == 0 {
        return Err("--jobs must be at least 1".into());
    }
    let names: Vec<&str> = a.devices.iter().map(String::as_str).collect();
    let cfg = GovernorConfig {
        policy: a.policy,
        stale_after_s: 5.0,
        ..GovernorConfig::default()
    };
    let gpus = crate::gpus::telemetry_for(&names);
    let mut gov = LiveGovernor::with_gpus(Context::open_path(node)?, cfg, &names, gpus)?;
    let (done_tx, done_rx) = mpsc::channel();
    let mut senders = Vec::new();
    let mut handles = Vec::new();
    for name in &a.devices {
        let (tx, rx) = mpsc::channel();
        let (node, name, done) = (node.to_path_buf(), name.clone(), done_tx.clone());
        handles.push(thread::spawn(move || worker(node, name, rx, done)));
        senders.push(tx);
    }
    drop(done_tx);
    let jobs = stream(a.jobs);
    let mut queued: Vec<VecDeque<StreamJob>> = vec![VecDeque::new(); a.devices.len()];
    let mut running: Vec<Option<StreamJob>> = vec![None; a.devices.len()];
    let mut per_device = vec![0usize; a.devices.len()];
    let (mut next, mut finished) = (0usize, 0usize);
    let start = Instant::now();
    let mut next_arrival = start;
    let mut next_trace = start;
    let mut events = Vec::new();
    if !json {
        println!(
            "{} jobs (every third a 192³ MATMUL, the rest 64³) every {:.0} ms, policy {}",
            a.jobs,
            a.interval.as_secs_f64() * 1e3,
            a.policy
        );
    }
    while finished < jobs.len() {
        gov.poll()?;
        let now = Instant::now();
        if next < jobs.len() && now >= next_arrival {
            let job = jobs[next];
            let d = gov.place(&job.profile)?;
            if !json {
                println!(
                    "  job {:>3} {:>3}³ → {:<10} {}",
                    job.id,
                    job.side,
                    gov.name(d.device),
                    d.reason
                );
            }
            events.push(serde_json::json!({"job": job.id, "side": job.side, "device": gov.name(d.device), "reason": d.reason, "degraded": d.degraded}));
            queued[d.device].push_back(job);
            next += 1;
            next_arrival += a.interval;
        }
        for dev in 0..a.devices.len() {
            if running[dev].is_none() {
                if let Some(job) = queued[dev].pop_front() {
                    let actions = gov.start(dev, &job.profile)?;
                    if !actions.is_empty() && !json {
                        println!("  before job {}: {actions:?}", job.id);
                    }
                    senders[dev]
                        .send(job)
                        .map_err(|_| format!("{}'s worker stopped", a.devices[dev]))?;
                    running[dev] = Some(job);
                }
            }
        }
        if !json && now >= next_trace {
            let line: Vec<String> = (0..a.devices.len())
                .map(|i| {
                    format!(
                        "{} {} queued",
                        gov.name(i),
                        queued[i].len() + usize::from(running[i].is_some())
                    )
                })
                .collect();
            let thermal = Context::open_path(node)?.thermal()?;
            let temps: Vec<String> = thermal
                .devices
                .iter()
                .map(|t| format!("{:.2} °C", f64::from(t.temp_mc) / 1000.0))
                .collect();
            println!(
                "  t={:>6.2}s  {}  {}",
                start.elapsed().as_secs_f64(),
                line.join(", "),
                temps.join(" ")
            );
            next_trace = now + Duration::from_millis(500);
        }
        match done_rx.recv_timeout(Duration::from_millis(20)) {
            Ok((name, id, result)) => {
                let dev = gov.index(&name).ok_or("a worker of an unknown device")?;
                let job = running[dev].take().ok_or("a completion without a job")?;
                result.map_err(|e| format!("job {id} on {name}: {e}"))?;
                gov.finish(dev, &job.profile)?;
                per_device[dev] += 1;
                finished += 1;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err("every worker stopped".into()),
        }
    }
    drop(senders);
    for h in handles {
        let _ = h.join();
    }
    let stats = gov.governor().stats();
    let counts: Vec<_> = (0..a.devices.len())
        .map(|i| serde_json::json!({"device": gov.name(i), "jobs": per_device[i]}))
        .collect();
    if json {
        println!(
            "{}",
            serde_json::json!({"policy": a.policy.name(), "decisions": events, "per_device": counts,
            "caps_applied": stats.caps_applied, "cooling_boosts": stats.cooling_boosts, "degraded": stats.degraded_decisions,
            "throttle_events": stats.throttle_events(), "seconds": start.elapsed().as_secs_f64()})
        );
    } else {
        println!(
            "{} jobs in {:.2} s: {}",
            finished,
            start.elapsed().as_secs_f64(),
            (0..a.devices.len())
                .map(|i| format!("{} {}", gov.name(i), per_device[i]))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!("governor: {} decisions ({} degraded), {} caps, {} cooling boosts, {} throttle events seen",
            stats.decisions, stats.degraded_decisions, stats.caps_applied, stats.cooling_boosts, stats.throttle_events());
    }
    Ok(())
}
