// SPDX-License-Identifier: GPL-2.0

//! `null0`, the null device (module parameter `null_backend=1`, as null_blk is to the block
//! layer): it completes every primitive OK at once, in the kernel, without touching its operands,
//! so that what a job costs through the interception chain, the queues, rings and dependencies
//! can be measured alone. Its results are meaningless, so it is never chosen by default: only a
//! routing rule naming it sends jobs there.
//!
//! Completion happens when it is kicked, on the kicking thread. One thread completes at a time
//! (the others leave their jobs to it): a completion may release dependents routed here again,
//! whose kick then finds the drainer busy and returns, so a chain of any length runs as a loop,
//! not a recursion.

use crate::{
    sched::{
        account::Counters,
        backend::{self, Backend},
        job::Job,
        job_queue::JobQueue,
    },
    uapi,
};
use kernel::{new_mutex, prelude::*, sync::Arc, sync::Mutex};

/// Jobs taken per lock by a kick.
const KICK_BATCH: usize = 16;

/// The name it registers under.
const NAME: &[u8] = b"null0";

/// Its waiting jobs, and whether a thread is completing them.
struct NullState {
    queued: JobQueue,
    draining: bool,
}

/// The null device, as a backend.
#[pin_data]
pub(crate) struct NullBackend {
    id: u32,
    name: [u8; uapi::BACKEND_NAME_LEN],
    counters: Arc<Counters>,
    #[pin]
    state: Mutex<NullState>,
}

impl NullBackend {
    /// Registers `null0`.
    pub(crate) fn register() -> Result<Arc<Self>> {
        let mut name = [0u8; uapi::BACKEND_NAME_LEN];
        name[..NAME.len()].copy_from_slice(NAME);
        let this = Arc::pin_init(
            try_pin_init!(Self {
                id: backend::next_id(),
                name,
                counters: Arc::new(Counters::new(), GFP_KERNEL)?,
                state <- new_mutex!(NullState { queued: JobQueue::new(), draining: false }),
            }? Error),
            GFP_KERNEL,
        )?;
        backend::register(this.clone())?;
        Ok(this)
    }

    /// Leaves the registry and fails what is queued (nothing normally: jobs complete when kicked).
    pub(crate) fn unregister(&self) {
        backend::unregister(self.id);
        let drained = self.state.lock().queued.close();
        for job in drained {
            job.complete(uapi::STATUS_DEVICE_LOST);
        }
    }
}

impl Backend for NullBackend {
    fn id(&self) -> u32 {
        self.id
    }

    fn name(&self) -> &[u8; uapi::BACKEND_NAME_LEN] {
        &self.name
    }

    fn kind(&self) -> u32 {
        uapi::BACKEND_KIND_NULL
    }

    fn ops(&self) -> u64 {
        ((1u64 << (uapi::OP_COUNT + 1)) - 1) & !1
    }

    fn deterministic_ops(&self) -> u64 {
        self.ops()
    }

    fn dtypes(&self) -> u32 {
        ((1u32 << (uapi::DTYPE_MAX + 1)) - 1) & !1
    }

    fn routed_by_default(&self) -> bool {
        false
    }

    fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    fn load(&self) -> (u32, u32) {
        self.state.lock().queued.load(0)
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
        let mut st = self.state.lock();
        if st.draining {
            return;
        }
        st.draining = true;
        loop {
            // Up to a handful at a time under one lock, completed after it (on the stack: no
            // allocation).
            let mut taken: [Option<Arc<Job>>; KICK_BATCH] = [const { None }; KICK_BATCH];
            for slot in taken.iter_mut() {
                *slot = st.queued.pop();
                if slot.is_none() {
                    break;
                }
            }
            if taken[0].is_none() {
                break;
            }
            drop(st);
            let started = taken.into_iter().flatten().filter(|job| job.start());
            Job::finish_all(started.map(|job| (job, uapi::STATUS_OK, ())), |_, _, ()| {});
            st = self.state.lock();
        }
        st.draining = false;
    }
}
