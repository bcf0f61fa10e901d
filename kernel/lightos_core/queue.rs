// SPDX-License-Identifier: GPL-2.0

//! Queues: a per-queue u64 timeline of sequence numbers, `WAIT`, job timeouts and the read-only
//! completion page.
//!
//! Sequence numbers start at 1 and are consecutive. Jobs may complete out of order (different
//! backends); the timeline (`completed_seq`) is the highest sequence number up to which every job
//! has completed. Statuses of the last [`uapi::COMPLETION_RING_ENTRIES`] sequence numbers are kept
//! in a ring, both here and on the completion page.
//!
//! Timeouts: each queue has a delayed work item armed for the oldest in-flight job's deadline
//! (all jobs of a queue share one timeout, so deadlines grow with sequence numbers); it fails overdue
//! jobs with `TIMEOUT` and re-arms itself while jobs remain. `WAIT` and `SUBMIT` also expire overdue
//! jobs when they look. Closing the queue flushes the work item, so none is pending once every queue
//! is closed (every file is closed before the module can be unloaded).

use crate::{account, job::Job, uapi};
use core::sync::atomic::{fence, Ordering};
use kernel::{
    alloc::flags::__GFP_ZERO,
    bindings, impl_has_delayed_work, new_condvar, new_delayed_work, new_mutex,
    page::Page,
    prelude::*,
    sync::{Arc, CondVar, CondVarTimeoutResult, Mutex, MutexGuard},
    time::msecs_to_jiffies,
    workqueue::{self, DelayedWork, WorkItem},
};

/// The mutable state of a queue.
struct QueueState {
    /// The last sequence number handed out.
    submitted: u64,
    /// Every job up to here has completed.
    completed: u64,
    /// Jobs that completed with a status other than OK.
    errors: u64,
    /// In-flight jobs, in sequence order, with their status once known.
    inflight: KVec<(Arc<Job>, u32)>,
    /// `(seq, status)` of the last sequence numbers, indexed by `seq % COMPLETION_RING_ENTRIES`.
    ring: [(u64, u32); uapi::COMPLETION_RING_ENTRIES],
    /// Destroyed: no more submissions.
    closed: bool,
    /// The lowest sequence number a sleeping waiter needs; completions below it wake nobody.
    wake_at: u64,
}

/// A submission queue.
#[pin_data]
pub(crate) struct Queue {
    id: u32,
    priority: u32,
    timeout_ns: u64,
    /// The completion page (`uapi::CompletionPage`), mapped read-only by clients.
    page: Page,
    #[pin]
    state: Mutex<QueueState>,
    #[pin]
    done: CondVar,
    /// Fails overdue jobs without anyone waiting; armed for the oldest job's deadline.
    #[pin]
    timeout_work: DelayedWork<Queue>,
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self> for Queue { self.timeout_work }
}

impl WorkItem for Queue {
    type Pointer = Arc<Queue>;

    fn run(this: Arc<Queue>) {
        this.expire();
        let st = this.state.lock();
        this.arm(&st);
    }
}

impl Queue {
    /// Creates queue `id`. `EINVAL` for an unknown priority or a timeout above the maximum.
    pub(crate) fn new(id: u32, priority: u32, timeout_ms: u32) -> Result<Arc<Self>> {
        if priority > uapi::QUEUE_PRIORITY_MAX || timeout_ms > uapi::MAX_JOB_TIMEOUT_MS {
            return Err(EINVAL);
        }
        let timeout_ms = if timeout_ms == 0 { uapi::DEFAULT_JOB_TIMEOUT_MS } else { timeout_ms };
        let page = Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?;
        let entries = uapi::COMPLETION_RING_ENTRIES as u32;
        let offset = core::mem::offset_of!(uapi::CompletionPage, ring_entries);
        // SAFETY: the page is ours alone until this function returns; `entries` is 4 readable bytes.
        unsafe { page.write_raw((&raw const entries).cast(), offset, 4)? };
        Arc::pin_init(
            try_pin_init!(Self {
                id,
                priority,
                timeout_ns: u64::from(timeout_ms) * 1_000_000,
                page,
                state <- new_mutex!(QueueState {
                    submitted: 0,
                    completed: 0,
                    errors: 0,
                    inflight: KVec::new(),
                    ring: [(0, uapi::STATUS_UNKNOWN); uapi::COMPLETION_RING_ENTRIES],
                    closed: false,
                    wake_at: u64::MAX,
                }),
                done <- new_condvar!(),
                timeout_work <- new_delayed_work!("lightos_queue_timeout"),
            }? Error),
            GFP_KERNEL,
        )
    }

    /// The queue's identifier in its context.
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// Its priority (0 lowest).
    pub(crate) fn priority(&self) -> u32 {
        self.priority
    }

