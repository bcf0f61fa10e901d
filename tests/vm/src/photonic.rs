//! Helpers of the photonic suites: the guard's debugfs file, fault injection through the guest's
//! /dev/ttyS1 (wired by the VM runner to the emulator's control socket), MATMUL on photonic0.

use lightos_runtime::{BufferFlags, Context, DType, JobStatus, Op, Placement, PrimitiveBuilder};
use std::{
    collections::HashMap,
    fs,
    io::{BufRead, BufReader, Write},
    time::{Duration, Instant},
};

/// photonic0's backend id, if it is registered.
pub fn photonic0_id(dev: &Context) -> Option<u32> {
    let b = dev.backends().unwrap();
    b.iter().find(|b| b.name == "photonic0").map(|b| b.id)
}

/// The guard's debugfs file.
pub const GUARD: &str = "/sys/kernel/debug/lightos-photonic0/guard";

/// The guard's debugfs file as `name → first value`.
pub fn guard() -> HashMap<String, String> {
    fs::read_to_string(GUARD)
        .expect("the guard's debugfs file (is the driver bound?)")
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.split(' ').next().unwrap_or("").to_string()))
        .collect()
}

/// One numeric field of the guard's debugfs file.
pub fn guard_num(name: &str) -> i64 {
    guard()[name].parse().unwrap()
}

/// Sends one fault-injection command to the emulator and returns its reply line (the read gives
/// up after 10 s, so a silent emulator fails the test instead of hanging it).
pub fn inject(cmd: &str) -> String {
    let line = send(cmd);
    assert!(
        line.starts_with("ok"),
        "emulator refused '{cmd}' or did not answer: {line:?}"
    );
    line
}

/// Writes `cmd` to the emulator's control line and reads one reply line ("" after 10 s).
fn send(cmd: &str) -> String {
    let (ok, err) = crate::run(
        "stty",
        &[
            "-F",
            "/dev/ttyS1",
            "raw",
            "-echo",
            "115200",
            "min",
            "0",
            "time",
            "100",
        ],
    );
    assert!(ok, "stty: {err}");
    let mut tty = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/ttyS1")
        .unwrap();
    tty.write_all(format!("{cmd}\n").as_bytes()).unwrap();
    let mut line = String::new();
    let _ = BufReader::new(tty).read_line(&mut line);
    line
}

/// Surprise removal: tells the emulator to exit. Its reply may be lost with its socket, so it is
/// not required; the removal is observed through the driver.
pub fn remove_device() {
    let _ = send("remove");
}

/// Polls until `cond` holds (at most `secs` seconds; the guest runs under TCG).
pub fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}: {:?}",
            guard()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `out[M,N] = a[M,K]·b[K,N]` on photonic0; returns the status and the relative error.
pub fn matmul(m: usize, k: usize, n: usize) -> (JobStatus, f64) {
    let dev = Context::open().unwrap();
    let id = photonic0_id(&dev).expect("photonic0 is registered");
    dev.add_route(Some(Op::Matmul), None, 0..=u64::MAX, id)
        .unwrap();
    let (bo, oo) = (m * k * 4, m * k * 4 + k * n * 4);
    let buf = dev
        .create_buffer(oo + m * n * 4, BufferFlags::empty(), Placement::Any)
        .unwrap();
    let mut map = buf.map().unwrap();
    let a: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7 % 17) as f32 - 8.0) / 8.0)
        .collect();
    let w: Vec<f32> = (0..k * n)
        .map(|i| ((i * 5 % 13) as f32 - 6.0) / 6.0)
        .collect();
    crate::put_f32(&mut map[..bo], &a);
    crate::put_f32(&mut map[bo..oo], &w);
    let prim = PrimitiveBuilder::new(Op::Matmul, DType::F32)
        .input(&buf, 0, &[m as u64, k as u64])
        .input(&buf, bo as u64, &[k as u64, n as u64])
        .output(&buf, oo as u64, &[m as u64, n as u64]);
    let q = dev.create_queue(0, Duration::from_secs(30)).unwrap();
    let s = q.submit(&[prim]).unwrap();
    let c = q.wait(s.last_seq, Some(Duration::from_secs(60))).unwrap();
    let (mut e2, mut r2) = (0f64, 0f64);
    for i in 0..m {
        for j in 0..n {
            let want: f64 = (0..k)
                .map(|x| f64::from(a[i * k + x]) * f64::from(w[x * n + j]))
                .sum();
            let o = oo + (i * n + j) * 4;
            let got = f64::from(f32::from_le_bytes(map[o..o + 4].try_into().unwrap()));
            e2 += (got - want).powi(2);
            r2 += want * want;
        }
    }
    (c.status, (e2 / r2).sqrt())
}

/// One field of the guard file's `device …` line (the device's own telemetry), e.g. `heater_mw`.
pub fn device_num(name: &str) -> i64 {
    let text = fs::read_to_string(GUARD).expect("the guard's debugfs file");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("device "))
        .expect("the device's telemetry line");
    let words: Vec<&str> = line.split(' ').collect();
    let at = words
        .iter()
        .position(|w| *w == name)
        .unwrap_or_else(|| panic!("no {name} in the device line: {line}"));
    words[at + 1].parse().unwrap()
}

/// photonic0 in its normal state, its phase-shifter heaters on and thermally settled. The chip
/// moves by kelvins a second after a shutdown (cooling) and after its first weights switch the
/// heaters on (0.3 W: +6 K with a 1 s time constant at the VM's time scale); a MATMUL in that
/// transient carries drift beyond the steady-state error the suites check (5.4 % after a
/// shutdown; 18 % at 1x200x3 in CI, whose first MATMUL switched the heaters on).
pub fn npu_ready() {
    crate::ensure_loaded();
    wait_for("photonic0's guard back to normal", 60, || {
        guard()["state"] == "normal"
    });
    if device_num("heater_mw") == 0 {
        // No weights since the last reset: program some, which switches the heaters on.
        let (status, _) = matmul(8, 8, 8);
        assert_eq!(status, JobStatus::Ok, "warming photonic0 up");
    }
    wait_for(
        "photonic0's temperature to settle (< 20 mK in 0.5 s)",
        120,
        || {
            let before = guard_num("temp_mc");
            std::thread::sleep(std::time::Duration::from_millis(500));
            (guard_num("temp_mc") - before).abs() < 20
        },
    );
}
