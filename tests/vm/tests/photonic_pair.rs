//! Two photonic NPUs in one guest (make test boots with `qemu/run --photonic 2`; run-suite.sh binds
//! both for this suite, in PCI address order, so NPU i is backend `photonic<i>`): both register,
//! with their own guard, debugfs directory and fault-injection channel; MATMULs run on both at
//! once; one heated into thermal shutdown refuses its jobs while the other keeps returning correct
//! results; `lightos devices` and `lightos top` show both; the governor places a job stream on
//! both. Runs with one test thread: the devices and their temperatures are shared.

use lightos_runtime::{
    thermal::{EventKind, ThermalState},
    Context, JobStatus,
};
use lightos_vm_tests::photonic::{
    backend_id, guard, guard_num, inject, matmul, name, npu_addresses, npu_ready, wait_for, DRIVER,
};
use std::{path::Path, process::Command, thread, time::Duration};

/// Runs the CLI; returns its standard output (the test fails on a non-zero exit).
fn lightos(args: &[&str]) -> String {
    let out = Command::new("lightos").args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "lightos {args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The ids of photonic0 and photonic1 (both must be registered).
fn ids(dev: &Context) -> [u32; 2] {
    [0, 1].map(|i| backend_id(dev, i).unwrap_or_else(|| panic!("{} is registered", name(i))))
}

#[test]
fn a_01_both_npus_register_with_their_own_guard_and_names() {
    lightos_vm_tests::ensure_loaded();
    let npus = npu_addresses();
    assert_eq!(npus.len(), 2, "booted with --photonic 2: {npus:?}");
    for a in &npus {
        assert!(Path::new(DRIVER).join(a).exists(), "{a} is bound");
    }
    let dev = Context::open().unwrap();
    let [id0, id1] = ids(&dev);
    assert_ne!(id0, id1);
    for npu in 0..2 {
        let t0 = guard_num(npu, "ticks");
        thread::sleep(Duration::from_millis(200));
        assert!(guard_num(npu, "ticks") > t0, "{}'s guard ticks", name(npu));
        assert_eq!(guard(npu)["lost"], "0");
    }
    let t = dev.thermal().unwrap();
    assert_eq!(t.devices.len(), 2, "QUERY_THERMAL reports both guards");
    for (npu, id) in [(0, id0), (1, id1)] {
        let g = t
            .devices
            .iter()
            .find(|d| d.backend_id == id)
            .unwrap_or_else(|| panic!("no thermal entry for {}", name(npu)));
        assert_eq!(g.name, name(npu));
    }
}

#[test]
fn a_02_matmuls_run_on_both_at_once() {
    npu_ready(0);
    npu_ready(1);
    let dev = Context::open().unwrap();
    let count = |id: u32| {
        dev.backends()
            .unwrap()
            .iter()
            .find(|b| b.id == id)
            .map(|b| b.stats.count)
            .unwrap()
    };
    let [id0, id1] = ids(&dev);
    let before = [count(id0), count(id1)];
    let workers: Vec<_> = (0..2)
        .map(|npu| {
            thread::spawn(move || (0..4).map(|_| matmul(npu, 64, 64, 64)).collect::<Vec<_>>())
        })
        .collect();
    for (npu, w) in workers.into_iter().enumerate() {
        for (status, err) in w.join().unwrap() {
            assert_eq!(status, JobStatus::Ok, "{}", name(npu));
            assert!(
                err < lightos_runtime::tolerance::PHOTONIC_MATMUL_FULL_TILES,
                "{}: relative error {err}",
                name(npu)
            );
        }
    }
    assert_eq!(count(id0), before[0] + 4, "photonic0 ran its 4 jobs");
    assert_eq!(count(id1), before[1] + 4, "photonic1 ran its 4 jobs");
}

/// photonic1 heated into emergency shutdown (its own emulator's fault injection, /dev/ttyS2):
/// its jobs end THERMAL_ABORT and its events name it, while photonic0 stays normal and keeps
/// returning correct results, during the heating and the shutdown.
#[test]
fn b_01_one_npu_in_thermal_shutdown_the_other_keeps_working() {
    npu_ready(0);
    npu_ready(1);
    let dev = Context::open().unwrap();
    let [id0, id1] = ids(&dev);
    let after = dev.thermal().unwrap().last_event_seq;
    let (shutdowns, restarts) = (guard_num(1, "shutdowns"), guard_num(1, "restarts"));
    let shutdowns0 = guard_num(0, "shutdowns");
    inject(1, "cooling-failure on");
    inject(1, "runaway 3");
    // photonic0 works through photonic1's heating and shutdown.
    let healthy = thread::spawn(|| {
        let mut results = vec![];
        while results.len() < 4 || guard(1)["state"] != "shutdown" {
            results.push(matmul(0, 64, 64, 64));
            assert!(
                results.len() < 500,
                "photonic1 never shut down: {:?}",
                guard(1)
            );
        }
        results
    });
    wait_for("photonic1's shutdown", 90, || {
        guard(1)["state"] == "shutdown"
    });
    let results = healthy.join().unwrap();
    for (status, err) in &results {
        assert_eq!(
            *status,
            JobStatus::Ok,
            "photonic0 during photonic1's heating"
        );
        assert!(
            *err < lightos_runtime::tolerance::PHOTONIC_MATMUL_FULL_TILES,
            "photonic0: relative error {err}"
        );
    }
    assert!(guard_num(1, "shutdowns") > shutdowns);
    assert_eq!(guard_num(1, "laser_limit_mw"), 0);
    assert_eq!(
        matmul(1, 8, 8, 8).0,
        JobStatus::ThermalAbort,
        "photonic1 refuses jobs"
    );
    let (status, err) = matmul(0, 64, 64, 64);
    assert_eq!(
        status,
        JobStatus::Ok,
        "photonic0 runs while photonic1 is shut down"
    );
    assert!(
        err < lightos_runtime::tolerance::PHOTONIC_MATMUL_FULL_TILES,
        "photonic0: relative error {err}"
    );
    assert_eq!(guard(0)["state"], "normal");
    assert_eq!(
        guard_num(0, "shutdowns"),
        shutdowns0,
        "photonic0 never tripped"
    );
    let t = dev.thermal().unwrap();
    let state = |id: u32| t.devices.iter().find(|d| d.backend_id == id).unwrap().state;
    assert_eq!(state(id0), ThermalState::Normal);
    assert_eq!(state(id1), ThermalState::Shutdown);
    // The shutdown event names photonic1; no event names photonic0.
    let events = dev
        .wait_events(after, Some(Duration::from_secs(5)))
        .unwrap()
        .events;
    assert!(
        events
            .iter()
            .any(|e| e.kind == EventKind::Shutdown && e.backend_id == id1),
        "{:?}",
        events
            .iter()
            .map(|e| (e.kind.name(), e.backend_id))
            .collect::<Vec<_>>()
    );
    assert!(events.iter().all(|e| e.backend_id == id1), "{events:?}");

    inject(1, "clear");
    wait_for("photonic1's restart below 65 °C", 90, || {
        guard_num(1, "restarts") > restarts
    });
    npu_ready(1);
    let (status, err) = matmul(1, 64, 64, 64);
    assert_eq!(status, JobStatus::Ok, "photonic1 runs again after cooling");
    assert!(
        err < lightos_runtime::tolerance::PHOTONIC_MATMUL_FULL_TILES,
        "photonic1: relative error {err}"
    );
}

#[test]
fn c_01_lightos_devices_and_top_show_both() {
    npu_ready(0);
    npu_ready(1);
    let devices = lightos(&["devices"]);
    for npu in 0..2 {
        let header = format!("  {} (backend ", name(npu));
        let at = devices
            .find(&header)
            .unwrap_or_else(|| panic!("no {} in lightos devices:\n{devices}", name(npu)));
        let entry: String = devices[at..].lines().take(8).collect::<Vec<_>>().join("\n");
        assert!(
            entry.contains("°C, normal"),
            "{}'s temperature and state:\n{entry}",
            name(npu)
        );
    }
    let top = lightos(&["top", "--iterations", "2", "--interval", "0.2"]);
    for npu in 0..2 {
        assert!(
            top.lines().any(|l| {
                let mut words = l.split_whitespace();
                words.next() == Some(name(npu).as_str()) && words.next() == Some("normal")
            }),
            "no {} row in lightos top:\n{top}",
            name(npu)
        );
    }
}

#[test]
fn c_02_the_governor_places_a_stream_on_both() {
    npu_ready(0);
    npu_ready(1);
    let out = lightos(&[
        "governor",
        "--devices",
        "photonic0,photonic1",
        "--jobs",
        "12",
        "--interval",
        "20",
    ]);
    let summary = out
        .lines()
        .find(|l| l.starts_with("12 jobs in "))
        .unwrap_or_else(|| panic!("every job finishes:\n{out}"));
    // "12 jobs in 3.21 s: photonic0 7, photonic1 5"
    let per_device: Vec<(String, usize)> = summary
        .split_once(": ")
        .unwrap()
        .1
        .split(", ")
        .map(|d| {
            let (n, c) = d.split_once(' ').unwrap();
            (n.to_string(), c.parse().unwrap())
        })
        .collect();
    assert_eq!(per_device.len(), 2, "{summary}");
    assert!(
        per_device.iter().all(|(_, jobs)| *jobs > 0),
        "both NPUs got jobs: {summary}\n{out}"
    );
    assert!(out.contains("governor: 12 decisions (0 degraded)"), "{out}");
}

/// The backend name the driver logged for the NPU at `address` when it last bound.
fn bound_name(address: &str) -> String {
    let out = Command::new("dmesg").output().unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains(address) && l.contains("LightOS photonic NPU bound"))
        .unwrap_or_else(|| panic!("no bind of {address} logged"));
    let after = line.split_once("backend ").unwrap().1;
    after.split_whitespace().next().unwrap().to_string()
}

