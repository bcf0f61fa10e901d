//! Helpers of the photonic suites, per NPU: its PCI address, its backend, its guard's debugfs
//! file, fault injection, MATMUL on it.
//!
//! NPU `i` (an index, 0 for the suites that use one NPU) is the i-th ivshmem-doorbell function in
//! PCI address order, which `qemu/run --photonic N` serves with emulator `i` and whose
//! fault-injection channel is the guest's `/dev/ttyS<i+1>`. Its backend is `photonic<i>` when
//! the NPUs were bound in address order (module load, or run-suite.sh's `npu_bind`): the driver
//! names them in probe order, reusing the lowest free index.

use lightos_runtime::{BufferFlags, Context, DType, JobStatus, Op, Placement, PrimitiveBuilder};
use std::{
    collections::HashMap,
    fs,
    io::{BufRead, BufReader, Write},
    time::{Duration, Instant},
};

/// The photonic driver's sysfs directory (`bind`, `unbind`, a link per bound NPU).
pub const DRIVER: &str = "/sys/bus/pci/drivers/lightos_photonic";

/// The PCI addresses of the NPUs, in address order: functions with ivshmem's vendor and device
/// ids and an MSI-X table (BAR1), the doorbell variant the emulators serve (qemu/run also attaches
/// a plain one with the same ids).
pub fn npu_addresses() -> Vec<String> {
    let mut found: Vec<String> = fs::read_dir("/sys/bus/pci/devices")
        .map(|dir| {
            dir.flatten()
                .map(|e| e.path())
                .filter(|d| {
                    let id = |f: &str| fs::read_to_string(d.join(f)).unwrap_or_default();
                    id("vendor").trim() == "0x1af4"
                        && id("device").trim() == "0x1110"
                        && d.join("resource1").exists()
                })
                .filter_map(|d| Some(d.file_name()?.to_str()?.to_string()))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// NPU `npu`'s PCI address.
pub fn npu_address(npu: usize) -> String {
    npu_addresses().get(npu).cloned().unwrap_or_else(|| {
        panic!(
            "no NPU {npu}: was the guest booted with --photonic {}?",
            npu + 1
        )
    })
}

/// The backend name of NPU `npu`: `photonic<npu>`.
pub fn name(npu: usize) -> String {
    format!("photonic{npu}")
}

/// The backend id of `photonic<npu>`, if it is registered.
pub fn backend_id(dev: &Context, npu: usize) -> Option<u32> {
    let want = name(npu);
    dev.backends()
        .unwrap()
        .iter()
        .find(|b| b.name == want)
        .map(|b| b.id)
}

/// The guard's debugfs file of `photonic<npu>`.
pub fn guard_path(npu: usize) -> String {
    format!("/sys/kernel/debug/lightos-{}/guard", name(npu))
}

/// The guard's debugfs file of `photonic<npu>` as `name → first value`.
pub fn guard(npu: usize) -> HashMap<String, String> {
    fs::read_to_string(guard_path(npu))
        .unwrap_or_else(|e| panic!("{}: {e} (is the driver bound?)", guard_path(npu)))
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.split(' ').next().unwrap_or("").to_string()))
        .collect()
}

/// One numeric field of the guard's debugfs file of `photonic<npu>`.
pub fn guard_num(npu: usize, name: &str) -> i64 {
    guard(npu)[name].parse().unwrap()
}

/// Sends one fault-injection command to NPU `npu`'s emulator and returns its reply line (the read
/// gives up after 10 s, so a silent emulator fails the test instead of hanging it).
pub fn inject(npu: usize, cmd: &str) -> String {
    let line = send(npu, cmd);
    assert!(
        line.starts_with("ok"),
        "emulator {npu} refused '{cmd}' or did not answer: {line:?}"
    );
    line
}

/// Writes `cmd` to NPU `npu`'s control line and reads one reply line ("" after 10 s).
fn send(npu: usize, cmd: &str) -> String {
    let tty = format!("/dev/ttyS{}", npu + 1);
    let (ok, err) = crate::run(
        "stty",
        &[
            "-F", &tty, "raw", "-echo", "115200", "min", "0", "time", "100",
        ],
    );
    assert!(ok, "stty: {err}");
    let mut tty = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&tty)
        .unwrap();
    tty.write_all(format!("{cmd}\n").as_bytes()).unwrap();
    let mut line = String::new();
    let _ = BufReader::new(tty).read_line(&mut line);
    line
}

