//! `QUERY`: the module's, this context's, each op's, each backend's and each spike queue's
//! counters, the caller's quotas, in Rust types (the ABI's result structs stay inside the runtime).

use crate::{sys, Context, Op, Result};
use lightos_uapi as uapi;
use nix::errno::Errno;
use std::os::fd::{AsFd, AsRawFd};

/// Module-wide counters (`QUERY_STATS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Contexts open now.
    pub contexts: u64,
    /// Buffer objects alive now.
    pub buffers: u64,
    /// Bytes in live buffer objects.
    pub buffer_bytes: u64,
    /// Buffer objects created since the module was loaded.
    pub buffers_created: u64,
    /// Buffer creations refused by a limit.
    pub buffer_limit_hits: u64,
    /// Jobs admitted and not yet completed.
    pub jobs_in_flight: u64,
}

/// The calling context's state (`QUERY_CONTEXT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContextStats {
    /// The context's identifier.
    pub context_id: u64,
    /// ioctls issued on it, the query included.
    pub ioctls: u64,
    /// Buffer handles it holds.
    pub buffers: u32,
}

/// One per-uid quota and what the caller's uid uses of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaUsage {
    /// In use now, module-wide, by objects the uid created.
    pub used: u64,
    /// The quota (module parameter `quota_*`).
    pub quota: u64,
}

/// The per-uid quotas and the usage of the uid that opened the context (`QUERY_QUOTA`, ABI 1.9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quota {
    /// The effective uid that opened the context.
    pub uid: u32,
    /// Opened with `CAP_SYS_ADMIN`: counted, not limited.
    pub exempt: bool,
    /// Bytes in live buffer objects.
    pub buffer_bytes: QuotaUsage,
    /// Live buffer objects.
    pub buffers: QuotaUsage,
    /// Live submission queues.
    pub queues: QuotaUsage,
    /// Jobs in flight.
    pub jobs: QuotaUsage,
    /// Live spike queues.
    pub spike_queues: QuotaUsage,
}

/// Counters of one op, module-wide or on one backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpStats {
    /// Primitives accepted.
    pub count: u64,
    /// Floating-point (or integer) operations they represent, by the op's formula.
    pub flops: u64,
    /// Operand bytes they named.
    pub bytes: u64,
    /// Primitives rejected, or completed with a status other than OK.
    pub errors: u64,
    /// Submit-to-completion latencies: bucket `i` counts those under 2^i µs (the last: the rest).
    pub latency_us_log2: [u64; uapi::LATENCY_BUCKETS],
}

impl From<&uapi::OpStats> for OpStats {
    fn from(s: &uapi::OpStats) -> Self {
        OpStats {
            count: s.count,
            flops: s.flops,
            bytes: s.bytes,
            errors: s.errors,
            latency_us_log2: s.latency_us_log2,
        }
    }
}

/// Module-wide counters of every op (`QUERY_OPS`), indexed by [`Op`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerOp([OpStats; uapi::OP_COUNT]);

impl std::ops::Index<Op> for PerOp {
    type Output = OpStats;

    fn index(&self, op: Op) -> &OpStats {
        &self.0[op as usize - 1]
    }
}

/// What a backend is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// A userspace executor process ([`crate::Executor`]).
    Executor,
    /// A device driven by a kernel driver (the photonic NPU).
    Device,
    /// The null device (`null0`, module parameter `null_backend=1`): completes every primitive at
    /// once without computing anything, to measure the framework alone.
    Null,
    /// A kind this runtime does not know (a newer module).
    Other(u32),
}

/// A registered backend (`QUERY_BACKENDS`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendInfo {
    /// Its name (`cpu0`, `photonic0`, …).
    pub name: String,
    /// Its identifier, as routing rules name it.
    pub id: u32,
    /// Executor or device.
    pub kind: BackendKind,
    /// Ops it runs ([`Op::bit`] mask).
    pub ops: u64,
    /// Ops it runs bit-reproducibly.
    pub deterministic_ops: u64,
    /// Dtypes it accepts ([`crate::DType::bit`] mask).
    pub dtypes: u32,
    /// Jobs queued to it now, not yet started.
    pub queued: u32,
    /// Jobs it is running now.
    pub running: u32,
    /// Its counters, all ops together.
    pub stats: OpStats,
}

