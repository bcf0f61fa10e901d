// SPDX-License-Identifier: GPL-2.0

//! Module-wide counters; `QUERY_STATS` reports them and [`crate::telemetry::debugfs`] shows them.

use kernel::sync::atomic::{Atomic, Relaxed};

/// Contexts open now.
pub(crate) static CONTEXTS: Atomic<u32> = Atomic::new(0);
/// Buffer objects alive now (held by a handle, a mapping's owner or a job).
pub(crate) static BUFFERS: Atomic<u32> = Atomic::new(0);
/// Bytes in live buffer objects.
pub(crate) static BUFFER_BYTES: Atomic<u64> = Atomic::new(0);
/// Buffer objects created since load.
pub(crate) static BUFFERS_CREATED: Atomic<u64> = Atomic::new(0);
/// Buffer creations refused by a limit (per-context count or module-wide bytes).
pub(crate) static BUFFER_LIMIT_HITS: Atomic<u64> = Atomic::new(0);
/// Spike queues alive, module-wide.
pub(crate) static SPIKE_QUEUES: Atomic<u32> = Atomic::new(0);
/// Spike queues ever created.
pub(crate) static SPIKE_QUEUES_CREATED: Atomic<u64> = Atomic::new(0);
/// Spike events consumed through `pread`.
pub(crate) static SPIKE_EVENTS_READ: Atomic<u64> = Atomic::new(0);
/// Spike events the kernel produced into kernel-produced queues.
pub(crate) static SPIKE_EVENTS_PRODUCED: Atomic<u64> = Atomic::new(0);
/// Spike events the kernel dropped because the queue was full.
pub(crate) static SPIKE_EVENTS_DROPPED: Atomic<u64> = Atomic::new(0);
/// `SPIKE_WAIT` sleeps ended by a notification.
pub(crate) static SPIKE_WAKEUPS: Atomic<u64> = Atomic::new(0);
/// `SPIKE_NOTIFY` calls.
pub(crate) static SPIKE_NOTIFIES: Atomic<u64> = Atomic::new(0);

/// Job slots allocated now (a job and its fence; kept by their queue for reuse once retired).
pub(crate) static JOB_SLOTS: Atomic<u32> = Atomic::new(0);
/// Job slots ever allocated: in steady state a queue reuses its slots and this stays put.
pub(crate) static JOB_SLOTS_ALLOCATED: Atomic<u64> = Atomic::new(0);

/// The counters now, as `QUERY_STATS` reports them.
pub(crate) fn snapshot() -> crate::uapi::QueryStats {
    crate::uapi::QueryStats {
        contexts: u64::from(CONTEXTS.load(Relaxed)),
        buffers: u64::from(BUFFERS.load(Relaxed)),
        buffer_bytes: BUFFER_BYTES.load(Relaxed),
        buffers_created: BUFFERS_CREATED.load(Relaxed),
        buffer_limit_hits: BUFFER_LIMIT_HITS.load(Relaxed),
        jobs_in_flight: crate::sched::account::JOBS_IN_FLIGHT.load(Relaxed),
        reserved: [0; 2],
    }
}
