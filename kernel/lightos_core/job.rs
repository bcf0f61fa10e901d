// SPDX-License-Identifier: GPL-2.0

//! Jobs: one admitted primitive on its way from a queue to a backend and back.
//!
//! A job holds references to its operand buffers (so they outlive handle destruction and file
//! close), to its queue (to report completion) and to its backend's counters. Its state moves
//! QUEUED → RUNNING → DONE by compare-and-exchange, so exactly one of completion, timeout, abort or
//! device loss ends it, whichever comes first; later attempts learn that they lost.

use crate::{account, backend::Backend, buffer::Buffer, queue::Queue, uapi};
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
    queue: Arc<Queue>,
    backend: Arc<dyn Backend>,
    submitted_ns: u64,
    deadline_ns: u64,
    state: Atomic<u32>,
}

impl Job {
    /// A job for `prim` with sequence number `seq` on `queue`, to run on `backend`.
    pub(crate) fn new(
        seq: u64,
        prim: uapi::Primitive,
        buffers: [Option<Arc<Buffer>>; uapi::MAX_OPERANDS],
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
