//! The executor half of the security model (docs/ABI.md, "Executors and trust"), with parts run as
//! non-root users: a forked child drops to uid/gid 1000 (or 1001) before it opens `/dev/lightos`,
//! which the test opens to the group `NODE_GID` (0660) for its duration, as the shipped udev rule
//! does for the group `lightos`.
//!
//! A user can create buffers and submit (its jobs run on root's executor); cannot register an
//! executor (EPERM, the kernel's reason, the runtime's hint; `lightos executor` says so and fails);
//! cannot `POWER_SET`. With the module loaded with `executor_gid`, a member of that group registers
//! an executor, and only its own uid's jobs go to it: another uid's (root's included) are not
//! routed there, and an explicit route to it is refused. Root keeps everything it could do.

use lightos_runtime::{BufferFlags, Context, DType, Error, Op, Placement, PrimitiveBuilder, Queue};
use lightos_runtime::{JobStatus, ServeUntil};
use lightos_uapi as uapi;
use lightos_vm_tests::{
    dev_ioctl, get_f32,
    process::{exited_ok, fork_child, wait_child},
    put_f32, run, ExecutorThread, MODULE_PATH,
};
use nix::errno::Errno;
use nix::unistd::{setgid, setgroups, setuid, Gid, Uid};
use std::{
    os::unix::fs::{chown, MetadataExt, PermissionsExt},
    time::{Duration, Instant},
};

const NODE: &str = "/dev/lightos";
/// The group the test opens the node to (what the udev rule's `lightos` group is in production).
const NODE_GID: u32 = 2000;
/// The executor group the module is reloaded with.
const EXECUTOR_GID: u32 = 2001;
/// The unprivileged users.
const USER: u32 = 1000;
const OTHER_USER: u32 = 1001;
const SEC: Option<Duration> = Some(Duration::from_secs(20));

/// Opens `/dev/lightos` to group [`NODE_GID`] with mode 0660 until dropped, then restores the node's
/// owner, group and mode.
struct NodeOpenToGroup {
    uid: u32,
    gid: u32,
    mode: u32,
}

impl NodeOpenToGroup {
    fn new() -> Self {
        let meta = std::fs::metadata(NODE).expect("stat /dev/lightos");
        let saved = Self {
            uid: meta.uid(),
            gid: meta.gid(),
            mode: meta.mode() & 0o7777,
        };
        chown(NODE, Some(0), Some(NODE_GID)).expect("chgrp /dev/lightos");
        std::fs::set_permissions(NODE, std::fs::Permissions::from_mode(0o660))
            .expect("chmod /dev/lightos");
        saved
    }
}

impl Drop for NodeOpenToGroup {
    fn drop(&mut self) {
        let _ = chown(NODE, Some(self.uid), Some(self.gid));
        let _ = std::fs::set_permissions(NODE, std::fs::Permissions::from_mode(self.mode));
    }
}

/// Reloads the module with `executor_gid=`[`EXECUTOR_GID`] until dropped, then reloads it plain.
/// Every context must be closed when it is created and dropped (`rmmod` refuses otherwise).
struct ModuleWithExecutorGroup;

impl ModuleWithExecutorGroup {
    fn new() -> Self {
        reload(&[&format!("executor_gid={EXECUTOR_GID}")]);
        Self
    }
}

impl Drop for ModuleWithExecutorGroup {
    fn drop(&mut self) {
        reload(&[]);
    }
}

fn reload(params: &[&str]) {
    let (ok, err) = run("rmmod", &["lightos_core"]);
    assert!(ok, "rmmod: {err}");
    let mut args = vec![MODULE_PATH];
    args.extend_from_slice(params);
    let (ok, err) = run("insmod", &args);
    assert!(ok, "insmod {args:?}: {err}");
}

/// A forked child, killed and reaped when dropped unless already reaped.
struct Child(Option<libc::pid_t>);

impl Child {
    /// Waits for the child; whether it exited 0.
    fn succeeded(mut self) -> bool {
        exited_ok(wait_child(self.0.take().expect("child reaped once")))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            // SAFETY: `pid` is this process's unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            wait_child(pid);
        }
    }
}

/// Forks a child that drops to `uid` (gid `uid`, supplementary groups `groups`) and runs `f`; a
/// panic in `f` fails the child, not the harness.
fn as_user(uid: u32, groups: &[u32], f: impl FnOnce() -> bool) -> Child {
    Child(Some(fork_child(|| {
        let groups: Vec<Gid> = groups.iter().map(|&g| Gid::from_raw(g)).collect();
        setgroups(&groups).expect("setgroups");
        setgid(Gid::from_raw(uid)).expect("setgid");
        setuid(Uid::from_raw(uid)).expect("setuid");
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(false)
    })))
}

fn queue(dev: &Context) -> Queue {
    dev.create_queue(0, Duration::ZERO).expect("create queue")
}

