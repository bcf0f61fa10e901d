// SPDX-License-Identifier: GPL-2.0

//! Timelines and fences: the completion state of one queue, the single owner of its jobs' statuses.
//!
//! A [`Timeline`] hands out consecutive sequence numbers from 1. For the in-flight window
//! `completed_seq + 1 ..= submitted_seq` it keeps each sequence number's [`Fence`] and, once the
//! fence ended, its status. Jobs may end out of order (different backends); `completed_seq` is the
//! highest sequence number up to which every one has ended. The statuses of the last
//! [`uapi::COMPLETION_RING_ENTRIES`] sequence numbers are kept in a ring, both here (for `WAIT`)
//! and on the read-only completion page.
//!
//! A [`Fence`] is what a job carries, as a DRM job carries its `dma_fence`: its timeline, its
//! sequence number and its completion token, the one-shot right to end it. Exactly one of the
//! backend completing it, the timeline timing it out or aborting it, or a backend failing it
//! (`DEVICE_LOST`, `THERMAL_ABORT`) wins the token; later attempts learn that they lost. Ending a
//! fence counts it ([`account::complete`], [`account::JOBS_IN_FLIGHT`]), then records its status
//! here, so a waiter that sees a status sees it counted.
//!
//! Timeouts: each timeline has a delayed work item armed for the oldest pending fence's deadline.
//! All fences of a timeline share one timeout and are stamped under the lock, so deadlines grow
//! with sequence numbers. The work ends overdue fences with `TIMEOUT` and re-arms itself while any
//! remain; `WAIT` and `SUBMIT` also expire overdue fences when they look. Closing the timeline
//! (queue destroyed, file closed) aborts every pending fence and flushes the work item, so none is
//! pending once every queue is closed (every file is closed before the module can be unloaded).
//! Expiry and abort are one pass over the window under the lock: every fence whose token the pass
//! wins is counted and recorded there, the completed prefix retires, and the waiters are woken
//! after the lock is released. Nothing in that pass calls out of this module.
//!
//! Ownership: a job contains its fence, which holds its timeline (`Arc`). The timeline holds the
//! jobs of its window until they retire (a cycle broken at retirement, and by [`Timeline::close`]
//! for every job), the free job slots ([`crate::sched::job`]; emptied at close), and the jobs
//! *waiting for* a job of its window (its dependents), moved out when that job's fence ends and
//! dropped by the release queue's drainer, outside any lock. It knows no backend or context. A
//! retiring job is dropped or cleared under the lock: that lets go of buffers, a spike queue, a
//! backend, counters and a quota charge, none of which takes a lock when dropped, and of a
//! timeline reference that cannot be the last one (the caller holds another).
//!
//! Rings and dependencies (ABI 1.10): a queue with rings ([`crate::sched::rings`]) gets a
//! completion entry for every fence that ends, posted under the lock in the order they end. A
//! sequence number's slot in the window keeps the jobs that depend on it ([`crate::sched::deps`]):
//! ending it moves them to the release queue, and [`Timeline::finish`] drains that queue once the
//! lock is released. (So a job holds its fence and a slot holds jobs: job → fence → timeline →
//! dependent jobs, acyclic because a job only depends on jobs submitted before it.)
//!
//! Lock order: a timeline's `state` lock comes after a backend's (backends end fences with their
//! own locks held, backend → timeline); under it only the release queue's lock is taken, and
//! otherwise only atomics, the completion page and rings, the
//! allocator (window growth on admission), the workqueue (arming) and the condition variable's
//! wait queue.

use crate::{
    quota::JobCharge,
    sched::{
        account::{self, Counters},
        deps::{self, Resolved},
        job::{Job, JobSpec},
        rings::Rings,
    },
    uapi,
};
use kernel::{
    alloc::flags::__GFP_ZERO,
    bindings, impl_has_delayed_work, new_condvar, new_delayed_work, new_mutex,
    page::Page,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed, Release},
        Arc, CondVar, CondVarTimeoutResult, Mutex, MutexGuard, UniqueArc,
    },
    time::msecs_to_jiffies,
    workqueue::{self, DelayedWork, WorkItem},
};

/// Fence token states: queued on a backend, running there, ended (the token is spent).
const QUEUED: u32 = 0;
const RUNNING: u32 = 1;
const ENDED: u32 = 2;

