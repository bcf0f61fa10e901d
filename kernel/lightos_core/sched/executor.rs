// SPDX-License-Identifier: GPL-2.0

//! The executor protocol: a userspace process registers its context as a backend
//! (`EXECUTOR_REGISTER`), takes jobs with blocking `JOB_FETCH` calls and reports them with
//! `JOB_COMPLETE`.
//!
//! While a job runs, its operand buffers have handles in the executor's own context, so the executor
//! maps them with the usual mmap cookies (zero-copy: the same pages the client mapped); the handles
//! are dropped at completion. When the executor's file is closed (exit, crash, kill) every job queued
//! to it or running on it fails with `DEVICE_LOST` and the backend disappears from the registry.
//!
//! At ring speed (`JOB_BATCH`, ABI 1.10) one call completes a batch and fetches the next, and an
//! operand buffer keeps one handle in the executor's context across jobs ([`Cached`]), so the
//! executor maps each buffer once. Handles are never reused within a context, so a handle names
//! one buffer for its whole life (its own generation). Once every client let the buffer go
//! ([`Buffer::revoked`]) and no running job of the executor uses it, a later `JOB_BATCH` drops the
//! handle and reports it revoked: the executor can no longer map it or see it in a job, and its
//! existing mapping keeps the old pages (pinned by the mapping), never pages reused elsewhere.

use crate::{
    buffer::object::{Buffer, HandleRoom, Handles},
    errno,
    sched::{
        account::Counters,
        backend::{self, Backend},
        job::Job,
        job_queue::JobQueue,
        trust::Trust,
    },
    uapi,
};
use kernel::{
    new_condvar, new_mutex,
    prelude::*,
    sync::{
        Arc, CondVar, CondVarTimeoutResult, Mutex,
    },
    task::Kuid,
    time::msecs_to_jiffies,
};

/// A job an executor is running, and the handles its operands got in the executor's context.
struct Running {
    job: Arc<Job>,
    handles: [u32; uapi::MAX_OPERANDS],
    /// The handles are cached ones, kept past the job's completion.
    cached: bool,
}

impl Running {
    fn uses(&self, buffer: &Arc<Buffer>) -> bool {
        self.job.buffers().iter().flatten().any(|b| Arc::ptr_eq(b, buffer))
    }
}

/// A buffer with a handle kept in the executor's context across jobs.
struct Cached {
    buffer: Arc<Buffer>,
    handle: u32,
}

/// The most buffers an executor keeps handles to; past it, those no running job uses are dropped
/// (and reported revoked) first.
const MAX_CACHED_BUFFERS: usize = 1024;

/// Room for the handles one job's operands may need, allocated before the job is taken from its
/// queue: once a job is taken, failing for memory would end it `DEVICE_LOST`.
type Rooms = [Option<HandleRoom>; uapi::MAX_OPERANDS];

/// Fills every empty room of `rooms`. `ENOMEM`.
fn fill_rooms(rooms: &mut Rooms) -> Result {
    for room in rooms.iter_mut().filter(|r| r.is_none()) {
        *room = Some(HandleRoom::new()?);
    }
    Ok(())
}

/// The mutable state of an executor.
struct ExecutorState {
    /// Jobs waiting for a fetch; closed when the executor's file is.
    queued: JobQueue,
    /// Jobs fetched and not yet completed.
    running: KVec<Running>,
    /// Buffers with handles kept across jobs (`JOB_BATCH`).
    cache: KVec<Cached>,
    /// The storage of the last `JOB_BATCH` fetch, given back for the next one.
    spare: KVec<(u64, uapi::Primitive)>,
    /// Handle rooms a `JOB_BATCH` fetch did not use, for the next one.
    rooms: Rooms,
}

/// A userspace executor, as a backend.
#[pin_data]
pub(crate) struct Executor {
    id: u32,
    name: [u8; uapi::BACKEND_NAME_LEN],
    ops: u64,
    deterministic_ops: u64,
    dtypes: u32,
    /// Whose jobs it may run.
    trust: Trust,
    counters: Arc<Counters>,
    #[pin]
    state: Mutex<ExecutorState>,
    #[pin]
    ready: CondVar,
}

