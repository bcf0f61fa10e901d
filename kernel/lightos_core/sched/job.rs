// SPDX-License-Identifier: GPL-2.0

//! Jobs: one admitted primitive on its way from a queue to a backend and back.
//!
//! A job holds references to its operand buffers (so they outlive handle destruction and file
//! close) and its [`Fence`]: its queue's timeline, its sequence number and its completion token.
//! Whichever of completion, timeout, abort or device loss spends the token first ends the job;
//! later attempts learn that they lost. The timeline, not the job, holds the job's status.

use crate::{
    buffer::object::Buffer,
    sched::{backend::Backend, timeline::Fence},
    spike::ring::SpikeQueue,
    uapi,
};
use kernel::{
    prelude::*,
    sync::{
        atomic::{Atomic, Full, Relaxed},
        Arc,
    },
};

/// Job identifiers are module-wide and never reused while the module is loaded.
static NEXT_JOB_ID: Atomic<u64> = Atomic::new(1);

/// One admitted primitive.
pub(crate) struct Job {
    id: u64,
    prim: uapi::Primitive,
    buffers: [Option<Arc<Buffer>>; uapi::MAX_OPERANDS],
    /// The queue an `OP_SPIKE_ENCODE` produces into.
    spike_queue: Option<Arc<SpikeQueue>>,
    /// Its queue's priority.
    priority: u32,
    fence: Arc<Fence>,
    /// Where it runs; a job with dependencies is dispatched there once they are met.
    backend: Arc<dyn Backend>,
    /// Dependencies not yet ended, plus one held by the submission until it registered them all
    /// ([`crate::sched::deps`]); 0 for a job dispatched at submission.
    deps_left: Atomic<u32>,
    /// A dependency ended with a status other than OK.
    dep_failed: Atomic<bool>,
}

impl Job {
    /// A job for `prim` around `fence` (its sequence number on a queue of `priority`), routed to
    /// `backend`, producing into `spike_queue` for `OP_SPIKE_ENCODE`. With `n_deps` dependencies it
    /// waits for them (and for [`Job::dependency_ended`] once more from its submission).
    pub(crate) fn new(
        fence: Arc<Fence>,
        mut prim: uapi::Primitive,
        buffers: [Option<Arc<Buffer>>; uapi::MAX_OPERANDS],
        spike_queue: Option<Arc<SpikeQueue>>,
        priority: u32,
        backend: Arc<dyn Backend>,
    ) -> Result<Arc<Self>> {
        let n_deps = prim.n_deps;
        // The submitter's dependency list is its own business, not the executor's.
        prim.deps = 0;
        prim.n_deps = 0;
        Ok(Arc::new(
            Self {
                id: NEXT_JOB_ID.fetch_add(1, Relaxed),
                prim,
                buffers,
                spike_queue,
                priority,
                fence,
                backend,
                deps_left: Atomic::new(if n_deps == 0 { 0 } else { n_deps + 1 }),
                dep_failed: Atomic::new(false),
            },
            GFP_KERNEL,
        )?)
    }

    /// Its fence.
    pub(crate) fn fence(&self) -> &Arc<Fence> {
        &self.fence
    }

    /// Whether it waits for dependencies (it is then dispatched by [`Job::dependency_ended`]).
    pub(crate) fn has_deps(&self) -> bool {
        self.deps_left.load(Relaxed) != 0
    }

    /// One of its dependencies (or its submission's registration) ended with `status`. The last
    /// one dispatches the job to its backend into the room reserved at submission, or, when one
    /// failed, ends it `DEPENDENCY_FAILED` without running it. Called with no lock held.
    pub(crate) fn dependency_ended(self: &Arc<Self>, status: u32) {
        if status != uapi::STATUS_OK {
            self.dep_failed.store(true, Relaxed);
        }
        if self.deps_left.fetch_sub(1, Full) != 1 {
            return;
        }
        // The last count: every other decrement happened before this one (same atomic, and the
        // release queue's lock orders the drainers), so `dep_failed` is final.
        if self.dep_failed.load(Relaxed) || self.ended() {
            self.backend.unreserve(self.priority, 1);
            self.complete(uapi::STATUS_DEPENDENCY_FAILED);
            return;
        }
        if self.backend.enqueue(self.clone()).is_ok() {
            self.backend.kick();
        } else {
            self.complete(uapi::STATUS_DEVICE_LOST);
        }
    }

    /// The module-wide job identifier.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The sequence number on its queue.
    pub(crate) fn seq(&self) -> u64 {
        self.fence.seq()
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
        self.priority
    }

    /// Whether it has ended (completed, timed out, aborted or lost).
    pub(crate) fn ended(&self) -> bool {
        self.fence.ended()
    }

    /// Marks it running; `false` when it already ended (aborted or timed out while queued).
    pub(crate) fn start(&self) -> bool {
        self.fence.start()
    }

    /// Ends the job with `status` unless something else ended it first (then returns `false`):
    /// counts it and records the status on its queue's timeline.
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
        self.fence.signal_after(status, publish)
    }
}
