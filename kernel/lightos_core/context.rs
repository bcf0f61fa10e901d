// SPDX-License-Identifier: GPL-2.0

//! Per-open contexts: one for each open file description of `/dev/lightos`.
//!
//! A context is the namespace of everything a client creates (buffer handles live in its XArray);
//! it dies with its file. The module-wide count of contexts is bounded by [`uapi::MAX_CONTEXTS`] and
//! visible through `GET_INFO` and debugfs, so tests can prove every open was matched by a release.

use crate::{
    buffer::object::{self, Buffer, HandleEntry, HandleRoom},
    reason::{reject, Rejection},
    quota::{self, Account},
    sched::{executor::Executor, policy::Routes, queue::Queue, trust::Trust},
    spike::ring::SpikeQueue,
    telemetry::stats,
    uapi,
};
use kernel::{
    new_mutex,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, Mutex,
    },
    xarray::{AllocKind, XArray},
};

/// The next context identifier; 64 bits, so identifiers are never reused while the module is loaded.
static NEXT_CONTEXT_ID: Atomic<u64> = Atomic::new(1);

/// One slot of [`uapi::MAX_CONTEXTS`], given back when dropped.
struct ContextSlot;

impl ContextSlot {
    /// Takes a slot, or fails with `ENFILE` when all are taken.
    fn new() -> Result<Self> {
        let before = stats::CONTEXTS.fetch_add(1, Relaxed);
        if before >= uapi::MAX_CONTEXTS {
            stats::CONTEXTS.fetch_sub(1, Relaxed);
            return Err(ENFILE);
        }
        Ok(Self)
    }
}

impl Drop for ContextSlot {
    fn drop(&mut self) {
        stats::CONTEXTS.fetch_sub(1, Relaxed);
    }
}

/// The state of one open file description.
#[pin_data(PinnedDrop)]
pub(crate) struct Context {
    /// Unique identifier, reported by `GET_INFO` and fdinfo.
    id: u64,
    /// Number of ioctls issued on this context (telemetry).
    ioctls: Atomic<u64>,
    /// Buffer objects by handle (index); dropping the context drops its references.
    #[pin]
    buffers: XArray<KBox<HandleEntry>>,
    /// How many handles `buffers` holds (bounded by [`uapi::MAX_BUFFERS_PER_CONTEXT`]).
    buffer_count: Atomic<u32>,
    /// The next handle to hand out; handles are never reused within a context.
    next_handle: Atomic<u32>,
    /// Submission queues (at most [`uapi::MAX_QUEUES_PER_CONTEXT`]).
    #[pin]
    queues: Mutex<KVec<Arc<Queue>>>,
    /// The next queue identifier; never reused within a context.
    next_queue_id: Atomic<u32>,
    /// Spike queues (at most [`uapi::MAX_SPIKE_QUEUES_PER_CONTEXT`]).
    #[pin]
    spike_queues: Mutex<KVec<(u32, Arc<SpikeQueue>)>>,
    /// The next spike queue identifier; never reused within a context.
    next_spike_id: Atomic<u32>,
    /// Routing rules and deterministic mode.
    #[pin]
    routes: Routes,
    /// Set once this context registers as an executor.
    #[pin]
    executor: Mutex<Option<Arc<Executor>>>,
    /// Primitives submitted through this context.
    jobs: Atomic<u64>,
    /// Of those, per op (index `op - 1`).
    op_jobs: [Atomic<u64>; uapi::OP_COUNT],
    /// The last rejected ioctl and why (`QUERY_LAST_ERROR`).
    #[pin]
    last_rejection: Mutex<uapi::QueryLastError>,
    /// The quota account of the effective uid that opened it; its objects are charged to it.
    account: Account,
    _slot: ContextSlot,
}

impl Context {
    /// Creates a context, or fails with `ENFILE` when [`uapi::MAX_CONTEXTS`] are already open.
    pub(crate) fn new() -> Result<impl PinInit<Self, Error>> {
        let slot = ContextSlot::new()?;
        let account = Account::open()?;
        Ok(try_pin_init!(Self {
            id: NEXT_CONTEXT_ID.fetch_add(1, Relaxed),
            ioctls: Atomic::new(0),
            buffers <- XArray::new(AllocKind::Alloc1),
            buffer_count: Atomic::new(0),
            next_handle: Atomic::new(1),
            queues <- new_mutex!(KVec::new()),
            next_queue_id: Atomic::new(1),
            spike_queues <- new_mutex!(KVec::new()),
            next_spike_id: Atomic::new(1),
            routes <- Routes::new(),
            executor <- new_mutex!(None),
            jobs: Atomic::new(0),
            op_jobs: [const { Atomic::new(0) }; uapi::OP_COUNT],
            last_rejection <- new_mutex!(uapi::QueryLastError::default()),
            account,
            _slot: slot,
        }? Error))
    }

