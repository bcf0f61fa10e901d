// SPDX-License-Identifier: GPL-2.0

//! Spike-event queues: rings of 16-byte address events in pages shared with userspace by mmap, in
//! the io_uring CQ style (a header with free-running `head`/`tail`, then the entries).
//!
//! A userspace producer writes events and publishes `tail`; a consumer reads and publishes `head`;
//! neither takes a lock or enters the kernel on the fast path. `SPIKE_WAIT` sleeps until the ring
//! holds at least N events: it sets `SPIKE_RING_NEED_WAKEUP` in the header, and a producer that
//! sees the flag after publishing calls `SPIKE_NOTIFY`. The kernel only reads the indices (as
//! `READ_ONCE` would) and clamps what they imply to the ring's size, so garbage indices from a
//! buggy producer can never make it touch memory outside the ring.
//!
//! A queue created with `SPIKE_QUEUE_KERNEL_PRODUCER` is produced into by the kernel only (the
//! events of `OP_SPIKE_ENCODE` jobs, [`SpikeQueue::produce`]): it keeps the tail in its own memory
//! and overwrites the header's, so userspace can consume but not corrupt the producer side.
//!
//! A queue belongs to every context that holds it (the creator and importers, `SPIKE_QUEUE_IMPORT`),
//! each under its own identifier; its pages live until the last context and mapping let go.

use crate::{quota::Charge, telemetry::stats, uapi};
use core::{
    mem::offset_of,
    sync::atomic::{fence, Ordering},
};
use kernel::{
    alloc::flags::{GFP_KERNEL_ACCOUNT, __GFP_ZERO},
    bindings, new_condvar, new_mutex,
    page::{Page, PAGE_SIZE},
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, CondVar, CondVarTimeoutResult, Mutex,
    },
    time::msecs_to_jiffies,
};

/// The longest single sleep of a waiter: it re-reads the indices at least this often, so a
/// producer that forgets `SPIKE_NOTIFY` delays a waiter by this much, never forever.
const MAX_SLEEP_MS: u64 = 10;

/// Per-queue counters.
pub(crate) struct SpikeStats {
    /// `SPIKE_WAIT` calls.
    pub(crate) waits: Atomic<u64>,
    /// Sleeps that ended by a notification.
    pub(crate) wakeups: Atomic<u64>,
    /// `SPIKE_NOTIFY` calls.
    pub(crate) notifies: Atomic<u64>,
}

/// One spike queue.
#[pin_data(PinnedDrop)]
pub(crate) struct SpikeQueue {
    entries: u32,
    /// Whether only the kernel produces (`SPIKE_QUEUE_KERNEL_PRODUCER`).
    kernel_producer: bool,
    /// Header page first, then the entries' pages.
    pages: KVec<Page>,
    /// Serialises sleeping waiters with notifiers (never taken by userspace producers).
    #[pin]
    waiters: Mutex<()>,
    /// The kernel producer's tail, authoritative for a kernel-produced ring; serialises kernel
    /// producers (jobs completing at once).
    #[pin]
    kernel_tail: Mutex<u32>,
    #[pin]
    published: CondVar,
    pub(crate) stats: SpikeStats,
    /// Its creator's spike queue quota, given back when the ring dies.
    _quota: Charge,
}