/// What a fence's end is counted against.
pub(crate) struct Charge {
    /// The job's op.
    pub(crate) op: u16,
    /// Its backend's counters.
    pub(crate) backend: Arc<Counters>,
    /// Its submitter's quota of jobs in flight.
    pub(crate) quota: JobCharge,
    /// The primitive's `user_data`, for its completion entry.
    pub(crate) user_data: u64,
}

/// One sequence number of a timeline and the one-shot right to end it; part of its job.
pub(crate) struct Fence {
    timeline: Arc<Timeline>,
    seq: u64,
    /// `None` in a cleared slot.
    charge: Option<Charge>,
    submitted_ns: u64,
    deadline_ns: u64,
    /// When a backend started it (0: never).
    started_ns: Atomic<u64>,
    /// `QUEUED` → `RUNNING` → `ENDED`, or straight to `ENDED`; whoever moves it to `ENDED` ends it.
    state: Atomic<u32>,
}

impl Fence {
    /// Fence `seq` of `timeline`, admitted at `now_ns`. Counted in flight until it ends or drops.
    fn new(timeline: Arc<Timeline>, seq: u64, now_ns: u64, charge: Charge) -> Self {
        let deadline_ns = now_ns.saturating_add(timeline.timeout_ns);
        account::JOBS_IN_FLIGHT.add(1, Relaxed);
        Self {
            timeline,
            seq,
            charge: Some(charge),
            submitted_ns: now_ns,
            deadline_ns,
            started_ns: Atomic::new(0),
            state: Atomic::new(QUEUED),
        }
    }

    /// The fence of an empty slot of `timeline`: no sequence number, already ended.
    fn vacant(timeline: Arc<Timeline>) -> Self {
        Self {
            timeline,
            seq: 0,
            charge: None,
            submitted_ns: 0,
            deadline_ns: 0,
            started_ns: Atomic::new(0),
            state: Atomic::new(ENDED),
        }
    }

    /// Lets go of its charge (the fence ended and retired; its slot is kept for another job).
    pub(crate) fn clear(&mut self) {
        if self.ended() {
            self.charge = None;
        }
    }

    /// Its timeline.
    pub(crate) fn timeline(&self) -> &Arc<Timeline> {
        &self.timeline
    }

    /// Makes `job` wait for this fence (see [`Timeline::add_dependent`]).
    pub(crate) fn add_dependent(&self, job: &Arc<Job>) -> Result<Option<u32>> {
        self.timeline.add_dependent(self.seq, job)
    }

    /// Its sequence number.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// Whether it has ended (completed, timed out, aborted or lost).
    pub(crate) fn ended(&self) -> bool {
        self.state.load(Relaxed) == ENDED
    }

    /// Marks it running; `false` when it already ended (aborted or timed out while queued).
    pub(crate) fn start(&self) -> bool {
        let started = self.state.cmpxchg(QUEUED, RUNNING, Relaxed).is_ok();
        if started {
            self.started_ns.store(crate::time::monotonic_ns(), Relaxed);
        }
        started
    }

    /// Ends it with `status` unless something else ended it first (then returns `false`), running
    /// `publish` after the token is won and before the status is visible: a waiter that sees the
    /// status sees what `publish` did.
    pub(crate) fn signal_after(&self, status: u32, publish: impl FnOnce()) -> bool {
        if !self.claim() {
            return false;
        }
        publish();
        self.timeline.record(self.seq, status);
        true
    }

    /// Spends the token; `true` for the one caller that ends the fence, which must then record
    /// the end ([`Timeline::record`]).
    pub(crate) fn claim(&self) -> bool {
        self.state.xchg(ENDED, Relaxed) != ENDED
    }

    /// Counts its end with `status` (its token was spent by the caller).
    fn count(&self, status: u32) {
        account::JOBS_IN_FLIGHT.fetch_sub(1, Relaxed);
        let Some(charge) = self.charge.as_ref() else { return };
        charge.quota.end();
        let latency = crate::time::monotonic_ns().saturating_sub(self.submitted_ns);
        account::complete(charge.op, &charge.backend, status, latency);
    }
}

impl Drop for Fence {
    fn drop(&mut self) {
        // A fence dropped without ending (its batch failed to be admitted) leaves the count here.
        if self.state.load(Relaxed) != ENDED {
            account::JOBS_IN_FLIGHT.fetch_sub(1, Relaxed);
            if let Some(charge) = self.charge.as_ref() {
                charge.quota.end();
            }
        }
    }
}

