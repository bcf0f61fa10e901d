//! The photonic NPU driver against the emulated device (make test boots with `qemu/run
//! --photonic`): binding (and a probe that fails part-way), MATMUL results against an f64
//! reference within the modelled error, drift and recalibration, every injected fault (hang,
//! corrupt completion), and the thermal guard (throttle at 75 °C, shutdown at 85 °C with jobs
//! aborted, restart after cooling), with faults injected through the guest's /dev/ttyS1, which the
//! VM runner wires to the emulator's control socket. Runs with one test thread: the device and its
//! temperature are shared.

use lightos_runtime::{
    thermal::{self, EventKind, ThermalState},
    Context, JobStatus,
};
use lightos_uapi as uapi;
use lightos_vm_tests::photonic::{
    backend_id, device_num, guard, guard_num, inject, matmul, npu_ready, wait_for,
};
use std::time::Duration;

#[test]
fn a_01_the_driver_binds_and_registers_photonic0() {
    lightos_vm_tests::ensure_loaded();
    let dev = Context::open().unwrap();
    let b = dev.backends().unwrap();
    let p = b
        .iter()
        .find(|b| b.name == "photonic0")
        .expect("photonic0 registered");
    assert_eq!(p.kind, lightos_runtime::BackendKind::Device);
    assert_eq!(p.ops, 1 << lightos_uapi::OP_MATMUL);
    assert_eq!(
        p.deterministic_ops, 0,
        "an analog device is not bit-reproducible"
    );
    let t0 = guard_num(0, "ticks");
    std::thread::sleep(Duration::from_millis(200));
    assert!(guard_num(0, "ticks") > t0, "the guard ticks");
    assert_eq!(guard(0)["state"], "normal");
    assert_eq!(guard(0)["lost"], "0");
}

/// The plain ivshmem function qemu/run attaches next to the NPUs (same PCI ids, zeroed memory) is
/// refused for its wrong magic and left unbound; only NPUs (doorbell functions) are bound.
#[test]
fn a_01a_an_ivshmem_function_without_the_layout_is_left_alone() {
    let ids = |d: &std::path::Path, f: &str| std::fs::read_to_string(d.join(f)).unwrap_or_default();
    let functions: Vec<_> = std::fs::read_dir("/sys/bus/pci/devices")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|d| ids(d, "vendor").trim() == "0x1af4" && ids(d, "device").trim() == "0x1110")
        .collect();
    let npus = lightos_vm_tests::photonic::npu_addresses().len();
    assert!(npus >= 1, "at least one NPU: {functions:?}");
    assert_eq!(
        functions.len(),
        npus + 1,
        "the NPUs and a plain ivshmem function: {functions:?}"
    );
    let bound: Vec<_> = functions
        .iter()
        .filter(|d| d.join("driver").exists())
        .collect();
    assert!(!bound.is_empty(), "an NPU is bound: {functions:?}");
    assert!(
        bound.iter().all(|d| d.join("resource1").exists()),
        "the bound ones are doorbell (MSI-X) functions"
    );
    let foreign: Vec<_> = functions
        .iter()
        .filter(|d| !d.join("resource1").exists())
        .collect();
    assert_eq!(foreign.len(), 1, "one plain function: {functions:?}");
    let foreign = foreign[0];
    assert!(
        !foreign.join("driver").exists(),
        "the plain function is left unbound"
    );
    let address = foreign.file_name().unwrap().to_str().unwrap();
    let err = std::fs::write("/sys/bus/pci/drivers/lightos_photonic/bind", address).unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(libc::ENODEV),
        "probe refuses the wrong magic"
    );
    assert!(!foreign.join("driver").exists());
    let out = std::process::Command::new("dmesg").output().unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("without the LightOS photonic layout (magic 0x0); not binding"),
        "the refusal is logged: {}",
        log.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
    );
}

