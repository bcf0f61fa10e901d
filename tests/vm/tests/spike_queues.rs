//! Spike-event queues (ABI 1.5): the mapped ring between a producer and a consumer in one process
//! and across threads, the blocking wait and its wake-up, overflow, garbage indices, and every
//! rejection path of the four ioctls and of mmap.

use lightos_runtime::{spike::SpikeEvent, Context};
use lightos_uapi as uapi;
use lightos_vm_tests::{dev_ioctl, map, process::fork_child};
use std::{
    os::{fd::AsFd, unix::fs::OpenOptionsExt},
    time::Duration,
};

fn ev(i: u32) -> SpikeEvent {
    SpikeEvent {
        timestamp_ns: u64::from(i) * 1000,
        neuron: i,
        value: if i.is_multiple_of(2) { 1 } else { -1 },
        channel: 7,
    }
}

fn create(dev: &Context, entries: u32) -> Result<uapi::SpikeQueueCreate, i32> {
    let mut req = uapi::SpikeQueueCreate {
        entries,
        ..Default::default()
    };
    dev_ioctl(dev, uapi::IOC_NR_SPIKE_QUEUE_CREATE, &mut req).map(|_| req)
}

#[test]
fn events_pass_through_the_ring_in_order_and_batches() {
    let dev = Context::open().unwrap();
    let q = dev.create_spike_queue(64).unwrap();
    assert_eq!((q.entries(), q.len(), q.overflow()), (64, 0, 0));
    let mut out = Vec::new();
    let mut next = 0;
    for batch in [1usize, 5, 64, 17, 63] {
        let events: Vec<_> = (next..next + batch as u32).map(ev).collect();
        assert_eq!(q.push(&events).unwrap(), batch);
        assert_eq!(q.len() as usize, batch);
        out.clear();
        assert_eq!(q.pop(&mut out, usize::MAX), batch);
        assert_eq!(out, events, "batch of {batch} after {next} (indices wrap)");
        next += batch as u32;
    }
    assert!(q.is_empty());
}

#[test]
fn a_full_ring_drops_and_counts_without_blocking() {
    let dev = Context::open().unwrap();
    let q = dev.create_spike_queue(8).unwrap();
    let events: Vec<_> = (0..20).map(ev).collect();
    assert_eq!(q.push(&events).unwrap(), 8);
    assert_eq!(q.overflow(), 12);
    let mut out = Vec::new();
    assert_eq!(q.pop(&mut out, 3), 3);
    assert_eq!(q.push(&events[8..]).unwrap(), 3, "room for what was popped");
    assert_eq!(q.overflow(), 12 + 9);
}

#[test]
fn wait_returns_at_once_when_enough_and_times_out_otherwise() {
    let dev = Context::open().unwrap();
    let q = dev.create_spike_queue(16).unwrap();
    assert_eq!(
        q.wait(1, Some(Duration::from_millis(50))).unwrap(),
        0,
        "timed out empty"
    );
    q.push(&[ev(1), ev(2)]).unwrap();
    assert_eq!(q.wait(2, Some(Duration::ZERO)).unwrap(), 2);
    assert_eq!(q.wait(3, Some(Duration::from_millis(20))).unwrap(), 0);
}

#[test]
fn a_producer_thread_wakes_a_sleeping_consumer() {
    let dev = Context::open().unwrap();
    let q = std::sync::Arc::new(dev.create_spike_queue(256).unwrap());
    let producer = {
        let q = q.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            for i in 0..10 {
                q.push(&[ev(i)]).unwrap();
            }
        })
    };
    let available = q.wait(10, Some(Duration::from_secs(30))).unwrap();
    producer.join().unwrap();
    assert!(available >= 10, "woken with {available}");
    let mut out = Vec::new();
    q.pop(&mut out, usize::MAX);
    assert_eq!(out, (0..10).map(ev).collect::<Vec<_>>());
}

