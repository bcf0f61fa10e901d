//! The fast path (ABI 1.10): a queue's submission and completion rings (`RING_SETUP`, `ENTER`),
//! dependencies between jobs resolved in the kernel, and the null device `null0`. run-suite.sh
//! loads the module with `null_backend=1` for this suite.

use lightos_runtime::{
    deadline_ns, Batch, Context, Dep, Error, JobStatus, Op, Primitive, Queue, Rings,
};
use lightos_uapi as uapi;
use lightos_vm_tests::{dev_ioctl, mutated_add, ExecutorThread};
use nix::errno::Errno;
use std::time::Duration;

/// Two seconds from now, as `ENTER` takes deadlines.
fn soon() -> u64 {
    deadline_ns(Some(Duration::from_secs(2)))
}

/// `null0`'s backend id (the module must be loaded with `null_backend=1`).
fn null0(dev: &Context) -> u32 {
    dev.backends()
        .unwrap()
        .iter()
        .find(|b| b.name == "null0")
        .map(|b| b.id)
        .expect(
            "null0 is not registered: load lightos_core with null_backend=1 (run-suite.sh does)",
        )
}

/// A context whose every primitive goes to null0, a queue and a valid ADD (with its buffers).
fn on_null0() -> (Context, Queue, Primitive, impl Drop) {
    let dev = Context::open().unwrap();
    dev.add_route(None, None, 0..=u64::MAX, null0(&dev))
        .unwrap();
    let (q, p, buffers) = mutated_add(&dev, |_, _| {});
    (dev, q, p, Guard(buffers))
}

/// Keeps what it holds alive until dropped.
struct Guard<T>(T);
impl<T> Drop for Guard<T> {
    fn drop(&mut self) {}
}

/// `p` with `user_data` set.
fn tagged(p: &Primitive, user_data: u64) -> Primitive {
    let mut p = *p;
    p.abi_mut().user_data = user_data;
    p
}

