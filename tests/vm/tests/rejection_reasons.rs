//! A reason for every rejection (ABI 1.8): one test per errno family, each provoking the rejection
//! through the runtime's API where it can and asserting the errno and the reason the runtime read
//! back (`QUERY_LAST_ERROR`); and the record's own rules, through the raw ioctls.

use lightos_runtime::{
    thermal::PowerControls, BufferFlags, Context, DType, Error, ExecutorSpec, Op, Placement,
    PrimitiveBuilder,
};
use lightos_uapi as uapi;
use lightos_vm_tests::*;
use nix::errno::Errno;
use std::{
    fs::File,
    mem::size_of,
    os::fd::{AsFd, AsRawFd},
    time::Duration,
};

/// Submits a valid 4-element f32 ADD on a 4 KiB buffer (a at 0, b at 16, out at 32) changed by
/// `mutate`, which also gets a device-read-only buffer's handle; returns the rejection.
fn submit_rejected(mutate: impl Fn(&mut uapi::Primitive, u32)) -> Error {
    let dev = Context::open().unwrap();
    let (q, p, _buffers) = lightos_vm_tests::mutated_add(&dev, mutate);
    q.submit(&[p]).expect_err("the primitive must be rejected")
}

/// Asserts that `err` is `errno` with a reason that contains every one of `words`.
fn assert_reason(err: &Error, errno: Errno, words: &[&str]) {
    assert_eq!(err.errno(), Some(errno), "{err}");
    let reason = err.reason().unwrap_or_else(|| panic!("no reason in {err}"));
    for w in words {
        assert!(reason.contains(w), "reason {reason:?} lacks {w:?}");
    }
    assert!(
        err.to_string().contains(&format!("({reason})")),
        "the message shows the reason: {err}"
    );
}

#[test]
fn einval_names_the_unknown_flag_bit() {
    let err = submit_rejected(|p, _| p.flags = 1 << 7);
    assert!(matches!(err, Error::Submit { index: 0, .. }), "{err}");
    assert_reason(&err, Errno::EINVAL, &["flags: unknown bit 7"]);
}

#[test]
fn einval_names_the_misaligned_operand_and_its_element_size() {
    let err = submit_rejected(|p, _| p.operands[1].offset = 18);
    assert_reason(
        &err,
        Errno::EINVAL,
        &["operand 1", "offset 18", "element size 4"],
    );
}

#[test]
fn einval_for_a_buffer_size_says_the_range() {
    let dev = Context::open().unwrap();
    let err = dev
        .create_buffer(0, BufferFlags::empty(), Placement::Any)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Ioctl {
                op: "BUFFER_CREATE",
                ..
            }
        ),
        "{err}"
    );
    assert_reason(&err, Errno::EINVAL, &["size 0", "1 to 268435456"]);
}

#[test]
fn erange_gives_the_operands_extent_and_its_buffers_size() {
    let err = submit_rejected(|p, _| p.operands[2].offset = 4096 - 8);
    assert_reason(
        &err,
        Errno::ERANGE,
        &["operand 2: extent 4104 > buffer 4096"],
    );
    assert_eq!(
        err.to_string(),
        "SUBMIT rejected primitive 0: ERANGE (operand 2: extent 4104 > buffer 4096)"
    );
}

#[test]
fn eoverflow_names_the_operand_whose_extent_overflows() {
    let err = submit_rejected(|p, _| p.operands[0].offset = u64::MAX - 3);
    assert_reason(&err, Errno::EOVERFLOW, &["operand 0", "overflows 64 bits"]);
}

#[test]
fn eacces_names_the_read_only_output_buffer() {
    let err = submit_rejected(|p, ro| p.operands[2].buffer = ro);
    assert_reason(
        &err,
        Errno::EACCES,
        &["operand 2 (output)", "device-read-only"],
    );
}

#[test]
fn enoent_names_the_unknown_buffer_handle() {
    let err = submit_rejected(|p, _| p.operands[0].buffer = 9999);
    assert_reason(&err, Errno::ENOENT, &["operand 0", "buffer 9999"]);
}

#[test]
fn enodev_names_the_backend_a_route_asks_for() {
    let dev = Context::open().unwrap();
    dev.add_route(Some(Op::Add), None, 0..=u64::MAX, 0xfff0)
        .unwrap();
    let q = dev.create_queue(0, Duration::ZERO).unwrap();
    let b = dev
        .create_buffer(4096, BufferFlags::empty(), Placement::Any)
        .unwrap();
    let p = PrimitiveBuilder::new(Op::Add, DType::F32)
        .input(&b, 0, &[4])
        .input(&b, 16, &[4])
        .output(&b, 32, &[4]);
    let err = q.submit(&[p]).unwrap_err();
    assert_reason(&err, Errno::ENODEV, &["backend 65520", "add"]);
}

