// SPDX-License-Identifier: GPL-2.0

//! Jobs: one admitted primitive on its way from a queue to a backend and back.
//!
//! A job holds references to its operand buffers (so they outlive handle destruction and file
//! close) and its [`Fence`]: its queue's timeline, its sequence number and its completion token.
//! Whichever of completion, timeout, abort or device loss spends the token first ends the job;
//! later attempts learn that they lost. The timeline, not the job, holds the job's status.
//!
//! Job slots (ABI 1.10, no allocation on the hot path): a job and its fence are one allocation, a
//! *slot*, held by its queue's timeline from admission until it retires. A slot whose last
//! reference is the timeline's when it retires is cleared ([`Job::clear`]: its buffers, backend
//! and charge let go at once) and kept for the queue's next admission, so a queue in steady state
//! allocates nothing per job ([`crate::sched::timeline`] keeps the free slots).

use crate::{
    buffer::object::Buffer,
    sched::{
        backend::Backend,
        timeline::{Fence, Timeline},
    },
    spike::ring::SpikeQueue,
    telemetry::stats,
    uapi,
};
use kernel::{
    prelude::*,
    sync::{
        atomic::{Atomic, Full, Relaxed},
        Arc, UniqueArc,
    },
};

/// Job identifiers are module-wide and never reused while the module is loaded.
static NEXT_JOB_ID: Atomic<u64> = Atomic::new(1);

/// What a job is made of besides its fence: built by the submission, placed into a slot by the
/// timeline at admission.
pub(crate) struct JobSpec {
    /// The primitive (its dependency list is dropped: the executor never sees it).
    pub(crate) prim: uapi::Primitive,
    /// Its operand buffers.
    pub(crate) buffers: [Option<Arc<Buffer>>; uapi::MAX_OPERANDS],
    /// The queue an `OP_SPIKE_ENCODE` produces into.
    pub(crate) spike_queue: Option<Arc<SpikeQueue>>,
    /// Its queue's priority.
    pub(crate) priority: u32,
    /// Where it runs.
    pub(crate) backend: Arc<dyn Backend>,
}

/// One admitted primitive (or, between two admissions, a cleared slot).
pub(crate) struct Job {
    fence: Fence,
    id: u64,
    prim: uapi::Primitive,
    buffers: [Option<Arc<Buffer>>; uapi::MAX_OPERANDS],
    /// The queue an `OP_SPIKE_ENCODE` produces into.
    spike_queue: Option<Arc<SpikeQueue>>,
    /// Its queue's priority.
    priority: u32,
    /// Where it runs; a job with dependencies is dispatched there once they are met. `None` only
    /// in a cleared slot.
    backend: Option<Arc<dyn Backend>>,
    /// Dependencies not yet ended, plus one held by the submission until it registered them all
    /// ([`crate::sched::deps`]); 0 for a job dispatched at submission.
    deps_left: Atomic<u32>,
    /// A dependency ended with a status other than OK.
    dep_failed: Atomic<bool>,
    /// Counted in [`stats::JOB_SLOTS`] (an allocated slot, not a value on its way into one).
    counted: bool,
}

impl Drop for Job {
    fn drop(&mut self) {
        if self.counted {
            stats::JOB_SLOTS.fetch_sub(1, Relaxed);
        }
    }
}

impl Job {
    /// The job `spec` describes, around `fence`. With dependencies (`spec.prim.n_deps`) it waits
    /// for them (and for [`Job::dependency_ended`] once more from its submission).
    pub(crate) fn new(fence: Fence, spec: JobSpec) -> Self {
        let mut prim = spec.prim;
        let n_deps = prim.n_deps;
        // The submitter's dependency list is its own business, not the executor's.
        prim.deps = 0;
        prim.n_deps = 0;
        Self {
            fence,
            id: NEXT_JOB_ID.fetch_add(1, Relaxed),
            prim,
            buffers: spec.buffers,
            spike_queue: spec.spike_queue,
            priority: spec.priority,
            backend: Some(spec.backend),
            deps_left: Atomic::new(if n_deps == 0 { 0 } else { n_deps + 1 }),
            dep_failed: Atomic::new(false),
            counted: false,
        }
    }