/// Every job of the module has ended.
fn assert_nothing_in_flight(dev: &Context) {
    for _ in 0..200 {
        if dev.stats().unwrap().jobs_in_flight == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!(
        "jobs still in flight: {}",
        dev.stats().unwrap().jobs_in_flight
    );
}

#[test]
fn null0_is_listed_and_never_chosen_by_default() {
    let dev = Context::open().unwrap();
    let null = dev
        .backends()
        .unwrap()
        .into_iter()
        .find(|b| b.name == "null0")
        .unwrap();
    assert_eq!(null.kind, lightos_runtime::BackendKind::Null);
    // No rule names it: an ADD finds no backend (this suite registers no executor).
    let (q, p, _b) = mutated_add(&dev, |_, _| {});
    match q.submit(&[p]) {
        Err(Error::Submit { errno, reason, .. }) => {
            assert_eq!(errno, Errno::ENODEV);
            assert!(reason.unwrap().contains("no backend"));
        }
        other => panic!("expected ENODEV, got {other:?}"),
    }
}

#[test]
fn ring_submits_and_completions_carry_user_data_status_and_seq() {
    let (dev, q, p, _g) = on_null0();
    let mut rings = q.setup_rings(16, 32).unwrap();
    for i in 0..10 {
        assert!(rings.push(&tagged(&p, 1000 + i)));
    }
    let entered = rings.enter(10, 10, soon()).unwrap();
    assert_eq!(entered.submitted, 10);
    assert!(entered.completions >= 10);
    let mut seen = Vec::new();
    while let Some(cqe) = rings.reap() {
        assert_eq!(cqe.status, JobStatus::Ok);
        seen.push((cqe.seq, cqe.user_data));
    }
    seen.sort();
    let want: Vec<_> = (0..10).map(|i| (entered.first_seq + i, 1000 + i)).collect();
    assert_eq!(seen, want);
    assert_eq!(rings.overflow(), 0);
    // SUBMIT on a queue with rings posts completion entries too.
    let s = q.submit(&[tagged(&p, 7)]).unwrap();
    q.wait(s.last_seq, Some(Duration::from_secs(2))).unwrap();
    let cqe = rings.reap().expect("SUBMIT's job posted an entry");
    assert_eq!((cqe.seq, cqe.user_data), (s.last_seq, 7));
    assert_nothing_in_flight(&dev);
}

#[test]
fn job_slots_are_preallocated_at_ring_setup_and_reused() {
    use lightos_vm_tests::stat;
    let (dev, q, p, _g) = on_null0();
    let (slots, allocated) = (stat("job_slots"), stat("job_slots_allocated"));
    let mut rings = q.setup_rings(64, 128).unwrap();
    // One slot per completion entry, allocated by RING_SETUP.
    assert_eq!(stat("job_slots_allocated") - allocated, 128);
    assert_eq!(stat("job_slots") - slots, 128);
    // 4096 jobs in batches of 64 (and 64 through SUBMIT on the same queue): no slot allocated.
    for round in 0..64u64 {
        for i in 0..64 {
            assert!(rings.push(&tagged(&p, round * 64 + i)));
        }
        let entered = rings.enter(64, 64, soon()).unwrap();
        assert_eq!(entered.submitted, 64);
        let mut reaped = 0;
        while let Some(cqe) = rings.reap() {
            assert_eq!(cqe.status, JobStatus::Ok);
            reaped += 1;
        }
        assert_eq!(reaped, 64);
    }
    for _ in 0..64 {
        let s = q.submit(&[p]).unwrap();
        q.wait(s.last_seq, Some(Duration::from_secs(2))).unwrap();
        while rings.reap().is_some() {}
    }
    assert_eq!(
        stat("job_slots_allocated") - allocated,
        128,
        "a job allocated a slot although the queue had free ones"
    );
    // Destroying the queue frees its slots.
    drop(rings);
    drop(q);
    assert_nothing_in_flight(&dev);
    assert_eq!(stat("job_slots"), slots);
}

#[test]
fn a_warm_enter_allocates_nothing() {
    let (dev, q, p, _g) = on_null0();
    let mut rings = q.setup_rings(64, 128).unwrap();
    let round = |rings: &mut Rings, armed: bool| {
        for i in 0..64 {
            assert!(rings.push(&tagged(&p, i)));
        }
        let deadline = soon();
        let (entered, allocated) = if armed {
            match lightos_vm_tests::first_allocation_fails(|| rings.enter(64, 64, deadline)) {
                Ok(r) => r,
                Err(why) => {
                    eprintln!("skipped: {why}");
                    return false;
                }
            }
        } else {
            (rings.enter(64, 64, deadline), false)
        };
        let entered = entered.expect("ENTER (an allocation it made failed?)");
        assert_eq!(entered.submitted, 64);
        assert!(!allocated, "a warm ENTER of 64 entries to null0 allocated");
        let mut reaped = 0;
        while let Some(cqe) = rings.reap() {
            assert_eq!(cqe.status, JobStatus::Ok);
            reaped += 1;
        }
        assert_eq!(reaped, 64);
        true
    };
    // The first ENTER grows the call's working storage; from the second on nothing is allocated
    // (fail-nth: the first allocation the thread makes would fail, and none is reached).
    round(&mut rings, false);
    if !round(&mut rings, true) {
        return;
    }
    round(&mut rings, true);
    // The check can fail: an ENTER on a fresh queue's rings allocates its working storage, and
    // with the injection armed that allocation fails (ENOMEM leaves the entries in the ring).
    let q2 = dev.create_queue(0, Duration::ZERO).unwrap();
    let mut rings2 = q2.setup_rings(64, 128).unwrap();
    for i in 0..64 {
        assert!(rings2.push(&tagged(&p, i)));
    }
    let deadline = soon();
    let (entered, allocated) =
        lightos_vm_tests::first_allocation_fails(|| rings2.enter(64, 64, deadline)).unwrap();
    assert!(
        allocated,
        "a cold ENTER reached no allocation: the check cannot see one"
    );
    let errno = match entered {
        Err(Error::Ioctl { errno, .. } | Error::Submit { errno, .. }) => errno,
        other => panic!("expected ENOMEM, got {other:?}"),
    };
    assert_eq!(errno, Errno::ENOMEM);
    assert_eq!(
        rings2.enter(64, 64, soon()).unwrap().submitted,
        64,
        "the entries stayed for a retry"
    );
    while rings2.reap().is_some() {}
    assert_nothing_in_flight(&dev);
}

#[test]
fn a_queue_without_rings_allocates_slots_only_while_it_grows() {
    use lightos_vm_tests::stat;
    let (dev, q, p, _g) = on_null0();
    let (slots, allocated) = (stat("job_slots"), stat("job_slots_allocated"));
    // The first batch of 32 allocates its slots; the next ones (never more in flight) reuse them.
    for _ in 0..50 {
        let s = q.submit(&[p; 32]).unwrap();
        q.wait(s.last_seq, Some(Duration::from_secs(2))).unwrap();
    }
    assert_eq!(stat("job_slots_allocated") - allocated, 32);
    assert_eq!(stat("job_slots") - slots, 32);
    drop(q);
    assert_nothing_in_flight(&dev);
    assert_eq!(stat("job_slots"), slots);
}

#[test]
fn events_from_completion_entries_poll_wait_and_chain() {
    let (dev, q, p, _g) = on_null0();
    let mut rings = q.setup_rings(8, 8).unwrap();
    let mut batch = Batch::new();
    let first = batch.push(tagged(&p, 1));
    let second = batch
        .push_after(tagged(&p, 2), &[Dep::Earlier(first)])
        .unwrap();
    batch
        .push_after(tagged(&p, 3), &[Dep::Earlier(second)])
        .unwrap();
    let events = rings.submit(&mut batch).unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[1].seq(), events[0].seq() + 1);
    // The last one first: the others' entries are read on the way and kept.
    let last = rings.wait(&events[2], soon()).unwrap();
    assert_eq!(
        (last.seq, last.user_data, last.status),
        (events[2].seq(), 3, JobStatus::Ok)
    );
    let before = dev.context_stats().unwrap().ioctls;
    let one = rings
        .poll(&events[0])
        .expect("kept while waiting for the last");
    assert_eq!((one.user_data, one.status), (1, JobStatus::Ok));
    assert_eq!(
        dev.context_stats().unwrap().ioctls - before,
        1,
        "poll made a system call"
    );
    assert_eq!(
        rings.reap().map(|c| c.user_data),
        Some(2),
        "reap hands out what poll kept"
    );
    assert!(
        rings.poll(&events[0]).is_none(),
        "an event's entry is handed out once"
    );
    // An event as a later job's dependency.
    let mut next = Batch::new();
    next.push_after(tagged(&p, 4), &[events[2].dep()]).unwrap();
    let after = rings.submit(&mut next).unwrap();
    assert_eq!(rings.wait(&after[0], soon()).unwrap().status, JobStatus::Ok);
    assert_nothing_in_flight(&dev);
}

