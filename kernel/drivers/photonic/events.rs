// SPDX-License-Identifier: GPL-2.0

//! Hands the thermal guard's events to the core's event log.
//!
//! The guard runs in the timer's interrupt context, where the log's mutex cannot be taken, so it
//! writes each event into a small single-producer ring of atomics and schedules a work item that
//! publishes them in order from process context. If the ring is full (the work item has not run
//! for [`SLOTS`] transitions), the event is counted as dropped, never waited for.

use kernel::{
    impl_has_work, new_work,
    prelude::*,
    sync::{
        atomic::{Acquire, Atomic, Relaxed, Release},
        Arc,
    },
    workqueue::{self, Work, WorkItem},
};

/// Events the ring holds between two runs of the work item (a power of two).
const SLOTS: usize = 32;

/// The guard's outbox.
#[pin_data]
pub(crate) struct Notifier {
    /// Per slot: `CLOCK_MONOTONIC` ns.
    time: [Atomic<u64>; SLOTS],
    /// Per slot: kind (bits 0-7), laser limit in mW (bits 8-31), temperature in m°C (bits 32-63).
    word: [Atomic<u64>; SLOTS],
    /// Per slot: the backend.
    backend: [Atomic<u32>; SLOTS],
    /// Next slot the producer writes (free-running).
    tail: Atomic<u64>,
    /// Next slot the work item reads (free-running).
    head: Atomic<u64>,
    /// Events not recorded because the ring was full.
    pub(crate) dropped: Atomic<u64>,
    #[pin]
    work: Work<Notifier>,
}

impl_has_work! {
    impl HasWork<Self> for Notifier { self.work }
}

impl WorkItem for Notifier {
    type Pointer = Arc<Notifier>;

    fn run(this: Arc<Notifier>) {
        let tail = this.tail.load(Acquire);
        let mut head = this.head.load(Relaxed);
        while head != tail {
            let slot = head as usize % SLOTS;
            let word = this.word[slot].load(Relaxed);
            crate::telemetry::events::publish(
                this.backend[slot].load(Relaxed),
                (word & 0xff) as u32,
                this.time[slot].load(Relaxed),
                (word >> 32) as u32 as i32,
                ((word >> 8) & 0xff_ffff) as u32,
            );
            head += 1;
            this.head.store(head, Release);
        }
    }
}

impl Notifier {
    /// An empty outbox.
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                time: [const { Atomic::new(0u64) }; SLOTS],
                word: [const { Atomic::new(0u64) }; SLOTS],
                backend: [const { Atomic::new(0u32) }; SLOTS],
                tail: Atomic::new(0),
                head: Atomic::new(0),
                dropped: Atomic::new(0),
                work <- new_work!("photonic_events"),
            }),
            GFP_KERNEL,
        )
    }

    /// Records an event (any context, one producer: the guard) and schedules its publication.
    pub(crate) fn raise(self: &Arc<Self>, backend_id: u32, kind: u32, time_ns: u64, temp_mc: i32, limit_mw: u32) {
        let tail = self.tail.load(Relaxed);
        if tail.wrapping_sub(self.head.load(Acquire)) >= SLOTS as u64 {
            self.dropped.add(1, Relaxed);
        } else {
            let slot = tail as usize % SLOTS;
            self.time[slot].store(time_ns, Relaxed);
            let word = u64::from(kind & 0xff) | u64::from(limit_mw & 0xff_ffff) << 8 | u64::from(temp_mc as u32) << 32;
            self.word[slot].store(word, Relaxed);
            self.backend[slot].store(backend_id, Relaxed);
            self.tail.store(tail + 1, Release);
        }
        let _ = workqueue::system().enqueue(self.clone());
    }

    /// Waits until no publication is pending or running (unbind, after the guard stopped).
    pub(crate) fn flush(&self) {
        // SAFETY: `work` is a pinned, initialised `work_struct` inside `self`, alive for the call;
        // `flush_work` may sleep and this runs in process context without locks held.
        unsafe {
            kernel::bindings::flush_work(Work::<Notifier>::raw_get(&raw const self.work));
        }
    }
}