/// One sequence number of the in-flight window.
struct Slot {
    /// Its job (whose fence is the sequence number's), until it retires.
    job: Option<Arc<Job>>,
    /// `STATUS_PENDING` until its fence ended.
    status: u32,
    /// Jobs waiting for it to end ([`crate::sched::deps`]); handed to the release queue when it
    /// does.
    dependents: KVec<Arc<Job>>,
}

impl Slot {
    const EMPTY: Self = Self { job: None, status: uapi::STATUS_UNKNOWN, dependents: KVec::new() };
}

/// The in-flight window as a ring: sequence number `seq` at index `seq % slots.len()`. Its length
/// is a power of two, grown on admission (to at most [`uapi::MAX_QUEUE_INFLIGHT`]), so the window's
/// sequence numbers never share a slot; retiring the oldest is O(1).
struct Window {
    slots: KVVec<Slot>,
}

impl Window {
    /// The smallest ring allocated.
    const MIN_SLOTS: usize = 16;

    fn index(&self, seq: u64) -> Option<usize> {
        let len = self.slots.len() as u64;
        (len != 0).then(|| (seq % len) as usize)
    }

    /// The slot of `seq`, when it holds `seq`'s fence.
    fn get(&self, seq: u64) -> Option<&Slot> {
        let slot = &self.slots[self.index(seq)?];
        slot.job.as_ref().is_some_and(|j| j.seq() == seq).then_some(slot)
    }

    /// Like [`Window::get`], for writing.
    fn get_mut(&mut self, seq: u64) -> Option<&mut Slot> {
        let i = self.index(seq)?;
        let slot = &mut self.slots[i];
        slot.job.as_ref().is_some_and(|j| j.seq() == seq).then_some(slot)
    }

    /// Makes room for `len` sequence numbers from `first`, of which the `held` first are in use.
    fn reserve(&mut self, first: u64, held: usize, len: usize) -> Result {
        if len <= self.slots.len() {
            return Ok(());
        }
        let size = len.next_power_of_two().max(Self::MIN_SLOTS);
        let mut slots = KVVec::with_capacity(size, GFP_KERNEL)?;
        for _ in 0..size {
            slots.push(Slot::EMPTY, GFP_KERNEL)?;
        }
        for seq in first..first + held as u64 {
            if let Some(i) = self.index(seq) {
                slots[(seq % size as u64) as usize] =
                    core::mem::replace(&mut self.slots[i], Slot::EMPTY);
            }
        }
        self.slots = slots;
        Ok(())
    }

    /// Puts `job` into its sequence number's slot (free: [`Window::reserve`] made room).
    fn insert(&mut self, job: Arc<Job>) {
        if let Some(i) = self.index(job.seq()) {
            self.slots[i] = Slot { job: Some(job), status: uapi::STATUS_PENDING, dependents: KVec::new() };
        }
    }
}

/// The mutable state of a timeline.
struct TimelineState {
    /// The last sequence number handed out.
    submitted: u64,
    /// Every sequence number up to here has ended.
    completed: u64,
    /// Sequence numbers that ended with a status other than OK.
    errors: u64,
    /// Cleared job slots for the next admissions (see [`crate::sched::job`]); room for
    /// [`uapi::MAX_QUEUE_INFLIGHT`] of them is reserved at the first admission, so keeping one
    /// never allocates. Emptied when the timeline closes (a slot holds its timeline).
    free: KVec<Pin<UniqueArc<Job>>>,
    /// Fences `completed + 1 ..= submitted` and their statuses.
    window: Window,
    /// `(seq, status)` of the last sequence numbers, indexed by `seq % COMPLETION_RING_ENTRIES`.
    ring: [(u64, u32); uapi::COMPLETION_RING_ENTRIES],
    /// Closed: no more admissions.
    closed: bool,
    /// The lowest sequence number a sleeping waiter needs; completions below it wake nobody.
    wake_at: u64,
    /// The queue's rings, once set up: every fence that ends posts a completion entry.
    rings: Option<Arc<Rings>>,
    /// The completion ring's tail at which the most easily satisfied sleeping `ENTER` waiter has
    /// the entries it waits for (cleared once reached: woken waiters that still lack entries set
    /// it again).
    cq_wake_at: Option<u32>,
    /// A completion entry reached `cq_wake_at`: wake the waiters.
    cq_wake: bool,
}

