// SPDX-License-Identifier: GPL-2.0

//! Module-wide counters, and their debugfs view (`/sys/kernel/debug/lightos/stats`).

use kernel::{
    debugfs::{Dir, File},
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
};

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

/// The counters now, as `QUERY_STATS` reports them.
pub(crate) fn snapshot() -> crate::uapi::QueryStats {
    crate::uapi::QueryStats {
        contexts: u64::from(CONTEXTS.load(Relaxed)),
        buffers: u64::from(BUFFERS.load(Relaxed)),
        buffer_bytes: BUFFER_BYTES.load(Relaxed),
        buffers_created: BUFFERS_CREATED.load(Relaxed),
        buffer_limit_hits: BUFFER_LIMIT_HITS.load(Relaxed),
        jobs_in_flight: crate::account::JOBS_IN_FLIGHT.load(Relaxed),
        reserved: [0; 2],
    }
}

/// Writes every counter as `name value` lines.
fn write_stats(_: &(), f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    writeln!(f, "contexts {}", CONTEXTS.load(Relaxed))?;
    writeln!(f, "buffers {}", BUFFERS.load(Relaxed))?;
    writeln!(f, "buffer_bytes {}", BUFFER_BYTES.load(Relaxed))?;
    writeln!(f, "buffers_created {}", BUFFERS_CREATED.load(Relaxed))?;
    writeln!(f, "buffer_limit_hits {}", BUFFER_LIMIT_HITS.load(Relaxed))?;
    writeln!(f, "jobs_in_flight {}", crate::account::JOBS_IN_FLIGHT.load(Relaxed))?;
    writeln!(f, "spike_queues {}", SPIKE_QUEUES.load(Relaxed))?;
    writeln!(f, "spike_queues_created {}", SPIKE_QUEUES_CREATED.load(Relaxed))?;
    writeln!(f, "spike_events_read {}", SPIKE_EVENTS_READ.load(Relaxed))?;
    writeln!(f, "spike_events_produced {}", SPIKE_EVENTS_PRODUCED.load(Relaxed))?;
    writeln!(f, "spike_events_dropped {}", SPIKE_EVENTS_DROPPED.load(Relaxed))?;
    writeln!(f, "spike_wakeups {}", SPIKE_WAKEUPS.load(Relaxed))?;
    writeln!(f, "spike_notifies {}", SPIKE_NOTIFIES.load(Relaxed))?;
    for op in 1..=crate::uapi::OP_COUNT {
        writeln!(f, "op {} {}", crate::account::op_name(op), Counts(&crate::account::op_snapshot(op)))?;
    }
    crate::backend::with_backends(|list| {
        for b in list {
            let name = b.name();
            let len = name.iter().position(|&c| c == 0).unwrap_or(name.len());
            let name = core::str::from_utf8(&name[..len]).unwrap_or("?");
            let counts = b.counters().snapshot();
            writeln!(f, "backend {} id {} {}", name, b.id(), Counts(&counts))?;
        }
        Ok(())
    })
}

/// Formats an op's or backend's counters as `count N flops N bytes N errors N latency_us_log2 [..]`.
struct Counts<'a>(&'a crate::uapi::OpStats);

impl core::fmt::Display for Counts<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.0;
        write!(
            f,
            "count {} flops {} bytes {} errors {} latency_us_log2 {:?}",
            s.count, s.flops, s.bytes, s.errors, s.latency_us_log2
        )
    }
}

/// The `lightos` debugfs directory and its `stats` file; removed when dropped.
#[pin_data]
pub(crate) struct StatsDebugfs {
    #[pin]
    _stats: File<()>,
    _dir: Dir,
}

impl StatsDebugfs {
    /// Creates `/sys/kernel/debug/lightos/stats`. Without debugfs this creates nothing and succeeds.
    pub(crate) fn new() -> impl PinInit<Self, Error> {
        let dir = Dir::new(c"lightos");
        try_pin_init!(Self {
            _stats <- dir.read_callback_file(c"stats", (), &write_stats),
            _dir: dir,
        }? Error)
    }
}
