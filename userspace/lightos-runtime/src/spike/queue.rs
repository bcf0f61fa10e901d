//! A kernel spike queue (`SPIKE_QUEUE_CREATE`) as a safe ring: one producer pushes batches of
//! [`SpikeEvent`]s, one consumer pops them, both through the shared mapping without a syscall;
//! the consumer can sleep in [`SpikeQueue::wait`] and the producer wakes it only when the kernel
//! asked for it (`SPIKE_RING_NEED_WAKEUP`).

use super::SpikeEvent;
use crate::{buffer::ioctl_error, sys, uapi, Error, Result};
use memmap2::{MmapOptions, MmapRaw};
use nix::errno::Errno;
use std::{
    mem::offset_of,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
    sync::{
        atomic::{fence, AtomicU32, Ordering},
        Arc,
    },
    time::Duration,
};

/// A mapped spike ring. Use it from one producer and one consumer (they may be different threads
/// or, through another mapping, processes); pushes from several threads at once would race.
pub struct SpikeQueue {
    fd: Arc<OwnedFd>,
    id: u32,
    entries: u32,
    map: MmapRaw,
}

/// Who produces into a new queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Producer {
    /// Userspace, through [`SpikeQueue::push`].
    User,
    /// The kernel only: `OP_SPIKE_ENCODE` jobs (`lightos_snn::encode_job`).
    Kernel,
}

impl SpikeQueue {
    /// Creates a ring of `entries` events (a power of two, 2 to 65 536) and maps it.
    pub(crate) fn create(fd: Arc<OwnedFd>, entries: u32, producer: Producer) -> Result<SpikeQueue> {
        let mut req = uapi::SpikeQueueCreate {
            entries,
            flags: match producer {
                Producer::User => 0,
                Producer::Kernel => uapi::SPIKE_QUEUE_KERNEL_PRODUCER,
            },
            ..Default::default()
        };
        // SAFETY: `req` is a valid, writable `SpikeQueueCreate`; the fd is open.
        unsafe { sys::spike_queue_create(fd.as_raw_fd(), &mut req) }
            .map_err(|e| sys::rejected(fd.as_raw_fd(), "SPIKE_QUEUE_CREATE", e))?;
        Self::map(fd, req.queue_id, entries, req.mmap_offset, req.mmap_size)
    }

    /// Adds the queue an exporter's descriptor names to this context and maps it.
    pub(crate) fn import(fd: Arc<OwnedFd>, exported: BorrowedFd<'_>) -> Result<SpikeQueue> {
        let mut req = uapi::SpikeQueueImport {
            fd: exported.as_raw_fd(),
            ..Default::default()
        };
        // SAFETY: `req` is a valid, writable `SpikeQueueImport`; the fd is open.
        unsafe { sys::spike_queue_import(fd.as_raw_fd(), &mut req) }
            .map_err(|e| sys::rejected(fd.as_raw_fd(), "SPIKE_QUEUE_IMPORT", e))?;
        Self::map(
            fd,
            req.queue_id,
            req.entries,
            req.mmap_offset,
            req.mmap_size,
        )
    }

    fn map(fd: Arc<OwnedFd>, id: u32, entries: u32, offset: u64, size: u64) -> Result<SpikeQueue> {
        let map = MmapOptions::new()
            .offset(offset)
            .len(size as usize)
            .map_raw(fd.as_raw_fd())
            .map_err(|e| Error::Map {
                handle: id,
                errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            })?;
        Ok(SpikeQueue {
            fd,
            id,
            entries,
            map,
        })
    }

    /// A close-on-exec descriptor naming this queue, for another process (inherited across
    /// `fork`, or sent with `SCM_RIGHTS`) to pass to [`crate::Context::import_spike_queue`].
    pub fn export(&self) -> Result<OwnedFd> {
        let mut req = uapi::SpikeQueueExport {
            queue_id: self.id,
            flags: uapi::SPIKE_EXPORT_CLOEXEC,
            ..Default::default()
        };
        // SAFETY: `req` is a valid, writable `SpikeQueueExport`; the fd is open.
        unsafe { sys::spike_queue_export(self.fd.as_raw_fd(), &mut req) }
            .map_err(|e| sys::rejected(self.fd.as_raw_fd(), "SPIKE_QUEUE_EXPORT", e))?;
        // SAFETY: on success the kernel installed `req.fd`, a new descriptor this process owns.
        Ok(unsafe { OwnedFd::from_raw_fd(req.fd) })
    }

