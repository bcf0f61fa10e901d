//! Per-uid quotas (ABI 1.9): each quota, made small through its module parameter, refuses the object
//! over it with `EDQUOT` and a reason, creates nothing half-way, and is given back when the objects
//! die; one uid spending its quota leaves another's alone; a `CAP_SYS_ADMIN` context is counted but
//! not limited. The limited clients are children that dropped to uid 1000 or 1001 before opening
//! `/dev/lightos` (made 0666 for the test).

use lightos_runtime::{BufferFlags, Context, DType, Error, Op, Placement, PrimitiveBuilder};
use lightos_vm_tests::{process, *};
use nix::{
    errno::Errno,
    unistd::{setgid, setgroups, setuid, Gid, Uid},
};
use std::{
    io::{Read, Write},
    os::unix::{fs::PermissionsExt, net::UnixStream},
    panic::{catch_unwind, AssertUnwindSafe},
    time::Duration,
};

const PARAMS: &str = "/sys/module/lightos_core/parameters";
const NODE: &str = "/dev/lightos";

/// The quota parameters and their documented defaults.
const DEFAULTS: [(&str, u64); 5] = [
    ("quota_buffer_bytes", 256 << 20),
    ("quota_buffers", 1024),
    ("quota_queues", 64),
    ("quota_jobs", 4096),
    ("quota_spike_queues", 64),
];

fn param(name: &str) -> u64 {
    let text = std::fs::read_to_string(format!("{PARAMS}/{name}")).expect("read parameter");
    text.trim().parse().expect("a number")
}

fn set_param(name: &str, value: u64) {
    std::fs::write(format!("{PARAMS}/{name}"), value.to_string()).expect("write parameter");
}

