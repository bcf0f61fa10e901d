// SPDX-License-Identifier: GPL-2.0

//! A photonic NPU's job scheduling ([`JobRunner`]): jobs wait in a [`JobQueue`] and a work item
//! runs them on the device one at a time, highest queue priority first.
//!
//! Before each job the work item asks the thermal guard for admission: while the guard holds the
//! device shut down, queued and new jobs end with `THERMAL_ABORT`; once the device is lost (or
//! unbound) they end with `DEVICE_LOST` and the backend leaves the registry.

use super::{
    guard::{self, Guard},
    matmul,
    npu::Npu,
};
use crate::{
    sched::{backend, job::Job, job_queue::JobQueue},
    uapi,
};
use kernel::{
    impl_has_work, new_mutex, new_work,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        rcu, Arc, Mutex,
    },
    workqueue::{self, Work, WorkItem},
};

/// The device's job scheduling: its queue and the work item that drains it.
#[pin_data]
pub(crate) struct JobRunner {
    npu: Arc<Npu>,
    guard: Arc<Guard>,
    /// The device's backend id (to leave the registry when the device is lost).
    backend_id: u32,
    /// Jobs waiting for the device; closed when it goes away.
    #[pin]
    queue: Mutex<JobQueue>,
    /// 1 while a job runs.
    running: Atomic<u32>,
    /// Set by [`JobRunner::close`]: [`JobRunner::kick`] queues the work item no more.
    closed: Atomic<bool>,
    #[pin]
    work: Work<JobRunner>,
}

impl_has_work! {
    impl HasWork<Self> for JobRunner { self.work }
}

impl WorkItem for JobRunner {
    type Pointer = Arc<JobRunner>;

    fn run(this: Arc<JobRunner>) {
        if this.npu.is_lost() {
            // New submissions are refused (ENODEV) from now on; what is queued ends DEVICE_LOST.
            backend::unregister(this.backend_id);
            this.fail_queued(uapi::STATUS_DEVICE_LOST);
            return;
        }
        while let Some(job) = this.next() {
            if !job.start() {
                continue; // it ended while queued (timeout, queue destroyed)
            }
            this.running.store(1, Relaxed);
            let status = match this.guard.admit() {
                Err(status) => status,
                Ok(()) => match matmul::run(&this.npu, &job) {
                    // A command refused because the guard turned the laser off mid-job.
                    uapi::STATUS_ABORTED if this.guard.state() == guard::SHUTDOWN => uapi::STATUS_THERMAL_ABORT,
                    s => s,
                },
            };
            // Its reference goes back with the completion, so its queue can reuse the job's slot.
            Job::finish(job, status);
            this.running.store(0, Relaxed);
        }
    }
}

impl JobRunner {
    /// The scheduling of the device `npu` guarded by `guard`, registered as `backend_id`.
    pub(crate) fn new(npu: Arc<Npu>, guard: Arc<Guard>, backend_id: u32) -> Result<Arc<Self>> {
        Arc::pin_init(
            try_pin_init!(Self {
                npu,
                guard,
                backend_id,
                queue <- new_mutex!(JobQueue::new()),
                running: Atomic::new(0),
                closed: Atomic::new(false),
                work <- new_work!("photonic_jobs"),
            }? Error),
            GFP_KERNEL,
        )
    }

    /// Schedules the work item unless the runner is closed (safe from any context, including the
    /// guard's timer).
    pub(crate) fn kick(self: &Arc<Self>) {
        // Checked and queued inside one RCU read-side section: `close` sets `closed` and waits a
        // grace period before flushing, so a kick that saw it clear has queued the work item by
        // the time the flush starts, and a later kick sees it set.
        let _rcu = rcu::read_lock();
        if !self.closed.load(Relaxed) {
            let _ = workqueue::system_unbound().enqueue(self.clone());
        }
    }

    /// Stops accepting jobs and kicks, fails the queued jobs with `status` and waits for the work
    /// item (a running job); the work item is never queued again.
    pub(crate) fn close(&self, status: u32) {
        self.closed.store(true, Relaxed);
        // SAFETY: an FFI call without requirements; it may sleep, and `close` runs in process
        // context (unbind, a failed probe).
        unsafe { kernel::bindings::synchronize_rcu() };
        self.fail_queued(status);
        // SAFETY: `work` is a pinned, initialised `work_struct` inside `self`, alive for the call;
        // `flush_work` may sleep and this runs in process context, and the work item never takes
        // the device lock that the PCI remove path holds (nor any lock held here).
        unsafe {
            let work = Work::<JobRunner>::raw_get(&raw const self.work);
            kernel::bindings::flush_work(work);
        }
    }

    /// Makes room for `n` jobs of queue priority `priority` ([`JobQueue::reserve`]).
    pub(super) fn reserve(&self, priority: u32, n: usize) -> Result {
        if self.npu.is_lost() {
            return Err(ENODEV);
        }
        self.queue.lock().reserve(priority, n)
    }

    /// Gives back room [`JobRunner::reserve`] made.
    pub(super) fn unreserve(&self, priority: u32, n: usize) {
        self.queue.lock().unreserve(priority, n);
    }

    /// Queues `job` (the caller kicks). `ENODEV` once the device is lost or closed.
    pub(super) fn push(&self, job: Arc<Job>) -> Result {
        if self.npu.is_lost() {
            return Err(ENODEV);
        }
        self.queue.lock().push(job)
    }

    /// `(queued, running)` jobs.
    pub(super) fn load(&self) -> (u32, u32) {
        let running = self.running.load(Relaxed) as usize;
        self.queue.lock().load(running)
    }

    fn next(&self) -> Option<Arc<Job>> {
        self.queue.lock().pop()
    }

    /// Stops accepting jobs and fails the queued ones with `status`.
    fn fail_queued(&self, status: u32) {
        let queued = self.queue.lock().close();
        // Completed outside the lock: completion takes the job's timeline lock.
        for job in queued {
            job.complete(status);
        }
    }
}
