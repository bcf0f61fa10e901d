//! The PowerGovernor on the simulated cluster (host), run by `make bench` (bench/run.sh):
//! - every policy on the same trace, devices and seed (8 devices, 600 s of arrivals at 70 % load):
//!   throughput, p50/p99 latency, temperatures, energy, throttle events, side by side, with each
//!   policy's ratios to round-robin;
//! - decision latency of `Governor::place` at 8, 100 and 1000 devices (thermal-aware policy, fitted
//!   models, a backlog on every device), p50/p99 over 20 000 decisions each;
//! - the temperature of every device over time per policy, as CSV (`--trace FILE`) for the plot.
//!
//! Usage: `bench_governor [--trace FILE]`. Prints two Markdown tables between `BENCH-TABLE-BEGIN`
//! and `BENCH-TABLE-END`.

use lightos_governor::{
    sim::{self, percentile, SimConfig},
    Governor, GovernorConfig, JobProfile, Policy, Sample, Throttle,
};
use std::{fmt::Write as _, fs, time::Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let trace_path = args
        .iter()
        .position(|a| a == "--trace")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let cfg = SimConfig {
        trace_every_s: 1.0,
        ..SimConfig::default()
    };
    let mut csv = String::from("policy,time_s,device,temp_c\n");
    let mut table = String::from(
        "| policy | jobs/s | vs RR | p50 latency (s) | p99 latency (s) | p99 vs RR | avg °C | peak °C | energy (MJ) | throttle events | vs RR | throttled s | caps | migrations |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut baseline = None;
    for policy in Policy::ALL {
        let t = Instant::now();
        let r = sim::run(&cfg, policy).expect("simulation");
        eprintln!(
            "{policy}: {} of {} jobs in {:.1} s of host time",
            r.completed,
            r.jobs,
            t.elapsed().as_secs_f64()
        );
        assert_eq!(r.completed, r.jobs, "{policy} left jobs unfinished");
        let (tp0, p99_0, thr0) =
            *baseline.get_or_insert((r.throughput(), r.latency_s(0.99), r.throttle_events));
        let ratio = |a: f64, b: f64| {
            if b > 0.0 {
                format!("{:.3}", a / b)
            } else {
                "–".into()
            }
        };
        writeln!(
            table,
            "| {policy} | {:.3} | {} | {:.2} | {:.2} | {} | {:.1} | {:.1} | {:.2} | {} | {} | {:.0} | {} | {} |",
            r.throughput(),
            ratio(r.throughput(), tp0),
            r.latency_s(0.5),
            r.latency_s(0.99),
            ratio(r.latency_s(0.99), p99_0),
            r.avg_temp_c,
            r.peak_temp_c,
            r.energy_j / 1e6,
            r.throttle_events,
            ratio(r.throttle_events as f64, thr0 as f64),
            r.throttled_s,
            r.caps_applied,
            r.migrations,
        )
        .unwrap();
        for p in &r.trace {
            writeln!(csv, "{policy},{:.1},{},{:.2}", p.time_s, p.device, p.temp_c).unwrap();
        }
    }
    println!("GOVERNOR-SIM-CONFIG: {} devices, seed {}, {:.0} s of arrivals at {:.0} % offered load, step {} s, telemetry every {} s",
        cfg.devices, cfg.seed, cfg.duration_s, cfg.load * 100.0, cfg.step_s, cfg.sample_s);
    println!("BENCH-TABLE-BEGIN\n{table}BENCH-TABLE-END");
    if let Some(path) = trace_path {
        fs::write(&path, csv).expect("write the trace");
        eprintln!("temperature trace written to {path}");
    }
    let mut lat =
        String::from("| devices | p50 (µs) | p99 (µs) | p99 / 100 µs goal |\n|---|---|---|---|\n");
    for n in [8, 100, 1000] {
        let (p50, p99) = decision_latency(n);
        writeln!(
            lat,
            "| {n} | {:.1} | {:.1} | {:.2} |",
            p50 * 1e6,
            p99 * 1e6,
            p99 * 1e6 / 100.0
        )
        .unwrap();
    }
    println!("BENCH-TABLE-BEGIN\n{lat}BENCH-TABLE-END");
}

/// p50 and p99 (s) of `place` on `n` devices with fitted models and a standing backlog.
fn decision_latency(n: usize) -> (f64, f64) {
    let cfg = SimConfig {
        devices: n,
        ..SimConfig::default()
    };
    let params = sim::cluster(&cfg);
    let specs = params
        .iter()
        .enumerate()
        .map(|(i, p)| p.spec(format!("dev{i}"), sim::NOMINAL))
        .collect();
    let mut gov = Governor::new(
        GovernorConfig {
            policy: Policy::Predictive,
            ..GovernorConfig::default()
        },
        specs,
    );
    // A minute of telemetry with varying power, so every model is fitted.
    for k in 0..600 {
        for (i, p) in params.iter().enumerate() {
            let power = p.idle_w + if (k / 50 + i) % 2 == 0 { 250.0 } else { 0.0 };
            let temp = p.thermal.predict_c(
                p.thermal.ambient_c + 20.0,
                power,
                1.0 + (k % 50) as f64 * 0.1,
            );
            let s = Sample {
                time_s: k as f64 * 0.1,
                temp_c: Some(temp),
                power_w: Some(power),
                throttle: Throttle::None,
                ..Sample::default()
            };
            gov.observe(i, s).expect("observe");
        }
    }
    let now = 59.9;
    let jobs: Vec<JobProfile> = (0..64)
        .map(|k| JobProfile::dense(200.0 + k as f64, 1.0 + (k % 7) as f64))
        .collect();
    let mut placed = std::collections::VecDeque::new();
    let mut times = Vec::with_capacity(20_000);
    for k in 0..20_000 {
        let job = jobs[k % jobs.len()];
        let t = Instant::now();
        let d = gov.place(&job, now).expect("place");
        times.push(t.elapsed().as_secs_f64());
        placed.push_back((d.device, job));
        // Keep about two jobs per device booked.
        if placed.len() > 2 * n {
            let (dev, job) = placed.pop_front().unwrap();
            gov.on_finish(dev, &job).expect("finish");
        }
    }
    (percentile(&times, 0.5), percentile(&times, 0.99))
}