    /// Whether only the kernel produces into it (created with [`Producer::Kernel`]).
    pub fn kernel_produced(&self) -> bool {
        self.word(offset_of!(uapi::SpikeRingHeader, flags))
            .load(Ordering::Relaxed)
            & uapi::SPIKE_RING_KERNEL_PRODUCER
            != 0
    }

    /// Its identifier.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Its capacity in events.
    pub fn entries(&self) -> u32 {
        self.entries
    }

    fn word(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: the header is at the start of the mapping, which lives as long as `self`; the
        // offsets are of aligned u32 fields; all accesses from this side are atomic.
        unsafe { &*self.map.as_ptr().add(offset).cast::<AtomicU32>() }
    }

    fn slot(&self, index: u32) -> *mut SpikeEvent {
        let at =
            uapi::SPIKE_RING_EVENTS_OFFSET as usize + (index & (self.entries - 1)) as usize * 16;
        // SAFETY: `at + 16` is within the mapping (the kernel sized it for `entries` events).
        unsafe { self.map.as_mut_ptr().add(at).cast() }
    }

    /// Events dropped by producers because the ring was full.
    pub fn overflow(&self) -> u32 {
        self.word(offset_of!(uapi::SpikeRingHeader, overflow))
            .load(Ordering::Relaxed)
    }

    /// Events waiting to be popped.
    pub fn len(&self) -> u32 {
        let tail = self
            .word(offset_of!(uapi::SpikeRingHeader, tail))
            .load(Ordering::Acquire);
        let head = self
            .word(offset_of!(uapi::SpikeRingHeader, head))
            .load(Ordering::Acquire);
        tail.wrapping_sub(head).min(self.entries)
    }

    /// Whether no event is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Producer: appends as many of `events` as fit, counts the rest as overflow (never blocks),
    /// publishes them, and wakes a sleeping consumer if there is one. Returns how many went in.
    /// `EPERM` on a kernel-produced queue (the kernel would overwrite the tail).
    pub fn push(&self, events: &[SpikeEvent]) -> Result<usize> {
        if self.kernel_produced() {
            return Err(ioctl_error("spike push", Errno::EPERM));
        }
        let tail_word = self.word(offset_of!(uapi::SpikeRingHeader, tail));
        let tail = tail_word.load(Ordering::Relaxed);
        let head = self
            .word(offset_of!(uapi::SpikeRingHeader, head))
            .load(Ordering::Acquire);
        let room = self.entries - tail.wrapping_sub(head).min(self.entries);
        let n = events.len().min(room as usize);
        for (i, ev) in events[..n].iter().enumerate() {
            // SAFETY: the slot is in the mapping and, being past `tail`, not read by the consumer.
            unsafe { self.slot(tail.wrapping_add(i as u32)).write_volatile(*ev) };
        }
        if n < events.len() {
            let dropped = (events.len() - n).min(u32::MAX as usize) as u32;
            self.word(offset_of!(uapi::SpikeRingHeader, overflow))
                .fetch_add(dropped, Ordering::Relaxed);
        }
        tail_word.store(tail.wrapping_add(n as u32), Ordering::Release);
        // Paired with the kernel's barrier between setting NEED_WAKEUP and re-reading `tail`.
        fence(Ordering::SeqCst);
        let flags = self
            .word(offset_of!(uapi::SpikeRingHeader, flags))
            .load(Ordering::Relaxed);
        if flags & uapi::SPIKE_RING_NEED_WAKEUP != 0 {
            self.notify()?;
        }
        Ok(n)
    }