    /// The context's identifier.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The quota account its objects are charged to.
    pub(crate) fn account(&self) -> &Account {
        &self.account
    }

    /// Counts one ioctl on this context.
    pub(crate) fn count_ioctl(&self) {
        self.ioctls.add(1, Relaxed);
    }

    /// How many ioctls this context has seen.
    pub(crate) fn ioctls(&self) -> u64 {
        self.ioctls.load(Relaxed)
    }

    /// How many buffer handles this context holds.
    pub(crate) fn buffer_count(&self) -> u32 {
        self.buffer_count.load(Relaxed)
    }

    /// Records that ioctl number `nr` was rejected: replaces the last rejection
    /// (`QUERY_LAST_ERROR`); successful ioctls leave it alone.
    pub(crate) fn record_rejection(&self, nr: u32, rejection: &Rejection) {
        let mut last = self.last_rejection.lock();
        last.rejections += 1;
        last.error = (-rejection.error().to_errno()) as u32;
        last.ioctl_nr = nr;
        last.reason = [0; uapi::REASON_LEN];
        // The reason is shorter than the field (its NUL stays): see `Rejection::new`.
        for (to, &from) in last.reason.iter_mut().zip(rejection.reason()) {
            *to = from;
        }
    }

    /// The last rejected ioctl, as `QUERY_LAST_ERROR` reports it.
    pub(crate) fn last_rejection(&self) -> uapi::QueryLastError {
        *self.last_rejection.lock()
    }

    /// This context's state, as `QUERY_CONTEXT` reports it.
    pub(crate) fn snapshot(&self) -> uapi::QueryContext {
        uapi::QueryContext {
            context_id: self.id,
            ioctls: self.ioctls(),
            buffers: self.buffer_count(),
            pad: 0,
            reserved: [0; 4],
        }
    }

    /// Gives `buffer` a new client handle in this context (one that keeps it from being revoked
    /// from executors). `ENOSPC` when the context holds [`uapi::MAX_BUFFERS_PER_CONTEXT`] buffers
    /// or has used up its handle space.
    pub(crate) fn insert_buffer(&self, buffer: Arc<Buffer>, room: HandleRoom) -> Result<u32, Rejection> {
        self.insert_entry(buffer, true, room)
    }

    /// [`Context::insert_buffer`], for a client's handle or (`client` false) an executor's.
    fn insert_entry(&self, buffer: Arc<Buffer>, client: bool, room: HandleRoom) -> Result<u32, Rejection> {
        if self.buffer_count.fetch_add(1, Relaxed) >= uapi::MAX_BUFFERS_PER_CONTEXT {
            self.buffer_count.fetch_sub(1, Relaxed);
            stats::BUFFER_LIMIT_HITS.add(1, Relaxed);
            return Err(reject!(
                ENOSPC,
                "this context holds {} buffers, the most it may",
                uapi::MAX_BUFFERS_PER_CONTEXT
            ));
        }
        let handle = self.next_handle.fetch_add(1, Relaxed);
        let entry = room.fill(buffer, client);
        let mut guard = self.buffers.lock();
        // Handle 0 is never valid, and after 2^32 creations the counter would wrap onto live handles.
        if handle == 0 || guard.get(handle as usize).is_some() {
            drop(guard);
            self.buffer_count.fetch_sub(1, Relaxed);
            return Err(reject!(ENOSPC, "this context has used up its 2^32 buffer handles"));
        }
        if let Err(err) = guard.store(handle as usize, entry, GFP_KERNEL) {
            drop(guard);
            self.buffer_count.fetch_sub(1, Relaxed);
            return Err(err.error.into());
        }
        Ok(handle)
    }

    /// A new reference to the buffer behind `handle`, or `ENOENT`.
    pub(crate) fn buffer(&self, handle: u32) -> Result<Arc<Buffer>, Rejection> {
        let guard = self.buffers.lock();
        guard.get(handle as usize).map(|e| e.buffer().clone()).ok_or_else(|| no_such("buffer", handle))
    }