/// The completion timeline of one queue.
#[pin_data]
pub(crate) struct Timeline {
    timeout_ns: u64,
    /// The completion page (`uapi::CompletionPage`), mapped read-only by clients.
    page: Page,
    #[pin]
    state: Mutex<TimelineState>,
    #[pin]
    done: CondVar,
    /// Ends overdue fences without anyone waiting; armed for the oldest pending deadline.
    #[pin]
    timeout_work: DelayedWork<Timeline>,
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self> for Timeline { self.timeout_work }
}

impl WorkItem for Timeline {
    type Pointer = Arc<Timeline>;

    fn run(this: Arc<Timeline>) {
        let mut st = this.state.lock();
        this.end_due(&mut st, crate::time::monotonic_ns(), uapi::STATUS_TIMEOUT);
        this.arm(&st);
        this.finish(st);
    }
}

impl Timeline {
    /// An empty timeline whose fences time out `timeout_ns` after admission.
    pub(crate) fn new(timeout_ns: u64) -> Result<Arc<Self>> {
        let page = Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?;
        let entries = uapi::COMPLETION_RING_ENTRIES as u32;
        let offset = core::mem::offset_of!(uapi::CompletionPage, ring_entries);
        // SAFETY: the page is ours alone until this function returns; `entries` is 4 readable bytes.
        unsafe { page.write_raw((&raw const entries).cast(), offset, 4)? };
        Arc::pin_init(
            try_pin_init!(Self {
                timeout_ns,
                page,
                state <- new_mutex!(TimelineState {
                    submitted: 0,
                    completed: 0,
                    errors: 0,
                    free: KVec::new(),
                    window: Window { slots: KVVec::new() },
                    ring: [(0, uapi::STATUS_UNKNOWN); uapi::COMPLETION_RING_ENTRIES],
                    closed: false,
                    wake_at: u64::MAX,
                    rings: None,
                    cq_wake_at: None,
                    cq_wake: false,
                }),
                done <- new_condvar!(),
                timeout_work <- new_delayed_work!("lightos_queue_timeout"),
            }? Error),
            GFP_KERNEL,
        )
    }

    /// The completion page.
    pub(crate) fn page(&self) -> &Page {
        &self.page
    }

    /// Admits `count` jobs with consecutive sequence numbers into the empty `jobs`, all or none:
    /// with `(charge, spec) = make(i)`, job `i` is `spec` with a fence counted against `charge`,
    /// placed into a free slot (allocated only when none is free). `EBUSY` when they would exceed
    /// [`uapi::MAX_QUEUE_INFLIGHT`]; `ENODEV` once closed.
    pub(crate) fn admit(
        self: &Arc<Self>,
        count: usize,
        jobs: &mut KVec<Arc<Job>>,
        mut make: impl FnMut(usize) -> (Charge, JobSpec),
    ) -> Result {
        jobs.reserve(count, GFP_KERNEL)?;
        let mut st = self.state.lock();
        if st.closed {
            return Err(ENODEV);
        }
        let held = (st.submitted - st.completed) as usize;
        if held + count > uapi::MAX_QUEUE_INFLIGHT as usize {
            return Err(EBUSY);
        }
        let first = st.completed + 1;
        st.window.reserve(first, held, held + count)?;
        if st.free.capacity() == 0 {
            st.free.reserve(uapi::MAX_QUEUE_INFLIGHT as usize, GFP_KERNEL)?;
        }
        // Stamped under the lock, so deadlines grow with sequence numbers.
        let now = crate::time::monotonic_ns();
        for i in 0..count {
            let (charge, spec) = make(i);
            let fence = Fence::new(self.clone(), st.submitted + 1 + i as u64, now, charge);
            let job = Job::new(fence, spec);
            let slot = match st.free.pop() {
                Some(mut slot) => {
                    job.refill(&mut slot);
                    slot
                }
                // On failure `job` drops: its fence uncounts itself; the jobs made so far too.
                None => job.into_slot()?,
            };
            jobs.push(Arc::from(slot), GFP_KERNEL)?;
        }
        // Nothing can fail from here: the window has room.
        for job in jobs.iter() {
            let seq = job.seq();
            st.ring[(seq as usize) % uapi::COMPLETION_RING_ENTRIES] = (seq, uapi::STATUS_PENDING);
            self.publish_entry(seq, uapi::STATUS_PENDING);
            st.window.insert(job.clone());
        }
        st.submitted += count as u64;
        self.publish_u64(core::mem::offset_of!(uapi::CompletionPage, submitted_seq), st.submitted);
        Ok(())
    }