#[test]
fn garbage_indices_are_clamped_to_the_ring() {
    let dev = Context::open().unwrap();
    let c = create(&dev, 4).unwrap();
    let ring = map(
        &std::fs::File::from(dev.as_fd().try_clone_to_owned().unwrap()),
        c.mmap_size as usize,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_SHARED,
        c.mmap_offset,
    )
    .unwrap();
    // SAFETY: the header is at the start of the mapping, which outlives these writes.
    unsafe {
        let h = ring.cast::<uapi::SpikeRingHeader>();
        assert_eq!(
            ((*h).mask, (*h).entries, (*h).events_offset),
            (3, 4, uapi::SPIKE_RING_EVENTS_OFFSET)
        );
        (*h).head = 5;
        (*h).tail = 0xFFFF_FFF0; // "available" would be 4 billion
    }
    let mut w = uapi::SpikeWait {
        queue_id: c.queue_id,
        min_events: 4,
        timeout_ns: 0,
        ..Default::default()
    };
    assert_eq!(dev_ioctl(&dev, uapi::IOC_NR_SPIKE_WAIT, &mut w), Ok(0));
    assert_eq!(w.available, 4, "clamped to the ring's size");
    lightos_vm_tests::unmap(ring, c.mmap_size as usize);
}

#[test]
fn create_rejects_bad_sizes_flags_and_reserved_fields() {
    let dev = Context::open().unwrap();
    for entries in [0, 1, 3, 100, uapi::SPIKE_RING_MAX_ENTRIES * 2] {
        assert_eq!(
            create(&dev, entries).err(),
            Some(libc::EINVAL),
            "entries {entries}"
        );
    }
    for change in [
        |r: &mut uapi::SpikeQueueCreate| r.flags = 1 << 1, // bit 0 is SPIKE_QUEUE_KERNEL_PRODUCER (1.6)
        |r: &mut uapi::SpikeQueueCreate| r.pad = 1,
        |r: &mut uapi::SpikeQueueCreate| r.reserved[0] = 1,
    ] {
        let mut req = uapi::SpikeQueueCreate {
            entries: 8,
            ..Default::default()
        };
        change(&mut req);
        assert_eq!(
            dev_ioctl(&dev, uapi::IOC_NR_SPIKE_QUEUE_CREATE, &mut req),
            Err(libc::EINVAL)
        );
        assert_eq!(req.queue_id, 0, "nothing written back");
    }
}

#[test]
fn the_queue_limit_is_enospc() {
    let dev = Context::open().unwrap();
    let queues: Vec<_> = (0..uapi::MAX_SPIKE_QUEUES_PER_CONTEXT)
        .map(|_| create(&dev, 2).unwrap())
        .collect();
    assert_eq!(create(&dev, 2).err(), Some(libc::ENOSPC));
    assert_eq!(queues.len() as u32, uapi::MAX_SPIKE_QUEUES_PER_CONTEXT);
}

#[test]
fn unknown_queues_and_bad_arguments_are_refused() {
    let dev = Context::open().unwrap();
    let c = create(&dev, 8).unwrap();
    for nr in [uapi::IOC_NR_SPIKE_QUEUE_DESTROY, uapi::IOC_NR_SPIKE_NOTIFY] {
        let mut id = uapi::SpikeQueueId {
            queue_id: c.queue_id + 100,
            ..Default::default()
        };
        assert_eq!(
            dev_ioctl(&dev, nr, &mut id),
            Err(libc::ENOENT),
            "nr {nr:#x} unknown"
        );
        let mut id = uapi::SpikeQueueId {
            queue_id: c.queue_id,
            flags: 1,
            ..Default::default()
        };
        assert_eq!(
            dev_ioctl(&dev, nr, &mut id),
            Err(libc::EINVAL),
            "nr {nr:#x} flags"
        );
        let mut id = uapi::SpikeQueueId {
            queue_id: c.queue_id,
            reserved: [0, 1],
            ..Default::default()
        };
        assert_eq!(
            dev_ioctl(&dev, nr, &mut id),
            Err(libc::EINVAL),
            "nr {nr:#x} reserved"
        );
    }
    let wait = |change: fn(&mut uapi::SpikeWait)| {
        let mut w = uapi::SpikeWait {
            queue_id: c.queue_id,
            min_events: 1,
            timeout_ns: 0,
            ..Default::default()
        };
        change(&mut w);
        dev_ioctl(&dev, uapi::IOC_NR_SPIKE_WAIT, &mut w)
    };
    assert_eq!(wait(|w| w.queue_id += 100), Err(libc::ENOENT));
    assert_eq!(wait(|w| w.flags = 1), Err(libc::EINVAL));
    assert_eq!(wait(|w| w.reserved[1] = 1), Err(libc::EINVAL));
    assert_eq!(wait(|w| w.min_events = 0), Err(libc::EINVAL));
    assert_eq!(
        wait(|w| w.min_events = 9),
        Err(libc::EINVAL),
        "more than the ring holds"
    );
    assert_eq!(wait(|_| {}), Err(libc::ETIMEDOUT), "empty, past deadline");
    let mut id = uapi::SpikeQueueId {
        queue_id: c.queue_id,
        ..Default::default()
    };
    assert_eq!(
        dev_ioctl(&dev, uapi::IOC_NR_SPIKE_QUEUE_DESTROY, &mut id),
        Ok(0)
    );
    assert_eq!(
        dev_ioctl(&dev, uapi::IOC_NR_SPIKE_QUEUE_DESTROY, &mut id),
        Err(libc::ENOENT),
        "twice"
    );
}

