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

use crate::{account, stats, uapi};
use core::{
    mem::offset_of,
    sync::atomic::{fence, Ordering},
};
use kernel::{
    alloc::flags::__GFP_ZERO,
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
    id: u32,
    entries: u32,
    /// Header page first, then the entries' pages.
    pages: KVec<Page>,
    /// Serialises sleeping waiters with notifiers (never taken by userspace producers).
    #[pin]
    waiters: Mutex<bool>,
    #[pin]
    published: CondVar,
    pub(crate) stats: SpikeStats,
}

impl SpikeQueue {
    /// A zeroed ring of `entries` events (a power of two within the ABI's limits, else `EINVAL`).
    pub(crate) fn new(id: u32, entries: u32) -> Result<Arc<Self>> {
        if !entries.is_power_of_two()
            || !(uapi::SPIKE_RING_MIN_ENTRIES..=uapi::SPIKE_RING_MAX_ENTRIES).contains(&entries)
        {
            return Err(EINVAL);
        }
        let bytes = uapi::SPIKE_RING_EVENTS_OFFSET as usize + entries as usize * size_of::<uapi::SpikeEvent>();
        let count = bytes.div_ceil(PAGE_SIZE);
        let mut pages = KVec::with_capacity(count, GFP_KERNEL)?;
        for _ in 0..count {
            pages.push(Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?, GFP_KERNEL)?;
        }
        let header = uapi::SpikeRingHeader {
            mask: entries - 1,
            entries,
            events_offset: uapi::SPIKE_RING_EVENTS_OFFSET,
            ..Default::default()
        };
        // SAFETY: the pages are ours alone until this function returns (nothing is mapped yet);
        // `header` is readable for its size, which fits the page (asserted by the uapi).
        unsafe {
            pages[0].write_raw((&raw const header).cast(), 0, size_of::<uapi::SpikeRingHeader>())?
        };
        let queue = Arc::pin_init(
            try_pin_init!(Self {
                id,
                entries,
                pages,
                waiters <- new_mutex!(false),
                published <- new_condvar!("lightos_spike"),
                stats: SpikeStats { waits: Atomic::new(0), wakeups: Atomic::new(0), notifies: Atomic::new(0) },
            }? Error),
            GFP_KERNEL,
        )?;
        stats::SPIKE_QUEUES.add(1, Relaxed);
        stats::SPIKE_QUEUES_CREATED.add(1, Relaxed);
        Ok(queue)
    }

    /// Its identifier.
    pub(crate) fn id(&self) -> u32 {
        self.id
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
    /// on a signal; `ENOENT` when the queue is destroyed meanwhile.
    pub(crate) fn wait(&self, min_events: u32, deadline_ns: u64) -> Result<u32> {
        if min_events == 0 || min_events > self.entries {
            return Err(EINVAL);
        }
        self.stats.waits.add(1, Relaxed);
        let mut closed = self.waiters.lock();
        loop {
            if *closed {
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
            let now = account::monotonic_ns();
            if deadline_ns <= now {
                self.set_need_wakeup(false);
                return Err(ETIMEDOUT);
            }
            let ms = (deadline_ns - now).div_ceil(1_000_000).min(MAX_SLEEP_MS) as u32;
            match self.published.wait_interruptible_timeout(&mut closed, msecs_to_jiffies(ms)) {
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

    /// Its state and counters, as `QUERY_SPIKE_QUEUES` reports them.
    pub(crate) fn info(&self) -> uapi::SpikeQueueInfo {
        let word = |offset| self.header_word(offset, |a| a.load(Relaxed));
        uapi::SpikeQueueInfo {
            queue_id: self.id,
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

    /// The queue is destroyed: waiters return `ENOENT`.
    pub(crate) fn close(&self) {
        *self.waiters.lock() = true;
        self.published.notify_all();
    }
}

#[pinned_drop]
impl PinnedDrop for SpikeQueue {
    fn drop(self: Pin<&mut Self>) {
        stats::SPIKE_QUEUES.fetch_sub(1, Relaxed);
    }
}
