// SPDX-License-Identifier: GPL-2.0

//! Jobs: one admitted primitive on its way from a queue to a backend and back.
//!
//! A job holds references to its operand buffers (so they outlive handle destruction and file
//! close), to its queue (to report completion) and to its backend's counters. Its state moves
//! QUEUED → RUNNING → DONE by compare-and-exchange, so exactly one of completion, timeout, abort or
//! device loss ends it, whichever comes first; later attempts learn that they lost.

use crate::{account, backend::Backend, buffer::Buffer, queue::Queue, spike::SpikeQueue, uapi};
use kernel::{
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc,
    },
};

const QUEUED: u32 = 0;
const RUNNING: u32 = 1;
const DONE: u32 = 2;

/// Job identifiers are module-wide and never reused while the module is loaded.
static NEXT_JOB_ID: Atomic<u64> = Atomic::new(1);

/// One admitted primitive.
pub(crate) struct Job {
    id: u64,
    seq: u64,
    prim: uapi::Primitive,
    buffers: [Option<Arc<Buffer>>; uapi::MAX_OPERANDS],
    /// The queue an `OP_SPIKE_ENCODE` produces into.
    spike_queue: Option<Arc<SpikeQueue>>,
    queue: Arc<Queue>,
    backend: Arc<dyn Backend>,
    submitted_ns: u64,
    deadline_ns: u64,
    state: Atomic<u32>,
}

impl Job {
    /// A job for `prim` with sequence number `seq` on `queue`, to run on `backend` (producing into
    /// `spike_queue` for `OP_SPIKE_ENCODE`).
    pub(crate) fn new(
        seq: u64,
        prim: uapi::Primitive,
        buffers: [Option<Arc<Buffer>>; uapi::MAX_OPERANDS],
        spike_queue: Option<Arc<SpikeQueue>>,
        queue: Arc<Queue>,
        backend: Arc<dyn Backend>,
        now_ns: u64,
    ) -> Result<Arc<Self>> {
        let deadline_ns = now_ns.saturating_add(queue.timeout_ns());
        // Counted before the value exists: if `Arc::new` fails, `Drop` uncounts it.
        account::JOBS_IN_FLIGHT.add(1, Relaxed);
        let job = Arc::new(
            Self {
                id: NEXT_JOB_ID.fetch_add(1, Relaxed),
                seq,
                prim,
                buffers,
                spike_queue,
                queue,
                backend,
                submitted_ns: now_ns,
                deadline_ns,
                state: Atomic::new(QUEUED),
            },
            GFP_KERNEL,
        )?;
        Ok(job)
    }

    /// The module-wide job identifier.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The sequence number on its queue.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// The primitive, with the submitter's handles.
    pub(crate) fn prim(&self) -> &uapi::Primitive {
        &self.prim
    }

    /// The operand buffers, `None` past the last operand.
    pub(crate) fn buffers(&self) -> &[Option<Arc<Buffer>>; uapi::MAX_OPERANDS] {
        &self.buffers
    }

    /// Produces the first `count` events of its staging output into its spike queue (a no-op for
    /// other ops); returns how many fit.
    pub(crate) fn produce_events(&self, count: u32) -> u32 {
        let n_in = usize::from(self.prim.n_inputs);
        match (&self.spike_queue, &self.buffers[n_in]) {
            (Some(queue), Some(out)) => {
                let offset = self.prim.operands[n_in].offset as usize;
                queue.produce(out, offset, count)
            }
            _ => 0,
        }
    }

    /// The priority of its queue.
    pub(crate) fn priority(&self) -> u32 {
        self.queue.priority()
    }

    /// When it times out (`CLOCK_MONOTONIC` ns).
    pub(crate) fn deadline_ns(&self) -> u64 {
        self.deadline_ns
    }

    /// Whether it has ended (completed, timed out, aborted or lost).
    pub(crate) fn ended(&self) -> bool {
        self.state.load(Relaxed) == DONE
    }

    /// Marks it running; `false` when it already ended (aborted or timed out while queued).
    pub(crate) fn start(&self) -> bool {
        self.state.cmpxchg(QUEUED, RUNNING, Relaxed).is_ok()
    }

    /// Ends the job with `status` unless something else ended it first (then returns `false`):
    /// records the status on the queue's timeline and counts it.
    pub(crate) fn complete(&self, status: u32) -> bool {
        self.complete_after(status, || {})
    }

    /// How many events its staging output holds (`OP_SPIKE_ENCODE`; 0 for other ops).
    pub(crate) fn event_capacity(&self) -> u64 {
        if self.spike_queue.is_none() {
            return 0;
        }
        let out = &self.prim.operands[usize::from(self.prim.n_inputs)];
        out.shape[0]
    }

    /// Like [`Job::complete`], running `publish` after the job is claimed and before its status is
    /// visible: a waiter that sees the job done sees what `publish` did.
    pub(crate) fn complete_after(&self, status: u32, publish: impl FnOnce()) -> bool {
        let mut current = self.state.load(Relaxed);
        loop {
            if current == DONE {
                return false;
            }
            match self.state.cmpxchg(current, DONE, Relaxed) {
                Ok(_) => break,
                Err(seen) => current = seen,
            }
        }
        publish();
        account::JOBS_IN_FLIGHT.fetch_sub(1, Relaxed);
        let latency = account::monotonic_ns().saturating_sub(self.submitted_ns);
        account::complete(self.prim.op, self.backend.counters(), status, latency);
        self.queue.complete(self.seq, status);
        true
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // A job dropped without ending (its batch failed to be admitted) leaves the count here.
        if self.state.load(Relaxed) != DONE {
            account::JOBS_IN_FLIGHT.fetch_sub(1, Relaxed);
        }
    }
}
