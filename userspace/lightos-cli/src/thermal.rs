//! `lightos thermal`: the thermal guard of every device, and (with `--events`) device events as
//! they happen.

use lightos_runtime::{
    thermal::{lateness_quantile_us, Event, ThermalDevice, LATENESS_BOUNDS_US},
    Context, Result,
};
use std::{path::Path, time::Duration};

/// What `lightos thermal` does.
pub struct ThermalArgs {
    /// Print events instead of the guards' state.
    pub events: bool,
    /// Keep printing events until this many have been printed (with `events`).
    pub count: Option<u64>,
    /// Stop waiting for events after this long without one (with `events`).
    pub timeout: Option<Duration>,
    /// Print events already in the kernel's log too, not only new ones (with `events`).
    pub since_start: bool,
}

/// Runs `lightos thermal`.
pub fn run(device: &Path, args: &ThermalArgs, json: bool) -> Result<()> {
    let dev = Context::open_path(device)?;
    let snapshot = dev.thermal()?;
    if !args.events {
        if json {
            let devices: Vec<_> = snapshot.devices.iter().map(guard_json).collect();
            println!(
                "{}",
                serde_json::json!({ "last_event_seq": snapshot.last_event_seq, "devices": devices })
            );
        } else if snapshot.devices.is_empty() {
            println!("no device with a thermal guard (is the photonic NPU bound?)");
        } else {
            snapshot
                .devices
                .iter()
                .for_each(|g| print!("{}", guard_text(g)));
        }
        return Ok(());
    }
    let mut after = if args.since_start {
        0
    } else {
        snapshot.last_event_seq
    };
    let mut printed = 0u64;
    while args.count.is_none_or(|c| printed < c) {
        let batch = dev.wait_events(after, args.timeout)?;
        if batch.events.is_empty() {
            eprintln!(
                "lightos: no event for {:?}; stopping",
                args.timeout.unwrap_or_default()
            );
            break;
        }
        if batch.lost > 0 {
            eprintln!(
                "lightos: {} events left the kernel's log before they were read",
                batch.lost
            );
        }
        for ev in batch
            .events
            .iter()
            .take(args.count.map_or(usize::MAX, |c| (c - printed) as usize))
        {
            if json {
                println!("{}", event_json(ev));
            } else {
                println!(
                    "{:>6} {:>14.6} s  backend {:<3} {:<14} {:>8.3} °C  laser limit {} mW",
                    ev.seq,
                    ev.time_ns as f64 / 1e9,
                    ev.backend_id,
                    ev.kind.name(),
                    f64::from(ev.temp_mc) / 1000.0,
                    ev.laser_limit_mw
                );
            }
            printed += 1;
        }
        after = batch.last_seq;
    }
    Ok(())
}

fn quantile(g: &ThermalDevice, q: f64) -> String {
    lateness_quantile_us(&g.lateness_hist, q)
        .map_or_else(|| "≥10000".to_string(), |us| format!("<{us}"))
}

fn guard_text(g: &ThermalDevice) -> String {
    let c = |mc: i32| f64::from(mc) / 1000.0;
    format!(
        "{} (backend {}): {}\n  temperature      {:.3} °C (max {:.3}); throttle {:.0}, shutdown {:.0}, restart below {:.0} °C\n  \
         laser limit      {} mW, TEC {} ‰\n  guard            {} ticks of {} µs, {} missed, lateness p50 {} µs, p99 {} µs, worst {} µs\n  \
         trips            {} throttles, {} shutdowns, {} restarts; trip → laser off last {} µs, worst {} µs\n  \
         time in state    normal {} ms, throttle {} ms, shutdown {} ms, lost {} ms\n",
        g.name,
        g.backend_id,
        g.state.name(),
        c(g.temp_mc),
        c(g.max_temp_mc),
        c(g.throttle_mc),
        c(g.shutdown_mc),
        c(g.restart_mc),
        g.laser_limit_mw,
        g.tec_permille,
        g.ticks,
        g.period_ns / 1000,
        g.missed,
        quantile(g, 0.5),
        quantile(g, 0.99),
        g.worst_late_ns / 1000,
        g.throttles,
        g.shutdowns,
        g.restarts,
        g.last_trip_to_off_ns / 1000,
        g.worst_trip_to_off_ns / 1000,
        g.time_in_state_ms[0],
        g.time_in_state_ms[1],
        g.time_in_state_ms[2],
        g.time_in_state_ms[3],
    )
}