    /// Allocates `count` job slots ahead of admissions (`RING_SETUP`), up to
    /// [`uapi::MAX_QUEUE_INFLIGHT`] free ones. `ENOMEM`; `ENODEV` once closed.
    pub(crate) fn preallocate(self: &Arc<Self>, count: usize) -> Result {
        let count = count.min(uapi::MAX_QUEUE_INFLIGHT as usize);
        let mut slots = KVec::with_capacity(count, GFP_KERNEL)?;
        for _ in 0..count {
            slots.push(Job::vacant(Fence::vacant(self.clone())).into_slot()?, GFP_KERNEL)?;
        }
        let mut st = self.state.lock();
        if st.closed {
            drop(st);
            return Err(ENODEV); // `slots` drop here, with no lock held
        }
        if st.free.capacity() == 0 {
            st.free.reserve(uapi::MAX_QUEUE_INFLIGHT as usize, GFP_KERNEL)?;
        }
        while let Some(slot) = slots.pop() {
            if let Err(slot) = st.free.push_within_capacity(slot) {
                drop(st);
                drop(slot);
                return Ok(()); // already as many free slots as may be kept
            }
        }
        Ok(())
    }

    /// Arms the timeout work after an admission (see [`Timeline::arm`]).
    pub(crate) fn arm_timeout(self: &Arc<Self>) {
        let st = self.state.lock();
        self.arm(&st);
    }

    /// Waits until the timeline reaches `seq` or `deadline_ns` passes; returns `(status, completed)`.
    /// `EINVAL` for a sequence number not yet submitted, `ETIMEDOUT`, `ERESTARTSYS` on a signal.
    pub(crate) fn wait(&self, seq: u64, deadline_ns: u64) -> Result<(u32, u64)> {
        self.sleep_until(deadline_ns, |st| {
            if seq > st.submitted {
                return Err(EINVAL);
            }
            if st.completed >= seq {
                let (s, status) = st.ring[(seq as usize) % uapi::COMPLETION_RING_ENTRIES];
                let status = if s == seq { status } else { uapi::STATUS_UNKNOWN };
                return Ok(Some((status, st.completed)));
            }
            st.wake_at = st.wake_at.min(seq);
            Ok(None)
        })
    }

    /// Sleeps on the timeline until `poll` has an answer or `deadline_ns` passes, ending overdue
    /// fences as it goes. `poll` runs under the lock: it returns the answer, or registers what
    /// must wake this waiter and returns `None`. `ETIMEDOUT`, `ERESTARTSYS` on a signal.
    fn sleep_until<R>(
        &self,
        deadline_ns: u64,
        mut poll: impl FnMut(&mut TimelineState) -> Result<Option<R>>,
    ) -> Result<R> {
        let mut st = self.state.lock();
        loop {
            if let Some(answer) = poll(&mut st)? {
                return Ok(answer);
            }
            let now = crate::time::monotonic_ns();
            if self.end_due(&mut st, now, uapi::STATUS_TIMEOUT) {
                self.finish(st);
                st = self.state.lock();
                continue;
            }
            if deadline_ns <= now {
                return Err(ETIMEDOUT);
            }
            let next = Self::next_deadline(&st).unwrap_or(deadline_ns);
            let sleep_ns = deadline_ns.min(next).saturating_sub(now);
            let ms = u32::try_from(sleep_ns.div_ceil(1_000_000)).unwrap_or(u32::MAX);
            if let CondVarTimeoutResult::Signal { .. } =
                self.done.wait_interruptible_timeout(&mut st, msecs_to_jiffies(ms))
            {
                return Err(ERESTARTSYS);
            }
        }
    }

    /// Gives the timeline `rings`: from now on every fence that ends posts a completion entry.
    /// `EEXIST` when it has rings already, `ENODEV` once closed.
    pub(crate) fn set_rings(&self, rings: Arc<Rings>) -> Result {
        let mut st = self.state.lock();
        if st.closed {
            return Err(ENODEV);
        }
        if st.rings.is_some() {
            return Err(EEXIST);
        }
        st.rings = Some(rings);
        Ok(())
    }