impl SpikeQueue {
    /// A zeroed ring of `entries` events (a power of two within the ABI's limits, else `EINVAL`),
    /// produced into by the kernel only if `kernel_producer`, paid for by `quota` (its creator's).
    /// The ring's pages are charged to the caller's memory cgroup.
    pub(crate) fn new(entries: u32, kernel_producer: bool, quota: Charge) -> Result<Arc<Self>> {
        if !entries.is_power_of_two()
            || !(uapi::SPIKE_RING_MIN_ENTRIES..=uapi::SPIKE_RING_MAX_ENTRIES).contains(&entries)
        {
            return Err(EINVAL);
        }
        let bytes = uapi::SPIKE_RING_EVENTS_OFFSET as usize + entries as usize * size_of::<uapi::SpikeEvent>();
        let count = bytes.div_ceil(PAGE_SIZE);
        let mut pages = KVec::with_capacity(count, GFP_KERNEL)?;
        for _ in 0..count {
            pages.push(Page::alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO)?, GFP_KERNEL)?;
        }
        let header = uapi::SpikeRingHeader {
            mask: entries - 1,
            entries,
            events_offset: uapi::SPIKE_RING_EVENTS_OFFSET,
            flags: if kernel_producer { uapi::SPIKE_RING_KERNEL_PRODUCER } else { 0 },
            ..Default::default()
        };
        // SAFETY: the pages are ours alone until this function returns (nothing is mapped yet);
        // `header` is readable for its size, which fits the page (asserted by the uapi).
        unsafe {
            pages[0].write_raw((&raw const header).cast(), 0, size_of::<uapi::SpikeRingHeader>())?
        };
        let queue = Arc::pin_init(
            try_pin_init!(Self {
                entries,
                kernel_producer,
                pages,
                waiters <- new_mutex!(()),
                kernel_tail <- new_mutex!(0),
                published <- new_condvar!("lightos_spike"),
                stats: SpikeStats {
                    waits: Atomic::new(0),
                    wakeups: Atomic::new(0),
                    notifies: Atomic::new(0),
                },
                _quota: quota,
            }? Error),
            GFP_KERNEL,
        )?;
        stats::SPIKE_QUEUES.add(1, Relaxed);
        stats::SPIKE_QUEUES_CREATED.add(1, Relaxed);
        Ok(queue)
    }

    /// Its entries.
    pub(crate) fn entries(&self) -> u32 {
        self.entries
    }

    /// Whether only the kernel produces into it.
    pub(crate) fn kernel_producer(&self) -> bool {
        self.kernel_producer
    }

    /// Bytes to map: header and entries, whole pages.
    pub(crate) fn mmap_size(&self) -> usize {
        self.pages.len() * PAGE_SIZE
    }

    /// The pages to map, in order.
    pub(crate) fn pages(&self) -> &[Page] {
        &self.pages
    }

    /// Runs `f` on the header's `u32` field at `offset`, accessed atomically.
    fn header_word<R>(&self, offset: usize, f: impl FnOnce(&Atomic<u32>) -> R) -> R {
        // SAFETY: the header page is a valid page owned by `self`; it is unmapped below, in
        // reverse order of mapping, before anything else is mapped.
        let base = unsafe { bindings::kmap_local_page(self.pages[0].as_ptr()) }.cast::<u8>();
        // SAFETY: `offset` is the offset of a u32 field of the header, which lies at the start of
        // the page, so the pointer is in bounds and 4-byte aligned. The kernel only accesses it
        // atomically; userspace's accesses to its shared mapping are its own (as with READ_ONCE /
        // WRITE_ONCE on an io_uring ring), and any value it writes is a valid u32.
        let result = f(unsafe { Atomic::from_ptr(base.add(offset).cast::<u32>()) });
        // SAFETY: `base` came from the `kmap_local_page` above and nothing was mapped since.
        unsafe { bindings::kunmap_local(base.cast()) };
        result
    }

    /// Events in the ring now: `tail - head`, at most the ring's size whatever the indices say.
    pub(crate) fn available(&self) -> u32 {
        let head = self.header_word(offset_of!(uapi::SpikeRingHeader, head), |a| a.load(Relaxed));
        let tail = self.header_word(offset_of!(uapi::SpikeRingHeader, tail), |a| a.load(Relaxed));
        tail.wrapping_sub(head).min(self.entries)
    }

    fn set_need_wakeup(&self, on: bool) {
        let flag = uapi::SPIKE_RING_NEED_WAKEUP;
        self.header_word(offset_of!(uapi::SpikeRingHeader, flags), |a| {
            let old = a.load(Relaxed);
            a.store(if on { old | flag } else { old & !flag }, Relaxed);
        });
    }

    /// Waits until at least `min_events` are in the ring or `deadline_ns` passes; returns how
    /// many are. `EINVAL` for `min_events` 0 or above the ring's size; `ETIMEDOUT`; `ERESTARTSYS`
    /// on a signal; `ENOENT` once `attached` says the waiter's context let the queue go (checked
    /// on every wake-up; [`SpikeQueue::wake_all`] after destroying makes that immediate).
    pub(crate) fn wait(&self, min_events: u32, deadline_ns: u64, attached: impl Fn() -> bool) -> Result<u32> {
        if min_events == 0 || min_events > self.entries {
            return Err(EINVAL);
        }
        self.stats.waits.add(1, Relaxed);
        let mut guard = self.waiters.lock();
        loop {
            if !attached() {
                return Err(ENOENT);
            }
            // Flag first, then re-read the indices (a full barrier between them, paired with the
            // producer's between publishing `tail` and reading `flags`): either the producer sees
            // the flag and notifies, or this read sees its events.
            self.set_need_wakeup(true);
            fence(Ordering::SeqCst);
            let available = self.available();
            if available >= min_events {
                self.set_need_wakeup(false);
                return Ok(available);
            }
            let now = crate::time::monotonic_ns();
            if deadline_ns <= now {
                self.set_need_wakeup(false);
                return Err(ETIMEDOUT);
            }
            let ms = (deadline_ns - now).div_ceil(1_000_000).min(MAX_SLEEP_MS) as u32;
            match self.published.wait_interruptible_timeout(&mut guard, msecs_to_jiffies(ms)) {
                CondVarTimeoutResult::Signal { .. } => {
                    self.set_need_wakeup(false);
                    return Err(ERESTARTSYS);
                }
                CondVarTimeoutResult::Woken { .. } => {
                    self.stats.wakeups.add(1, Relaxed);
                    stats::SPIKE_WAKEUPS.add(1, Relaxed);
                }
                CondVarTimeoutResult::Timeout => {}
            }
        }
    }

    /// Consumer side for `pread`: copies up to `max` waiting events to `out` (whole events only),
    /// then publishes the new `head`. Returns how many were copied.
    pub(crate) fn read_events(&self, out: &mut kernel::iov::IovIterDest<'_>, max: usize) -> usize {
        let head = self.header_word(offset_of!(uapi::SpikeRingHeader, head), |a| a.load(Relaxed));
        let n = (self.available() as usize).min(max);
        let mut copied = 0;
        for i in 0..n {
            let index = head.wrapping_add(i as u32) & (self.entries - 1);
            let at = uapi::SPIKE_RING_EVENTS_OFFSET as usize + index as usize * size_of::<uapi::SpikeEvent>();
            let mut event = [0u8; size_of::<uapi::SpikeEvent>()];
            let page = &self.pages[at / PAGE_SIZE];
            // SAFETY: the page is owned by `self`; it is unmapped right after, in order.
            let base = unsafe { bindings::kmap_local_page(page.as_ptr()) }.cast::<u8>();
            // SAFETY: events are 16-byte aligned and never straddle a page (16 divides the page
            // size and the 64-byte header offset), so the 16 bytes are in the mapped page. The
            // entry lies between `head` and `tail`: published by the producer, which does not
            // write it again until `head` moves past it; volatile reads tolerate a misbehaving one.
            unsafe {
                let src = base.add(at % PAGE_SIZE);
                for (k, b) in event.iter_mut().enumerate() {
                    *b = src.add(k).read_volatile();
                }
                bindings::kunmap_local(base.cast());
            }
            if out.copy_to_iter(&event) != event.len() {
                break; // the user buffer faulted: the events not copied stay in the ring
            }
            copied += 1;
        }
        self.header_word(offset_of!(uapi::SpikeRingHeader, head), |a| {
            a.store(head.wrapping_add(copied as u32), kernel::sync::atomic::Release)
        });
        stats::SPIKE_EVENTS_READ.add(copied as u64, Relaxed);
        copied
    }

    /// Its state and counters, as `QUERY_SPIKE_QUEUES` reports them for a context that calls it `id`.
    pub(crate) fn info(&self, id: u32) -> uapi::SpikeQueueInfo {
        let word = |offset| self.header_word(offset, |a| a.load(Relaxed));
        uapi::SpikeQueueInfo {
            queue_id: id,
            entries: self.entries,
            available: self.available(),
            overflow: word(offset_of!(uapi::SpikeRingHeader, overflow)),
            tail: word(offset_of!(uapi::SpikeRingHeader, tail)),
            head: word(offset_of!(uapi::SpikeRingHeader, head)),
            waits: self.stats.waits.load(Relaxed),
            wakeups: self.stats.wakeups.load(Relaxed),
            notifies: self.stats.notifies.load(Relaxed),
        }
    }

    /// A producer published events: wakes every waiter.
    pub(crate) fn notify(&self) {
        self.stats.notifies.add(1, Relaxed);
        stats::SPIKE_NOTIFIES.add(1, Relaxed);
        let _guard = self.waiters.lock();
        self.published.notify_all();
    }

    /// Wakes every waiter so it re-checks the ring and whether its context still holds the queue.
    pub(crate) fn wake_all(&self) {
        let _guard = self.waiters.lock();
        self.published.notify_all();
    }

    /// The kernel producer: appends `count` events read from `src` at byte `offset` (16-byte
    /// aligned, within the buffer: validation checked both), as many as fit; the rest are dropped
    /// and added to the header's `overflow`. Publishes the tail with release ordering and wakes
    /// waiters. Returns how many were appended.
    ///
    /// Free space is `entries - (tail - head)` with the kernel's own tail; a consumer's garbage
    /// `head` can make the ring look full (events dropped), never make the kernel write outside it.
    pub(crate) fn produce(&self, src: &crate::buffer::object::Buffer, offset: usize, count: u32) -> u32 {
        const EVENT: usize = size_of::<uapi::SpikeEvent>();
        let mut tail = self.kernel_tail.lock();
        let head = self.header_word(offset_of!(uapi::SpikeRingHeader, head), |a| {
            a.load(kernel::sync::atomic::Acquire)
        });
        let free = self.entries.saturating_sub(tail.wrapping_sub(head));
        let mut written = 0u32;
        for i in 0..count.min(free) as usize {
            let from = offset + i * EVENT;
            let index = tail.wrapping_add(i as u32) & (self.entries - 1);
            let to = uapi::SPIKE_RING_EVENTS_OFFSET as usize + index as usize * EVENT;
            let (Some(src_page), Some(dst_page)) = (src.pages().get(from / PAGE_SIZE), self.pages.get(to / PAGE_SIZE)) else {
                break;
            };
            // SAFETY: both pages are valid and owned by their objects, which outlive this call;
            // they are unmapped below in reverse order of mapping.
            let (s, d) = unsafe {
                (
                    bindings::kmap_local_page(src_page.as_ptr()).cast::<u8>(),
                    bindings::kmap_local_page(dst_page.as_ptr()).cast::<u8>(),
                )
            };
            // SAFETY: events are 16-byte aligned and never straddle a page (16 divides the page
            // size, the staging offset and the ring's 64-byte header), so both 16-byte ranges lie
            // in their mapped pages. The staging bytes may be written concurrently by a
            // misbehaving client and the ring slot read by the consumer: volatile byte accesses
            // tolerate both (the slot is not yet published, so a correct consumer does not read it).
            unsafe {
                let (s_at, d_at) = (s.add(from % PAGE_SIZE), d.add(to % PAGE_SIZE));
                for k in 0..EVENT {
                    d_at.add(k).write_volatile(s_at.add(k).read_volatile());
                }
                bindings::kunmap_local(d.cast());
                bindings::kunmap_local(s.cast());
            }
            written += 1;
        }
        *tail = tail.wrapping_add(written);
        let dropped = count - written;
        if dropped > 0 {
            self.header_word(offset_of!(uapi::SpikeRingHeader, overflow), |a| {
                a.add(dropped, Relaxed)
            });
        }
        let new_tail = *tail;
        self.header_word(offset_of!(uapi::SpikeRingHeader, tail), |a| {
            a.store(new_tail, kernel::sync::atomic::Release)
        });
        drop(tail);
        stats::SPIKE_EVENTS_PRODUCED.add(u64::from(written), Relaxed);
        stats::SPIKE_EVENTS_DROPPED.add(u64::from(dropped), Relaxed);
        self.wake_all();
        written
    }
}

#[pinned_drop]
impl PinnedDrop for SpikeQueue {
    fn drop(self: Pin<&mut Self>) {
        stats::SPIKE_QUEUES.fetch_sub(1, Relaxed);
    }
}