fn guard_json(g: &ThermalDevice) -> serde_json::Value {
    serde_json::json!({
        "name": g.name,
        "backend_id": g.backend_id,
        "state": g.state.name(),
        "temp_mc": g.temp_mc,
        "max_temp_mc": g.max_temp_mc,
        "throttle_mc": g.throttle_mc,
        "shutdown_mc": g.shutdown_mc,
        "restart_mc": g.restart_mc,
        "laser_limit_mw": g.laser_limit_mw,
        "tec_permille": g.tec_permille,
        "period_ns": g.period_ns,
        "ticks": g.ticks,
        "missed": g.missed,
        "worst_late_ns": g.worst_late_ns,
        "lateness_bounds_us": LATENESS_BOUNDS_US,
        "lateness_hist": g.lateness_hist,
        "throttles": g.throttles,
        "shutdowns": g.shutdowns,
        "restarts": g.restarts,
        "time_in_state_ms": {
            "normal": g.time_in_state_ms[0],
            "throttle": g.time_in_state_ms[1],
            "shutdown": g.time_in_state_ms[2],
            "lost": g.time_in_state_ms[3],
        },
        "last_trip_to_off_ns": g.last_trip_to_off_ns,
        "worst_trip_to_off_ns": g.worst_trip_to_off_ns,
    })
}

fn event_json(ev: &Event) -> serde_json::Value {
    serde_json::json!({
        "seq": ev.seq,
        "time_ns": ev.time_ns,
        "backend_id": ev.backend_id,
        "event": ev.kind.name(),
        "temp_mc": ev.temp_mc,
        "laser_limit_mw": ev.laser_limit_mw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use lightos_runtime::thermal::{ThermalState, LASER_MAX_MW, LATENESS_BUCKETS};

    fn sample() -> ThermalDevice {
        let mut hist = [0u64; LATENESS_BUCKETS];
        hist[3] = 99;
        hist[7] = 1;
        ThermalDevice {
            name: "photonic0".into(),
            backend_id: 2,
            state: ThermalState::Throttle,
            temp_mc: 75_500,
            max_temp_mc: 76_000,
            laser_limit_mw: 800,
            tec_permille: 1000,
            throttle_mc: 75_000,
            shutdown_mc: 85_000,
            restart_mc: 65_000,
            period_ns: 1_000_000,
            ticks: 100,
            missed: 0,
            worst_late_ns: 150_000,
            lateness_hist: hist,
            throttles: 1,
            shutdowns: 0,
            restarts: 0,
            time_in_state_ms: [90, 10, 0, 0],
            last_trip_to_off_ns: 0,
            worst_trip_to_off_ns: 0,
            laser_cap_mw: LASER_MAX_MW,
            tec_floor_permille: 0,
            laser_mw: 1000,
            power_mw: 1300,
        }
    }

    #[test]
    fn text_names_the_device_state_and_lateness_quantiles() {
        let t = guard_text(&sample());
        assert!(t.starts_with("photonic0 (backend 2): throttle\n"), "{t}");
        assert!(t.contains("75.500 °C (max 76.000)"), "{t}");
        assert!(
            t.contains("lateness p50 <50 µs, p99 <50 µs, worst 150 µs"),
            "{t}"
        );
    }

    #[test]
    fn json_carries_the_histogram_with_its_bounds() {
        let v = guard_json(&sample());
        assert_eq!(v["state"], "throttle");
        assert_eq!(v["lateness_hist"][3], 99);
        assert_eq!(v["lateness_bounds_us"][3], 50);
        assert_eq!(v["time_in_state_ms"]["throttle"], 10);
    }
}
