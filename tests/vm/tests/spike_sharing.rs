//! Sharing a spike queue with another context or process (ABI 1.6): SPIKE_QUEUE_EXPORT gives a
//! descriptor, SPIKE_QUEUE_IMPORT adds the same ring to the importer's context. Producer and
//! consumer in unrelated processes (the descriptor passed with SCM_RIGHTS), lifetimes when either
//! side goes, and every rejection path of the two ioctls.

use lightos_runtime::{spike::SpikeEvent, BufferFlags, Context, Placement};
use lightos_uapi as uapi;
use lightos_vm_tests::{
    dev_ioctl, open_contexts_besides_probe,
    process::{exited_ok, fork_child, recv_fd, send_fd, socket_pair, wait_child},
    stat,
};
use std::{
    os::fd::{AsFd, AsRawFd, OwnedFd},
    time::Duration,
};

const SEC: Option<Duration> = Some(Duration::from_secs(10));

fn ev(i: u32) -> SpikeEvent {
    SpikeEvent {
        timestamp_ns: u64::from(i) * 10,
        neuron: i % 1000,
        value: 1,
        channel: (i % 3) as u16,
    }
}

fn export(dev: &Context, queue_id: u32, flags: u32) -> Result<uapi::SpikeQueueExport, i32> {
    let mut req = uapi::SpikeQueueExport {
        queue_id,
        flags,
        ..Default::default()
    };
    dev_ioctl(dev, uapi::IOC_NR_SPIKE_QUEUE_EXPORT, &mut req).map(|_| req)
}

fn import(dev: &Context, req: &mut uapi::SpikeQueueImport) -> Result<i32, i32> {
    dev_ioctl(dev, uapi::IOC_NR_SPIKE_QUEUE_IMPORT, req)
}

#[test]
fn an_imported_queue_is_the_same_ring_under_the_importers_id() {
    let (a, b) = (Context::open().unwrap(), Context::open().unwrap());
    let _other = b.create_spike_queue(2).unwrap(); // so the ids differ
    let qa = a.create_spike_queue(64).unwrap();
    let fd = qa.export().unwrap();
    let qb = b.import_spike_queue(fd.as_fd()).unwrap();
    assert_eq!(qb.entries(), 64);
    assert_ne!(qa.id(), qb.id(), "each context names it its own way");
    qa.push(&(0..10).map(ev).collect::<Vec<_>>()).unwrap();
    let mut out = Vec::new();
    assert_eq!(qb.pop(&mut out, usize::MAX), 10);
    assert_eq!(out, (0..10).map(ev).collect::<Vec<_>>());
    qb.push(&[ev(99)]).unwrap();
    assert_eq!(
        qa.wait(1, SEC).unwrap(),
        1,
        "a notify from one context wakes the other"
    );
    let stats = b.spike_queue_stats().unwrap();
    let info = stats.iter().find(|s| s.queue_id == qb.id()).unwrap();
    assert_eq!((info.entries, info.available, info.tail), (64, 1, 11));
}