/// The core's QUERY_THERMAL reports the guard with the figures its debugfs file shows.
#[test]
fn a_01b_query_thermal_reports_the_guard() {
    let dev = Context::open().unwrap();
    let first = dev.thermal().unwrap();
    assert_eq!(first.devices.len(), 1, "one guarded device");
    let g = first.devices[0].clone();
    assert!(g.name == "photonic0");
    assert_eq!(Some(g.backend_id), backend_id(&dev, 0));
    assert_eq!(g.state, ThermalState::Normal);
    assert_eq!(g.period_ns, 1_000_000);
    assert_eq!(
        (g.throttle_mc, g.shutdown_mc, g.restart_mc),
        (75_000, 85_000, 65_000)
    );
    assert!(g.temp_mc > 0 && g.temp_mc <= g.max_temp_mc, "{g:?}");
    assert!(g.laser_limit_mw > 0, "laser unrestricted while normal");
    // SAFETY: `QueryThermal` is plain integers; all zeroes is a valid value.
    let mut raw: Box<uapi::QueryThermal> = Box::new(unsafe { std::mem::zeroed() });
    let mut q = uapi::Query {
        query_type: uapi::QUERY_THERMAL,
        size: std::mem::size_of::<uapi::QueryThermal>() as u64,
        ptr: &mut *raw as *mut uapi::QueryThermal as u64,
        ..Default::default()
    };
    assert_eq!(
        lightos_vm_tests::dev_ioctl(&dev, uapi::IOC_NR_QUERY, &mut q),
        Ok(0)
    );
    assert_eq!(raw.devices[0].reserved, [0; 2]);
    assert_eq!(
        (g.laser_cap_mw, g.tec_floor_permille),
        (uapi::LASER_MAX_MW, 0)
    );
    std::thread::sleep(Duration::from_millis(300));
    let later = dev.thermal().unwrap().devices[0].clone();
    assert!(later.ticks > g.ticks, "the guard ticks");
    let hist: u64 = later.lateness_hist.iter().sum();
    assert!(
        hist >= later.ticks - (later.ticks / 100) && hist <= later.ticks + 1,
        "every tick lands in the lateness histogram: {hist} vs {}",
        later.ticks
    );
    assert!(later.time_in(ThermalState::Normal) > 0);
    assert!(thermal::lateness_quantile_us(&later.lateness_hist, 0.5).is_some());
    assert_eq!(
        later.temp_mc / 1000,
        guard_num(0, "temp_mc") as i32 / 1000,
        "debugfs agrees"
    );
}

#[test]
fn a_02_matmul_matches_the_reference_within_the_modelled_error() {
    // Right after boot, and after its first weights switch the heaters on, the chip is still
    // warming up: a MATMUL in that transient carries phase drift well past the steady-state error
    // checked here (64 % at 1x200x3 in the first second, 18 % once in CI).
    npu_ready(0);
    for (m, k, n) in [(8, 8, 8), (64, 64, 64), (100, 130, 70), (1, 200, 3)] {
        let (status, err) = matmul(0, m, k, n);
        assert_eq!(status, JobStatus::Ok, "{m}x{k}x{n}");
        // Whole 64×64 tiles are held to the tighter figure (docs/PHYSICS.md).
        let tolerance = if [m, k, n].iter().all(|d| d.is_multiple_of(64)) {
            lightos_runtime::tolerance::PHOTONIC_MATMUL_FULL_TILES
        } else {
            lightos_runtime::tolerance::PHOTONIC_MATMUL
        };
        assert!(err < tolerance, "{m}x{k}x{n}: relative error {err}");
        assert!(
            err > 0.0,
            "{m}x{k}x{n}: bit-exact results cannot come from the analog model"
        );
    }
    // n = 130 makes every row of b equal (the pattern repeats every 13): rank-1 weight tiles, which
    // the device model once factorised 150 % wrong. Its outputs are small against the ADC's full
    // scale (the input vector's norm), so the analog error is larger than for full-rank tiles.
    let rows_equal: Vec<f32> = (0..150 * 130)
        .map(|i| ((i * 5 % 13) as f32 - 6.0) / 6.0)
        .collect();
    let (status, err) = lightos_vm_tests::photonic::matmul_with(0, 100, 150, 130, &rows_equal);
    assert_eq!(status, JobStatus::Ok);
    assert!(
        err < lightos_runtime::tolerance::PHOTONIC_MATMUL,
        "rank-1 tiles: relative error {err}"
    );
}

#[test]
fn a_03_drift_is_corrected_by_recalibration() {
    let before = device_num(0, "auto_calibrations");
    inject(0, "runaway 0.5");
    let t0 = guard_num(0, "temp_mc");
    wait_for("the chip to warm by 2 K", 30, || {
        guard_num(0, "temp_mc") > t0 + 2000
    });
    let (status, err) = matmul(0, 64, 64, 64);
    inject(0, "clear");
    assert_eq!(status, JobStatus::Ok);
    assert!(
        err < lightos_runtime::tolerance::PHOTONIC_MATMUL_FULL_TILES,
        "relative error {err} after drift"
    );
    assert!(
        device_num(0, "auto_calibrations") > before,
        "the device recalibrated after the drift (the driver asked it to, per MATMUL)"
    );
}

