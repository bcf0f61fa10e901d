//! `POWER_SET` (ABI 1.7) on photonic0: every rejection path, the controls reaching the device, and
//! the live PowerGovernor placing a heavy job off a hot photonic0 and raising its cooling and
//! capping its laser before a predicted trip.

use lightos_governor::{live::LiveGovernor, Action, GovernorConfig, JobProfile, Policy};
use lightos_runtime::{
    thermal::{EventKind, PowerControls, ThermalDevice, ThermalState},
    Context,
};
use lightos_uapi as uapi;
use lightos_vm_tests::{
    dev_ioctl, photonic,
    photonic::{backend_id, guard_num, inject, wait_for},
    process::{exited_ok, fork_child, wait_child},
    ExecutorThread,
};
use std::time::{Duration, Instant};

fn setup() -> (Context, u32) {
    photonic::npu_ready(0);
    let dev = Context::open().unwrap();
    let id = backend_id(&dev, 0).expect("photonic0 is registered");
    (dev, id)
}

fn power_set(dev: &Context, req: uapi::PowerSet) -> Result<i32, i32> {
    let mut req = req;
    dev_ioctl(dev, uapi::IOC_NR_POWER_SET, &mut req)
}

fn cap(backend_id: u32, mw: u32) -> uapi::PowerSet {
    uapi::PowerSet {
        backend_id,
        flags: uapi::POWER_SET_LASER_CAP,
        laser_cap_mw: mw,
        ..Default::default()
    }
}

fn thermal(dev: &Context, id: u32) -> ThermalDevice {
    dev.thermal()
        .unwrap()
        .devices
        .into_iter()
        .find(|t| t.backend_id == id)
        .unwrap()
}

fn lift(dev: &Context, id: u32) {
    dev.set_power(
        id,
        PowerControls {
            laser_cap_mw: Some(uapi::LASER_MAX_MW),
            tec_floor_permille: Some(0),
        },
    )
    .unwrap();
}

#[test]
fn power_set_rejects_no_flag_and_unknown_flags() {
    let (dev, id) = setup();
    let none = uapi::PowerSet {
        backend_id: id,
        ..Default::default()
    };
    assert_eq!(power_set(&dev, none), Err(libc::EINVAL));
    let unknown = uapi::PowerSet {
        flags: 1 << 2,
        ..cap(id, 1000)
    };
    assert_eq!(power_set(&dev, unknown), Err(libc::EINVAL));
}

#[test]
fn power_set_rejects_non_zero_reserved() {
    let (dev, id) = setup();
    assert_eq!(
        power_set(
            &dev,
            uapi::PowerSet {
                reserved: [0, 1],
                ..cap(id, 1000)
            }
        ),
        Err(libc::EINVAL)
    );
}

#[test]
fn power_set_rejects_a_laser_cap_out_of_range() {
    let (dev, id) = setup();
    assert_eq!(
        power_set(&dev, cap(id, uapi::LASER_CAP_MIN_MW - 1)),
        Err(libc::EINVAL)
    );
    assert_eq!(power_set(&dev, cap(id, 0)), Err(libc::EINVAL));
    assert_eq!(
        power_set(&dev, cap(id, uapi::LASER_MAX_MW + 1)),
        Err(libc::EINVAL)
    );
    // An out-of-range field that its flag does not select is ignored.
    let tec_only = uapi::PowerSet {
        flags: uapi::POWER_SET_TEC_FLOOR,
        laser_cap_mw: 99_999,
        ..cap(id, 0)
    };
    assert_eq!(power_set(&dev, tec_only), Ok(0));
}

#[test]
fn power_set_rejects_a_tec_floor_above_1000() {
    let (dev, id) = setup();
    let req = uapi::PowerSet {
        backend_id: id,
        flags: uapi::POWER_SET_TEC_FLOOR,
        tec_floor_permille: 1001,
        ..Default::default()
    };
    assert_eq!(power_set(&dev, req), Err(libc::EINVAL));
}