    /// Its rings, if set up.
    pub(crate) fn rings(&self) -> Option<Arc<Rings>> {
        self.state.lock().rings.clone()
    }

    /// Waits until the completion ring holds at least `min` entries or `deadline_ns` passes;
    /// returns how many it holds. `ETIMEDOUT`, `ERESTARTSYS` on a signal, `EINVAL` without rings.
    pub(crate) fn wait_completions(&self, min: u32, deadline_ns: u64) -> Result<u32> {
        self.sleep_until(deadline_ns, |st| {
            let Some(rings) = st.rings.clone() else { return Err(EINVAL) };
            let ready = rings.cq_ready();
            if ready >= min {
                return Ok(Some(ready));
            }
            // Woken when the tail reaches what this waiter needs (if nobody reaps meanwhile).
            let target = rings.cq_tail().wrapping_add(min - ready);
            st.cq_wake_at = Some(match st.cq_wake_at {
                Some(at) if (at.wrapping_sub(target) as i32) < 0 => at,
                _ => target,
            });
            Ok(None)
        })
    }

    /// What a dependency on `seq` waits for: its fence while it is in flight, its status once it
    /// ended. `EINVAL`: 0 or not handed out yet; `ENOENT`: it ended too long ago for its status to
    /// be known.
    pub(crate) fn dependency(&self, seq: u64) -> Result<Resolved> {
        let st = self.state.lock();
        if seq == 0 || seq > st.submitted {
            return Err(EINVAL);
        }
        if seq > st.completed {
            let slot = st.window.get(seq).ok_or(ENOENT)?;
            return match (&slot.job, slot.status) {
                (Some(job), uapi::STATUS_PENDING) => Ok(Resolved::Wait(job.clone())),
                (_, status) => Ok(Resolved::Ended(status)),
            };
        }
        match st.ring[(seq as usize) % uapi::COMPLETION_RING_ENTRIES] {
            (s, status) if s == seq && status != uapi::STATUS_PENDING => Ok(Resolved::Ended(status)),
            _ => Err(ENOENT),
        }
    }

    /// Makes `job` wait for `seq`: it is handed to the release queue when `seq` ends. Returns the
    /// status instead when `seq` already ended (`STATUS_ABORTED` when that was too long ago to
    /// know: a dependency is resolved just before, so only a race with more than
    /// [`uapi::COMPLETION_RING_ENTRIES`] completions gets there). `ENOMEM`.
    pub(crate) fn add_dependent(&self, seq: u64, job: &Arc<Job>) -> Result<Option<u32>> {
        let mut st = self.state.lock();
        if let Some(slot) = st.window.get_mut(seq) {
            if slot.status == uapi::STATUS_PENDING {
                if slot.dependents.is_empty() {
                    // Its place in the release queue, so that ending it allocates nothing.
                    deps::reserve_release()?;
                }
                if let Err(e) = slot.dependents.push(job.clone(), GFP_KERNEL) {
                    if slot.dependents.is_empty() {
                        deps::unreserve_release();
                    }
                    return Err(e.into());
                }
                return Ok(None);
            }
            return Ok(Some(slot.status));
        }
        let (s, status) = st.ring[(seq as usize) % uapi::COMPLETION_RING_ENTRIES];
        Ok(Some(if s == seq && status != uapi::STATUS_PENDING { status } else { uapi::STATUS_ABORTED }))
    }

    /// [`Timeline::record`] for several `(seq, status)`, under one lock.
    pub(crate) fn record_all(&self, ended: &[(u64, u32)]) {
        let mut st = self.state.lock();
        for &(seq, status) in ended {
            self.end(&mut st, seq, status);
        }
        self.finish(st);
    }

    /// Ends every pending fence whose deadline has passed with `TIMEOUT`.
    pub(crate) fn expire(&self) {
        let mut st = self.state.lock();
        self.end_due(&mut st, crate::time::monotonic_ns(), uapi::STATUS_TIMEOUT);
        self.finish(st);
    }