impl Executor {
    /// Registers the executor a request validated by `executor_ioctl` asks for, with the `trust`
    /// its registrant earned. `EEXIST`: name taken. `ENOSPC`: too many executors.
    pub(crate) fn register(req: &uapi::ExecutorRegister, trust: Trust) -> Result<Arc<Self>> {
        let counters = Arc::new(Counters::new(), GFP_KERNEL)?;
        let executor = Arc::pin_init(
            try_pin_init!(Self {
                id: backend::next_id(),
                name: req.name,
                ops: req.ops,
                deterministic_ops: req.deterministic_ops,
                dtypes: req.dtypes,
                trust,
                counters,
                state <- new_mutex!(ExecutorState {
                    queued: JobQueue::new(),
                    running: KVec::new(),
                    cache: KVec::new(),
                    spare: KVec::new(),
                    rooms: [const { None }; uapi::MAX_OPERANDS],
                }),
                ready <- new_condvar!(),
            }? Error),
            GFP_KERNEL,
        )?;
        backend::register(executor.clone())?;
        Ok(executor)
    }

    /// Takes the next job (highest priority first, oldest first), blocking until one is ready,
    /// `deadline_ns` passes (`ETIMEDOUT`), a signal arrives (`ERESTARTSYS`) or, with `nonblock`,
    /// at once (`EAGAIN`). Gives its operand buffers handles in `ctx` and returns the primitive
    /// rewritten to use them.
    pub(crate) fn fetch(
        &self,
        ctx: &dyn Handles,
        deadline_ns: u64,
        nonblock: bool,
    ) -> Result<(u64, uapi::Primitive)> {
        let mut rooms: Rooms = [const { None }; uapi::MAX_OPERANDS];
        fill_rooms(&mut rooms)?;
        let job = self.next_job(deadline_ns, nonblock)?;
        let mut prim = *job.prim();
        let mut handles = [0u32; uapi::MAX_OPERANDS];
        for (i, buffer) in job.buffers().iter().enumerate() {
            let Some(buffer) = buffer else { continue };
            let room = rooms[i].take().ok_or(ENOMEM)?;
            match ctx.insert(buffer.clone(), room) {
                Ok(h) => handles[i] = h,
                Err(err) => {
                    Self::drop_handles(ctx, &handles);
                    Self::forget(&mut self.state.lock(), job.id());
                    job.complete(uapi::STATUS_DEVICE_LOST);
                    return Err(err.error());
                }
            }
            prim.operands[i].buffer = handles[i];
        }
        let mut st = self.state.lock();
        if let Some(r) = st.running.iter_mut().find(|r| r.job.id() == job.id()) {
            r.handles = handles;
        }
        Ok((job.id(), prim))
    }

    /// Ends job `job_id` with `status` and drops its handles in `ctx`; for an `OP_SPIKE_ENCODE`
    /// that succeeded, first produces the `produced` events it staged into its queue. `ENOENT`:
    /// not a job this executor runs. `EINVAL`: `produced` non-zero for another op or above the
    /// staging capacity (the job keeps running). `ECANCELED`: it had already ended (timed out or
    /// aborted).
    pub(crate) fn complete(&self, ctx: &dyn Handles, job_id: u64, status: u32, produced: u32) -> Result {
        match self.complete_batch(ctx, &[uapi::JobDone { job_id, status, produced }]) {
            Ok(1) => Ok(()),
            Ok(_) => Err(errno::ecanceled()),
            Err((_, err)) => Err(err),
        }
    }