/// Submits `a + b` for two 4-element vectors through `dev`; returns the submission's result and,
/// when it ran, the status and the sum.
fn add(dev: &Context) -> Result<(JobStatus, Vec<f32>), Error> {
    let q = queue(dev);
    let b = dev.create_buffer(4096, BufferFlags::empty(), Placement::Any)?;
    let mut m = b.map()?;
    put_f32(&mut m[..], &[1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0]);
    let prim = PrimitiveBuilder::new(Op::Add, DType::F32)
        .input(&b, 0, &[4])
        .input(&b, 16, &[4])
        .output(&b, 32, &[4]);
    let s = q.submit(&[prim])?;
    let c = q.wait(s.last_seq, SEC)?;
    Ok((c.status, get_f32(&m[32..], 4)))
}

fn ran_ok(result: Result<(JobStatus, Vec<f32>), Error>) -> bool {
    match result {
        Ok((JobStatus::Ok, sum)) if sum == [11.0, 22.0, 33.0, 44.0] => true,
        other => {
            eprintln!("expected a completed ADD, got {other:?}");
            false
        }
    }
}

/// Whether `backend_id` is registered.
fn registered(backend_id: u32) -> bool {
    let dev = Context::open().expect("open");
    dev.backends()
        .expect("QUERY_BACKENDS")
        .iter()
        .any(|b| b.id == backend_id)
}

#[test]
fn a_user_creates_buffers_and_submits_to_roots_executor() {
    let _node = NodeOpenToGroup::new();
    let _exec = ExecutorThread::cpu("t-sec-root");
    let client = as_user(USER, &[NODE_GID], || {
        ran_ok(add(&Context::open().expect("open")))
    });
    assert!(
        client.succeeded(),
        "the user's ADD did not run on root's executor"
    );
}

#[test]
fn a_user_cannot_register_an_executor_and_is_told_why() {
    let _node = NodeOpenToGroup::new();
    let child = as_user(USER, &[NODE_GID], || {
        let dev = Context::open().expect("open");
        let err = match dev.register_executor(&lightosd::core_spec("t-sec-user")) {
            Ok(exec) => panic!("registered as backend {}", exec.backend_id()),
            Err(e) => e,
        };
        assert_eq!(err.errno(), Some(Errno::EPERM), "{err}");
        let reason = err.reason().expect("the kernel's reason");
        assert!(
            reason.contains("CAP_SYS_ADMIN") && reason.contains("executor_gid"),
            "{reason}"
        );
        assert!(
            err.hint().is_some_and(|h| h.contains("executor_gid")),
            "{err}"
        );
        // The CLI says the same and fails.
        let out = std::process::Command::new("lightos")
            .args(["executor", "--name", "t-sec-cli", "--max-jobs", "1"])
            .output()
            .expect("run lightos executor");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "lightos executor succeeded: {stderr}"
        );
        assert!(
            stderr.contains("EPERM") && stderr.contains("CAP_SYS_ADMIN"),
            "{stderr}"
        );
        assert!(stderr.contains("hint:"), "{stderr}");
        true
    });
    assert!(
        child.succeeded(),
        "the user's registration was not refused as expected"
    );
    let dev = Context::open().expect("open");
    let names: Vec<String> = dev
        .backends()
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with("t-sec-")),
        "left registered: {names:?}"
    );
}

#[test]
fn power_set_is_refused_for_a_user_and_not_for_root() {
    let _node = NodeOpenToGroup::new();
    let power_set = |dev: &Context| {
        let mut req = uapi::PowerSet {
            backend_id: 1,
            ..Default::default()
        };
        dev_ioctl(dev, uapi::IOC_NR_POWER_SET, &mut req)
    };
    let child = as_user(USER, &[NODE_GID], || {
        let dev = Context::open().expect("open");
        power_set(&dev) == Err(libc::EPERM)
    });
    assert!(child.succeeded(), "POWER_SET was not EPERM for a user");
    // Root passes the privilege check (and is refused, if at all, for the request itself).
    let root = power_set(&Context::open().unwrap());
    assert_ne!(root, Err(libc::EPERM), "POWER_SET refused root");
}