#[test]
fn enodev_for_power_set_names_the_missing_backend() {
    let dev = Context::open().unwrap();
    let controls = PowerControls {
        laser_cap_mw: Some(1000),
        tec_floor_permille: None,
    };
    let err = dev.set_power(u32::MAX - 1, controls).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Ioctl {
                op: "POWER_SET",
                ..
            }
        ),
        "{err}"
    );
    assert_reason(
        &err,
        Errno::ENODEV,
        &["backend 4294967294", "no such backend"],
    );
}

#[test]
fn einval_for_power_set_says_the_laser_caps_range() {
    let dev = Context::open().unwrap();
    let controls = PowerControls {
        laser_cap_mw: Some(1),
        tec_floor_permille: None,
    };
    let err = dev.set_power(0, controls).unwrap_err();
    assert_reason(&err, Errno::EINVAL, &["laser_cap_mw 1", "100 to"]);
}

#[test]
fn enospc_says_which_limit_the_context_reached() {
    let dev = Context::open().unwrap();
    let queues: Vec<_> = (0..uapi::MAX_SPIKE_QUEUES_PER_CONTEXT)
        .map(|_| dev.create_spike_queue(16).unwrap())
        .collect();
    let Err(err) = dev.create_spike_queue(16) else {
        panic!("a spike queue beyond the limit was created");
    };
    assert_reason(&err, Errno::ENOSPC, &["16 spike queues"]);
    drop(queues);
}

fn spec(name: &str) -> ExecutorSpec {
    ExecutorSpec {
        name: name.into(),
        ops: Op::Add.bit(),
        deterministic_ops: 0,
        dtypes: DType::F32.bit(),
    }
}

#[test]
fn eexist_and_ebusy_say_why_an_executor_cannot_register() {
    let first = Context::open().unwrap();
    let _exec = first.register_executor(&spec("reason0")).unwrap();
    let again = first.register_executor(&spec("reason1")).unwrap_err();
    assert_reason(&again, Errno::EBUSY, &["already an executor"]);
    let other = Context::open().unwrap();
    let taken = other.register_executor(&spec("reason0")).unwrap_err();
    assert_reason(&taken, Errno::EEXIST, &["name", "registered"]);
}

#[test]
fn einval_for_an_executor_names_the_unknown_op_bit() {
    let dev = Context::open().unwrap();
    let mut s = spec("reason2");
    s.ops |= 1 << 40;
    let err = dev.register_executor(&s).unwrap_err();
    assert_reason(&err, Errno::EINVAL, &["ops: unknown op bit 40"]);
}

#[test]
fn eopnotsupp_says_an_executor_has_no_power_controls() {
    let exec_dev = Context::open().unwrap();
    let exec = exec_dev.register_executor(&spec("reason3")).unwrap();
    let dev = Context::open().unwrap();
    let controls = PowerControls {
        laser_cap_mw: None,
        tec_floor_permille: Some(500),
    };
    let err = dev.set_power(exec.backend_id(), controls).unwrap_err();
    assert_reason(&err, Errno::EOPNOTSUPP, &["no power controls"]);
}

#[test]
fn eperm_says_a_job_fetch_needs_an_executor() {
    let f = open_dev();
    let mut req = uapi::JobFetch {
        flags: uapi::FETCH_NONBLOCK,
        ..Default::default()
    };
    assert_eq!(
        ioctl_struct(&f, uapi::IOC_NR_JOB_FETCH, &mut req),
        Err(libc::EPERM)
    );
    let last = last_error(&f);
    assert_eq!(
        (last.error, last.ioctl_nr),
        (libc::EPERM as u32, uapi::IOC_NR_JOB_FETCH)
    );
    assert!(reason_of(&last).contains("not an executor"));
}

/// This context's last rejection, through the raw `QUERY_LAST_ERROR`.
fn last_error(f: &File) -> uapi::QueryLastError {
    let mut last = uapi::QueryLastError::default();
    let mut q = uapi::Query {
        query_type: uapi::QUERY_LAST_ERROR,
        size: size_of::<uapi::QueryLastError>() as u64,
        ptr: &mut last as *mut uapi::QueryLastError as u64,
        ..Default::default()
    };
    assert_eq!(ioctl_struct(f, uapi::IOC_NR_QUERY, &mut q), Ok(0));
    assert_eq!(q.size, size_of::<uapi::QueryLastError>() as u64);
    last
}

fn reason_of(last: &uapi::QueryLastError) -> String {
    String::from_utf8(last.reason_bytes().to_vec()).unwrap()
}