    /// Refuses further admissions and aborts every fence not yet ended. Running jobs are aborted
    /// too: their backend's completion will be refused.
    pub(crate) fn close(&self) {
        let mut st = self.state.lock();
        st.closed = true;
        self.end_due(&mut st, u64::MAX, uapi::STATUS_ABORTED);
        // The free slots hold this timeline: dropped after the lock (the caller holds another
        // reference, so none of theirs is the last).
        let free = core::mem::take(&mut st.free);
        self.finish(st);
        drop(free);
        // Run a pending timeout work now and wait for it; it sees `closed` and does not re-arm, so
        // no work item refers to this timeline (or to module code) afterwards.
        // SAFETY: `timeout_work` is a pinned, initialised `delayed_work` inside `self`, which is
        // alive for the call; `flush_delayed_work` may sleep, and `close` runs in process context
        // without locks held.
        unsafe {
            let dwork = DelayedWork::<Timeline>::raw_as_work(&raw const self.timeout_work);
            bindings::flush_delayed_work(
                kernel::container_of!(dwork.cast::<bindings::work_struct>(), bindings::delayed_work, work),
            );
        }
    }

    /// Ends sequence number `seq` with `status`, its fence's token won outside the lock
    /// ([`Fence::claim`]; the window holds its job until this records it).
    pub(crate) fn record(&self, seq: u64, status: u32) {
        let mut st = self.state.lock();
        self.end(&mut st, seq, status);
        self.finish(st);
    }

    /// Ends, with `status`, every pending fence due by `by` whose token this pass wins, oldest
    /// first, stopping at the first later deadline. Returns whether it ended any.
    fn end_due(&self, st: &mut TimelineState, by: u64, status: u32) -> bool {
        let mut ended = false;
        for seq in st.completed + 1..=st.submitted {
            let Some(slot) = st.window.get(seq) else { continue };
            let Some(job) = slot.job.as_ref() else { continue };
            if slot.status != uapi::STATUS_PENDING {
                continue;
            }
            if job.fence().deadline_ns > by {
                break;
            }
            if job.fence().claim() {
                self.end(st, seq, status);
                ended = true;
            }
        }
        ended
    }

    /// Counts the end of `seq`'s fence (its token spent) with `status` and records it in the
    /// window, the ring and the page.
    fn end(&self, st: &mut TimelineState, seq: u64, status: u32) {
        // An admitted job stays in the window until it ended; a job never admitted is never
        // handed out, so this always finds it.
        let Some(slot) = st.window.get_mut(seq) else { return };
        let Some(job) = slot.job.as_ref() else { return };
        let fence = job.fence();
        fence.count(status);
        let (started, user_data) = (fence.started_ns.load(Relaxed), fence.charge.as_ref().map_or(0, |c| c.user_data));
        slot.status = status;
        let dependents = core::mem::take(&mut slot.dependents);
        if !dependents.is_empty() {
            deps::queue_release(status, dependents);
        }
        if let Some(rings) = st.rings.as_ref() {
            let device_ns = if started == 0 {
                0
            } else {
                crate::time::monotonic_ns().saturating_sub(started)
            };
            let cqe = uapi::Cqe {
                user_data,
                seq,
                status,
                flags: 0,
                device_ns,
            };
            rings.post(&cqe);
            if let Some(at) = st.cq_wake_at {
                if (rings.cq_tail().wrapping_sub(at) as i32) >= 0 {
                    st.cq_wake_at = None;
                    st.cq_wake = true;
                }
            }
        }
        if status != uapi::STATUS_OK {
            st.errors += 1;
            self.publish_u64(core::mem::offset_of!(uapi::CompletionPage, errors), st.errors);
        }
        // The ring keeps the newest sequence numbers: a job ending after one COMPLETION_RING_ENTRIES
        // later was admitted must not overwrite that one's entry (its own is then UNKNOWN, as for
        // any sequence number that old).
        let idx = (seq as usize) % uapi::COMPLETION_RING_ENTRIES;
        if st.ring[idx].0 <= seq {
            st.ring[idx] = (seq, status);
            self.publish_entry(seq, status);
        }
    }

    /// Retires the ended prefix of the window and publishes `completed_seq` (after everything it
    /// covers, with a release store). Returns whether a sleeping waiter can now be satisfied.
    fn advance(&self, st: &mut TimelineState) -> bool {
        while st.completed < st.submitted {
            let seq = st.completed + 1;
            let Some(slot) = st.window.get_mut(seq) else { break };
            if slot.status == uapi::STATUS_PENDING {
                break;
            }
            // See the module docs: what dropping or clearing a retired job here lets go of.
            if let Some(job) = slot.job.take() {
                if let Some(mut cleared) = Arc::into_unique_or_drop(job) {
                    Pin::get_mut(cleared.as_mut()).clear();
                    if !st.closed {
                        // Dropped (with no lock of its own) when the free list is full.
                        let _ = st.free.push_within_capacity(cleared);
                    }
                }
            }
            st.completed = seq;
        }
        // A release store: a reader that sees the new value sees every entry it covers.
        self.publish_u64(core::mem::offset_of!(uapi::CompletionPage, completed_seq), st.completed);
        // Every woken waiter that is not done registers its target again before sleeping.
        let wake = st.completed >= st.wake_at;
        if wake {
            st.wake_at = u64::MAX;
        }
        wake
    }