/// While the chip heats by kelvins a second, each tile's MATMUL runs on a calibration made when it
/// executes: before the device checked drift itself, a 4-tile product of single vectors (its tiles
/// posted faster than the device runs them) came out 155 % wrong in such a ramp, the driver's check
/// at posting time long stale by execution.
#[test]
fn a_04_matmuls_during_a_fast_thermal_ramp_stay_within_the_modelled_error() {
    npu_ready(0);
    let before = device_num(0, "auto_calibrations");
    inject(0, "runaway 1.0");
    let t0 = guard_num(0, "temp_mc");
    // Products until the chip has warmed by a kelvin (at least 6; however fast this machine is).
    let mut errors = vec![];
    let mut warmed = 0;
    while (errors.len() < 6 || warmed < 1000) && errors.len() < 1000 {
        let (status, err) = matmul(0, 1, 200, 3);
        assert_eq!(status, JobStatus::Ok);
        errors.push(err);
        warmed = guard_num(0, "temp_mc") - t0;
    }
    inject(0, "clear");
    assert!(
        warmed >= 1000,
        "the chip warmed during the MATMULs ({warmed} m°C)"
    );
    assert!(
        errors
            .iter()
            .all(|&e| e < lightos_runtime::tolerance::PHOTONIC_MATMUL),
        "relative errors {errors:?} while warming by {warmed} m°C"
    );
    assert!(
        device_num(0, "auto_calibrations") > before,
        "the device recalibrated as the chip moved"
    );
}

#[test]
fn b_01_a_hung_device_times_out_is_reset_and_recovers() {
    let resets = guard_num(0, "resets");
    inject(0, "hang");
    let (status, _) = matmul(0, 8, 8, 8);
    assert_eq!(status, JobStatus::Timeout);
    assert!(guard_num(0, "resets") > resets, "the device was reset");
    let (status, err) = matmul(0, 8, 8, 8);
    assert_eq!(status, JobStatus::Ok, "the queue recovered without rmmod");
    assert!(err < lightos_runtime::tolerance::PHOTONIC_MATMUL);
}

#[test]
fn b_02_a_corrupt_completion_fails_the_job_with_device_error_and_recovers() {
    inject(0, "corrupt-completion");
    let (status, _) = matmul(0, 8, 8, 8);
    assert_eq!(status, JobStatus::DeviceError);
    assert_eq!(matmul(0, 8, 8, 8).0, JobStatus::Ok);
}

#[test]
fn c_01_the_guard_throttles_shuts_down_and_restarts() {
    assert_eq!(guard(0)["state"], "normal");
    let dev = Context::open().unwrap();
    let before = dev.thermal().unwrap();
    let id = backend_id(&dev, 0).unwrap();
    let (throttles, shutdowns, restarts) = (
        guard_num(0, "throttles"),
        guard_num(0, "shutdowns"),
        guard_num(0, "restarts"),
    );
    // 2 W of runaway heat with the TEC failed would settle near 91 °C with the laser on; the guard
    // must hold it near 75 °C by throttling the laser.
    inject(0, "cooling-failure on");
    inject(0, "runaway 2");
    wait_for("a throttle", 60, || guard_num(0, "throttles") > throttles);
    for _ in 0..3 {
        let (status, _) = matmul(0, 64, 64, 64);
        assert!(
            matches!(status, JobStatus::Ok | JobStatus::ThermalAbort),
            "{status:?}"
        );
    }
    assert!(guard_num(0, "temp_mc") < 85_000, "{:?}", guard(0));
    // 3 W more than the laser can offset: emergency shutdown at 85 °C.
    inject(0, "runaway 3");
    // A client waits for the shutdown as an event rather than polling.
    let mut after = before.last_event_seq;
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|e: &thermal::Event| e.kind == EventKind::Shutdown)
    {
        let batch = dev
            .wait_events(after, Some(Duration::from_secs(60)))
            .unwrap();
        assert!(
            !batch.events.is_empty(),
            "no shutdown event within 60 s: {:?}",
            guard(0)
        );
        after = batch.last_seq;
        seen.extend(batch.events);
    }
    assert!(guard_num(0, "shutdowns") > shutdowns);
    assert_eq!(guard(0)["state"], "shutdown");
    assert_eq!(guard_num(0, "laser_limit_mw"), 0);
    let (status, _) = matmul(0, 8, 8, 8);
    assert_eq!(
        status,
        JobStatus::ThermalAbort,
        "jobs are refused while shut down"
    );
    wait_for("laser-off confirmation", 10, || {
        guard_num(0, "last_trip_to_laser_off_ns") > 0
    });
    inject(0, "clear");
    wait_for("a restart below 65 °C", 60, || {
        guard_num(0, "restarts") > restarts
    });
    let rest = dev
        .wait_events(after, Some(Duration::from_secs(5)))
        .unwrap();
    seen.extend(rest.events);
    let kinds: Vec<EventKind> = seen.iter().map(|e| e.kind).collect();
    let pos = |k: EventKind| {
        kinds
            .iter()
            .position(|&x| x == k)
            .unwrap_or_else(|| panic!("no {} event in {kinds:?}", k.name()))
    };
    assert!(
        pos(EventKind::Throttle) < pos(EventKind::Shutdown),
        "{kinds:?}"
    );
    assert!(
        pos(EventKind::Shutdown) < pos(EventKind::Restart),
        "{kinds:?}"
    );
    assert!(!kinds.contains(&EventKind::FaultLatched), "{kinds:?}");
    for (i, e) in seen.iter().enumerate() {
        assert_eq!(e.backend_id, id);
        assert_eq!(
            e.seq,
            before.last_event_seq + 1 + i as u64,
            "consecutive sequence numbers"
        );
        assert!(i == 0 || e.time_ns >= seen[i - 1].time_ns);
        match e.kind {
            EventKind::Throttle => assert!(e.temp_mc >= 75_000, "{e:?}"),
            EventKind::Shutdown => assert!(e.temp_mc >= 85_000 && e.laser_limit_mw == 0, "{e:?}"),
            EventKind::Restart => assert!(e.temp_mc < 65_000 && e.laser_limit_mw > 0, "{e:?}"),
            _ => {}
        }
    }
    let t = dev.thermal().unwrap().devices[0].clone();
    assert_eq!(t.state, ThermalState::Normal);
    assert!(t.shutdowns > before.devices[0].shutdowns && t.restarts > before.devices[0].restarts);
    assert!(t.last_trip_to_off_ns > 0 && t.time_in(ThermalState::Shutdown) > 0);
    let g = guard(0);
    assert!(
        g["max_temp_mc"].parse::<i64>().unwrap() < 95_000,
        "the fault latch was never reached: {g:?}"
    );
    assert_eq!(g["thermal_irqs"], "0", "the device never latched its fault");
    assert_eq!(
        matmul(0, 8, 8, 8).0,
        JobStatus::Ok,
        "jobs run again after cooling"
    );
}