#[test]
fn waiting_on_an_event_whose_entry_overflowed_asks_the_timeline() {
    let (dev, q, p, _g) = on_null0();
    let mut rings = q.setup_rings(1, 1).unwrap();
    let mut one = Batch::new();
    one.push(tagged(&p, 1));
    let a = rings.submit(&mut one).unwrap()[0];
    assert_eq!(rings.wait(&a, soon()).unwrap().user_data, 1);
    // Two more while the one-entry ring is not reaped (null0 completes them within ENTER): the
    // second's entry overflows.
    let b = rings.submit(&mut one).unwrap()[0];
    let c = rings.submit(&mut one).unwrap()[0];
    assert_eq!(rings.overflow(), 1);
    let lost = rings.wait(&c, soon()).unwrap();
    assert_eq!(
        (lost.seq, lost.status, lost.user_data),
        (c.seq(), JobStatus::Ok, 0)
    );
    assert_eq!(
        rings.wait(&b, soon()).unwrap().user_data,
        1,
        "b's entry was in the ring"
    );
    assert_nothing_in_flight(&dev);
}

#[test]
fn a_polling_client_learns_of_completion_without_a_system_call() {
    let (dev, q, p, _g) = on_null0();
    let mut rings = q.setup_rings(8, 8).unwrap();
    assert!(rings.push(&tagged(&p, 42)));
    let before = dev.context_stats().unwrap().ioctls;
    rings.enter(1, 0, 0).unwrap();
    // Only polling from here: the context's ioctl count must not move.
    let mut spins = 0u64;
    let cqe = loop {
        if let Some(c) = rings.reap() {
            break c;
        }
        spins += 1;
        assert!(spins < 1 << 32, "no completion entry");
        std::hint::spin_loop();
    };
    assert_eq!(cqe.user_data, 42);
    // The ENTER itself, and the stats query above: two.
    let after = dev.context_stats().unwrap().ioctls;
    assert_eq!(after - before, 2, "polling the ring made a system call");
}

#[test]
fn a_full_completion_ring_counts_overflows_and_loses_no_status() {
    let (dev, q, p, _g) = on_null0();
    let mut rings = q.setup_rings(4, 4).unwrap();
    let mut last = 0;
    for round in 0..3 {
        for i in 0..4 {
            assert!(rings.push(&tagged(&p, round * 10 + i)));
        }
        last = rings.enter(4, 0, 0).unwrap().first_seq + 3;
    }
    // 12 completions into a 4-entry ring nobody reaps: 8 overflowed, counted.
    assert_eq!(rings.ready(), 4);
    assert_eq!(rings.overflow(), 8);
    // Their statuses are still in the timeline.
    let done = q.wait(last, Some(Duration::from_secs(2))).unwrap();
    assert_eq!(done.status, JobStatus::Ok);
    assert_eq!(q.status(last), JobStatus::Ok);
    // The first four are the ones kept.
    let kept: Vec<u64> = std::iter::from_fn(|| rings.reap())
        .map(|c| c.user_data)
        .collect();
    assert_eq!(kept, vec![0, 1, 2, 3]);
    assert_nothing_in_flight(&dev);
}

/// The header word at `offset` of a ring mapping.
fn header_word(rings: &Rings, offset: usize) -> &std::sync::atomic::AtomicU32 {
    let (base, _) = rings.mapping();
    // SAFETY: a 4-aligned header field of the live mapping.
    unsafe { &*(base.add(offset) as *const std::sync::atomic::AtomicU32) }
}