    /// Advances, releases the lock, wakes the waiters when one of them can be satisfied, then
    /// releases the dependents of the fences that ended ([`deps::drain`]).
    fn finish(&self, mut st: MutexGuard<'_, TimelineState>) {
        let wake = self.advance(&mut st) | core::mem::replace(&mut st.cq_wake, false);
        drop(st);
        if wake {
            self.done.notify_all();
        }
        deps::drain();
    }

    /// The deadline of the oldest fence still pending (none claimed by a backend in the meantime).
    fn next_deadline(st: &TimelineState) -> Option<u64> {
        (st.completed + 1..=st.submitted)
            .filter_map(|seq| st.window.get(seq))
            .filter(|slot| slot.status == uapi::STATUS_PENDING)
            .filter_map(|slot| slot.job.as_ref())
            .find(|job| !job.ended())
            .map(|job| job.fence().deadline_ns)
    }

    /// Arms the timeout work for the oldest pending deadline, unless the timeline is closed, has no
    /// pending fence, or the work is already pending (it is then armed for an earlier or equal
    /// deadline). Called with the state locked, so `close` cannot slip in between check and arm.
    fn arm(self: &Arc<Self>, st: &TimelineState) {
        if st.closed {
            return;
        }
        let Some(deadline) = Self::next_deadline(st) else { return };
        let wait_ns = deadline.saturating_sub(crate::time::monotonic_ns());
        let ms = u32::try_from(wait_ns.div_ceil(1_000_000)).unwrap_or(u32::MAX);
        // Already queued: the pending run is for an earlier or equal deadline and re-arms.
        let _ = workqueue::system().enqueue_delayed(self.clone(), msecs_to_jiffies(ms) + 1);
    }

    /// Writes ring entry `seq` of the completion page: its status word first, then its sequence
    /// number (release), so a reader that sees `seq` in the slot sees that entry's status or a newer
    /// one of the same slot.
    fn publish_entry(&self, seq: u64, status: u32) {
        let ring = core::mem::offset_of!(uapi::CompletionPage, ring);
        let slot = (seq as usize) % uapi::COMPLETION_RING_ENTRIES;
        let entry = ring + slot * size_of::<uapi::CompletionEntry>();
        // `status` and the zero `pad` after it form one little-endian word, which userspace reads
        // as one (`lightos_runtime::Queue::status`).
        self.publish_u64(entry + core::mem::offset_of!(uapi::CompletionEntry, status), u64::from(status));
        self.publish_u64(entry + core::mem::offset_of!(uapi::CompletionEntry, seq), seq);
    }

    /// Stores `value` into the completion page's aligned word at `offset` as one 8-byte store with
    /// release ordering (`smp_store_release`): userspace reads these words concurrently with
    /// acquire loads, so a copy that might tear (`Page::write_raw`'s `memcpy`) would not do.
    fn publish_u64(&self, offset: usize, value: u64) {
        if !offset.is_multiple_of(8) || offset + 8 > kernel::page::PAGE_SIZE {
            return; // Offsets come from the uapi layout, asserted to fit one page.
        }
        // SAFETY: `self.page` is a page this timeline owns for its whole life; `kmap_local_page`
        // maps it for this task until the `kunmap_local` below, and nothing else is mapped in
        // between (so the local mappings unwind in order). The word at `offset` is inside the page
        // and 8-byte aligned (checked above); the kernel writes it only under the timeline's lock
        // and userspace only reads it, with atomic loads, so the atomic store races with nothing.
        unsafe {
            let base = bindings::kmap_local_page(self.page.as_ptr());
            let word = base.cast::<u8>().add(offset).cast::<u64>();
            Atomic::from_ptr(word).store(value, Release);
            bindings::kunmap_local(base);
        }
    }
}