#[test]
fn power_set_on_an_unknown_backend_is_enodev() {
    let (dev, _) = setup();
    assert_eq!(power_set(&dev, cap(0, 1000)), Err(libc::ENODEV));
    assert_eq!(power_set(&dev, cap(u32::MAX, 1000)), Err(libc::ENODEV));
}

#[test]
fn power_set_on_an_executor_is_eopnotsupp() {
    let (dev, _) = setup();
    let _cpu = ExecutorThread::lightosd("cpu-power", 1);
    let b = dev.backends().unwrap();
    let cpu = b.iter().find(|b| b.name == "cpu-power").unwrap();
    assert_eq!(power_set(&dev, cap(cpu.id, 1000)), Err(libc::EOPNOTSUPP));
}

#[test]
fn power_set_needs_cap_sys_admin() {
    let (dev, id) = setup();
    let pid = fork_child(|| {
        // SAFETY: setuid in the single-threaded child; dropping root drops every capability.
        if unsafe { libc::setuid(65534) } != 0 {
            return false;
        }
        power_set(&dev, cap(id, 1000)) == Err(libc::EPERM)
    });
    assert!(
        exited_ok(wait_child(pid)),
        "an unprivileged POWER_SET must fail with EPERM"
    );
    assert_eq!(
        thermal(&dev, id).laser_cap_mw,
        uapi::LASER_MAX_MW,
        "nothing was applied"
    );
}

#[test]
fn laser_cap_and_tec_floor_reach_the_device_and_lift() {
    let (dev, id) = setup();
    let t = thermal(&dev, id);
    assert_eq!(
        (t.laser_cap_mw, t.tec_floor_permille),
        (uapi::LASER_MAX_MW, 0)
    );
    assert!(
        t.laser_mw > 300,
        "the laser runs at its default power: {t:?}"
    );
    assert!(t.power_mw >= t.laser_mw);
    dev.set_power(
        id,
        PowerControls {
            laser_cap_mw: Some(300),
            tec_floor_permille: Some(1000),
        },
    )
    .unwrap();
    let t = thermal(&dev, id);
    assert_eq!((t.laser_cap_mw, t.tec_floor_permille), (300, 1000));
    wait_for(
        "the device to report its laser at the cap and full TEC",
        10,
        || {
            let t = thermal(&dev, id);
            t.laser_mw <= 300 && t.laser_mw > 0 && t.tec_permille == 1000
        },
    );
    assert_eq!(guard_num(0, "laser_cap_mw"), 300);
    // The guard's own limit is unchanged: a cap is not a throttle.
    assert_eq!(thermal(&dev, id).state, ThermalState::Normal);
    lift(&dev, id);
    wait_for("the laser back to its default power", 10, || {
        thermal(&dev, id).laser_mw > 300
    });
}

/// Clears injected heat and lifts the controls when the test ends, passed or failed, so the
/// suites after it find photonic0 as usual.
struct Restore<'a>(&'a Context, u32);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let _ = photonic::inject(0, "clear");
        let _ = self.0.set_power(
            self.1,
            PowerControls {
                laser_cap_mw: Some(uapi::LASER_MAX_MW),
                tec_floor_permille: Some(0),
            },
        );
    }
}

