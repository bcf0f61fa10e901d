//! `EVENT_WAIT` and `QUERY_THERMAL` with no guarded device bound (the suite runs with the
//! photonic NPU unbound): every rejection path with its errno, the timeout, a signal, and an
//! empty thermal table. The events themselves are tested in photonic_driver.rs.

use lightos_runtime::Context;
use lightos_uapi as uapi;
use lightos_vm_tests::dev_ioctl;
use std::time::Duration;

/// A valid request for the events after the newest one, not waiting; `out` receives them.
fn request(dev: &Context, out: &mut [uapi::Event; 4]) -> uapi::EventWait {
    uapi::EventWait {
        after_seq: dev.thermal().unwrap().last_event_seq,
        timeout_ns: 0,
        events: out.as_mut_ptr() as u64,
        capacity: out.len() as u32,
        ..Default::default()
    }
}

/// Issues EVENT_WAIT with `req` after `change`, expecting `errno` and nothing written back.
fn rejected(change: impl FnOnce(&mut uapi::EventWait), errno: i32) {
    let dev = Context::open().unwrap();
    let mut out = [uapi::Event::default(); 4];
    let mut req = request(&dev, &mut out);
    change(&mut req);
    let sent = req;
    assert_eq!(
        dev_ioctl(&dev, uapi::IOC_NR_EVENT_WAIT, &mut req),
        Err(errno)
    );
    assert_eq!(req, sent, "nothing written back on a rejection");
    assert_eq!(out, [uapi::Event::default(); 4], "no event written");
}

#[test]
fn event_wait_with_flags_is_einval() {
    rejected(|r| r.flags = 1, libc::EINVAL);
}

#[test]
fn event_wait_with_pad_is_einval() {
    rejected(|r| r.pad = 1, libc::EINVAL);
}

#[test]
fn event_wait_with_reserved_is_einval() {
    rejected(|r| r.reserved[1] = 1, libc::EINVAL);
}

#[test]
fn event_wait_with_no_room_is_einval() {
    rejected(|r| r.capacity = 0, libc::EINVAL);
}

#[test]
fn event_wait_asking_for_more_than_the_log_is_einval() {
    rejected(|r| r.capacity = uapi::EVENT_LOG_ENTRIES + 1, libc::EINVAL);
}

#[test]
fn event_wait_after_a_future_sequence_number_is_einval() {
    rejected(|r| r.after_seq += 1, libc::EINVAL);
}

#[test]
fn event_wait_past_its_deadline_is_etimedout() {
    rejected(|r| r.timeout_ns = 1, libc::ETIMEDOUT);
    let dev = Context::open().unwrap();
    let after = dev.thermal().unwrap().last_event_seq;
    let batch = dev
        .wait_events(after, Some(Duration::from_millis(100)))
        .unwrap();
    assert!(
        batch.events.is_empty() && batch.last_seq == after,
        "{batch:?}"
    );
}

#[test]
fn event_wait_smaller_than_its_struct_is_einval() {
    let dev = Context::open().unwrap();
    let mut short = [0u64; 4];
    assert_eq!(
        dev_ioctl(&dev, uapi::IOC_NR_EVENT_WAIT, &mut short),
        Err(libc::EINVAL)
    );
}

extern "C" fn ignore_signal(_: libc::c_int) {}

#[test]
fn a_signal_interrupts_event_wait_with_eintr() {
    let dev = Context::open().unwrap();
    let after = dev.thermal().unwrap().last_event_seq;
    // SAFETY: installs a no-op handler for SIGUSR1 without SA_RESTART, then signals this thread
    // from another one after 100 ms; the handler touches nothing.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = ignore_signal as *const () as usize;
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() } as usize;
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY: `me` is the waiting thread, alive until it returns from the wait below.
        unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGUSR1) };
    });
    let err = dev.wait_events(after, None).unwrap_err();
    t.join().unwrap();
    assert_eq!(err.errno(), Some(nix::errno::Errno::EINTR), "{err}");
}

#[test]
fn query_thermal_without_a_guarded_device_is_empty() {
    let dev = Context::open().unwrap();
    let t = dev.thermal().unwrap();
    assert!(
        t.devices.is_empty(),
        "the NPU is unbound in this suite: {:?}",
        t.devices
    );
}
