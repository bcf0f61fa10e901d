//! Surprise removal of the photonic NPU: the emulator process goes away (fault injection
//! `remove`) with a job running on a hung device and another queued. The guard notices the
//! telemetry stop, both jobs end DEVICE_LOST, a DEVICE_LOST event reaches waiters, photonic0
//! leaves the backends, unbinding is clean, a rebind fails with an error (not a hang), and the
//! module unloads and reloads. Run last by run-suite.sh: the device cannot come back in this boot.

use lightos_runtime::{
    thermal::EventKind, BufferFlags, Context, DType, JobStatus, Op, Placement, PrimitiveBuilder,
};
use lightos_vm_tests::photonic::{
    backend_id, inject, matmul, npu_address, npu_addresses, remove_device, DRIVER,
};
use std::{fs, path::Path, time::Duration};

#[test]
fn surprise_removal_loses_jobs_raises_an_event_and_unbinds_cleanly() {
    lightos_vm_tests::ensure_loaded();
    let dev = Context::open().unwrap();
    let id = backend_id(&dev, 0).expect("photonic0 is registered");
    assert_eq!(
        matmul(0, 8, 8, 8).0,
        JobStatus::Ok,
        "the device works before"
    );
    let after = dev.thermal().unwrap().last_event_seq;
    let address = npu_address(0);
    assert!(Path::new(DRIVER).join(&address).exists(), "NPU 0 is bound");

    dev.add_route(Some(Op::Matmul), None, 0..=u64::MAX, id)
        .unwrap();
    let buf = dev
        .create_buffer(3 * 256, BufferFlags::empty(), Placement::Any)
        .unwrap();
    let prim = || {
        PrimitiveBuilder::new(Op::Matmul, DType::F32)
            .input(&buf, 0, &[8, 8])
            .input(&buf, 256, &[8, 8])
            .output(&buf, 512, &[8, 8])
    };
    let q = dev.create_queue(0, Duration::from_secs(60)).unwrap();
    inject(0, "hang");
    let running = q.submit(&[prim()]).unwrap();
    let queued = q.submit(&[prim()]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    remove_device(0);

    let mut lost = None;
    let mut cursor = after;
    while lost.is_none() {
        let batch = dev
            .wait_events(cursor, Some(Duration::from_secs(30)))
            .unwrap();
        assert!(!batch.events.is_empty(), "no DEVICE_LOST event within 30 s");
        cursor = batch.last_seq;
        lost = batch
            .events
            .into_iter()
            .find(|e| e.kind == EventKind::DeviceLost);
    }
    assert_eq!(lost.unwrap().backend_id, id);
    for s in [running, queued] {
        let c = q.wait(s.last_seq, Some(Duration::from_secs(30))).unwrap();
        assert_eq!(c.status, JobStatus::DeviceLost, "job {}", s.last_seq);
    }
    assert_eq!(backend_id(&dev, 0), None, "photonic0 left the backends");
    assert!(
        !dev.thermal()
            .unwrap()
            .devices
            .iter()
            .any(|d| d.backend_id == id),
        "no guard left to report"
    );
    let err = q.submit(&[prim()]).unwrap_err();
    assert_eq!(err.errno(), Some(nix::errno::Errno::ENODEV), "{err}");

    fs::write(format!("{DRIVER}/unbind"), &address).expect("unbind after removal");
    assert!(
        fs::write(format!("{DRIVER}/bind"), &address).is_err(),
        "binding a device whose model is gone must fail (its reset is never acknowledged)"
    );
    drop(q);
    drop(buf);
    drop(dev);
    let (ok, out) = lightos_vm_tests::run("rmmod", &["lightos_core"]);
    assert!(ok, "rmmod after removal: {out}");
    lightos_vm_tests::ensure_loaded();
    let dev = Context::open().unwrap();
    assert!(dev.info().is_ok(), "the module works without its NPU");
    // Reloading probes every NPU again: the removed one stays unbound (its reset is never
    // acknowledged); any other one comes back, as photonic0 when NPU 0 was the only one.
    assert!(
        !Path::new(DRIVER).join(&address).exists(),
        "the removed NPU stays unbound"
    );
    let others = npu_addresses()
        .iter()
        .filter(|a| Path::new(DRIVER).join(a).exists())
        .count();
    let photonic = dev
        .backends()
        .unwrap()
        .iter()
        .filter(|b| b.name.starts_with("photonic"))
        .count();
    assert_eq!(photonic, others, "only the other NPUs came back");
    if others == 0 {
        assert_eq!(backend_id(&dev, 0), None);
    }
}