    /// Its job timeout in ns.
    pub(crate) fn timeout_ns(&self) -> u64 {
        self.timeout_ns
    }

    /// The completion page.
    pub(crate) fn page(&self) -> &Page {
        &self.page
    }

    /// Admits `count` jobs made by `make(seq)` with consecutive sequence numbers, all or none.
    /// `EBUSY` when they would exceed [`uapi::MAX_QUEUE_INFLIGHT`]; `ENODEV` once destroyed.
    pub(crate) fn admit(
        &self,
        count: usize,
        mut make: impl FnMut(usize, u64) -> Result<Arc<Job>>,
    ) -> Result<KVec<Arc<Job>>> {
        let mut jobs = KVec::with_capacity(count, GFP_KERNEL)?;
        let mut st = self.state.lock();
        if st.closed {
            return Err(ENODEV);
        }
        if st.inflight.len() + count > uapi::MAX_QUEUE_INFLIGHT as usize {
            return Err(EBUSY);
        }
        st.inflight.reserve(count, GFP_KERNEL)?;
        for i in 0..count {
            let seq = st.submitted + 1 + i as u64;
            jobs.push(make(i, seq)?, GFP_KERNEL)?;
        }
        // Nothing can fail from here: the capacity was reserved.
        for job in &jobs {
            st.inflight
                .push_within_capacity((job.clone(), uapi::STATUS_PENDING))
                .map_err(|_| ENOMEM)?;
            let slot = (job.seq() as usize) % uapi::COMPLETION_RING_ENTRIES;
            st.ring[slot] = (job.seq(), uapi::STATUS_PENDING);
            self.publish_entry(job.seq(), uapi::STATUS_PENDING);
        }
        st.submitted += count as u64;
        self.publish_u64(core::mem::offset_of!(uapi::CompletionPage, submitted_seq), st.submitted);
        Ok(jobs)
    }

    /// Arms the timeout work for the oldest pending job's deadline, unless the queue is closed, has
    /// no pending job, or the work is already pending (it is then armed for an earlier or equal
    /// deadline). Called with the state locked, so `close` cannot slip in between check and arm.
    fn arm(self: &Arc<Self>, st: &MutexGuard<'_, QueueState>) {
        if st.closed {
            return;
        }
        let next = st.inflight.iter().find(|(_, s)| *s == uapi::STATUS_PENDING);
        let Some((job, _)) = next else { return };
        let wait_ns = job.deadline_ns().saturating_sub(account::monotonic_ns());
        let ms = u32::try_from(wait_ns.div_ceil(1_000_000)).unwrap_or(u32::MAX);
        // Already queued: the pending run is for an earlier or equal deadline and re-arms.
        let _ = workqueue::system().enqueue_delayed(self.clone(), msecs_to_jiffies(ms) + 1);
    }

    /// Arms the timeout work after a submission (see [`Queue::arm`]).
    pub(crate) fn arm_timeout(self: &Arc<Self>) {
        let st = self.state.lock();
        self.arm(&st);
    }

    /// Records `seq`'s completion with `status` and advances the timeline (called by [`Job`]).
    pub(crate) fn complete(&self, seq: u64, status: u32) {
        let mut st = self.state.lock();
        let Some(pos) = st.inflight.iter().position(|(job, _)| job.seq() == seq) else {
            return;
        };
        st.inflight[pos].1 = status;
        if status != uapi::STATUS_OK {
            st.errors += 1;
            self.publish_u64(core::mem::offset_of!(uapi::CompletionPage, errors), st.errors);
        }
        st.ring[(seq as usize) % uapi::COMPLETION_RING_ENTRIES] = (seq, status);
        self.publish_entry(seq, status);
        // Retire the completed prefix. Dropping a job here cannot drop this queue (the completing
        // job's caller holds a reference to it, and so to the queue) and takes no queue lock.
        let done = st.inflight.iter().take_while(|(_, s)| *s != uapi::STATUS_PENDING).count();
        for _ in 0..done {
            let _ = st.inflight.remove(0);
        }
        st.completed = st.inflight.first().map_or(st.submitted, |(job, _)| job.seq() - 1);
        fence(Ordering::Release);
        self.publish_u64(core::mem::offset_of!(uapi::CompletionPage, completed_seq), st.completed);
        // Wake the waiters only when one of them can be satisfied; every woken waiter that is not
        // done registers its target again before sleeping.
        let wake = st.completed >= st.wake_at;
        if wake {
            st.wake_at = u64::MAX;
        }
        drop(st);
        if wake {
            self.done.notify_all();
        }
    }