#[test]
fn garbage_ring_indices_are_refused_or_clamped() {
    let (dev, q, p, _g) = on_null0();
    let rings = q.setup_rings(8, 8).unwrap();
    let sq_tail = header_word(&rings, std::mem::offset_of!(uapi::RingHeader, sq_tail));
    // A tail more than a ring ahead of the kernel's head: refused, nothing read.
    sq_tail.store(1000, std::sync::atomic::Ordering::Release);
    let err = rings.enter(1, 0, 0).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::EINVAL));
    assert!(
        err.reason()
            .unwrap()
            .contains("more than the ring's entries ahead"),
        "{err}"
    );
    // More entries asked for than the tail publishes.
    sq_tail.store(2, std::sync::atomic::Ordering::Release);
    let err = rings.enter(3, 0, 0).unwrap_err();
    assert!(err.reason().unwrap().contains("holds 2"), "{err}");
    // The kernel's own sq_head did not move: the two published (zeroed) entries are invalid
    // primitives, rejected whole and consumed.
    let err = rings.enter(2, 0, 0).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Submit {
                index: 0,
                errno: Errno::EINVAL,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(rings.rejected(), 2);
    // A queue gets rings once.
    assert_eq!(
        q.setup_rings(8, 8).unwrap_err().errno(),
        Some(Errno::EEXIST)
    );
    // The queue still runs jobs through SUBMIT.
    let s = q.submit(&[p]).unwrap();
    assert_eq!(
        q.wait(s.last_seq, Some(Duration::from_secs(2)))
            .unwrap()
            .status,
        JobStatus::Ok
    );
    assert_nothing_in_flight(&dev);
}

#[test]
fn completion_overflow_is_counted_when_cq_head_is_garbage() {
    let (dev, q, p, _g) = on_null0();
    let mut rings = q.setup_rings(4, 4).unwrap();
    let cq_head = header_word(&rings, std::mem::offset_of!(uapi::RingHeader, cq_head));
    cq_head.store(0x8000_0000, std::sync::atomic::Ordering::Release);
    assert!(rings.push(&p));
    rings.enter(1, 0, 0).unwrap();
    assert_eq!(rings.overflow(), 1);
    assert_nothing_in_flight(&dev);
}

#[test]
fn enter_waits_for_an_executor_and_reports_device_time() {
    let exec = ExecutorThread::cpu("ring0");
    let dev = Context::open().unwrap();
    dev.add_route(None, None, 0..=u64::MAX, exec.backend_id)
        .unwrap();
    let (q, p, [b, _ro]) = mutated_add(&dev, |_, _| {});
    {
        let mut m = b.map().unwrap();
        lightos_vm_tests::put_f32(&mut m[..16], &[1.0, 2.0, 3.0, 4.0]);
        lightos_vm_tests::put_f32(&mut m[16..32], &[10.0, 20.0, 30.0, 40.0]);
    }
    let mut rings = q.setup_rings(4, 4).unwrap();
    assert!(rings.push(&tagged(&p, 5)));
    let entered = rings.enter(1, 1, soon()).unwrap();
    assert_eq!(entered.completions, 1);
    let cqe = rings.reap().unwrap();
    assert_eq!((cqe.status, cqe.user_data), (JobStatus::Ok, 5));
    assert!(
        cqe.device_ns > 0,
        "an executed job reports its time on the device"
    );
    let m = b.map().unwrap();
    assert_eq!(
        lightos_vm_tests::get_f32(&m[32..], 4),
        vec![11.0, 22.0, 33.0, 44.0]
    );
    assert_nothing_in_flight(&dev);
}

#[test]
fn enter_wait_times_out() {
    let (_dev, q, _p, _g) = on_null0();
    let rings = q.setup_rings(4, 4).unwrap();
    let err = rings
        .enter(0, 1, deadline_ns(Some(Duration::from_millis(20))))
        .unwrap_err();
    assert_eq!(err.errno(), Some(Errno::ETIMEDOUT));
}

/// Issues ENTER with `req` on `dev` and returns its errno.
fn enter_errno(dev: &Context, mut req: uapi::Enter) -> i32 {
    dev_ioctl(dev, uapi::IOC_NR_ENTER, &mut req).unwrap_err()
}

/// Issues RING_SETUP with `req` on `dev` and returns its errno.
fn setup_errno(dev: &Context, mut req: uapi::RingSetup) -> i32 {
    dev_ioctl(dev, uapi::IOC_NR_RING_SETUP, &mut req).unwrap_err()
}

#[test]
fn ring_setup_rejections() {
    let dev = Context::open().unwrap();
    let q = dev.create_queue(0, Duration::ZERO).unwrap();
    let ok = uapi::RingSetup {
        queue_id: q.id(),
        sq_entries: 4,
        cq_entries: 8,
        ..Default::default()
    };
    let einval = Errno::EINVAL as i32;
    assert_eq!(
        setup_errno(&dev, uapi::RingSetup { flags: 1, ..ok }),
        einval
    );
    assert_eq!(
        setup_errno(
            &dev,
            uapi::RingSetup {
                reserved: [0, 1],
                ..ok
            }
        ),
        einval
    );
    assert_eq!(
        setup_errno(
            &dev,
            uapi::RingSetup {
                mmap_offset: 1,
                ..ok
            }
        ),
        einval
    );
    assert_eq!(
        setup_errno(
            &dev,
            uapi::RingSetup {
                sq_entries: 3,
                ..ok
            }
        ),
        einval
    );
    assert_eq!(
        setup_errno(
            &dev,
            uapi::RingSetup {
                sq_entries: 0,
                ..ok
            }
        ),
        einval
    );
    assert_eq!(
        setup_errno(
            &dev,
            uapi::RingSetup {
                cq_entries: 2,
                ..ok
            }
        ),
        einval
    );
    assert_eq!(
        setup_errno(
            &dev,
            uapi::RingSetup {
                sq_entries: 2 * uapi::RING_MAX_SQ_ENTRIES,
                cq_entries: 4096,
                ..ok
            }
        ),
        einval
    );
    assert_eq!(
        setup_errno(
            &dev,
            uapi::RingSetup {
                cq_entries: 2 * uapi::RING_MAX_CQ_ENTRIES,
                ..ok
            }
        ),
        einval
    );
    assert_eq!(
        setup_errno(
            &dev,
            uapi::RingSetup {
                queue_id: 999,
                ..ok
            }
        ),
        Errno::ENOENT as i32
    );
    let _rings = q.setup_rings(4, 8).unwrap();
    assert_eq!(setup_errno(&dev, ok), Errno::EEXIST as i32);
}