    /// Drops the handle (the buffer lives on while other references remain), or `ENOENT`.
    pub(crate) fn remove_buffer(&self, handle: u32) -> Result<(), Rejection> {
        let removed = self.buffers.lock().remove(handle as usize);
        let removed = removed.ok_or_else(|| no_such("buffer", handle))?;
        self.buffer_count.fetch_sub(1, Relaxed);
        // The reference is dropped here, outside the XArray's spinlock.
        drop(removed);
        Ok(())
    }
}

impl object::Handles for Context {
    fn insert(&self, buffer: Arc<Buffer>, room: HandleRoom) -> Result<u32, Rejection> {
        // An executor's handles (its jobs' operands) do not keep a buffer from being revoked.
        self.insert_entry(buffer, false, room)
    }

    fn remove(&self, handle: u32) -> Result<(), Rejection> {
        self.remove_buffer(handle)
    }
}

impl Context {
    /// Creates a queue. `ENOSPC` beyond [`uapi::MAX_QUEUES_PER_CONTEXT`]; `EDQUOT` beyond the
    /// uid's queue quota; `EINVAL` (from
    /// [`Queue::new`]): priority or timeout out of range.
    pub(crate) fn create_queue(&self, priority: u32, timeout_ms: u32) -> Result<Arc<Queue>, Rejection> {
        let mut queues = self.queues.lock();
        if queues.len() >= uapi::MAX_QUEUES_PER_CONTEXT as usize {
            return Err(reject!(
                ENOSPC,
                "this context holds {} queues, the most it may",
                uapi::MAX_QUEUES_PER_CONTEXT
            ));
        }
        let id = self.next_queue_id.fetch_add(1, Relaxed);
        if id == 0 || id > (u32::MAX >> 1) {
            return Err(reject!(ENOSPC, "this context has used up its queue identifiers"));
        }
        let charge = self.account.charge(quota::Kind::Queues, 1)?;
        let queue = Queue::new(id, priority, timeout_ms, charge).map_err(|err| {
            if err != EINVAL {
                err.into()
            } else if priority > uapi::QUEUE_PRIORITY_MAX {
                reject!(EINVAL, "priority {priority} > {}", uapi::QUEUE_PRIORITY_MAX)
            } else {
                reject!(EINVAL, "timeout {timeout_ms} ms > {} ms", uapi::MAX_JOB_TIMEOUT_MS)
            }
        })?;
        queues.push(queue.clone(), GFP_KERNEL)?;
        Ok(queue)
    }

    /// Destroys queue `id`, aborting its unfinished jobs. `ENOENT` when there is none.
    pub(crate) fn destroy_queue(&self, id: u32) -> Result<(), Rejection> {
        let queue = {
            let mut queues = self.queues.lock();
            let pos = queues.iter().position(|q| q.id() == id).ok_or_else(|| no_such("queue", id))?;
            queues.remove(pos).map_err(|_| no_such("queue", id))?
        };
        queue.close();
        Ok(())
    }

    /// Adds `queue` (new or imported) under a new identifier, returned. `ENOSPC` beyond
    /// [`uapi::MAX_SPIKE_QUEUES_PER_CONTEXT`].
    pub(crate) fn insert_spike_queue(&self, queue: Arc<SpikeQueue>) -> Result<u32, Rejection> {
        let mut queues = self.spike_queues.lock();
        if queues.len() >= uapi::MAX_SPIKE_QUEUES_PER_CONTEXT as usize {
            return Err(reject!(
                ENOSPC,
                "this context holds {} spike queues, the most it may",
                uapi::MAX_SPIKE_QUEUES_PER_CONTEXT
            ));
        }
        let id = self.next_spike_id.fetch_add(1, Relaxed);
        if id == 0 || id > (u32::MAX >> 1) {
            return Err(reject!(ENOSPC, "this context has used up its spike queue identifiers"));
        }
        queues.push((id, queue), GFP_KERNEL)?;
        Ok(id)
    }

    /// Drops this context's hold on spike queue `id` (mappings and other contexts keep the ring);
    /// this context's waiters on it return `ENOENT`. `ENOENT`: unknown.
    pub(crate) fn destroy_spike_queue(&self, id: u32) -> Result<(), Rejection> {
        let (_, queue) = {
            let mut queues = self.spike_queues.lock();
            let pos = queues.iter().position(|(i, _)| *i == id);
            let pos = pos.ok_or_else(|| no_such("spike queue", id))?;
            queues.remove(pos).map_err(|_| no_such("spike queue", id))?
        };
        queue.wake_all();
        Ok(())
    }

