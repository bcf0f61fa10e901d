//! The photonic NPU's tiled MATMUL end to end, run in the guest by `make bench` (bench/run.sh):
//! a 512×512×512 f32 product on photonic0 (64×64 mesh: 64 weight tiles) double-buffered and
//! single-buffered, against the CPU backend (`lightosd`, 2 threads) in the same guest, through the
//! same device API. The time split comes from the driver's `tiling` debugfs counters: staging
//! (the driver's copies into the DMA buffer), programming and compute (the device's own reported
//! time per command; MATMUL includes the accumulation of K tiles), readback, and the driver's time
//! blocked on completions.
//!
//! Prints one Markdown table between `BENCH-TABLE-BEGIN` and `BENCH-TABLE-END`.

use lightos_runtime::accel::Accelerator;
use std::{collections::HashMap, fs, process::Command, thread, time::Duration};

const TILING: &str = "/sys/kernel/debug/lightos-photonic0/tiling";
const N: u64 = 512;
const REPEATS: usize = 3;

fn tiling() -> HashMap<String, u64> {
    fs::read_to_string(TILING)
        .expect("photonic0's tiling debugfs file (is the NPU bound?)")
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.trim().parse().unwrap_or(0)))
        .collect()
}

/// Median wall time (s) of the product on `device`, and the mean split (ns per run) when it is
/// photonic0.
fn measure(device: &str) -> (f64, HashMap<String, u64>) {
    let mut acc = Accelerator::open().expect("open /dev/lightos");
    acc.select(device)
        .unwrap_or_else(|e| panic!("select {device}: {e}"));
    let vals: Vec<f32> = (0..N * N)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect();
    let a = acc.tensor_from_f32(&[N, N], &vals).expect("a");
    let b = acc.tensor_from_f32(&[N, N], &vals).expect("b");
    let c = acc.zeros(&[N, N], lightos_runtime::DType::F32).expect("c");
    acc.matmul(&a, &b, &c)
        .expect("warm-up")
        .wait()
        .expect("warm-up run");
    let photonic = device.starts_with("photonic");
    let before = if photonic { tiling() } else { HashMap::new() };
    let mut times: Vec<f64> = (0..REPEATS)
        .map(|_| {
            acc.matmul(&a, &b, &c)
                .expect("launch")
                .wait()
                .expect("run")
                .as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let mut split = HashMap::new();
    if photonic {
        let after = tiling();
        for (k, v) in &after {
            split.insert(
                k.clone(),
                (v - before.get(k).copied().unwrap_or(0)) / REPEATS as u64,
            );
        }
    }
    (times[REPEATS / 2], split)
}

fn main() {
    let mut cpu = Command::new("lightosd")
        .args(["--name", "cpu-tiled", "--threads", "2"])
        .spawn()
        .expect("start lightosd");
    for _ in 0..80 {
        if fs::read_to_string("/sys/kernel/debug/lightos/stats")
            .is_ok_and(|s| s.contains("backend cpu-tiled"))
        {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    let (cpu_s, _) = measure("cpu-tiled");
    fs::write(TILING, "1").expect("double buffering on");
    let (db_s, db) = measure("photonic0");
    fs::write(TILING, "0").expect("double buffering off");
    let (sb_s, sb) = measure("photonic0");
    fs::write(TILING, "1").expect("double buffering back on");
    let _ = cpu.kill();
    let _ = cpu.wait();
    let ms =
        |split: &HashMap<String, u64>, k: &str| split.get(k).copied().unwrap_or(0) as f64 / 1e6;
    println!("BENCH-TABLE-BEGIN");
    println!("| 512×512×512 f32 MATMUL | time (ms) | vs CPU backend | vs single-buffered | tiles | staging (ms) | programming (ms, device) | compute + accumulation (ms, device) | readback (ms) | driver waiting (ms) |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (name, s, split) in [
        ("photonic0, double-buffered", db_s, &db),
        ("photonic0, single-buffered", sb_s, &sb),
    ] {
        println!(
            "| {name} | {:.1} | {:.2} | {:.3} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            s * 1e3,
            s / cpu_s,
            s / sb_s,
            split.get("tiles").copied().unwrap_or(0),
            ms(split, "stage_ns"),
            ms(split, "program_ns"),
            ms(split, "compute_ns"),
            ms(split, "readback_ns"),
            ms(split, "wait_ns"),
        );
    }
    println!(
        "| cpu0 (lightosd, 2 threads) | {:.1} | 1.00 | – | – | – | – | – | – | – |",
        cpu_s * 1e3
    );
    println!("BENCH-TABLE-END");
}