#[test]
fn enter_rejections() {
    let dev = Context::open().unwrap();
    let bare = dev.create_queue(0, Duration::ZERO).unwrap();
    let q = dev.create_queue(0, Duration::ZERO).unwrap();
    let _rings = q.setup_rings(4, 8).unwrap();
    let ok = uapi::Enter {
        queue_id: q.id(),
        ..Default::default()
    };
    let einval = Errno::EINVAL as i32;
    assert_eq!(
        enter_errno(
            &dev,
            uapi::Enter {
                queue_id: bare.id(),
                ..ok
            }
        ),
        einval
    );
    assert_eq!(
        enter_errno(
            &dev,
            uapi::Enter {
                queue_id: 999,
                ..ok
            }
        ),
        Errno::ENOENT as i32
    );
    assert_eq!(
        enter_errno(
            &dev,
            uapi::Enter {
                flags: 1 << 5,
                ..ok
            }
        ),
        einval
    );
    assert_eq!(enter_errno(&dev, uapi::Enter { pad: 1, ..ok }), einval);
    assert_eq!(
        enter_errno(
            &dev,
            uapi::Enter {
                reserved: [1, 0],
                ..ok
            }
        ),
        einval
    );
    assert_eq!(
        enter_errno(&dev, uapi::Enter { submitted: 1, ..ok }),
        einval
    );
    assert_eq!(
        enter_errno(&dev, uapi::Enter { first_seq: 1, ..ok }),
        einval
    );
    assert_eq!(
        enter_errno(
            &dev,
            uapi::Enter {
                min_complete: 1,
                ..ok
            }
        ),
        einval
    );
    let wait = uapi::Enter {
        flags: uapi::ENTER_GETEVENTS,
        ..ok
    };
    assert_eq!(
        enter_errno(
            &dev,
            uapi::Enter {
                min_complete: 0,
                ..wait
            }
        ),
        einval
    );
    assert_eq!(
        enter_errno(
            &dev,
            uapi::Enter {
                min_complete: 9,
                ..wait
            }
        ),
        einval
    );
    assert_eq!(
        enter_errno(
            &dev,
            uapi::Enter {
                to_submit: uapi::MAX_SUBMIT + 1,
                ..ok
            }
        ),
        einval
    );
    assert_eq!(
        enter_errno(&dev, uapi::Enter { to_submit: 1, ..ok }),
        einval,
        "an empty ring"
    );
}

#[test]
fn ring_mapping_rules() {
    use lightos_vm_tests::{map, unmap};
    let dev = Context::open().unwrap();
    let q = dev.create_queue(0, Duration::ZERO).unwrap();
    let rings = q.setup_rings(4, 8).unwrap();
    let (_, len) = rings.mapping();
    // A duplicate of the context's descriptor: the same open file, so the same context.
    let file = std::fs::File::from(std::os::fd::AsFd::as_fd(&dev).try_clone_to_owned().unwrap());
    let cookie = (u64::from(q.id()) << uapi::MMAP_HANDLE_SHIFT) | uapi::MMAP_RINGS;
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    let try_map = |len: usize, prot: i32, flags: i32, cookie: u64| {
        map(&file, len, prot, flags, cookie).map(|p| unmap(p, len))
    };
    assert_eq!(try_map(len, rw, libc::MAP_SHARED, cookie), Ok(()));
    assert_eq!(
        try_map(len - 4096, rw, libc::MAP_SHARED, cookie),
        Err(libc::EINVAL)
    );
    assert_eq!(
        try_map(len, rw, libc::MAP_PRIVATE, cookie),
        Err(libc::EINVAL),
        "private"
    );
    assert_eq!(
        try_map(len, rw | libc::PROT_EXEC, libc::MAP_SHARED, cookie),
        Err(libc::EACCES),
        "exec"
    );
    // A queue without rings has nothing to map.
    let bare = dev.create_queue(0, Duration::ZERO).unwrap();
    let bare_cookie = (u64::from(bare.id()) << uapi::MMAP_HANDLE_SHIFT) | uapi::MMAP_RINGS;
    assert_eq!(
        try_map(4096, rw, libc::MAP_SHARED, bare_cookie),
        Err(libc::EINVAL)
    );
}

