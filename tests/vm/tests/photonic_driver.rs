//! The photonic NPU driver against the emulated device (make test boots with `qemu/run
//! --photonic`): binding, MATMUL results against an f64 reference within the modelled error,
//! drift and recalibration, every injected fault (hang, corrupt completion), and the thermal guard
//! (throttle at 75 °C, shutdown at 85 °C with jobs aborted, restart after cooling), with faults
//! injected through the guest's /dev/ttyS1, which the VM runner wires to the emulator's control
//! socket. Runs with one test thread: the device and its temperature are shared.

use lightos_runtime::{BufferFlags, DType, Device, JobStatus, Op, Placement, PrimitiveBuilder};
use std::{
    collections::HashMap,
    fs,
    io::{BufRead, BufReader, Write},
    time::{Duration, Instant},
};

const GUARD: &str = "/sys/kernel/debug/lightos-photonic0/guard";

/// The guard's debugfs file as `name → first value`.
fn guard() -> HashMap<String, String> {
    fs::read_to_string(GUARD)
        .expect("the guard's debugfs file (is the driver bound?)")
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.split(' ').next().unwrap_or("").to_string()))
        .collect()
}

fn guard_num(name: &str) -> i64 {
    guard()[name].parse().unwrap()
}

/// Sends one fault-injection command to the emulator and returns its reply line.
fn inject(cmd: &str) -> String {
    let (ok, err) = lightos_vm_tests::run("stty", &["-F", "/dev/ttyS1", "raw", "-echo", "115200"]);
    assert!(ok, "stty: {err}");
    let mut tty = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/ttyS1")
        .unwrap();
    tty.write_all(format!("{cmd}\n").as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(tty).read_line(&mut line).unwrap();
    assert!(line.starts_with("ok"), "emulator refused '{cmd}': {line}");
    line
}

/// Polls until `cond` holds (at most `secs` seconds; the guest runs under TCG).
fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
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
fn matmul(m: usize, k: usize, n: usize) -> (JobStatus, f64) {
    let dev = Device::open().unwrap();
    let b = dev.backends().unwrap();
    let id = b
        .iter()
        .find(|b| b.name.starts_with(b"photonic0\0"))
        .expect("photonic0 is registered")
        .backend_id;
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
    lightos_vm_tests::put_f32(&mut map[..bo], &a);
    lightos_vm_tests::put_f32(&mut map[bo..oo], &w);
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

#[test]
fn a_01_the_driver_binds_and_registers_photonic0() {
    lightos_vm_tests::ensure_loaded();
    let dev = Device::open().unwrap();
    let b = dev.backends().unwrap();
    let p = b
        .iter()
        .find(|b| b.name.starts_with(b"photonic0\0"))
        .expect("photonic0 registered");
    assert_eq!(p.kind, lightos_runtime::uapi::BACKEND_KIND_DEVICE);
    assert_eq!(p.ops, 1 << lightos_runtime::uapi::OP_MATMUL);
    assert_eq!(
        p.deterministic_ops, 0,
        "an analog device is not bit-reproducible"
    );
    let t0 = guard_num("ticks");
    std::thread::sleep(Duration::from_millis(200));
    assert!(guard_num("ticks") > t0, "the guard ticks");
    assert_eq!(guard()["state"], "normal");
    assert_eq!(guard()["lost"], "0");
}

#[test]
fn a_02_matmul_matches_the_reference_within_the_modelled_error() {
    for (m, k, n) in [(8, 8, 8), (64, 64, 64), (100, 130, 70), (1, 200, 3)] {
        let (status, err) = matmul(m, k, n);
        assert_eq!(status, JobStatus::Ok, "{m}x{k}x{n}");
        assert!(err < 5e-2, "{m}x{k}x{n}: relative error {err}");
        assert!(
            err > 0.0,
            "{m}x{k}x{n}: bit-exact results cannot come from the analog model"
        );
    }
}

#[test]
fn a_03_drift_is_corrected_by_recalibration() {
    let before = guard_num("calibrations");
    inject("runaway 0.5");
    let t0 = guard_num("temp_mc");
    wait_for("the chip to warm by 2 K", 30, || {
        guard_num("temp_mc") > t0 + 2000
    });
    let (status, err) = matmul(64, 64, 64);
    inject("clear");
    assert_eq!(status, JobStatus::Ok);
    assert!(err < 5e-2, "relative error {err} after drift");
    assert!(
        guard_num("calibrations") > before,
        "the driver recalibrated after the drift"
    );
}

#[test]
fn b_01_a_hung_device_times_out_is_reset_and_recovers() {
    let resets = guard_num("resets");
    inject("hang");
    let (status, _) = matmul(8, 8, 8);
    assert_eq!(status, JobStatus::Timeout);
    assert!(guard_num("resets") > resets, "the device was reset");
    let (status, err) = matmul(8, 8, 8);
    assert_eq!(status, JobStatus::Ok, "the queue recovered without rmmod");
    assert!(err < 2e-2);
}

#[test]
fn b_02_a_corrupt_completion_fails_the_job_with_device_error_and_recovers() {
    inject("corrupt-completion");
    let (status, _) = matmul(8, 8, 8);
    assert_eq!(status, JobStatus::DeviceError);
    assert_eq!(matmul(8, 8, 8).0, JobStatus::Ok);
}

#[test]
fn c_01_the_guard_throttles_shuts_down_and_restarts() {
    assert_eq!(guard()["state"], "normal");
    let (throttles, shutdowns, restarts) = (
        guard_num("throttles"),
        guard_num("shutdowns"),
        guard_num("restarts"),
    );
    // 2 W of runaway heat with the TEC failed would settle near 91 °C with the laser on; the guard
    // must hold it near 75 °C by throttling the laser.
    inject("cooling-failure on");
    inject("runaway 2");
    wait_for("a throttle", 60, || guard_num("throttles") > throttles);
    for _ in 0..3 {
        let (status, _) = matmul(64, 64, 64);
        assert!(
            matches!(status, JobStatus::Ok | JobStatus::ThermalAbort),
            "{status:?}"
        );
    }
    assert!(guard_num("temp_mc") < 85_000, "{:?}", guard());
    // 3 W more than the laser can offset: emergency shutdown at 85 °C.
    inject("runaway 3");
    wait_for("a shutdown", 60, || guard_num("shutdowns") > shutdowns);
    assert_eq!(guard()["state"], "shutdown");
    assert_eq!(guard_num("laser_limit_mw"), 0);
    let (status, _) = matmul(8, 8, 8);
    assert_eq!(
        status,
        JobStatus::ThermalAbort,
        "jobs are refused while shut down"
    );
    wait_for("laser-off confirmation", 10, || {
        guard_num("last_trip_to_laser_off_ns") > 0
    });
    inject("clear");
    wait_for("a restart below 65 °C", 60, || {
        guard_num("restarts") > restarts
    });
    let g = guard();
    assert!(
        g["max_temp_mc"].parse::<i64>().unwrap() < 95_000,
        "the fault latch was never reached: {g:?}"
    );
    assert_eq!(g["thermal_irqs"], "0", "the device never latched its fault");
    assert_eq!(
        matmul(8, 8, 8).0,
        JobStatus::Ok,
        "jobs run again after cooling"
    );
}