#[test]
fn the_governor_moves_a_heavy_job_off_a_hot_npu_and_cools_and_caps_before_a_predicted_trip() {
    let (dev, id) = setup();
    let _cpu = ExecutorThread::lightosd("cpu-gov", 1);
    let _restore = Restore(&dev, id);
    // Unseen heat: 2.5 W of runaway settles the chip below its 75 °C throttle point.
    inject(0, "runaway 2.5");
    wait_for("photonic0 to heat past 60 °C", 60, || {
        thermal(&dev, id).temp_mc > 60_000
    });
    wait_for("photonic0 to settle (< 0.1 K in 0.5 s)", 60, || {
        let before = thermal(&dev, id).temp_mc;
        std::thread::sleep(Duration::from_millis(500));
        (thermal(&dev, id).temp_mc - before).abs() < 100
    });
    let hot = thermal(&dev, id);
    assert_eq!(
        hot.state,
        ThermalState::Normal,
        "the chip must settle under its throttle point: {hot:?}"
    );
    let seq0 = dev.thermal().unwrap().last_event_seq;
    let cfg = GovernorConfig {
        policy: Policy::Predictive,
        ..GovernorConfig::default()
    };
    let mut gov =
        LiveGovernor::new(Context::open().unwrap(), cfg, &["photonic0", "cpu-gov"]).unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        gov.poll().unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let (npu, cpu) = (
        gov.index("photonic0").unwrap(),
        gov.index("cpu-gov").unwrap(),
    );
    // The laser at its full 5 W and the mesh busy: 5 W above idle for 2 s.
    let heavy = JobProfile::dense(5.0, 2.0);
    let d = gov.place(&heavy).unwrap();
    eprintln!(
        "at {} m°C, model {:?}; heavy job: {}",
        hot.temp_mc,
        gov.governor().model(0),
        d.reason
    );
    assert_eq!(
        d.device, cpu,
        "the heavy job must go to the cooler device: {}",
        d.reason
    );
    assert!(!d.degraded);
    // Without the governor the same job would have gone to the idle NPU: it is the least loaded.
    let light = gov.place(&JobProfile::dense(0.01, 0.01)).unwrap();
    assert_eq!(
        light.device, npu,
        "a light job still fits on the NPU: {}",
        light.reason
    );
    // The same heavy job pinned to photonic0: cooling up, then a laser cap, before it starts.
    let actions = gov.start(npu, &heavy).unwrap();
    eprintln!("actions before the pinned heavy job: {actions:?}");
    assert!(
        actions.contains(&Action::Cooling {
            device: npu,
            drive: 1.0
        }),
        "{actions:?}"
    );
    let Some(Action::PowerCap { watts, .. }) = actions
        .iter()
        .find(|a| matches!(a, Action::PowerCap { .. }))
        .copied()
    else {
        panic!("no power cap before a predicted trip: {actions:?}");
    };
    assert!(watts > 0.0);
    let t = thermal(&dev, id);
    assert!(
        t.laser_cap_mw < uapi::LASER_MAX_MW,
        "the cap is in force in the kernel: {t:?}"
    );
    assert_eq!(t.tec_floor_permille, 1000);
    wait_for("the TEC at full drive", 10, || {
        thermal(&dev, id).tec_permille == 1000
    });
    let (status, err) = photonic::matmul(0, 16, 16, 16);
    assert_eq!(status, lightos_runtime::JobStatus::Ok);
    // Under the cap the laser is dimmer than the tolerance's nominal power: the detector noise
    // grows as 1/√power, which the published figure's margin covers down to about half the light.
    assert!(
        err < lightos_runtime::tolerance::PHOTONIC_MATMUL,
        "relative error {err}"
    );
    let relax = gov.finish(npu, &heavy).unwrap();
    assert!(
        relax.contains(&Action::ClearCap { device: npu }),
        "{relax:?}"
    );
    assert_eq!(thermal(&dev, id).laser_cap_mw, uapi::LASER_MAX_MW);
    let after = dev.thermal().unwrap();
    let events = dev
        .wait_events(seq0, Some(Duration::ZERO))
        .map(|b| b.events)
        .unwrap_or_default();
    assert!(
        events
            .iter()
            .all(|e| e.kind != EventKind::Throttle && e.kind != EventKind::Shutdown),
        "no trip while governed: {events:?} (last seq {})",
        after.last_event_seq
    );
    assert!(gov.governor().stats().caps_applied >= 1);
}