// ---------------------------------------------------------------------------------------------
// Dependencies.
// ---------------------------------------------------------------------------------------------

/// An executor registered on its own context that serves nothing until the test fetches.
fn manual_executor(name: &str) -> (Context, lightos_runtime::Executor) {
    let ctx = Context::open().unwrap();
    let exec = ctx.register_executor(&lightosd::core_spec(name)).unwrap();
    (ctx, exec)
}

/// A client whose ADDs go to a manual executor `name` (served by the test) and everything else
/// to null0, with a queue, a valid ADD, the same as a MUL, and their buffers.
struct Split {
    ectx: Context,
    exec: lightos_runtime::Executor,
    dev: Context,
    q: Queue,
    add: Primitive,
    mul: Primitive,
    bufs: [lightos_runtime::Buffer; 2],
}

fn split(name: &str) -> Split {
    let (ectx, exec) = manual_executor(name);
    let dev = Context::open().unwrap();
    dev.add_route(Some(Op::Add), None, 0..=u64::MAX, exec.backend_id())
        .unwrap();
    dev.add_route(None, None, 0..=u64::MAX, null0(&dev))
        .unwrap();
    let (q, add, bufs) = mutated_add(&dev, |_, _| {});
    let mut mul = add;
    mul.abi_mut().op = uapi::OP_MUL;
    Split {
        ectx,
        exec,
        dev,
        q,
        add,
        mul,
        bufs,
    }
}

#[test]
fn a_dependent_job_starts_only_after_its_dependency_ended_ok() {
    // ADDs to the manual executor, MULs to null0.
    let Split {
        ectx: _ectx,
        exec,
        dev,
        q,
        add,
        mul,
        bufs: _b,
    } = split("dep0");
    let mut batch = Batch::new();
    let a = batch.push(add);
    batch.push_after(mul, &[Dep::Earlier(a)]).unwrap();
    let s = q.submit_batch(&mut batch).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    // null0 would have completed the MUL at once: it waits for the ADD.
    assert_eq!(q.status(s.last_seq), JobStatus::Pending);
    let job = exec
        .fetch(Some(Duration::from_secs(2)))
        .unwrap()
        .expect("the ADD");
    assert_eq!(job.prim.abi().op, uapi::OP_ADD);
    assert_eq!(
        (job.prim.abi().deps, job.prim.abi().n_deps),
        (0, 0),
        "no dependency list leaks to executors"
    );
    exec.complete(job.job_id, JobStatus::Ok).unwrap();
    let done = q.wait(s.last_seq, Some(Duration::from_secs(2))).unwrap();
    assert_eq!(done.status, JobStatus::Ok);
    assert_nothing_in_flight(&dev);
}

#[test]
fn a_failed_dependency_fails_the_chain_without_running_it() {
    let Split {
        ectx,
        exec,
        dev,
        q,
        add,
        mul,
        bufs: _b,
    } = split("dep1");
    let null_before = dev
        .backends()
        .unwrap()
        .into_iter()
        .find(|b| b.name == "null0")
        .unwrap()
        .stats;
    let mut batch = Batch::new();
    let a = batch.push(add);
    let mut prev = a;
    for _ in 0..20 {
        prev = batch.push_after(mul, &[Dep::Earlier(prev)]).unwrap();
    }
    let s = q.submit_batch(&mut batch).unwrap();
    // The executor fails the ADD.
    let job = exec.fetch(Some(Duration::from_secs(2))).unwrap().unwrap();
    exec.complete(job.job_id, JobStatus::Invalid).unwrap();
    q.wait(s.last_seq, Some(Duration::from_secs(2))).unwrap();
    assert_eq!(q.status(s.first_seq), JobStatus::Invalid);
    for seq in s.first_seq + 1..=s.last_seq {
        assert_eq!(q.status(seq), JobStatus::DependencyFailed, "seq {seq}");
    }
    // None of the MULs ran on null0: its completed-OK count did not move.
    let null_after = dev
        .backends()
        .unwrap()
        .into_iter()
        .find(|b| b.name == "null0")
        .unwrap()
        .stats;
    assert_eq!(
        null_after.count - null_after.errors,
        null_before.count - null_before.errors
    );
    // A dependency on a job that already failed fails at once.
    let mut later = Batch::new();
    later
        .push_after(
            mul,
            &[Dep::Job {
                queue: q.id(),
                seq: s.first_seq,
            }],
        )
        .unwrap();
    let s2 = q.submit_batch(&mut later).unwrap();
    assert_eq!(
        q.wait(s2.last_seq, Some(Duration::from_secs(2)))
            .unwrap()
            .status,
        JobStatus::DependencyFailed
    );
    // ... and on one that ended OK runs.
    let mut ok = Batch::new();
    ok.push(mul);
    let s3 = q.submit_batch(&mut ok).unwrap();
    q.wait(s3.last_seq, Some(Duration::from_secs(2))).unwrap();
    let mut after_ok = Batch::new();
    after_ok
        .push_after(
            mul,
            &[Dep::Job {
                queue: q.id(),
                seq: s3.last_seq,
            }],
        )
        .unwrap();
    let s4 = q.submit_batch(&mut after_ok).unwrap();
    assert_eq!(
        q.wait(s4.last_seq, Some(Duration::from_secs(2)))
            .unwrap()
            .status,
        JobStatus::Ok
    );
    drop(exec);
    drop(ectx);
    assert_nothing_in_flight(&dev);
}

