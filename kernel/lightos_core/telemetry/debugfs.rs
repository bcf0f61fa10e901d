// SPDX-License-Identifier: GPL-2.0

//! The debugfs view of the module's counters (`/sys/kernel/debug/lightos/stats`): the module-wide
//! counters ([`crate::telemetry::stats`]), then every op's and every backend's, then each uid's quota
//! usage.

use crate::{
    sched::{account, backend},
    telemetry::stats::{
        BUFFERS, BUFFERS_CREATED, BUFFER_BYTES, BUFFER_LIMIT_HITS, CONTEXTS, JOB_SLOTS, JOB_SLOTS_ALLOCATED, SPIKE_EVENTS_DROPPED,
        SPIKE_EVENTS_PRODUCED, SPIKE_EVENTS_READ, SPIKE_NOTIFIES, SPIKE_QUEUES, SPIKE_QUEUES_CREATED,
        SPIKE_WAKEUPS,
    },
    uapi,
};
use kernel::{
    debugfs::{Dir, File},
    prelude::*,
    sync::atomic::Relaxed,
};

/// Writes every counter as `name value` lines.
fn write_stats(_: &(), f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    writeln!(f, "contexts {}", CONTEXTS.load(Relaxed))?;
    writeln!(f, "buffers {}", BUFFERS.load(Relaxed))?;
    writeln!(f, "buffer_bytes {}", BUFFER_BYTES.load(Relaxed))?;
    writeln!(f, "buffers_created {}", BUFFERS_CREATED.load(Relaxed))?;
    writeln!(f, "buffer_limit_hits {}", BUFFER_LIMIT_HITS.load(Relaxed))?;
    writeln!(f, "jobs_in_flight {}", account::JOBS_IN_FLIGHT.load(Relaxed))?;
    writeln!(f, "job_slots {}", JOB_SLOTS.load(Relaxed))?;
    writeln!(f, "job_slots_allocated {}", JOB_SLOTS_ALLOCATED.load(Relaxed))?;
    writeln!(f, "spike_queues {}", SPIKE_QUEUES.load(Relaxed))?;
    writeln!(f, "spike_queues_created {}", SPIKE_QUEUES_CREATED.load(Relaxed))?;
    writeln!(f, "spike_events_read {}", SPIKE_EVENTS_READ.load(Relaxed))?;
    writeln!(f, "spike_events_produced {}", SPIKE_EVENTS_PRODUCED.load(Relaxed))?;
    writeln!(f, "spike_events_dropped {}", SPIKE_EVENTS_DROPPED.load(Relaxed))?;
    writeln!(f, "spike_wakeups {}", SPIKE_WAKEUPS.load(Relaxed))?;
    writeln!(f, "spike_notifies {}", SPIKE_NOTIFIES.load(Relaxed))?;
    for op in 1..=uapi::OP_COUNT {
        writeln!(f, "op {} {}", account::op_name(op), Counts(&account::op_snapshot(op)))?;
    }
    backend::with_backends(|list| {
        for b in list {
            let name = b.name();
            let len = name.iter().position(|&c| c == 0).unwrap_or(name.len());
            let name = core::str::from_utf8(&name[..len]).unwrap_or("?");
            let counts = b.counters().snapshot();
            writeln!(f, "backend {} id {} {}", name, b.id(), Counts(&counts))?;
        }
        Ok(())
    })?;
    crate::quota::write_usage(f)
}

/// Formats an op's or backend's counters as `count N flops N bytes N errors N latency_us_log2 [..]`.
struct Counts<'a>(&'a uapi::OpStats);

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