    /// Consumer: moves up to `max` events into `out`; returns how many.
    pub fn pop(&self, out: &mut Vec<SpikeEvent>, max: usize) -> usize {
        let head_word = self.word(offset_of!(uapi::SpikeRingHeader, head));
        let head = head_word.load(Ordering::Relaxed);
        let tail = self
            .word(offset_of!(uapi::SpikeRingHeader, tail))
            .load(Ordering::Acquire);
        let n = (tail.wrapping_sub(head).min(self.entries) as usize).min(max);
        out.reserve(n);
        for i in 0..n {
            // SAFETY: the slot is in the mapping; the producer published it (acquire above) and
            // will not reuse it until `head` moves past it below.
            out.push(unsafe { self.slot(head.wrapping_add(i as u32)).read_volatile() });
        }
        head_word.store(head.wrapping_add(n as u32), Ordering::Release);
        n
    }

    /// Consumer: iterates over the events waiting now, without copying them out first; each event
    /// is consumed as it is yielded, and `head` is published when the iterator is dropped.
    pub fn drain(&self) -> Drain<'_> {
        let head = self
            .word(offset_of!(uapi::SpikeRingHeader, head))
            .load(Ordering::Relaxed);
        let tail = self
            .word(offset_of!(uapi::SpikeRingHeader, tail))
            .load(Ordering::Acquire);
        let end = head.wrapping_add(tail.wrapping_sub(head).min(self.entries));
        Drain {
            queue: self,
            next: head,
            end,
        }
    }

    /// Consumer: sleeps until at least `min_events` are waiting or `timeout` passes (`None`:
    /// without limit); returns how many are waiting (0 after a timeout).
    pub fn wait(&self, min_events: u32, timeout: Option<Duration>) -> Result<u32> {
        let deadline = crate::deadline_ns(timeout);
        let mut req = uapi::SpikeWait {
            queue_id: self.id,
            min_events,
            timeout_ns: deadline,
            ..Default::default()
        };
        // SAFETY: `req` is a valid, writable `SpikeWait`; the fd is open.
        match unsafe { sys::spike_wait(self.fd.as_raw_fd(), &mut req) } {
            Ok(_) => Ok(req.available),
            Err(Errno::ETIMEDOUT) => Ok(0),
            Err(e) => Err(sys::rejected(self.fd.as_raw_fd(), "SPIKE_WAIT", e)),
        }
    }

    /// Wakes the ring's sleeping consumers (`push` does it when needed).
    pub fn notify(&self) -> Result<()> {
        let mut req = uapi::SpikeQueueId {
            queue_id: self.id,
            ..Default::default()
        };
        // SAFETY: `req` is a valid, writable `SpikeQueueId`; the fd is open.
        unsafe { sys::spike_notify(self.fd.as_raw_fd(), &mut req) }
            .map_err(|e| sys::rejected(self.fd.as_raw_fd(), "SPIKE_NOTIFY", e))?;
        Ok(())
    }
}

impl Drop for SpikeQueue {
    fn drop(&mut self) {
        let mut req = uapi::SpikeQueueId {
            queue_id: self.id,
            ..Default::default()
        };
        // SAFETY: as in `notify`. A failure leaves the queue to the context's close.
        let _ = unsafe { sys::spike_queue_destroy(self.fd.as_raw_fd(), &mut req) };
    }
}

/// The iterator of [`SpikeQueue::drain`].
pub struct Drain<'a> {
    queue: &'a SpikeQueue,
    next: u32,
    end: u32,
}

impl Iterator for Drain<'_> {
    type Item = SpikeEvent;

    fn next(&mut self) -> Option<SpikeEvent> {
        if self.next == self.end {
            return None;
        }
        // SAFETY: the slot is in the mapping and between `head` and the `tail` read with acquire
        // ordering, so the producer published it and will not reuse it before `head` moves.
        let event = unsafe { self.queue.slot(self.next).read_volatile() };
        self.next = self.next.wrapping_add(1);
        Some(event)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end.wrapping_sub(self.next) as usize;
        (n, Some(n))
    }
}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        // Only what was yielded is consumed.
        self.queue
            .word(offset_of!(uapi::SpikeRingHeader, head))
            .store(self.next, Ordering::Release);
    }
}