#[test]
fn an_executor_that_dies_fails_its_dependents_across_queues() {
    let Split {
        ectx,
        exec,
        dev,
        q: q1,
        add,
        mul,
        bufs: _b,
    } = split("dep2");
    let q2 = dev.create_queue(0, Duration::ZERO).unwrap();
    let s1 = q1.submit(&[add]).unwrap();
    let mut batch = Batch::new();
    batch
        .push_after(
            mul,
            &[Dep::Job {
                queue: q1.id(),
                seq: s1.last_seq,
            }],
        )
        .unwrap();
    let s2 = q2.submit_batch(&mut batch).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(q2.status(s2.last_seq), JobStatus::Pending);
    drop(exec);
    drop(ectx); // the executor's file closes: its job ends DEVICE_LOST
    assert_eq!(
        q1.wait(s1.last_seq, Some(Duration::from_secs(2)))
            .unwrap()
            .status,
        JobStatus::DeviceLost
    );
    assert_eq!(
        q2.wait(s2.last_seq, Some(Duration::from_secs(2)))
            .unwrap()
            .status,
        JobStatus::DependencyFailed
    );
    assert_nothing_in_flight(&dev);
}

#[test]
fn destroying_a_queue_fails_dependents_on_other_queues() {
    let Split {
        ectx: _ectx,
        exec,
        dev,
        q: q1,
        add,
        mul,
        bufs: _b,
    } = split("dep3");
    let q2 = dev.create_queue(0, Duration::ZERO).unwrap();
    let s1 = q1.submit(&[add]).unwrap();
    let mut batch = Batch::new();
    batch
        .push_after(
            mul,
            &[Dep::Job {
                queue: q1.id(),
                seq: s1.last_seq,
            }],
        )
        .unwrap();
    let s2 = q2.submit_batch(&mut batch).unwrap();
    drop(q1); // aborts the ADD
    assert_eq!(
        q2.wait(s2.last_seq, Some(Duration::from_secs(2)))
            .unwrap()
            .status,
        JobStatus::DependencyFailed
    );
    // The aborted ADD is still queued on the executor: fetching skips it.
    assert!(exec.fetch(Some(Duration::ZERO)).unwrap().is_none());
    assert_nothing_in_flight(&dev);
}

#[test]
fn a_chain_of_256_on_null0_runs_in_one_submit() {
    let (dev, q, p, _g) = on_null0();
    let mut batch = Batch::new();
    let mut prev = batch.push(p);
    for _ in 1..uapi::MAX_SUBMIT {
        prev = batch.push_after(p, &[Dep::Earlier(prev)]).unwrap();
    }
    let s = q.submit_batch(&mut batch).unwrap();
    let done = q.wait(s.last_seq, Some(Duration::from_secs(5))).unwrap();
    assert_eq!(done.status, JobStatus::Ok);
    assert_eq!(done.completed_seq, s.last_seq);
    // A fan-in: one job waiting for 16 earlier ones, through the rings.
    let mut rings = q.setup_rings(32, 64).unwrap();
    let mut fan = Batch::new();
    let firsts: Vec<Dep> = (0..16).map(|_| Dep::Earlier(fan.push(p))).collect();
    fan.push_after(tagged(&p, 99), &firsts).unwrap();
    let entered = rings.submit_batch(&mut fan, 17, soon()).unwrap();
    assert_eq!(entered.submitted, 17);
    let last = std::iter::from_fn(|| rings.reap()).last().unwrap();
    assert_eq!((last.user_data, last.status), (99, JobStatus::Ok));
    assert_nothing_in_flight(&dev);
}