    /// Waits until the timeline reaches `seq` or `deadline_ns` passes; returns `(status, completed)`.
    /// `EINVAL` for a sequence number not yet submitted, `ETIMEDOUT`, `ERESTARTSYS` on a signal.
    pub(crate) fn wait(&self, seq: u64, deadline_ns: u64) -> Result<(u32, u64)> {
        let mut st = self.state.lock();
        if seq > st.submitted {
            return Err(EINVAL);
        }
        loop {
            if st.completed >= seq {
                let (s, status) = st.ring[(seq as usize) % uapi::COMPLETION_RING_ENTRIES];
                let status = if s == seq { status } else { uapi::STATUS_UNKNOWN };
                return Ok((status, st.completed));
            }
            let now = account::monotonic_ns();
            if let Some(job) = Self::expired(&st, now) {
                drop(st);
                job.complete(uapi::STATUS_TIMEOUT);
                st = self.state.lock();
                continue;
            }
            if deadline_ns <= now {
                return Err(ETIMEDOUT);
            }
            let next = st
                .inflight
                .iter()
                .filter(|(_, s)| *s == uapi::STATUS_PENDING)
                .map(|(j, _)| j.deadline_ns())
                .min()
                .unwrap_or(deadline_ns);
            let sleep_ns = deadline_ns.min(next).saturating_sub(now);
            let ms = u32::try_from(sleep_ns.div_ceil(1_000_000)).unwrap_or(u32::MAX);
            st.wake_at = st.wake_at.min(seq);
            if let CondVarTimeoutResult::Signal { .. } =
                self.done.wait_interruptible_timeout(&mut st, msecs_to_jiffies(ms))
            {
                return Err(ERESTARTSYS);
            }
        }
    }

    /// Fails every in-flight job whose deadline has passed with `TIMEOUT`.
    pub(crate) fn expire(&self) {
        loop {
            let st = self.state.lock();
            let Some(job) = Self::expired(&st, account::monotonic_ns()) else {
                return;
            };
            drop(st);
            job.complete(uapi::STATUS_TIMEOUT);
        }
    }

    /// Refuses further submissions and aborts every job not yet completed (queue destroyed, file
    /// closed). Running jobs are aborted too: their executor's completion will be refused.
    pub(crate) fn close(&self) {
        let mut st = self.state.lock();
        st.closed = true;
        loop {
            let pending = st.inflight.iter().find(|(_, s)| *s == uapi::STATUS_PENDING);
            let Some(job) = pending.map(|(job, _)| job.clone()) else {
                break;
            };
            drop(st);
            job.complete(uapi::STATUS_ABORTED);
            st = self.state.lock();
        }
        drop(st);
        // Run a pending timeout work now and wait for it; it sees `closed` and does not re-arm, so
        // no work item refers to this queue (or to module code) afterwards.
        // SAFETY: `timeout_work` is a pinned, initialised `delayed_work` inside `self`, which is
        // alive for the call; `flush_delayed_work` may sleep, and `close` runs in process context
        // without locks held.
        unsafe {
            let dwork = DelayedWork::<Queue>::raw_as_work(&raw const self.timeout_work);
            bindings::flush_delayed_work(
                kernel::container_of!(dwork.cast::<bindings::work_struct>(), bindings::delayed_work, work),
            );
        }
    }

    /// An in-flight job past its deadline, if any.
    fn expired(st: &QueueState, now: u64) -> Option<Arc<Job>> {
        st.inflight
            .iter()
            .find(|(job, s)| *s == uapi::STATUS_PENDING && job.deadline_ns() <= now)
            .map(|(job, _)| job.clone())
    }

    /// Writes ring entry `seq` of the completion page.
    fn publish_entry(&self, seq: u64, status: u32) {
        let entry = uapi::CompletionEntry { seq, status, pad: 0 };
        let ring = core::mem::offset_of!(uapi::CompletionPage, ring);
        let slot = (seq as usize) % uapi::COMPLETION_RING_ENTRIES;
        let offset = ring + slot * size_of::<uapi::CompletionEntry>();
        // SAFETY: `entry` is readable for its size; the page is only written under the queue's
        // lock (held by every caller), and userspace maps it read-only, so the kernel's writes do
        // not race with other writes. The offset is inside the page (asserted by the uapi).
        let _ = unsafe {
            self.page.write_raw((&raw const entry).cast(), offset, size_of::<uapi::CompletionEntry>())
        };
    }

    /// Writes an aligned u64 field of the completion page.
    fn publish_u64(&self, offset: usize, value: u64) {
        // SAFETY: as in `publish_entry`; an aligned 8-byte copy is a single store on 64-bit.
        let _ = unsafe { self.page.write_raw((&raw const value).cast(), offset, 8) };
    }
}