/// Sets quota parameters for one test and restores every one when dropped; also opens
/// `/dev/lightos` to other users (0666) and restores its mode.
struct Quotas {
    saved: Vec<(&'static str, u64)>,
    mode: u32,
}

impl Quotas {
    fn set(values: &[(&'static str, u64)]) -> Self {
        ensure_loaded();
        let mode = std::fs::metadata(NODE)
            .expect("stat node")
            .permissions()
            .mode();
        let saved = DEFAULTS.iter().map(|&(n, _)| (n, param(n))).collect();
        let guard = Quotas { saved, mode };
        std::fs::set_permissions(NODE, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        for &(name, value) in values {
            set_param(name, value);
        }
        guard
    }
}

impl Drop for Quotas {
    fn drop(&mut self) {
        for &(name, value) in &self.saved {
            set_param(name, value);
        }
        let _ = std::fs::set_permissions(NODE, std::fs::Permissions::from_mode(self.mode & 0o7777));
    }
}

/// Forks a child that drops to `uid` (and gid `uid`, no supplementary groups) before it opens
/// anything and runs `f`; it exits 0 when `f` returned without panicking. Returns its pid.
fn spawn_as(uid: u32, f: impl FnOnce()) -> libc::pid_t {
    process::fork_child(|| {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            setgroups(&[]).expect("setgroups");
            setgid(Gid::from_raw(uid)).expect("setgid");
            setuid(Uid::from_raw(uid)).expect("setuid");
            f()
        }));
        if let Err(payload) = &outcome {
            // The harness captures the child's panic message: write it where it is seen.
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("?");
            let _ = writeln!(std::io::stderr(), "child as uid {uid} panicked: {msg}");
        }
        outcome.is_ok()
    })
}

/// [`spawn_as`] and waits: the child's assertions must all have held.
fn as_user(uid: u32, f: impl FnOnce()) {
    let pid = spawn_as(uid, f);
    assert!(
        process::exited_ok(process::wait_child(pid)),
        "the child as uid {uid} failed"
    );
}

/// Asserts `EDQUOT` with exactly `reason`.
fn assert_over_quota(err: &Error, reason: &str) {
    assert_eq!(err.errno(), Some(Errno::EDQUOT), "{err}");
    assert_eq!(err.reason(), Some(reason), "{err}");
}

fn buffer(dev: &Context, size: usize) -> lightos_runtime::Result<lightos_runtime::Buffer> {
    dev.create_buffer(size, BufferFlags::empty(), Placement::Any)
}

#[test]
fn parameters_are_root_writable_with_the_documented_defaults() {
    ensure_loaded();
    for (name, default) in DEFAULTS {
        let meta = std::fs::metadata(format!("{PARAMS}/{name}")).expect(name);
        assert_eq!(meta.permissions().mode() & 0o777, 0o644, "{name}");
        // Other tests restore what they change, so the defaults hold between tests.
        assert_eq!(param(name), default, "{name}");
    }
    let dev = Context::open().unwrap();
    let q = dev.quota().unwrap();
    assert_eq!(q.uid, 0);
    assert!(q.exempt, "root opens with CAP_SYS_ADMIN");
    assert_eq!(q.buffers.quota, 1024);
    assert_eq!(q.buffer_bytes.quota, 256 << 20);
    assert!(dev
        .info()
        .unwrap()
        .capability_names()
        .contains(&"quotas".to_string()));
}

#[test]
fn buffer_bytes_over_quota_are_refused_and_given_back_when_freed() {
    let _q = Quotas::set(&[("quota_buffer_bytes", 64 << 10)]);
    let created_before = Context::open().unwrap().stats().unwrap().buffers_created;
    as_user(1000, || {
        let dev = Context::open().unwrap();
        let q = dev.quota().unwrap();
        assert_eq!((q.uid, q.exempt), (1000, false));
        assert_eq!(q.buffer_bytes.quota, 64 << 10);
        let a = buffer(&dev, 32 << 10).unwrap();
        assert_eq!(dev.quota().unwrap().buffer_bytes.used, 32 << 10);
        let err = buffer(&dev, 48 << 10).unwrap_err();
        assert_over_quota(&err, "uid 1000: buffer bytes 32768 + 49152 > quota 65536");
        // Nothing half-created: the context holds one buffer, the uid is charged for it alone.
        assert_eq!(dev.context_stats().unwrap().buffers, 1);
        assert_eq!(dev.quota().unwrap().buffer_bytes.used, 32 << 10);
        drop(a);
        assert_eq!(dev.quota().unwrap().buffer_bytes.used, 0);
        let _b = buffer(&dev, 48 << 10).expect("the freed bytes are given back");
        assert_eq!(dev.quota().unwrap().buffer_bytes.used, 48 << 10);
    });
    let dev = Context::open().unwrap();
    // The refused creation created no object: two buffers were created, not three.
    assert_eq!(dev.stats().unwrap().buffers_created, created_before + 2);
}

#[test]
fn buffers_over_quota_are_refused_and_given_back_when_destroyed() {
    let _q = Quotas::set(&[("quota_buffers", 3)]);
    as_user(1000, || {
        let dev = Context::open().unwrap();
        let mut held: Vec<_> = (0..3).map(|_| buffer(&dev, 4096).unwrap()).collect();
        let err = buffer(&dev, 4096).unwrap_err();
        assert_over_quota(&err, "uid 1000: buffers 3 + 1 > quota 3");
        assert_eq!(dev.context_stats().unwrap().buffers, 3);
        // Another context of the same uid shares the quota.
        let other = Context::open().unwrap();
        assert_over_quota(
            &buffer(&other, 4096).unwrap_err(),
            "uid 1000: buffers 3 + 1 > quota 3",
        );
        held.pop();
        let _again = buffer(&other, 4096).expect("a destroyed buffer gives its slot back");
        assert_eq!(dev.quota().unwrap().buffers.used, 3);
    });
}

#[test]
fn a_buffer_stays_charged_while_an_export_outlives_its_context() {
    let _q = Quotas::set(&[("quota_buffers", 1)]);
    as_user(1000, || {
        let dev = Context::open().unwrap();
        let exported = {
            let other = Context::open().unwrap();
            let b = buffer(&other, 4096).unwrap();
            b.export(false).unwrap()
            // The handle and the context close here; the dma-buf holds the object.
        };
        assert_eq!(
            dev.quota().unwrap().buffers.used,
            1,
            "the exported object is still charged"
        );
        assert_over_quota(
            &buffer(&dev, 4096).unwrap_err(),
            "uid 1000: buffers 1 + 1 > quota 1",
        );
        drop(exported);
        assert_eq!(
            dev.quota().unwrap().buffers.used,
            0,
            "the object died with its last descriptor"
        );
        let _c = buffer(&dev, 4096).expect("the quota is free again");
    });
}

#[test]
fn queues_over_quota_are_refused_and_given_back_when_destroyed() {
    let _q = Quotas::set(&[("quota_queues", 2)]);
    as_user(1000, || {
        let dev = Context::open().unwrap();
        let a = dev.create_queue(0, Duration::ZERO).unwrap();
        let _b = dev.create_queue(0, Duration::ZERO).unwrap();
        let err = dev.create_queue(0, Duration::ZERO).unwrap_err();
        assert_over_quota(&err, "uid 1000: queues 2 + 1 > quota 2");
        assert_eq!(dev.quota().unwrap().queues.used, 2);
        drop(a);
        let _c = dev
            .create_queue(0, Duration::ZERO)
            .expect("a destroyed queue gives its slot back");
    });
}

#[test]
fn spike_queues_over_quota_are_refused_and_given_back_when_destroyed() {
    let _q = Quotas::set(&[("quota_spike_queues", 1)]);
    as_user(1000, || {
        let dev = Context::open().unwrap();
        let a = dev.create_spike_queue(64).unwrap();
        let err = dev.create_spike_queue(64).err().expect("over the quota");
        assert_over_quota(&err, "uid 1000: spike queues 1 + 1 > quota 1");
        assert_eq!(dev.quota().unwrap().spike_queues.used, 1);
        drop(a);
        let _b = dev
            .create_spike_queue(64)
            .expect("a destroyed spike queue gives its slot back");
    });
}

#[test]
fn jobs_in_flight_over_quota_are_refused_and_given_back_when_they_end() {
    let _q = Quotas::set(&[("quota_jobs", 2)]);
    // A root executor that never fetches: the jobs stay in flight until their queue goes.
    let exec_ctx = Context::open().unwrap();
    let exec = exec_ctx
        .register_executor(&lightosd::core_spec("t-quota"))
        .unwrap();
    let backend = exec.backend_id();
    as_user(1000, || {
        let dev = Context::open().unwrap();
        dev.add_route(None, None, 0..=u64::MAX, backend).unwrap();
        let b = buffer(&dev, 4096).unwrap();
        let add = || {
            PrimitiveBuilder::new(Op::Add, DType::F32)
                .input(&b, 0, &[4])
                .input(&b, 16, &[4])
                .output(&b, 32, &[4])
        };
        let q = dev.create_queue(0, Duration::ZERO).unwrap();
        q.submit(&[add()]).unwrap();
        let err = q.submit(&[add(), add()]).unwrap_err();
        assert_over_quota(&err, "uid 1000: jobs in flight 1 + 2 > quota 2");
        q.submit(&[add()]).unwrap();
        assert_eq!(dev.quota().unwrap().jobs.used, 2);
        let err = q.submit(&[add()]).unwrap_err();
        assert_over_quota(&err, "uid 1000: jobs in flight 2 + 1 > quota 2");
        // Destroying the queue ends (aborts) its jobs: their quota comes back.
        drop(q);
        assert_eq!(dev.quota().unwrap().jobs.used, 0);
        let q = dev.create_queue(0, Duration::ZERO).unwrap();
        q.submit(&[add(), add()])
            .expect("ended jobs give their quota back");
    });
    drop(exec);
}

#[test]
fn one_uid_spending_its_quota_leaves_another_uid_alone() {
    let _q = Quotas::set(&[("quota_buffer_bytes", 16 << 10)]);
    let (mut parent_end, mut child_end) = UnixStream::pair().unwrap();
    // uid 1000 spends its whole quota and holds it until told to go.
    let hog = spawn_as(1000, move || {
        let dev = Context::open().unwrap();
        let _all = buffer(&dev, 16 << 10).unwrap();
        assert_eq!(buffer(&dev, 4096).unwrap_err().errno(), Some(Errno::EDQUOT));
        child_end.write_all(b"r").unwrap();
        let mut go = [0u8];
        child_end.read_exact(&mut go).unwrap();
    });
    let mut ready = [0u8];
    parent_end.read_exact(&mut ready).unwrap();
    let stats = std::fs::read_to_string("/sys/kernel/debug/lightos/stats").unwrap();
    assert!(
        stats.contains(
            "quota uid 1000 buffer_bytes 16384 buffers 1 queues 0 jobs 0 spike_queues 0\n"
        ),
        "debugfs shows uid 1000's usage:\n{stats}"
    );
    as_user(1001, || {
        let dev = Context::open().unwrap();
        let q = dev.quota().unwrap();
        assert_eq!(
            (q.uid, q.buffer_bytes.used),
            (1001, 0),
            "uid 1000's usage is not uid 1001's"
        );
        let _b = buffer(&dev, 16 << 10).expect("uid 1001 has its own quota");
    });
    // Root is counted but not limited.
    let root = Context::open().unwrap();
    let held: Vec<_> = (0..8).map(|_| buffer(&root, 16 << 10).unwrap()).collect();
    assert_eq!(root.quota().unwrap().buffer_bytes.used, 8 * (16 << 10));
    drop(held);
    parent_end.write_all(b"g").unwrap();
    assert!(
        process::exited_ok(process::wait_child(hog)),
        "the child as uid 1000 failed"
    );
}