#[test]
fn e2big_says_which_tail_byte_is_not_zero() {
    let f = open_dev();
    let size = size_of::<uapi::Info>() + 64;
    let mut buf = vec![0u64; size / 8];
    buf[size / 8 - 1] = 1 << 8;
    assert_eq!(
        get_info_sized(&f, buf.as_mut_ptr() as usize, size),
        Err(libc::E2BIG)
    );
    let last = last_error(&f);
    assert_eq!(
        (last.error, last.ioctl_nr),
        (libc::E2BIG as u32, uapi::IOC_NR_GET_INFO)
    );
    let reason = reason_of(&last);
    assert!(reason.contains(&format!("byte {}", size - 7)), "{reason}");
    assert!(reason.contains("knows 136 bytes"), "{reason}");
    let big = uapi::MAX_IOCTL_SIZE + 8;
    let mut buf = vec![0u64; big / 8];
    assert_eq!(
        get_info_sized(&f, buf.as_mut_ptr() as usize, big),
        Err(libc::E2BIG)
    );
    assert!(reason_of(&last_error(&f)).contains("argument size 4104 > 4096"));
}

#[test]
fn enotty_and_a_short_argument_say_why() {
    let f = open_dev();
    let mut info = uapi::Info::zeroed();
    let addr = &mut info as *mut uapi::Info as usize;
    assert_eq!(
        raw_ioctl(
            f.as_raw_fd(),
            uapi::iowr(0x7f, size_of::<uapi::Info>()),
            addr
        ),
        Err(libc::ENOTTY)
    );
    let last = last_error(&f);
    assert_eq!((last.error, last.ioctl_nr), (libc::ENOTTY as u32, 0x7f));
    assert!(reason_of(&last).contains("no ioctl number 0x7f"));
    assert_eq!(get_info_sized(&f, addr, 8), Err(libc::EINVAL));
    assert!(reason_of(&last_error(&f)).contains("argument size 8 < 136"));
}

#[test]
fn the_last_rejection_stays_through_successes_and_is_replaced_by_the_next() {
    let f = open_dev();
    assert_eq!(last_error(&f), uapi::QueryLastError::default(), "none yet");

    let mut info = uapi::Info::zeroed();
    info.flags = 1 << 3;
    assert_eq!(get_info(&f, &mut info), Err(libc::EINVAL));
    let first = last_error(&f);
    assert_eq!(first.rejections, 1);
    assert_eq!(first.error, libc::EINVAL as u32);
    assert_eq!(first.ioctl_nr, uapi::IOC_NR_GET_INFO);
    assert_eq!(reason_of(&first), "flags: unknown bit 3");
    assert_eq!(first.reserved, [0; 2]);

    // Successes (GET_INFO, and the query itself) leave it as it is.
    let mut info = uapi::Info::zeroed();
    assert_eq!(get_info(&f, &mut info), Ok(0));
    assert_eq!(last_error(&f), first);

    // A rejected EVENT_WAIT replaces it.
    let mut events = [uapi::Event::default(); 1];
    let mut wait = uapi::EventWait {
        after_seq: u64::MAX,
        capacity: 1,
        events: events.as_mut_ptr() as u64,
        ..Default::default()
    };
    assert_eq!(
        ioctl_struct(&f, uapi::IOC_NR_EVENT_WAIT, &mut wait),
        Err(libc::EINVAL),
        "after_seq beyond the newest event"
    );
    let second = last_error(&f);
    assert_eq!(second.rejections, 2);
    assert_eq!(second.ioctl_nr, uapi::IOC_NR_EVENT_WAIT);
    assert!(reason_of(&second).contains("beyond the newest event"));

    // A wait that times out rejected nothing: it leaves it too. Earlier suites left events in the
    // module's log: take them one at a time until the wait finds none newer and times out.
    let mut after_seq = 0;
    let mut timed_out = false;
    for _ in 0..100_000 {
        let mut wait = uapi::EventWait {
            after_seq,
            capacity: 1,
            events: events.as_mut_ptr() as u64,
            ..Default::default()
        };
        match ioctl_struct(&f, uapi::IOC_NR_EVENT_WAIT, &mut wait) {
            Ok(_) => after_seq = wait.last_seq,
            Err(e) => {
                assert_eq!(e, libc::ETIMEDOUT, "a wait past the newest event");
                timed_out = true;
                break;
            }
        }
    }
    assert!(timed_out, "the event log never ran dry");
    assert_eq!(last_error(&f), second, "ETIMEDOUT is not a rejection");

    // Another context's rejections are its own.
    let other = open_dev();
    assert_eq!(last_error(&other).rejections, 0);
}

#[test]
fn a_reason_never_holds_a_kernel_address() {
    // A kernel-half pointer as the SUBMIT's primitives: EFAULT, with no reason that could echo it.
    let dev = Context::open().unwrap();
    let q = dev.create_queue(0, Duration::ZERO).unwrap();
    let mut req = uapi::Submit {
        queue_id: q.id(),
        count: 1,
        prims: 0xffff_8000_0000_0000,
        ..Default::default()
    };
    let f = dev.as_fd().try_clone_to_owned().unwrap();
    let f = File::from(f);
    assert_eq!(
        ioctl_struct(&f, uapi::IOC_NR_SUBMIT, &mut req),
        Err(libc::EFAULT)
    );
    let last = last_error(&f);
    assert_eq!(last.error, libc::EFAULT as u32);
    assert!(!reason_of(&last).contains("ffff"), "{}", reason_of(&last));
}