/// Submits `p` with the raw dependency list `deps` on `q` and returns the rejection's errno and
/// reason.
fn dep_rejection(
    q: &Queue,
    p: &Primitive,
    deps: &[uapi::Dependency],
    index_in_batch: usize,
) -> (Errno, String) {
    let mut prims = vec![*p; index_in_batch + 1];
    let last = prims.last_mut().unwrap();
    last.abi_mut().deps = deps.as_ptr() as u64;
    last.abi_mut().n_deps = deps.len() as u32;
    match q.submit(&prims) {
        Err(Error::Submit {
            index,
            errno,
            reason,
        }) => {
            assert_eq!(index as usize, index_in_batch);
            (errno, reason.unwrap_or_default())
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn dependency_rejections() {
    let (dev, q, p, _g) = on_null0();
    let s = q.submit(&[p]).unwrap();
    q.wait(s.last_seq, Some(Duration::from_secs(2))).unwrap();
    let rel = |seq| uapi::Dependency {
        queue_id: 0,
        flags: uapi::DEP_RELATIVE,
        seq,
    };
    let abs = |queue_id, seq| uapi::Dependency {
        queue_id,
        flags: 0,
        seq,
    };
    let in_flight = dev.stats().unwrap().jobs_in_flight;
    // On itself, and on a later primitive: a cycle.
    let (e, r) = dep_rejection(&q, &p, &[rel(0)], 1);
    assert_eq!(e, Errno::EINVAL);
    assert!(r.contains("cycle"), "{r}");
    let (e, r) = dep_rejection(&q, &p, &[rel(3)], 1);
    assert_eq!(e, Errno::EINVAL);
    assert!(r.contains("before the call"), "{r}");
    // A future job of the queue.
    let (e, r) = dep_rejection(&q, &p, &[abs(q.id(), s.last_seq + 10)], 0);
    assert_eq!(e, Errno::EINVAL);
    assert!(r.contains("not submitted"), "{r}");
    // Sequence number 0, an unknown queue, unknown flags, a queue id with DEP_RELATIVE.
    assert_eq!(dep_rejection(&q, &p, &[abs(q.id(), 0)], 0).0, Errno::EINVAL);
    assert_eq!(dep_rejection(&q, &p, &[abs(999, 1)], 0).0, Errno::ENOENT);
    assert_eq!(
        dep_rejection(
            &q,
            &p,
            &[uapi::Dependency {
                flags: 1 << 4,
                ..abs(q.id(), 1)
            }],
            0
        )
        .0,
        Errno::EINVAL
    );
    assert_eq!(
        dep_rejection(
            &q,
            &p,
            &[uapi::Dependency {
                queue_id: q.id(),
                ..rel(1)
            }],
            1
        )
        .0,
        Errno::EINVAL
    );
    // A job of another context's queue is unknown here.
    let other = Context::open().unwrap();
    let oq = other.create_queue(0, Duration::ZERO).unwrap();
    let (e, r) = dep_rejection(&q, &p, &[abs(oq.id() + 100, 1)], 0);
    assert_eq!(e, Errno::ENOENT, "{r}");
    // A job too old for its status to be known (the completion ring keeps the last 128).
    let batch: Vec<Primitive> = vec![p; 200];
    let s2 = q.submit(&batch).unwrap();
    q.wait(s2.last_seq, Some(Duration::from_secs(2))).unwrap();
    let (e, r) = dep_rejection(&q, &p, &[abs(q.id(), s.last_seq)], 0);
    assert_eq!(e, Errno::EINVAL);
    assert!(r.contains("too long ago"), "{r}");
    // Nothing was admitted by any of them.
    assert_eq!(dev.stats().unwrap().jobs_in_flight, in_flight);
    // The runtime refuses a cycle before the kernel sees it.
    let mut batch = Batch::new();
    assert!(batch.push_after(p, &[Dep::Earlier(0)]).is_err());
    assert!(batch.push_after(p, &[Dep::Earlier(0); 17]).is_err());
}

#[test]
fn ring_submission_with_a_bad_dependency_is_rejected_and_consumed() {
    let (dev, q, p, _g) = on_null0();
    let mut rings = q.setup_rings(8, 8).unwrap();
    let deps = [uapi::Dependency {
        queue_id: 0,
        flags: uapi::DEP_RELATIVE,
        seq: 5,
    }];
    let mut bad = p;
    bad.abi_mut().deps = deps.as_ptr() as u64;
    bad.abi_mut().n_deps = 1;
    assert!(rings.push(&p));
    assert!(rings.push(&bad));
    match rings.enter(2, 0, 0) {
        Err(Error::Submit {
            index: 1,
            errno: Errno::EINVAL,
            ..
        }) => {}
        other => panic!("expected entry 1 rejected, got {other:?}"),
    }
    assert_eq!(rings.rejected(), 2);
    assert_eq!(rings.ready(), 0, "nothing of a rejected batch ran");
    // The ring goes on.
    assert!(rings.push(&p));
    rings.enter(1, 1, soon()).unwrap();
    assert_eq!(rings.reap().unwrap().status, JobStatus::Ok);
    assert_nothing_in_flight(&dev);
}

#[test]
fn no_leak_after_rings_and_dependencies() {
    if !lightos_vm_tests::kmemleak_clear() {
        eprintln!("kmemleak unavailable: skipped");
        return;
    }
    {
        let (dev, q, p, _g) = on_null0();
        let mut rings = q.setup_rings(64, 128).unwrap();
        let mut batch = Batch::new();
        let mut prev = batch.push(p);
        for _ in 0..40 {
            prev = batch.push_after(p, &[Dep::Earlier(prev)]).unwrap();
        }
        rings.submit_batch(&mut batch, 41, soon()).unwrap();
        while rings.reap().is_some() {}
        drop(dev);
    }
    std::thread::sleep(Duration::from_secs(6));
    let reports = lightos_vm_tests::kmemleak_reports();
    assert!(reports.is_empty(), "kmemleak: {reports:#?}");
}