impl From<&uapi::BackendInfo> for BackendInfo {
    fn from(b: &uapi::BackendInfo) -> Self {
        BackendInfo {
            name: nul_padded_name(&b.name),
            id: b.backend_id,
            kind: match b.kind {
                uapi::BACKEND_KIND_EXECUTOR => BackendKind::Executor,
                uapi::BACKEND_KIND_DEVICE => BackendKind::Device,
                uapi::BACKEND_KIND_NULL => BackendKind::Null,
                other => BackendKind::Other(other),
            },
            ops: b.ops,
            deterministic_ops: b.deterministic_ops,
            dtypes: b.dtypes,
            queued: b.queued,
            running: b.running,
            stats: OpStats::from(&b.stats),
        }
    }
}

/// One of this context's spike queues and its counters (`QUERY_SPIKE_QUEUES`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpikeQueueStats {
    /// The queue.
    pub queue_id: u32,
    /// Its entries.
    pub entries: u32,
    /// Events in the ring now.
    pub available: u32,
    /// Events producers counted as dropped.
    pub overflow: u32,
    /// Events published so far (free-running, wraps at 2³²).
    pub tail: u32,
    /// Events consumed so far (likewise).
    pub head: u32,
    /// `SPIKE_WAIT` calls.
    pub waits: u64,
    /// Sleeps ended by a `SPIKE_NOTIFY`.
    pub wakeups: u64,
    /// `SPIKE_NOTIFY` calls.
    pub notifies: u64,
}

