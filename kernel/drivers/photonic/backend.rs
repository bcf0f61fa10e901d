// SPDX-License-Identifier: GPL-2.0

//! The photonic NPU as a backend of the core ("photonic0"): jobs queue here and a work item runs
//! them on the device one at a time, highest queue priority first.
//!
//! While the thermal guard holds the device shut down, queued and new jobs end with
//! `THERMAL_ABORT`; once the device is lost (or unbound) they end with `DEVICE_LOST`.

use super::{guard::Guard, matmul, npu::Npu};
use crate::{
    account::Counters,
    backend::{self, Backend},
    job::Job,
    uapi,
};
use kernel::{
    impl_has_work, new_mutex, new_work,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, Mutex,
    },
    workqueue::{self, Work, WorkItem},
};

/// Jobs waiting for the device.
struct Pending {
    /// Per priority (index = priority), oldest first.
    queued: [KVec<Arc<Job>>; uapi::QUEUE_PRIORITY_MAX as usize + 1],
    /// The backend left the registry: nothing more is accepted.
    closed: bool,
}

/// Runs queued jobs on the device.
#[pin_data]
pub(crate) struct Worker {
    npu: Arc<Npu>,
    #[pin]
    pending: Mutex<Pending>,
    /// Set by the thermal guard while the device is shut down.
    pub(crate) thermal_shutdown: Atomic<bool>,
    running: Atomic<u32>,
    /// The backend's id, to leave the registry when the device is lost (0 until registered).
    backend_id: Atomic<u32>,
    #[pin]
    work: Work<Worker>,
}

impl_has_work! {
    impl HasWork<Self> for Worker { self.work }
}

impl WorkItem for Worker {
    type Pointer = Arc<Worker>;

    fn run(this: Arc<Worker>) {
        if this.npu.is_lost() {
            // New submissions are refused (ENODEV) from now on; what is queued ends DEVICE_LOST.
            crate::backend::unregister(this.backend_id.load(Relaxed));
            this.drain(uapi::STATUS_DEVICE_LOST);
            return;
        }
        while let Some(job) = this.next() {
            if !job.start() {
                continue; // it ended while queued (timeout, queue destroyed)
            }
            this.running.store(1, Relaxed);
            let status = if this.npu.is_lost() {
                uapi::STATUS_DEVICE_LOST
            } else if this.thermal_shutdown.load(Relaxed) {
                uapi::STATUS_THERMAL_ABORT
            } else {
                let s = matmul::run(&this.npu, &job);
                // A command refused because the guard turned the laser off mid-job.
                if s == uapi::STATUS_ABORTED && this.thermal_shutdown.load(Relaxed) {
                    uapi::STATUS_THERMAL_ABORT
                } else {
                    s
                }
            };
            job.complete(status);
            this.running.store(0, Relaxed);
        }
    }
}

impl Worker {
    /// A worker for `npu`.
    pub(crate) fn new(npu: Arc<Npu>) -> Result<Arc<Self>> {
        Arc::pin_init(
            try_pin_init!(Self {
                npu,
                pending <- new_mutex!(Pending { queued: [KVec::new(), KVec::new(), KVec::new(), KVec::new()], closed: false }),
                thermal_shutdown: Atomic::new(false),
                running: Atomic::new(0),
                backend_id: Atomic::new(0),
                work <- new_work!("photonic_worker"),
            }? Error),
            GFP_KERNEL,
        )
    }

    fn next(&self) -> Option<Arc<Job>> {
        let mut p = self.pending.lock();
        p.queued.iter_mut().rev().find(|q| !q.is_empty()).and_then(|q| q.remove(0).ok())
    }

    /// Schedules the worker (safe from any context, including the guard's timer).
    pub(crate) fn kick(self: &Arc<Self>) {
        let _ = workqueue::system_unbound().enqueue(self.clone());
    }

    /// The id its backend got (0 before registration).
    pub(crate) fn backend_id(&self) -> u32 {
        self.backend_id.load(Relaxed)
    }

