//! `lightos top`: every backend's telemetry and load, refreshed, with the PowerGovernor's view:
//! each device's thermal model (fitted online while `top` runs) and where a job of the given
//! profile would go now, and why.

use lightos_governor::{live::LiveGovernor, GovernorConfig, JobProfile, Policy};
use lightos_runtime::{thermal::LASER_MAX_MW, Context};
use std::{path::Path, thread, time::Duration};

/// What `lightos top` shows and how often.
pub struct TopArgs {
    /// Refresh period.
    pub interval: Duration,
    /// Refreshes before exiting (`None`: until interrupted).
    pub iterations: Option<u64>,
    /// The governor's policy.
    pub policy: Policy,
    /// The job whose placement is previewed.
    pub job: JobProfile,
}

/// Runs `lightos top`.
pub fn run(device: &Path, args: &TopArgs, json: bool) -> Result<(), Box<dyn std::error::Error>> {
    args.job.validate()?;
    let dev = Context::open_path(device)?;
    let names: Vec<String> = dev.backends()?.into_iter().map(|b| b.name).collect();
    if names.is_empty() {
        return Err("no backend is registered (start lightosd, or bind the photonic NPU)".into());
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let cfg = GovernorConfig {
        policy: args.policy,
        stale_after_s: (args.interval.as_secs_f64() * 5.0).max(1.0),
        ..GovernorConfig::default()
    };
    let gpus = crate::gpus::telemetry_for(&refs);
    let mut gov = LiveGovernor::with_gpus(Context::open_path(device)?, cfg, &refs, gpus)?;
    let mut n = 0u64;
    loop {
        gov.poll()?;
        let backends = dev.backends()?;
        let thermal = dev.thermal()?;
        let preview = gov.preview(&args.job);
        let mut rows = Vec::new();
        if !json {
            // Clear the screen and home the cursor, as top(1) does, when writing to a terminal.
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                print!("\x1b[2J\x1b[H");
            }
            println!(
                "lightos top — policy {}, refresh {:.1} s",
                args.policy,
                args.interval.as_secs_f64()
            );
            println!(
                "{:<12} {:<8} {:>8} {:>9} {:>8} {:>8} {:>7} {:>6} {:>7} {:>9}  model (R K/W, C J/K, ambient °C)",
                "device", "state", "temp °C", "power W", "cap mW", "TEC ‰", "queued", "run", "jobs", "errors"
            );
        }
        for (i, name) in names.iter().enumerate() {
            let b = backends.iter().find(|b| &b.name == name);
            let t = b.and_then(|b| thermal.devices.iter().find(|t| t.backend_id == b.id));
            let (model, fitted) = gov
                .governor()
                .model(i)
                .unwrap_or((lightos_governor::live::PHOTONIC_PRIOR, false));
            let state = match (b, t) {
                (None, _) => "gone",
                (Some(_), Some(t)) => t.state.name(),
                (Some(_), None) => "running",
            };
            if json {
                rows.push(serde_json::json!({
                    "name": name, "state": state,
                    "temp_c": t.map(|t| f64::from(t.temp_mc) / 1000.0),
                    "power_w": t.map(|t| f64::from(t.power_mw) / 1000.0),
                    "laser_cap_mw": t.map(|t| t.laser_cap_mw),
                    "tec_permille": t.map(|t| t.tec_permille),
                    "queued": b.map(|b| b.queued), "running": b.map(|b| b.running),
                    "jobs": b.map(|b| b.stats.count), "errors": b.map(|b| b.stats.errors),
                    "model": {"r_k_per_w": model.r_k_per_w, "c_j_per_k": model.c_j_per_k, "ambient_c": model.ambient_c, "fitted": fitted},
                }));
                continue;
            }
            let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
            let cap = t.map(|t| {
                if t.laser_cap_mw >= LASER_MAX_MW {
                    "none".to_string()
                } else {
                    t.laser_cap_mw.to_string()
                }
            });
            println!(
                "{:<12} {:<8} {:>8} {:>9} {:>8} {:>8} {:>7} {:>6} {:>7} {:>9}  {}",
                name,
                state,
                opt(t.map(|t| format!("{:.2}", f64::from(t.temp_mc) / 1000.0))),
                opt(t.map(|t| format!("{:.2}", f64::from(t.power_mw) / 1000.0))),
                opt(cap),
                opt(t.map(|t| t.tec_permille.to_string())),
                opt(b.map(|b| b.queued.to_string())),
                opt(b.map(|b| b.running.to_string())),
                opt(b.map(|b| b.stats.count.to_string())),
                opt(b.map(|b| b.stats.errors.to_string())),
                if t.is_some() {
                    format!(
                        "{:.2}, {:.3}, {:.1}{}",
                        model.r_k_per_w,
                        model.c_j_per_k,
                        model.ambient_c,
                        if fitted { " (fitted)" } else { " (prior)" }
                    )
                } else {
                    "no thermal telemetry".into()
                },
            );
        }
        let job = &args.job;
        match (&preview, json) {
            (Ok(d), false) => println!(
                "next job ({:.2} W for {:.2} s, sparsity {:.2}) → {}: {}{}",
                job.power_w,
                job.duration_s,
                job.sparsity,
                gov.name(d.device),
                d.reason,
                if d.degraded { " [degraded]" } else { "" }
            ),
            (Err(e), false) => println!("next job: {e}"),
            (_, true) => {
                let placement = match &preview {
                    Ok(d) => {
                        serde_json::json!({"device": gov.name(d.device), "reason": d.reason, "degraded": d.degraded, "predicted_peak_c": d.predicted_peak_c})
                    }
                    Err(e) => serde_json::json!({"error": e.to_string()}),
                };
                println!(
                    "{}",
                    serde_json::json!({"policy": args.policy.name(), "devices": rows, "next_job": placement})
                );
            }
        }
        n += 1;
        if args.iterations.is_some_and(|max| n >= max) {
            return Ok(());
        }
        thread::sleep(args.interval);
    }
}