    /// An empty slot around `fence` (an ended fence of no sequence number).
    pub(crate) fn vacant(fence: Fence) -> Self {
        Self {
            fence,
            id: 0,
            prim: uapi::Primitive::default(),
            buffers: [const { None }; uapi::MAX_OPERANDS],
            spike_queue: None,
            priority: 0,
            backend: None,
            deps_left: Atomic::new(0),
            dep_failed: Atomic::new(false),
            counted: false,
        }
    }

    /// A new slot holding `self`, counted in [`stats::JOB_SLOTS`] and
    /// [`stats::JOB_SLOTS_ALLOCATED`]. `ENOMEM` (then `self` drops).
    pub(crate) fn into_slot(self) -> Result<Pin<UniqueArc<Self>>> {
        let mut slot = UniqueArc::new(self, GFP_KERNEL)?;
        slot.counted = true;
        stats::JOB_SLOTS.fetch_add(1, Relaxed);
        stats::JOB_SLOTS_ALLOCATED.fetch_add(1, Relaxed);
        Ok(slot.into())
    }

    /// Puts `self` into the cleared `slot` (allocating nothing); what the slot held drops.
    pub(crate) fn refill(mut self, slot: &mut Pin<UniqueArc<Self>>) {
        let old = Pin::get_mut(slot.as_mut());
        self.counted = core::mem::replace(&mut old.counted, false);
        *old = self;
    }

    /// Lets go of everything the ended job held (buffers, spike queue, backend, charge), keeping
    /// the slot for another job of the same queue.
    pub(crate) fn clear(&mut self) {
        self.buffers = [const { None }; uapi::MAX_OPERANDS];
        self.spike_queue = None;
        self.backend = None;
        self.fence.clear();
    }

    /// Its fence.
    pub(crate) fn fence(&self) -> &Fence {
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
        let Some(backend) = self.backend.as_ref() else { return };
        // The last count: every other decrement happened before this one (same atomic, and the
        // release queue's lock orders the drainers), so `dep_failed` is final.
        if self.dep_failed.load(Relaxed) || self.ended() {
            backend.unreserve(self.priority, 1);
            self.complete(uapi::STATUS_DEPENDENCY_FAILED);
            return;
        }
        if backend.enqueue(self.clone()).is_ok() {
            backend.kick();
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

    /// Like [`Job::complete_after`] for a caller handing back its reference: it is dropped before
    /// the status is recorded, so that when the timeline retires the job its reference is the last
    /// one and the slot is kept for the queue's next job (see the module docs). Backends call it
    /// with the reference they took from their queue.
    pub(crate) fn finish_after(this: Arc<Self>, status: u32, publish: impl FnOnce(&Self)) -> bool {
        if !this.fence.claim() {
            return false;
        }
        publish(&this);
        let (timeline, seq) = (this.fence.timeline().clone(), this.seq());
        drop(this);
        timeline.record(seq, status);
        true
    }

    /// [`Job::finish_after`] with nothing to publish.
    pub(crate) fn finish(this: Arc<Self>, status: u32) -> bool {
        Self::finish_after(this, status, |_| {})
    }

    /// Ends each of `jobs` with its status unless something else ended it first, as
    /// [`Job::finish_after`] does (`publish` runs, with the job's status and payload, for each job
    /// this ends, before its status is visible) and handing the references back: jobs of the same queue in a row are recorded
    /// under one lock of its timeline. Returns how many it ended. Called with no lock held.
    pub(crate) fn finish_all<P>(
        jobs: impl IntoIterator<Item = (Arc<Self>, u32, P)>,
        mut publish: impl FnMut(&Self, u32, P),
    ) -> usize {
        const GROUP: usize = uapi::MAX_JOB_BATCH as usize;
        let mut group = [(0u64, 0u32); GROUP];
        let (mut n, mut ended, mut timeline): (usize, usize, Option<Arc<Timeline>>) = (0, 0, None);
        for (job, status, payload) in jobs {
            if !job.fence.claim() {
                continue;
            }
            publish(&job, status, payload);
            ended += 1;
            let same = timeline.as_ref().is_some_and(|t| Arc::ptr_eq(t, job.fence.timeline()));
            if !same || n == GROUP {
                if let Some(t) = timeline.take() {
                    t.record_all(&group[..n]);
                }
                (n, timeline) = (0, Some(job.fence.timeline().clone()));
            }
            group[n] = (job.seq(), status);
            n += 1;
        }
        if let Some(t) = timeline {
            t.record_all(&group[..n]);
        }
        ended
    }
}