/// The text of a NUL-padded name field of the ABI (backend and device names).
pub(crate) fn nul_padded_name(raw: &[u8]) -> String {
    let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

impl Context {
    /// Module-wide counters (`QUERY_STATS`).
    pub fn stats(&self) -> Result<Stats> {
        let s: uapi::QueryStats = self.query(uapi::QUERY_STATS)?;
        Ok(Stats {
            contexts: s.contexts,
            buffers: s.buffers,
            buffer_bytes: s.buffer_bytes,
            buffers_created: s.buffers_created,
            buffer_limit_hits: s.buffer_limit_hits,
            jobs_in_flight: s.jobs_in_flight,
        })
    }

    /// This context's state (`QUERY_CONTEXT`).
    pub fn context_stats(&self) -> Result<ContextStats> {
        let c: uapi::QueryContext = self.query(uapi::QUERY_CONTEXT)?;
        Ok(ContextStats {
            context_id: c.context_id,
            ioctls: c.ioctls,
            buffers: c.buffers,
        })
    }

    /// The per-uid quotas and this context's uid's usage (`QUERY_QUOTA`, ABI 1.9).
    pub fn quota(&self) -> Result<Quota> {
        let q: uapi::QueryQuota = self.query(uapi::QUERY_QUOTA)?;
        let usage = |used, quota| QuotaUsage { used, quota };
        Ok(Quota {
            uid: q.uid,
            exempt: q.exempt != 0,
            buffer_bytes: usage(q.buffer_bytes, q.buffer_bytes_quota),
            buffers: usage(q.buffers, q.buffers_quota),
            queues: usage(q.queues, q.queues_quota),
            jobs: usage(q.jobs, q.jobs_quota),
            spike_queues: usage(q.spike_queues, q.spike_queues_quota),
        })
    }

    /// Module-wide counters per op (`QUERY_OPS`).
    pub fn op_stats(&self) -> Result<PerOp> {
        let all: [uapi::OpStats; uapi::OP_COUNT] = self.query(uapi::QUERY_OPS)?;
        Ok(PerOp(all.each_ref().map(OpStats::from)))
    }

    /// The registered backends (`QUERY_BACKENDS`).
    pub fn backends(&self) -> Result<Vec<BackendInfo>> {
        // SAFETY: `QueryBackends` is plain integers; all zeroes is a valid value.
        let mut all: Box<uapi::QueryBackends> = Box::new(unsafe { std::mem::zeroed() });
        self.query_into(uapi::QUERY_BACKENDS, &mut *all)?;
        let n = (all.count as usize).min(all.backends.len());
        Ok(all.backends[..n].iter().map(BackendInfo::from).collect())
    }

    /// This context's spike queues and their counters (`QUERY_SPIKE_QUEUES`).
    pub fn spike_queue_stats(&self) -> Result<Vec<SpikeQueueStats>> {
        // SAFETY: `QuerySpikeQueues` is plain integers; all zeroes is a valid value.
        let mut all: Box<uapi::QuerySpikeQueues> = Box::new(unsafe { std::mem::zeroed() });
        self.query_into(uapi::QUERY_SPIKE_QUEUES, &mut *all)?;
        let n = (all.count as usize).min(all.queues.len());
        Ok(all.queues[..n]
            .iter()
            .map(|q| SpikeQueueStats {
                queue_id: q.queue_id,
                entries: q.entries,
                available: q.available,
                overflow: q.overflow,
                tail: q.tail,
                head: q.head,
                waits: q.waits,
                wakeups: q.wakeups,
                notifies: q.notifies,
            })
            .collect())
    }

    /// Runs `QUERY` of `query_type` into a `T` (the result struct of that type).
    fn query<T: Default>(&self, query_type: u32) -> Result<T> {
        let mut result = T::default();
        self.query_into(query_type, &mut result)?;
        Ok(result)
    }

    /// Runs `QUERY` of `query_type` into `result` (the result struct of that type).
    pub(crate) fn query_into<T>(&self, query_type: u32, result: &mut T) -> Result<()> {
        let mut req = uapi::Query {
            query_type,
            size: std::mem::size_of::<T>() as u64,
            ptr: result as *mut T as u64,
            ..Default::default()
        };
        // SAFETY: `req.ptr` points to a writable `T` of `req.size` bytes that outlives the call, and
        // `req` itself is a valid `Query`; the kernel writes at most `size` bytes there.
        unsafe { sys::query(self.as_fd().as_raw_fd(), &mut req) }
            .map_err(|errno: Errno| sys::rejected(self.as_fd().as_raw_fd(), "QUERY", errno))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_info_is_typed_from_the_abi_record() {
        let mut raw = uapi::BackendInfo {
            name: [0; uapi::BACKEND_NAME_LEN],
            backend_id: 3,
            kind: uapi::BACKEND_KIND_DEVICE,
            ops: 2,
            deterministic_ops: 0,
            dtypes: 2,
            queued: 1,
            running: 0,
            pad: 0,
            stats: uapi::OpStats {
                count: 5,
                ..Default::default()
            },
        };
        raw.name[..9].copy_from_slice(b"photonic0");
        let b = BackendInfo::from(&raw);
        assert_eq!(
            (b.name.as_str(), b.id, b.kind),
            ("photonic0", 3, BackendKind::Device)
        );
        assert_eq!(b.stats.count, 5);
        raw.kind = 9;
        raw.name = [b'x'; uapi::BACKEND_NAME_LEN];
        let b = BackendInfo::from(&raw);
        assert_eq!(b.kind, BackendKind::Other(9));
        assert_eq!(
            b.name.len(),
            uapi::BACKEND_NAME_LEN,
            "no NUL: the whole field"
        );
    }

    #[test]
    fn per_op_counters_are_indexed_by_op() {
        let mut all = [OpStats::default(); uapi::OP_COUNT];
        all[usize::from(uapi::OP_ADD) - 1].count = 7;
        assert_eq!(PerOp(all)[Op::Add].count, 7);
        assert_eq!(PerOp(all)[Op::Matmul].count, 0);
    }
}