/// EVENT_WAIT hands out the log in pieces no larger than asked, and a bad destination is EFAULT
/// with nothing consumed (the log has events by now).
#[test]
fn c_02_events_come_in_pieces_and_a_bad_destination_is_efault() {
    let dev = Context::open().unwrap();
    let last = dev.thermal().unwrap().last_event_seq;
    assert!(last >= 3, "c_01 left events: {last}");
    let first = dev.wait_events_until(last - 3, 0, 1).unwrap();
    assert_eq!(
        (first.events.len(), first.last_seq, first.lost),
        (1, last - 2, 0)
    );
    assert_eq!(first.events[0].seq, last - 2);
    let rest = dev.wait_events_until(first.last_seq, 0, 256).unwrap();
    assert_eq!(rest.events.len(), 2);
    assert_eq!(rest.last_seq, last);
    let mut req = uapi::EventWait {
        after_seq: last - 1,
        events: 16, // unmapped
        capacity: 4,
        ..Default::default()
    };
    assert_eq!(
        lightos_vm_tests::dev_ioctl(&dev, uapi::IOC_NR_EVENT_WAIT, &mut req),
        Err(libc::EFAULT)
    );
    assert_eq!(req.count, 0, "nothing written back");
    assert_eq!(
        dev.wait_events_until(last - 1, 0, 4).unwrap().events.len(),
        1,
        "still there"
    );
}

/// A probe that fails after it enabled the NPU and started its guard — here at registration, its
/// last step, because an executor holds the name `photonic0` — turns the NPU off again (enable 0,
/// laser limit 0), leaves no debugfs directory and frees the name: once the executor is gone the
/// NPU binds as `photonic0`. (A failed probe used to leave the NPU enabled with the laser
/// unrestricted and unguarded.)
#[test]
fn d_01_a_probe_failing_after_the_enable_turns_the_npu_off() {
    use lightos_vm_tests::photonic::{guard_path, npu_address, DRIVER};
    let address = npu_address(0);
    std::fs::write(format!("{DRIVER}/unbind"), &address).unwrap();
    let squatter = lightos_vm_tests::ExecutorThread::cpu("photonic0");
    let err = std::fs::write(format!("{DRIVER}/bind"), &address).unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(libc::EEXIST),
        "registration refuses the taken name"
    );
    let status = inject(0, "status");
    assert!(
        status.contains(" enable=0 laser_limit_mw=0 "),
        "the failed probe turned the NPU off: {status}"
    );
    assert!(
        !std::path::Path::new(&guard_path(0)).exists(),
        "no debugfs directory left"
    );
    drop(squatter);
    std::fs::write(format!("{DRIVER}/bind"), &address).unwrap();
    let dev = Context::open().unwrap();
    assert!(
        backend_id(&dev, 0).is_some(),
        "the NPU binds as photonic0 once the name is free"
    );
    let status = inject(0, "status");
    assert!(status.contains(" enable=1 "), "bound and enabled: {status}");
    npu_ready(0);
}