    /// Records the id its backend got.
    pub(crate) fn set_backend_id(&self, id: u32) {
        self.backend_id.store(id, Relaxed);
    }

    /// Stops accepting jobs and fails the queued ones with `status`; waits for a running job.
    pub(crate) fn close(self: &Arc<Self>, status: u32) {
        self.drain(status);
        // SAFETY: `work` is a pinned, initialised `work_struct` inside `self`, alive for the call;
        // `flush_work` may sleep and this runs in process context without locks held.
        unsafe {
            let work = Work::<Worker>::raw_get(&raw const self.work);
            kernel::bindings::flush_work(work);
        }
    }

    /// Stops accepting jobs and fails the queued ones with `status`.
    fn drain(&self, status: u32) {
        let queued = {
            let mut p = self.pending.lock();
            p.closed = true;
            core::mem::take(&mut p.queued)
        };
        // Completed outside the lock: completion takes the job's queue lock.
        for job in queued.into_iter().flatten() {
            job.complete(status);
        }
    }
}

/// The photonic backend registered with the core.
pub(crate) struct PhotonicBackend {
    id: u32,
    counters: Arc<Counters>,
    worker: Arc<Worker>,
    guard: Arc<Guard>,
}

/// The backend's name.
const NAME: &[u8] = b"photonic0";

impl PhotonicBackend {
    /// Registers a backend running on `worker`. `EEXIST` when "photonic0" is taken.
    pub(crate) fn register(worker: Arc<Worker>, guard: Arc<Guard>) -> Result<Arc<Self>> {
        let id = backend::next_id();
        // The guard's events name the backend: known before it can be routed to.
        worker.set_backend_id(id);
        let counters = Arc::new(Counters::new(), GFP_KERNEL)?;
        let b = Arc::new(Self { id, counters, worker, guard }, GFP_KERNEL)?;
        backend::register(b.clone())?;
        Ok(b)
    }

    /// Leaves the registry and fails every queued job with `status`.
    pub(crate) fn unregister(&self, status: u32) {
        backend::unregister(self.id);
        self.worker.close(status);
    }
}

impl Backend for PhotonicBackend {
    fn id(&self) -> u32 {
        self.id
    }

    fn name(&self) -> &[u8; uapi::BACKEND_NAME_LEN] {
        static NAME_PADDED: [u8; uapi::BACKEND_NAME_LEN] = {
            let mut n = [0u8; uapi::BACKEND_NAME_LEN];
            let mut i = 0;
            while i < NAME.len() {
                n[i] = NAME[i];
                i += 1;
            }
            n
        };
        &NAME_PADDED
    }

    fn kind(&self) -> u32 {
        uapi::BACKEND_KIND_DEVICE
    }

    fn ops(&self) -> u64 {
        1 << uapi::OP_MATMUL
    }

    fn deterministic_ops(&self) -> u64 {
        // Detector noise: results differ run to run.
        0
    }

    fn dtypes(&self) -> u32 {
        1 << uapi::DTYPE_F32
    }

    fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    fn load(&self) -> (u32, u32) {
        let p = self.worker.pending.lock();
        let queued: usize = p.queued.iter().map(|q| q.len()).sum();
        (queued as u32, self.worker.running.load(Relaxed))
    }

    fn enqueue(&self, job: Arc<Job>) -> Result {
        let mut p = self.worker.pending.lock();
        if p.closed || self.worker.npu.is_lost() {
            return Err(ENODEV);
        }
        let prio = (job.priority() as usize).min(uapi::QUEUE_PRIORITY_MAX as usize);
        p.queued[prio].push(job, GFP_KERNEL)?;
        Ok(())
    }

    fn kick(&self) {
        self.worker.kick();
    }

    fn thermal(&self) -> Option<uapi::ThermalInfo> {
        Some(self.guard.info(self.id, self.name()))
    }

    fn set_power(&self, req: &uapi::PowerSet) -> Result {
        self.guard.set_power(req);
        Ok(())
    }
}