#[test]
fn a_member_of_the_executor_group_serves_only_its_own_uid() {
    let _module = ModuleWithExecutorGroup::new();
    let _node = NodeOpenToGroup::new();
    // The member's executor: registers, reports its id, serves one job and exits.
    let (rx, tx) = nix::unistd::pipe().expect("pipe");
    // The closure (and `tx` with it) is dropped here in the parent, so `rx` sees EOF if the child
    // dies before reporting.
    let executor = as_user(USER, &[NODE_GID, EXECUTOR_GID], move || {
        let dev = Context::open().expect("open");
        let exec = dev
            .register_executor(&lightosd::core_spec("t-sec-member"))
            .expect("register");
        nix::unistd::write(&tx, &exec.backend_id().to_ne_bytes()).expect("report id");
        drop(tx);
        let mut server = lightosd::Server::core_cpu().expect("thread pool");
        let until = ServeUntil {
            stop: None,
            max_jobs: Some(1),
        };
        exec.serve(&mut server, until).expect("serve") == 1
    });
    let mut id = [0u8; 4];
    let n = nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&rx), &mut id).expect("read id");
    assert_eq!(n, 4, "the member's executor did not register");
    let id = u32::from_ne_bytes(id);
    assert!(registered(id));

    // Another uid: not routed there (ENODEV, with why), and an explicit route is EPERM.
    let other = as_user(OTHER_USER, &[NODE_GID], move || {
        let dev = Context::open().expect("open");
        let not_routed = match add(&dev) {
            Err(Error::Submit {
                errno: Errno::ENODEV,
                reason: Some(r),
                ..
            }) => r.contains("trust"),
            other => panic!("expected ENODEV, got {other:?}"),
        };
        dev.add_route(Some(Op::Add), None, 0..=u64::MAX, id)
            .expect("ROUTE_SET");
        let refused = match add(&dev) {
            Err(Error::Submit {
                errno: Errno::EPERM,
                reason: Some(r),
                ..
            }) => r.contains(&format!("backend {id}")),
            other => panic!("expected EPERM, got {other:?}"),
        };
        not_routed && refused
    });
    assert!(
        other.succeeded(),
        "another uid's job reached the member's executor"
    );
    // Root is another uid too: its data does not go to an unprivileged executor.
    match add(&Context::open().unwrap()) {
        Err(Error::Submit {
            errno: Errno::ENODEV,
            ..
        }) => {}
        other => panic!("root's ADD: expected ENODEV, got {other:?}"),
    }

    // The same uid: routed there, and runs.
    let same = as_user(USER, &[NODE_GID], || {
        ran_ok(add(&Context::open().expect("open")))
    });
    assert!(
        same.succeeded(),
        "the member's own uid's job did not run on its executor"
    );
    assert!(
        executor.succeeded(),
        "the member's executor did not serve exactly one job"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while registered(id) {
        assert!(Instant::now() < deadline, "backend {id} still registered");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn without_the_executor_group_configured_group_membership_is_not_enough() {
    let _node = NodeOpenToGroup::new();
    let child = as_user(USER, &[NODE_GID, EXECUTOR_GID], || {
        let dev = Context::open().expect("open");
        match dev.register_executor(&lightosd::core_spec("t-sec-nogroup")) {
            Err(e) => e.errno() == Some(Errno::EPERM),
            Ok(_) => false,
        }
    });
    assert!(child.succeeded());
}

#[test]
fn root_still_registers_and_runs_jobs() {
    let _exec = ExecutorThread::cpu("t-sec-root2");
    assert!(ran_ok(add(&Context::open().unwrap())));
}

/// Another user's objects are out of reach: root's buffer handle, its mmap cookie, its queue and
/// that queue's completion page name nothing in a user's own context (handles, cookies and queue
/// ids are per open file), and nothing the user tries changes them.
#[test]
fn a_user_cannot_see_or_map_another_users_buffers_or_queues() {
    use lightos_vm_tests::{
        buffer_info, create_buffer, destroy_buffer, ioctl_struct, map, open_dev,
    };
    let _node = NodeOpenToGroup::new();
    let root = open_dev();
    let buf = create_buffer(&root, 4096, 0).expect("root's buffer");
    let mut q = uapi::QueueCreate::default();
    assert_eq!(
        ioctl_struct(&root, uapi::IOC_NR_QUEUE_CREATE, &mut q),
        Ok(0)
    );
    let child = as_user(USER, &[NODE_GID], || {
        let me = open_dev();
        assert_eq!(
            buffer_info(&me, buf.handle).err(),
            Some(libc::ENOENT),
            "BUFFER_INFO"
        );
        assert_eq!(
            destroy_buffer(&me, buf.handle).err(),
            Some(libc::ENOENT),
            "BUFFER_DESTROY"
        );
        let (prot, shared) = (libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED);
        assert!(
            map(&me, 4096, prot, shared, buf.mmap_offset).is_err(),
            "mmap of root's buffer"
        );
        assert!(
            map(&me, 4096, libc::PROT_READ, shared, q.completion_offset).is_err(),
            "mmap of root's completion page"
        );
        let mut wait = uapi::Wait {
            queue_id: q.queue_id,
            seq: 1,
            ..Default::default()
        };
        assert_eq!(
            ioctl_struct(&me, uapi::IOC_NR_WAIT, &mut wait).err(),
            Some(libc::ENOENT)
        );
        let mut destroy = uapi::QueueDestroy {
            queue_id: q.queue_id,
            ..Default::default()
        };
        let refused = ioctl_struct(&me, uapi::IOC_NR_QUEUE_DESTROY, &mut destroy).err();
        assert_eq!(refused, Some(libc::ENOENT), "QUEUE_DESTROY");
        true
    });
    assert!(child.succeeded(), "the user reached root's objects");
    // Root's objects are untouched.
    assert_eq!(buffer_info(&root, buf.handle).map(|i| i.size), Ok(buf.size));
    let mut destroy = uapi::QueueDestroy {
        queue_id: q.queue_id,
        ..Default::default()
    };
    assert_eq!(
        ioctl_struct(&root, uapi::IOC_NR_QUEUE_DESTROY, &mut destroy),
        Ok(0)
    );
}