#[test]
fn mapping_the_ring_wrongly_is_refused() {
    let dev = Context::open().unwrap();
    let c = create(&dev, 8).unwrap();
    let f = std::fs::File::from(dev.as_fd().try_clone_to_owned().unwrap());
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    let len = c.mmap_size as usize;
    assert_eq!(
        map(&f, len * 2, rw, libc::MAP_SHARED, c.mmap_offset).err(),
        Some(libc::EINVAL),
        "too long"
    );
    assert_eq!(
        map(&f, len, rw, libc::MAP_PRIVATE, c.mmap_offset).err(),
        Some(libc::EINVAL),
        "private"
    );
    assert_eq!(
        map(
            &f,
            len,
            rw | libc::PROT_EXEC,
            libc::MAP_SHARED,
            c.mmap_offset
        )
        .err(),
        Some(libc::EACCES),
        "exec"
    );
    let other = (u64::from(c.queue_id + 1) << uapi::MMAP_HANDLE_SHIFT) | uapi::MMAP_SPIKE_RING;
    assert_eq!(
        map(&f, len, rw, libc::MAP_SHARED, other).err(),
        Some(libc::EINVAL),
        "unknown queue"
    );
}

#[test]
fn destroying_a_queue_ends_its_waiter_with_enoent_and_keeps_mappings_valid() {
    let dev = std::sync::Arc::new(Context::open().unwrap());
    let c = create(&dev, 4).unwrap();
    let waiter = {
        let dev = dev.clone();
        std::thread::spawn(move || {
            let mut w = uapi::SpikeWait {
                queue_id: c.queue_id,
                min_events: 1,
                timeout_ns: uapi::TIMEOUT_INFINITE,
                ..Default::default()
            };
            dev_ioctl(&dev, uapi::IOC_NR_SPIKE_WAIT, &mut w)
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let mut id = uapi::SpikeQueueId {
        queue_id: c.queue_id,
        ..Default::default()
    };
    assert_eq!(
        dev_ioctl(&dev, uapi::IOC_NR_SPIKE_QUEUE_DESTROY, &mut id),
        Ok(0)
    );
    assert_eq!(waiter.join().unwrap(), Err(libc::ENOENT));
}

#[test]
fn query_and_fdinfo_report_each_queue() {
    let dev = Context::open().unwrap();
    let q = dev.create_spike_queue(8).unwrap();
    q.push(&(0..10).map(ev).collect::<Vec<_>>()).unwrap();
    let mut out = Vec::new();
    q.pop(&mut out, 3);
    assert_eq!(q.wait(1, Some(Duration::ZERO)).unwrap(), 5);
    q.notify().unwrap();
    let stats = dev.spike_queue_stats().unwrap();
    assert_eq!(stats.len(), 1);
    let s = stats[0];
    assert_eq!(
        (s.queue_id, s.entries, s.available, s.overflow),
        (q.id(), 8, 5, 2)
    );
    assert_eq!((s.tail, s.head), (8, 3));
    assert_eq!((s.waits, s.notifies), (1, 1));
    let fd = dev.as_fd();
    let fdinfo = std::fs::read_to_string(format!(
        "/proc/self/fdinfo/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ))
    .unwrap();
    assert!(fdinfo.contains("lightos-spike-queues:\t1"), "{fdinfo}");
    drop(q);
    assert!(
        dev.spike_queue_stats().unwrap().is_empty(),
        "dropping the runtime queue destroys it"
    );
}

/// Forks; the child runs `f` (exit status 0 when it returns true) and never returns here.
#[test]
fn a_producer_process_that_dies_midstream_leaves_a_working_ring() {
    let dev = Context::open().unwrap();
    let q = dev.create_spike_queue(1024).unwrap();
    // The child inherits the context and the mapping: it produces 100 events and dies (SIGKILL
    // from itself) without any cleanup.
    let pid = fork_child(|| {
        q.push(&(0..100).map(ev).collect::<Vec<_>>()).unwrap();
        // SAFETY: kills this (child) process only.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        false
    });
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFSIGNALED(status), "the producer died by SIGKILL");
    assert_eq!(q.wait(100, Some(Duration::from_secs(10))).unwrap(), 100);
    let mut out = Vec::new();
    q.pop(&mut out, usize::MAX);
    assert_eq!(
        out,
        (0..100).map(ev).collect::<Vec<_>>(),
        "what it published survives it"
    );
    assert_eq!(
        q.wait(1, Some(Duration::from_millis(50))).unwrap(),
        0,
        "no producer: a timeout, no hang"
    );
    q.push(&[ev(7)]).unwrap();
    assert_eq!(q.len(), 1, "the ring still works");
}

#[test]
fn a_consumer_killed_in_spike_wait_does_not_block_the_producer() {
    let dev = Context::open().unwrap();
    let q = dev.create_spike_queue(16).unwrap();
    let pid = fork_child(|| q.wait(16, None).is_ok());
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: kills the child forked above, asleep in SPIKE_WAIT.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let mut status = 0;
    // SAFETY: waits for that child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFSIGNALED(status), "the consumer died in its wait");
    // Nobody consumes: the producer fills the ring, then drops and counts, never blocking.
    assert_eq!(q.push(&(0..40).map(ev).collect::<Vec<_>>()).unwrap(), 16);
    assert_eq!((q.len(), q.overflow()), (16, 24));
    let stats = dev.spike_queue_stats().unwrap()[0];
    assert_eq!(stats.waits, 1, "the child's wait was counted");
}

/// `pread` at a ring's cookie: returns whole events and consumes them.
fn pread(dev: &Context, buf: &mut [u8], offset: u64) -> Result<usize, i32> {
    // SAFETY: `buf` is writable for its length; the descriptor is open.
    let n = unsafe {
        libc::pread(
            std::os::fd::AsRawFd::as_raw_fd(&dev.as_fd()),
            buf.as_mut_ptr().cast(),
            buf.len(),
            offset as i64,
        )
    };
    if n < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(n as usize)
    }
}

#[test]
fn pread_at_the_cookie_reads_whole_events_and_consumes_them() {
    let dev = Context::open().unwrap();
    let c = create(&dev, 16).unwrap();
    let q = std::sync::Arc::new(dev.create_spike_queue(16).unwrap());
    let cookie = (u64::from(q.id()) << uapi::MMAP_HANDLE_SHIFT) | uapi::MMAP_SPIKE_RING;
    q.push(&(0..5).map(ev).collect::<Vec<_>>()).unwrap();
    let mut buf = vec![0u8; 16 * 3 + 7];
    assert_eq!(
        pread(&dev, &mut buf, cookie),
        Ok(48),
        "three whole events fit"
    );
    let first: Vec<SpikeEvent> = buf[..48]
        .chunks(16)
        .map(|b| SpikeEvent {
            timestamp_ns: u64::from_ne_bytes(b[..8].try_into().unwrap()),
            neuron: u32::from_ne_bytes(b[8..12].try_into().unwrap()),
            value: i16::from_ne_bytes(b[12..14].try_into().unwrap()),
            channel: u16::from_ne_bytes(b[14..16].try_into().unwrap()),
        })
        .collect();
    assert_eq!(first, (0..3).map(ev).collect::<Vec<_>>());
    assert_eq!(q.len(), 2, "consumed");
    assert_eq!(pread(&dev, &mut buf, cookie), Ok(32));
    // Empty now: a blocking pread sleeps until a producer pushes.
    let producer = {
        let q = q.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            q.push(&[ev(9)]).unwrap();
        })
    };
    assert_eq!(pread(&dev, &mut buf, cookie), Ok(16));
    producer.join().unwrap();
    assert_eq!(u32::from_ne_bytes(buf[8..12].try_into().unwrap()), 9);
    // Rejections.
    assert_eq!(
        pread(&dev, &mut buf[..15], cookie),
        Err(libc::EINVAL),
        "less than one event"
    );
    assert_eq!(
        pread(&dev, &mut buf, 0),
        Err(libc::EINVAL),
        "not a ring's cookie"
    );
    let unknown =
        (u64::from(c.queue_id + q.id() + 50) << uapi::MMAP_HANDLE_SHIFT) | uapi::MMAP_SPIKE_RING;
    assert_eq!(
        pread(&dev, &mut buf, unknown),
        Err(libc::EINVAL),
        "unknown queue"
    );
}

#[test]
fn a_nonblocking_pread_of_an_empty_ring_is_eagain() {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/lightos")
        .unwrap();
    let mut req = uapi::SpikeQueueCreate {
        entries: 4,
        ..Default::default()
    };
    assert_eq!(
        lightos_vm_tests::ioctl_struct(&f, uapi::IOC_NR_SPIKE_QUEUE_CREATE, &mut req),
        Ok(0)
    );
    let mut buf = [0u8; 16];
    // SAFETY: `buf` is writable for its length; the descriptor is open.
    let n = unsafe {
        libc::pread(
            std::os::fd::AsRawFd::as_raw_fd(&f),
            buf.as_mut_ptr().cast(),
            16,
            req.mmap_offset as i64,
        )
    };
    assert_eq!(n, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EAGAIN)
    );
}