    /// Applies the completions of `done` in order, as [`Executor::complete`] does each, under one
    /// lock of the executor and one of each timeline per run of jobs of the same queue. Stops at
    /// the first one refused (`ENOENT`, `EINVAL`) and returns its index with the error: those
    /// before it stand. A job that had already ended is not refused (and not counted). Returns
    /// how many jobs it ended.
    /// At most [`uapi::MAX_JOB_BATCH`] completions (`EINVAL` past it).
    pub(crate) fn complete_batch(&self, ctx: &dyn Handles, done: &[uapi::JobDone]) -> Result<usize, (usize, Error)> {
        const MOST: usize = uapi::MAX_JOB_BATCH as usize;
        if done.len() > MOST {
            return Err((MOST, EINVAL));
        }
        // On the stack: the batch is bounded, and a completion allocates nothing.
        let mut taken: [Option<(Running, u32, u32)>; MOST] = [const { None }; MOST];
        let mut refused = None;
        {
            let mut st = self.state.lock();
            for (i, d) in done.iter().enumerate() {
                let Some(pos) = st.running.iter().position(|r| r.job.id() == d.job_id) else {
                    refused = Some((i, ENOENT));
                    break;
                };
                if u64::from(d.produced) > st.running[pos].job.event_capacity() {
                    refused = Some((i, EINVAL));
                    break;
                }
                let Ok(running) = st.running.remove(pos) else { break };
                taken[i] = Some((running, d.status, d.produced));
            }
        }
        for (running, _, _) in taken.iter().flatten().filter(|(r, _, _)| !r.cached) {
            Self::drop_handles(ctx, &running.handles);
        }
        let jobs = taken.into_iter().flatten().map(|(running, status, produced)| (running.job, status, produced));
        // The executor's references go back with the completions, so the slots can be reused.
        let ended = Job::finish_all(jobs, |job, status, produced| {
            if status == uapi::STATUS_OK && produced > 0 {
                job.produce_events(produced);
            }
        });
        refused.map_or(Ok(ended), Err)
    }

    /// The executor's file is closing: fail everything it holds with `DEVICE_LOST`, leave the
    /// registry.
    pub(crate) fn shut_down(&self) {
        backend::unregister(self.id);
        let (queued, running, cache) = {
            let mut st = self.state.lock();
            (st.queued.close(), core::mem::take(&mut st.running), core::mem::take(&mut st.cache))
        };
        // The handles themselves go with the closing context.
        drop(cache);
        // Completed after the lock is released: ending a job may dispatch the jobs that depend on
        // it, to any backend, this one included (which then refuses them: it is closed).
        for job in queued {
            job.complete(uapi::STATUS_DEVICE_LOST);
        }
        for r in running {
            r.job.complete(uapi::STATUS_DEVICE_LOST);
        }
    }

    /// Waits for and claims the next runnable job.
    fn next_job(&self, deadline_ns: u64, nonblock: bool) -> Result<Arc<Job>> {
        let mut st = self.state.lock();
        loop {
            if let Some(job) = Self::take_ready(&mut st)? {
                return Ok(job);
            }
            if st.queued.is_closed() {
                return Err(ENODEV);
            }
            if nonblock {
                return Err(EAGAIN);
            }
            let now = crate::time::monotonic_ns();
            if deadline_ns <= now {
                return Err(ETIMEDOUT);
            }
            let ms = u32::try_from((deadline_ns - now).div_ceil(1_000_000)).unwrap_or(u32::MAX);
            if let CondVarTimeoutResult::Signal { .. } =
                self.ready.wait_interruptible_timeout(&mut st, msecs_to_jiffies(ms))
            {
                return Err(ERESTARTSYS);
            }
        }
    }

    /// Claims the next job that has not ended while queued (aborted, timed out), as running.
    /// `ENOMEM` with nothing taken.
    fn take_ready(st: &mut ExecutorState) -> Result<Option<Arc<Job>>> {
        // Room for the job in `running` before one leaves the queue: an allocation failing after
        // the pop would lose the job (neither queued nor running, waited on until its timeout).
        st.running.reserve(1, GFP_KERNEL)?;
        while let Some(job) = st.queued.pop() {
            if job.start() {
                let running = Running { job: job.clone(), handles: [0; uapi::MAX_OPERANDS], cached: false };
                // Cannot fail: room was reserved above, under the same lock.
                st.running.push_within_capacity(running).map_err(|_| ENOMEM)?;
                return Ok(Some(job));
            }
        }
        Ok(None)
    }