/// Surprise removal of NPU `npu`: tells its emulator to exit. Its reply may be lost with its
/// socket, so it is not required; the removal is observed through the driver.
pub fn remove_device(npu: usize) {
    let _ = send(npu, "remove");
}

/// Every bound NPU's guard file, for failure messages.
fn guards() -> String {
    (0..8)
        .filter_map(|i| {
            Some(format!(
                "{}: {}",
                name(i),
                fs::read_to_string(guard_path(i)).ok()?
            ))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Polls until `cond` holds (at most `secs` seconds; the guest runs under TCG).
pub fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}:\n{}",
            guards()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `out[M,N] = a[M,K]·b[K,N]` on `photonic<npu>` with full-rank random operands; returns the
/// status and the relative error (held to `lightos_runtime::tolerance::PHOTONIC_MATMUL`).
pub fn matmul(npu: usize, m: usize, k: usize, n: usize) -> (JobStatus, f64) {
    let w = crate::random_f32(k * n, (m * 31 + k * 7 + n) as u64);
    matmul_with(npu, m, k, n, &w)
}

/// [`matmul`] with `b` given (K×N, row-major).
pub fn matmul_with(npu: usize, m: usize, k: usize, n: usize, w: &[f32]) -> (JobStatus, f64) {
    let dev = Context::open().unwrap();
    let id = backend_id(&dev, npu).unwrap_or_else(|| panic!("{} is registered", name(npu)));
    dev.add_route(Some(Op::Matmul), None, 0..=u64::MAX, id)
        .unwrap();
    let (bo, oo) = (m * k * 4, m * k * 4 + k * n * 4);
    let buf = dev
        .create_buffer(oo + m * n * 4, BufferFlags::empty(), Placement::Any)
        .unwrap();
    let mut map = buf.map().unwrap();
    let a = crate::random_f32(m * k, (m * 17 + k) as u64);
    crate::put_f32(&mut map[..bo], &a);
    crate::put_f32(&mut map[bo..oo], w);
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

/// One field of the guard file's `device …` line (the device's own telemetry) of `photonic<npu>`,
/// e.g. `heater_mw`.
pub fn device_num(npu: usize, name: &str) -> i64 {
    let text = fs::read_to_string(guard_path(npu)).expect("the guard's debugfs file");
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

/// `photonic<npu>` in its normal state, its phase-shifter heaters on and thermally settled. The
/// chip moves by kelvins a second after a shutdown (cooling) and after its first weights switch
/// the heaters on (0.3 W: +6 K with a 1 s time constant at the VM's time scale); a MATMUL in that
/// transient carries drift beyond the steady-state error the suites check (5.4 % after a
/// shutdown; 18 % at 1x200x3 in CI, whose first MATMUL switched the heaters on).
pub fn npu_ready(npu: usize) {
    crate::ensure_loaded();
    let who = name(npu);
    wait_for(&format!("{who}'s guard back to normal"), 60, || {
        guard(npu)["state"] == "normal"
    });
    if device_num(npu, "heater_mw") == 0 {
        // No weights since the last reset: program some, which switches the heaters on.
        let (status, _) = matmul(npu, 8, 8, 8);
        assert_eq!(status, JobStatus::Ok, "warming {who} up");
    }
    wait_for(
        &format!("{who}'s temperature to settle (< 20 mK in 0.5 s)"),
        120,
        || {
            let before = guard_num(npu, "temp_mc");
            std::thread::sleep(std::time::Duration::from_millis(500));
            (guard_num(npu, "temp_mc") - before).abs() < 20
        },
    );
}