    /// Whether this context still holds `queue` as `id`.
    pub(crate) fn holds_spike_queue(&self, id: u32, queue: &Arc<SpikeQueue>) -> bool {
        self.spike_queues.lock().iter().any(|(i, q)| *i == id && Arc::ptr_eq(q, queue))
    }

    /// Writes `QUERY_SPIKE_QUEUES`'s result for this context. The entries are gathered under the
    /// lock and written after it: a fault on the user buffer takes `mmap_lock`, which `mmap` of a
    /// ring holds while it takes this lock.
    pub(crate) fn write_spike_queues(&self, w: &mut kernel::uaccess::UserSliceWriter) -> Result {
        let mut infos = KVec::with_capacity(uapi::MAX_SPIKE_QUEUES_PER_CONTEXT as usize, GFP_KERNEL)?;
        for (id, q) in self.spike_queues.lock().iter() {
            infos.push(q.info(*id), GFP_KERNEL)?;
        }
        w.write(&(infos.len() as u32))?;
        w.write(&0u32)?;
        for i in 0..uapi::MAX_SPIKE_QUEUES_PER_CONTEXT as usize {
            w.write(&infos.get(i).copied().unwrap_or_default())?;
        }
        Ok(())
    }

    /// How many spike queues this context holds.
    pub(crate) fn spike_queue_count(&self) -> usize {
        self.spike_queues.lock().len()
    }

    /// Spike queue `id`, or `ENOENT`.
    pub(crate) fn spike_queue(&self, id: u32) -> Result<Arc<SpikeQueue>, Rejection> {
        let queues = self.spike_queues.lock();
        let queue = queues.iter().find(|(i, _)| *i == id).map(|(_, q)| q.clone());
        queue.ok_or_else(|| no_such("spike queue", id))
    }

    /// Queue `id`, or `ENOENT`.
    pub(crate) fn queue(&self, id: u32) -> Result<Arc<Queue>, Rejection> {
        let queue = self.queues.lock().iter().find(|q| q.id() == id).cloned();
        queue.ok_or_else(|| no_such("queue", id))
    }

    /// How many queues this context holds.
    pub(crate) fn queue_count(&self) -> usize {
        self.queues.lock().len()
    }

    /// The routing policy.
    pub(crate) fn routes(&self) -> &Routes {
        &self.routes
    }

    /// Counts one submitted primitive of `op`.
    pub(crate) fn count_job(&self, op: u16) {
        self.jobs.add(1, Relaxed);
        if let Some(c) = usize::from(op).checked_sub(1).and_then(|i| self.op_jobs.get(i)) {
            c.add(1, Relaxed);
        }
    }

    /// Primitives of `op` submitted through this context.
    pub(crate) fn op_jobs(&self, op: usize) -> u64 {
        op.checked_sub(1)
            .and_then(|i| self.op_jobs.get(i))
            .map_or(0, |c| c.load(Relaxed))
    }

    /// Primitives submitted through this context.
    pub(crate) fn jobs(&self) -> u64 {
        self.jobs.load(Relaxed)
    }

    /// Registers this context as an executor trusted as `trust`; returns its backend identifier. `EBUSY` if it
    /// already is one.
    pub(crate) fn become_executor(
        &self,
        req: &uapi::ExecutorRegister,
        trust: Trust,
    ) -> Result<u32, Rejection> {
        let mut slot = self.executor.lock();
        if slot.is_some() {
            return Err(reject!(EBUSY, "this context is already an executor"));
        }
        let executor = Executor::register(req, trust)?;
        let id = crate::sched::backend::Backend::id(&*executor);
        *slot = Some(executor);
        Ok(id)
    }

    /// The executor this context registered, if any.
    pub(crate) fn executor(&self) -> Option<Arc<Executor>> {
        self.executor.lock().clone()
    }
}

#[pinned_drop]
impl PinnedDrop for Context {
    fn drop(self: Pin<&mut Self>) {
        // Jobs this context submitted end (ABORTED); jobs it ran as an executor end (DEVICE_LOST).
        let queues = core::mem::take(&mut *self.queues.lock());
        for queue in queues.iter() {
            queue.close();
        }
        if let Some(executor) = self.executor.lock().take() {
            executor.shut_down();
        }
    }
}

/// `ENOENT`: this context holds no `what` `id`.
fn no_such(what: &str, id: u32) -> Rejection {
    reject!(ENOENT, "{what} {id}: no such {what} in this context")
}

/// How many contexts are open module-wide.
pub(crate) fn open_contexts() -> u32 {
    stats::CONTEXTS.load(Relaxed)
}