    /// Takes up to `max` jobs for `JOB_BATCH`: waits for the first as [`Executor::fetch`] does,
    /// then takes those ready without waiting, under one lock while memory for their handles is at
    /// hand. Their operands get the executor's cached handles in `ctx` (created on a buffer's
    /// first use). Memory for a job's handles is found before the job is taken: short of it, fewer
    /// jobs are taken (`ENOMEM` before the first). A job whose handle still cannot be made (the
    /// context's handles exhausted) ends `DEVICE_LOST` and is left out.
    pub(crate) fn fetch_batch(
        &self,
        ctx: &dyn Handles,
        deadline_ns: u64,
        nonblock: bool,
        max: usize,
    ) -> Result<KVec<(u64, uapi::Primitive)>> {
        // Cache slots for every operand of the batch, room for its jobs in `running`, and the
        // storage and handle rooms the previous fetch left (allocated only to grow or refill).
        let (mut out, mut rooms) = {
            let mut st = self.state.lock();
            st.cache.reserve(max * uapi::MAX_OPERANDS, GFP_KERNEL)?;
            st.running.reserve(max, GFP_KERNEL)?;
            (core::mem::take(&mut st.spare), core::mem::replace(&mut st.rooms, [const { None }; uapi::MAX_OPERANDS]))
        };
        out.clear();
        let ready = fill_rooms(&mut rooms).and_then(|()| Ok(out.reserve(max, GFP_KERNEL)?));
        let first = ready.and_then(|()| self.next_job(deadline_ns, nonblock));
        let mut job = match first {
            Ok(job) => job,
            Err(err) => {
                self.state.lock().rooms = rooms;
                self.give_back(out);
                return Err(err);
            }
        };
        let mut st = self.state.lock();
        loop {
            match Self::cached_prim(&mut st, ctx, &job, &mut rooms) {
                // Cannot fail: room for `max` was reserved.
                Ok(prim) => out.push((job.id(), prim), GFP_KERNEL)?,
                Err(_) => {
                    Self::forget(&mut st, job.id());
                    // Ended without the lock: ending may dispatch dependents here.
                    drop(st);
                    job.complete(uapi::STATUS_DEVICE_LOST);
                    st = self.state.lock();
                }
            }
            if out.len() >= max {
                break;
            }
            if rooms.iter().any(Option::is_none) {
                // A new handle used a room: refilled without the lock (it allocates).
                drop(st);
                let refilled = fill_rooms(&mut rooms);
                st = self.state.lock();
                if refilled.is_err() {
                    break;
                }
            }
            match Self::take_ready(&mut st) {
                Ok(Some(next)) => job = next,
                _ => break,
            }
        }
        st.rooms = rooms;
        Ok(out)
    }

    /// Takes back the storage [`Executor::fetch_batch`] returned, for the next fetch.
    pub(crate) fn give_back(&self, mut fetched: KVec<(u64, uapi::Primitive)>) {
        fetched.clear();
        let mut st = self.state.lock();
        if fetched.capacity() > st.spare.capacity() {
            st.spare = fetched;
        }
    }

