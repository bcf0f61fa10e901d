//! The photonic thermal guard's timing, run in the guest by `make bench` (bench/run.sh) with the
//! NPU bound, against `cyclictest` (rt-tests) in the same VM run:
//! - period jitter: the guard's 1 kHz hrtimer lateness histogram (QUERY_THERMAL, the window's
//!   delta) while `cyclictest` runs a SCHED_FIFO thread at the same 1 ms interval alongside;
//! - trip → laser off: heat the chip past 85 °C by fault injection (cooling failure + 3 W),
//!   wait for the SHUTDOWN event, read the time from the trip to the device reporting its laser
//!   off, clear the faults, wait for the RESTART event; repeated [`TRIPS`] times.
//!
//! Usage: `bench_thermal CYCLICTEST_COMMAND...` (the command that runs cyclictest, so the script
//! can run it through the dynamic loader it ships). Prints two Markdown tables between
//! `BENCH-TABLE-BEGIN` and `BENCH-TABLE-END`.

use lightos_runtime::{
    thermal::{lateness_quantile_us, Event, EventKind, ThermalDevice, LATENESS_BUCKETS},
    Context,
};
use std::{
    fs,
    io::{BufRead, BufReader, Write},
    process::Command,
    time::Duration,
};

/// Seconds of the jitter window.
const WINDOW_S: u32 = 20;
/// Shutdown trips measured.
const TRIPS: usize = 5;

/// Sends a fault-injection command to the emulator over the guest's /dev/ttyS1.
fn inject(cmd: &str) {
    let stty = Command::new("stty")
        .args([
            "-F",
            "/dev/ttyS1",
            "raw",
            "-echo",
            "115200",
            "min",
            "0",
            "time",
            "100",
        ])
        .status()
        .expect("stty");
    assert!(stty.success(), "stty failed");
    let mut tty = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/ttyS1")
        .expect("/dev/ttyS1");
    tty.write_all(format!("{cmd}\n").as_bytes())
        .expect("write to the emulator");
    let mut line = String::new();
    let _ = BufReader::new(tty).read_line(&mut line);
    assert!(line.starts_with("ok"), "emulator refused '{cmd}': {line:?}");
}