fn bind(address: &str) {
    std::fs::write(format!("{DRIVER}/bind"), address).unwrap();
}

fn unbind(address: &str) {
    std::fs::write(format!("{DRIVER}/unbind"), address).unwrap();
}

/// Names come from probe order, the lowest free index first: an unbound NPU's name is reused by
/// the next bind, whichever NPU it is; the other NPU is untouched meanwhile. Ends as it began,
/// NPU i bound as photonic<i>.
#[test]
fn d_01_names_follow_probe_order_and_freed_names_are_reused() {
    let npus = npu_addresses();
    let (a0, a1) = (npus[0].as_str(), npus[1].as_str());
    assert_eq!(bound_name(a0), "photonic0");
    assert_eq!(bound_name(a1), "photonic1");
    let dev = Context::open().unwrap();
    let id1 = backend_id(&dev, 1).unwrap();

    unbind(a0);
    assert_eq!(backend_id(&dev, 0), None, "photonic0 left with its NPU");
    assert!(!Path::new("/sys/kernel/debug/lightos-photonic0").exists());
    assert_eq!(backend_id(&dev, 1), Some(id1), "photonic1 is untouched");
    assert_eq!(matmul(1, 8, 8, 8).0, JobStatus::Ok, "photonic1 works alone");
    bind(a0);
    assert_eq!(bound_name(a0), "photonic0", "the freed name is reused");
    assert_eq!(backend_id(&dev, 1), Some(id1));

    // Both unbound, then NPU 1 first: it is photonic0 now.
    unbind(a0);
    unbind(a1);
    bind(a1);
    bind(a0);
    assert_eq!(bound_name(a1), "photonic0");
    assert_eq!(bound_name(a0), "photonic1");
    assert!(backend_id(&dev, 0).is_some() && backend_id(&dev, 1).is_some());

    unbind(a0);
    unbind(a1);
    bind(a0);
    bind(a1);
    assert_eq!(bound_name(a0), "photonic0");
    assert_eq!(bound_name(a1), "photonic1");
}