    /// `job`'s primitive rewritten to the cached handles of its operands, which it marks cached;
    /// new handles take their entries from `rooms` and their cache slots from the room
    /// [`Executor::fetch_batch`] reserved.
    fn cached_prim(
        st: &mut ExecutorState,
        ctx: &dyn Handles,
        job: &Arc<Job>,
        rooms: &mut Rooms,
    ) -> Result<uapi::Primitive> {
        let mut prim = *job.prim();
        for (i, buffer) in job.buffers().iter().enumerate() {
            let Some(buffer) = buffer else { continue };
            let known = st.cache.iter().find(|c| Arc::ptr_eq(&c.buffer, buffer)).map(|c| c.handle);
            let handle = match known {
                Some(h) => h,
                None => {
                    let room = rooms[i].take().ok_or(ENOMEM)?;
                    let handle = ctx.insert(buffer.clone(), room).map_err(|r| r.error())?;
                    let entry = Cached { buffer: buffer.clone(), handle };
                    // Room was reserved before the job was taken; should it ever be missing, the
                    // handle goes back rather than leak.
                    if let Err(entry) = st.cache.push_within_capacity(entry) {
                        let _ = ctx.remove(entry.0.handle);
                        return Err(ENOMEM);
                    }
                    handle
                }
            };
            prim.operands[i].buffer = handle;
        }
        if let Some(r) = st.running.iter_mut().find(|r| r.job.id() == job.id()) {
            r.cached = true;
        }
        Ok(prim)
    }

    /// Drops, at most `max` of them, the cached handles of buffers every client let go (or, past
    /// [`MAX_CACHED_BUFFERS`], of any) that no running job uses; returns them.
    pub(crate) fn revoke(&self, ctx: &dyn Handles, max: usize) -> Result<KVec<u32>> {
        // Empty until something is revoked: a call with nothing to revoke allocates nothing.
        let mut gone = KVec::new();
        let mut dropped = KVec::new();
        {
            let mut st = self.state.lock();
            let mut i = 0;
            while i < st.cache.len() && gone.len() < max {
                let over = st.cache.len() > MAX_CACHED_BUFFERS;
                let c = &st.cache[i];
                if (c.buffer.revoked() || over) && !st.running.iter().any(|r| r.uses(&c.buffer)) {
                    // Room first: a handle leaves the cache only when it can be reported.
                    if gone.reserve(1, GFP_KERNEL).is_err() || dropped.reserve(1, GFP_KERNEL).is_err() {
                        break;
                    }
                    let c = st.cache.remove(i).map_err(|_| EINVAL)?;
                    gone.push(c.handle, GFP_KERNEL)?;
                    dropped.push(c.buffer, GFP_KERNEL)?;
                } else {
                    i += 1;
                }
            }
        }
        for &h in gone.iter() {
            let _ = ctx.remove(h);
        }
        drop(dropped);
        Ok(gone)
    }

    /// Forgets a running job (its fetch failed half-way).
    fn forget(st: &mut ExecutorState, job_id: u64) {
        if let Some(pos) = st.running.iter().position(|r| r.job.id() == job_id) {
            let _ = st.running.remove(pos);
        }
    }

    fn drop_handles(ctx: &dyn Handles, handles: &[u32; uapi::MAX_OPERANDS]) {
        for &h in handles.iter().filter(|&&h| h != 0) {
            let _ = ctx.remove(h);
        }
    }
}

impl Backend for Executor {
    fn id(&self) -> u32 {
        self.id
    }

    fn name(&self) -> &[u8; uapi::BACKEND_NAME_LEN] {
        &self.name
    }

    fn kind(&self) -> u32 {
        uapi::BACKEND_KIND_EXECUTOR
    }

    fn ops(&self) -> u64 {
        self.ops
    }

    fn deterministic_ops(&self) -> u64 {
        self.deterministic_ops
    }

    fn dtypes(&self) -> u32 {
        self.dtypes
    }

    fn trusted_by(&self, client: Kuid) -> bool {
        self.trust.trusted_by(client)
    }

    fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    fn load(&self) -> (u32, u32) {
        let st = self.state.lock();
        st.queued.load(st.running.len())
    }

    fn reserve(&self, priority: u32, n: usize) -> Result {
        self.state.lock().queued.reserve(priority, n)
    }

    fn unreserve(&self, priority: u32, n: usize) {
        self.state.lock().queued.unreserve(priority, n);
    }

    fn enqueue(&self, job: Arc<Job>) -> Result {
        self.state.lock().queued.push(job)
    }

    fn kick(&self) {
        self.ready.notify_all();
    }
}