#[test]
fn a_producer_in_an_unrelated_process_feeds_a_consumer_here() {
    // Forked before this process opens anything: the child shares no context, mapping or
    // descriptor with the queue; it gets the queue only through the descriptor sent to it.
    let (here, there) = socket_pair();
    let child = fork_child(move || {
        let fd = recv_fd(&there);
        let dev = Context::open().unwrap();
        let q = dev.import_spike_queue(fd.as_fd()).unwrap();
        drop(fd);
        // Batches that do not fit are cut short (the rest counted as overflow) and resent.
        let mut sent = 0u32;
        while sent < 10_000 {
            let batch: Vec<_> = (sent..(sent + 100).min(10_000)).map(ev).collect();
            let n = q.push(&batch).unwrap() as u32;
            sent += n;
            if n == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        sent == 10_000
    });
    let dev = Context::open().unwrap();
    let q = dev.create_spike_queue(1024).unwrap();
    send_fd(&here, q.export().unwrap().as_fd());
    let mut got = Vec::with_capacity(10_000);
    while got.len() < 10_000 {
        assert!(
            q.wait(1, SEC).unwrap() > 0,
            "the producer stalled at {}",
            got.len()
        );
        q.pop(&mut got, usize::MAX);
    }
    assert!(exited_ok(wait_child(child)));
    assert_eq!(
        got,
        (0..10_000).map(ev).collect::<Vec<_>>(),
        "every event, in order"
    );
}

#[test]
fn the_ring_outlives_the_exporter_through_its_descriptor() {
    let (here, there) = socket_pair();
    let child = fork_child(move || {
        let dev = Context::open().unwrap();
        let q = dev.create_spike_queue(16).unwrap();
        q.push(&(0..5).map(ev).collect::<Vec<_>>()).unwrap();
        send_fd(&there, q.export().unwrap().as_fd());
        true // exits: its context, queue and mapping go
    });
    let fd = recv_fd(&here);
    assert!(exited_ok(wait_child(child)));
    let dev = Context::open().unwrap();
    let q = dev.import_spike_queue(fd.as_fd()).unwrap();
    drop(fd);
    let mut out = Vec::new();
    assert_eq!(
        q.pop(&mut out, usize::MAX),
        5,
        "what the dead exporter published"
    );
    assert_eq!(out, (0..5).map(ev).collect::<Vec<_>>());
    q.push(&[ev(5)]).unwrap();
    assert_eq!(q.len(), 1, "and the ring still works");
}

#[test]
fn destroying_in_one_context_ends_only_that_contexts_waiters() {
    let (a, b) = (Context::open().unwrap(), Context::open().unwrap());
    let qa = a.create_spike_queue(8).unwrap();
    let qb = b.import_spike_queue(qa.export().unwrap().as_fd()).unwrap();
    let id = qa.id();
    std::thread::scope(|s| {
        let waiter_a = s.spawn(|| qa.wait(1, SEC));
        let waiter_b = s.spawn(|| qb.wait(1, Some(Duration::from_millis(600))));
        std::thread::sleep(Duration::from_millis(200));
        let mut req = uapi::SpikeQueueId {
            queue_id: id,
            ..Default::default()
        };
        dev_ioctl(&a, uapi::IOC_NR_SPIKE_QUEUE_DESTROY, &mut req).unwrap();
        let ra = waiter_a.join().unwrap();
        assert_eq!(ra.unwrap_err().errno(), Some(nix::errno::Errno::ENOENT));
        assert_eq!(
            waiter_b.join().unwrap().unwrap(),
            0,
            "B's waiter just times out"
        );
    });
    // qa's Drop destroys `id` again: ENOENT, ignored. B keeps the ring.
    qb.push(&[ev(1)]).unwrap();
    assert_eq!(qb.len(), 1);
    assert_eq!(a.spike_queue_stats().unwrap().len(), 0);
}

#[test]
fn the_last_holder_frees_the_ring() {
    let live = stat("spike_queues");
    let dev = Context::open().unwrap();
    let q = dev.create_spike_queue(4096).unwrap();
    let fd = q.export().unwrap();
    drop(q);
    assert_eq!(stat("spike_queues"), live + 1, "the descriptor holds it");
    let other = Context::open().unwrap();
    let imported = other.import_spike_queue(fd.as_fd()).unwrap();
    drop(fd);
    assert_eq!(stat("spike_queues"), live + 1, "the importer holds it");
    drop(imported);
    drop(other);
    assert_eq!(stat("spike_queues"), live, "nobody holds it: freed");
    drop(dev);
    assert_eq!(open_contexts_besides_probe(), 0);
}

#[test]
fn export_rejects_unknown_queues_flags_and_fields() {
    let dev = Context::open().unwrap();
    let q = dev.create_spike_queue(8).unwrap();
    assert_eq!(export(&dev, q.id() + 100, 0).unwrap_err(), libc::ENOENT);
    assert_eq!(export(&dev, q.id(), 1 << 5).unwrap_err(), libc::EINVAL);
    for mutate in [
        (|r: &mut uapi::SpikeQueueExport| r.fd = 3) as fn(&mut _),
        |r| r.pad = 1,
        |r| r.reserved[1] = 1,
    ] {
        let mut req = uapi::SpikeQueueExport {
            queue_id: q.id(),
            ..Default::default()
        };
        mutate(&mut req);
        assert_eq!(
            dev_ioctl(&dev, uapi::IOC_NR_SPIKE_QUEUE_EXPORT, &mut req).unwrap_err(),
            libc::EINVAL,
            "{req:?}"
        );
    }
    let ok = export(&dev, q.id(), uapi::SPIKE_EXPORT_CLOEXEC).unwrap();
    // SAFETY: the descriptor was just installed for this process.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(ok.fd) };
    // SAFETY: F_GETFD on a valid descriptor.
    let fd_flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    assert_eq!(fd_flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
}

#[test]
fn import_rejects_bad_descriptors_and_fields() {
    let dev = Context::open().unwrap();
    let q = dev.create_spike_queue(8).unwrap();
    let fd = q.export().unwrap();
    let null = std::fs::File::open("/dev/null").unwrap();
    let buffer = dev
        .create_buffer(4096, BufferFlags::empty(), Placement::Any)
        .unwrap();
    let buffer_fd = buffer.export(false).unwrap();
    let with_fd = |fd: i32| uapi::SpikeQueueImport {
        fd,
        ..Default::default()
    };
    assert_eq!(import(&dev, &mut with_fd(-1)).unwrap_err(), libc::EBADF);
    assert_eq!(import(&dev, &mut with_fd(9999)).unwrap_err(), libc::EBADF);
    assert_eq!(
        import(&dev, &mut with_fd(null.as_raw_fd())).unwrap_err(),
        libc::EINVAL,
        "not a dma-buf"
    );
    assert_eq!(
        import(&dev, &mut with_fd(buffer_fd.as_raw_fd())).unwrap_err(),
        libc::EINVAL,
        "a buffer is not a spike queue"
    );
    let mut as_buffer = uapi::BufferImport {
        fd: fd.as_raw_fd(),
        ..Default::default()
    };
    assert_eq!(
        dev_ioctl(&dev, uapi::IOC_NR_BUFFER_IMPORT, &mut as_buffer).unwrap_err(),
        libc::EINVAL,
        "nor the reverse"
    );
    for mutate in [
        (|r: &mut uapi::SpikeQueueImport| r.flags = 1) as fn(&mut _),
        |r| r.queue_id = 1,
        |r| r.entries = 8,
        |r| r.mmap_offset = 1,
        |r| r.mmap_size = 1,
        |r| r.reserved[0] = 1,
    ] {
        let mut req = with_fd(fd.as_raw_fd());
        mutate(&mut req);
        assert_eq!(import(&dev, &mut req).unwrap_err(), libc::EINVAL, "{req:?}");
    }
    assert_eq!(
        dev.spike_queue_stats().unwrap().len(),
        1,
        "nothing was added"
    );
}

#[test]
fn importing_past_the_context_limit_is_enospc() {
    let dev = Context::open().unwrap();
    let q = dev.create_spike_queue(2).unwrap();
    let fd = q.export().unwrap();
    let other = Context::open().unwrap();
    let held: Vec<_> = (0..uapi::MAX_SPIKE_QUEUES_PER_CONTEXT)
        .map(|_| other.import_spike_queue(fd.as_fd()).unwrap())
        .collect();
    let mut req = uapi::SpikeQueueImport {
        fd: fd.as_raw_fd(),
        ..Default::default()
    };
    assert_eq!(import(&other, &mut req).unwrap_err(), libc::ENOSPC);
    drop(held);
    assert!(other.import_spike_queue(fd.as_fd()).is_ok());
}