/// Quantile `q` of a per-microsecond histogram `(µs, count)`.
fn quantile(hist: &[(u64, u64)], q: f64) -> u64 {
    let total: u64 = hist.iter().map(|h| h.1).sum();
    let rank = ((q * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for &(us, n) in hist {
        seen += n;
        if seen >= rank {
            return us;
        }
    }
    hist.last().map_or(0, |h| h.0)
}

/// Waits for the next event of `kind` after `*after` (advancing it); panics after 120 s.
fn wait_event(dev: &Context, after: &mut u64, kind: EventKind) -> Event {
    loop {
        let batch = dev
            .wait_events(*after, Some(Duration::from_secs(120)))
            .expect("EVENT_WAIT");
        assert!(!batch.events.is_empty(), "no {kind:?} event within 120 s");
        *after = batch.last_seq;
        if let Some(e) = batch.events.into_iter().find(|e| e.kind == kind) {
            return e;
        }
    }
}

fn guard(dev: &Context) -> ThermalDevice {
    let t = dev.thermal().expect("QUERY_THERMAL");
    t.devices
        .into_iter()
        .next()
        .expect("photonic0 is bound and guarded")
}

fn main() {
    let cyclictest: Vec<String> = std::env::args().skip(1).collect();
    assert!(
        !cyclictest.is_empty(),
        "usage: bench_thermal CYCLICTEST_COMMAND..."
    );
    let dev = Context::open().expect("/dev/lightos");

    let before = guard(&dev);
    let out = Command::new(&cyclictest[0])
        .args(&cyclictest[1..])
        .args([
            "-q",
            "-m",
            "-p",
            "80",
            "-i",
            "1000",
            "-D",
            &WINDOW_S.to_string(),
            "-h",
            "20000",
        ])
        .output()
        .expect("cyclictest runs");
    let after = guard(&dev);
    let text = String::from_utf8_lossy(&out.stdout);
    let hist: Vec<(u64, u64)> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
        })
        .filter(|&(_, n)| n > 0)
        .collect();
    let overflows: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("# Histogram Overflows:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let cyc_samples: u64 = hist.iter().map(|h| h.1).sum::<u64>() + overflows;
    assert!(cyc_samples > 0, "cyclictest printed no histogram: {text}");
    let delta: [u64; LATENESS_BUCKETS] =
        std::array::from_fn(|i| after.lateness_hist[i] - before.lateness_hist[i]);
    let guard_q = |q| {
        lateness_quantile_us(&delta, q).map_or_else(|| "≥ 10000".into(), |us| format!("≤ {us}"))
    };
    let bound = |q| lateness_quantile_us(&delta, q).unwrap_or(u64::MAX) as f64;
    let (c50, c99) = (quantile(&hist, 0.5), quantile(&hist, 0.99));
    let cmax = hist.last().map_or(0, |h| h.0);

    println!("BENCH-TABLE-BEGIN");
    println!("| {WINDOW_S} s window, 1 ms period | thermal guard (hrtimer callback) | cyclictest (SCHED_FIFO 80 thread) | ratio guard / cyclictest |");
    println!("|---|---|---|---|");
    println!(
        "| samples | {} ticks ({} missed) | {cyc_samples} wake-ups ({overflows} beyond 20 ms) | |",
        after.ticks - before.ticks,
        after.missed - before.missed
    );
    println!(
        "| lateness p50 | {} µs | {c50} µs | {:.2}× |",
        guard_q(0.5),
        bound(0.5) / c50.max(1) as f64
    );
    println!(
        "| lateness p99 | {} µs | {c99} µs | {:.2}× |",
        guard_q(0.99),
        bound(0.99) / c99.max(1) as f64
    );
    println!(
        "| worst | {} µs (since bind) | {cmax} µs | |",
        after.worst_late_ns / 1000
    );
    println!("BENCH-TABLE-END");

    let mut seq = dev.thermal().expect("QUERY_THERMAL").last_event_seq;
    let mut trips = Vec::new();
    for _ in 0..TRIPS {
        let previous = guard(&dev).last_trip_to_off_ns;
        inject("cooling-failure on");
        inject("runaway 3");
        let shutdown = wait_event(&dev, &mut seq, EventKind::Shutdown);
        let mut off = guard(&dev).last_trip_to_off_ns;
        for _ in 0..200 {
            if off != previous && off != 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
            off = guard(&dev).last_trip_to_off_ns;
        }
        inject("clear");
        wait_event(&dev, &mut seq, EventKind::Restart);
        trips.push((shutdown.temp_mc, off));
    }
    let worst = guard(&dev);
    println!("BENCH-TABLE-BEGIN");
    println!("| trip | temperature at trip | trip → laser reported off | target |");
    println!("|---|---|---|---|");
    for (i, (temp, off)) in trips.iter().enumerate() {
        println!(
            "| {} | {:.3} °C | {:.3} ms | ≤ 2 ms ({:.2}× of it) |",
            i + 1,
            f64::from(*temp) / 1000.0,
            *off as f64 / 1e6,
            *off as f64 / 2e6
        );
    }
    let mut sorted: Vec<u64> = trips.iter().map(|t| t.1).collect();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2] as f64;
    println!(
        "| median of {TRIPS} | | {:.3} ms | ≤ 2 ms ({:.2}× of it) |",
        median / 1e6,
        median / 2e6
    );
    println!(
        "| worst since bind | | {:.3} ms | |",
        worst.worst_trip_to_off_ns as f64 / 1e6
    );
    println!("BENCH-TABLE-END");
}