#[test]
fn debugfs_counts_queues_reads_and_notifies_module_wide() {
    use lightos_vm_tests::stat;
    let dev = Context::open().unwrap();
    let (live, created, read, notifies) = (
        stat("spike_queues"),
        stat("spike_queues_created"),
        stat("spike_events_read"),
        stat("spike_notifies"),
    );
    let q = dev.create_spike_queue(8).unwrap();
    assert_eq!(
        (stat("spike_queues"), stat("spike_queues_created")),
        (live + 1, created + 1)
    );
    q.push(&[ev(1), ev(2)]).unwrap();
    q.notify().unwrap();
    let cookie = (u64::from(q.id()) << uapi::MMAP_HANDLE_SHIFT) | uapi::MMAP_SPIKE_RING;
    let mut buf = [0u8; 64];
    assert_eq!(pread(&dev, &mut buf, cookie), Ok(32));
    assert_eq!(
        (stat("spike_events_read"), stat("spike_notifies")),
        (read + 2, notifies + 1)
    );
    drop(q);
    assert_eq!(stat("spike_queues"), live, "destroyed and freed");
}

#[test]
fn drain_iterates_in_place_and_consumes_only_what_it_yielded() {
    let dev = Context::open().unwrap();
    let q = dev.create_spike_queue(8).unwrap();
    q.push(&(0..6).map(ev).collect::<Vec<_>>()).unwrap();
    let firsts: Vec<_> = q.drain().take(2).collect();
    assert_eq!(firsts, vec![ev(0), ev(1)]);
    assert_eq!(q.len(), 4, "the two taken are consumed, the rest wait");
    let neurons: Vec<u32> = q.drain().map(|e| e.neuron).collect();
    assert_eq!(neurons, vec![2, 3, 4, 5]);
    assert!(q.is_empty());
    assert_eq!(q.drain().size_hint(), (0, Some(0)));
}
