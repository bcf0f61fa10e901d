// SPDX-License-Identifier: GPL-2.0

//! Dependencies between jobs, resolved in the kernel (DRM's scheduler waits on fences the same
//! way): a primitive names jobs it waits for ([`uapi::Dependency`]); its job is admitted at once
//! but dispatched to its backend only when every one of them ended OK, and ends
//! `DEPENDENCY_FAILED` without running when one ended otherwise.
//!
//! Submission resolves each dependency before anything is admitted ([`resolve`]): a sequence number
//! already handed out on a queue of the same context (its fence, or its status when it already
//! ended and is still known), or, with `DEP_RELATIVE`, an earlier primitive of the same call. A
//! dependency can only name something submitted before the primitive, so no cycle can be written;
//! naming the primitive itself or a later one is refused as one.
//!
//! A job with dependencies counts them down ([`Job::dependency_ended`]); the submission holds one
//! extra count until it registered them all, so a job is never dispatched half-registered. The
//! slot of a sequence number in its timeline's window keeps the jobs waiting for it
//! ([`crate::sched::timeline::Timeline::add_dependent`], under the timeline's lock). When it ends
//! (on any path: completion, timeout, abort, device loss, always under that lock) they move to the
//! release queue ([`queue_release`]), which whichever thread next calls [`drain`] with no lock
//! held empties. Draining dispatches or fails the waiting jobs; a job failed there ends its own
//! fence, whose dependents join the same queue, so failure propagates along a chain of any length
//! iteratively, never by recursion, and one drainer runs at a time.
//!
//! Memory: a slot's list of dependents grows at submission; its place in the release queue is
//! reserved when it gets its first dependent, so queueing it allocates nothing.
//!
//! Lock order: a timeline's lock → the release queue's lock; the drainer holds neither while it
//! dispatches.

use crate::{
    context::Context,
    reason::{ensure, reject, Rejection},
    sched::job::Job,
    uapi,
};
use kernel::{
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc,
    },
    uaccess::{UserPtr, UserSlice},
};

/// The jobs waiting for one sequence number that ended, and its status.
type Released = (u32, KVec<Arc<Job>>);

/// The release queue: dependents of sequence numbers that ended, waiting for a drainer.
struct ReleaseQueue {
    ended: KVec<Released>,
    /// Places promised to sequence numbers with dependents and not used yet.
    reserved: usize,
    /// A thread is draining.
    draining: bool,
}

kernel::sync::global_lock! {
    // SAFETY: initialised by `init` in module init, before `/dev/lightos` is registered.
    unsafe(uninit) static RELEASE: Mutex<ReleaseQueue> =
        ReleaseQueue { ended: KVec::new(), reserved: 0, draining: false };
}

/// Entries queued for release (read without the lock, so that [`drain`] costs one atomic load when
/// there is nothing to do).
static QUEUED: Atomic<u32> = Atomic::new(0);

/// Initialises the release queue; called once from module init.
pub(crate) fn init() {
    // SAFETY: called exactly once, from module init, before any other use of `RELEASE`.
    unsafe { RELEASE.init() };
}

/// Frees the release queue's storage; called from module exit, when no file (so no fence) is left.
pub(crate) fn release() {
    let old = core::mem::take(&mut RELEASE.lock().ended);
    drop(old);
}

/// One dependency of a primitive, resolved at submission (before admission).
pub(crate) enum Resolved {
    /// A job in flight: wait for its fence.
    Wait(Arc<Job>),
    /// A job that already ended with this status.
    Ended(u32),
    /// The primitive this many places earlier in the same call (its fence exists after admission).
    InBatch(usize),
}

/// Reads and resolves the dependencies of primitive `index` of a call (`ENOENT`: an unknown queue;
/// `EINVAL`: bad flags or padding, a count over [`uapi::MAX_DEPS`], a sequence number not handed out
/// yet or too old for its status to be known, a relative dependency that is not earlier in the
/// call; `EFAULT`).
pub(crate) fn resolve(ctx: &Context, p: &uapi::Primitive, index: usize) -> Result<KVec<Resolved>, Rejection> {
    let n = p.n_deps as usize;
    let mut out = KVec::with_capacity(n, GFP_KERNEL)?;
    if n == 0 {
        return Ok(out);
    }
    let ptr = usize::try_from(p.deps).map_err(|_| EFAULT)?;
    let mut reader = UserSlice::new(UserPtr::from_addr(ptr), n * size_of::<uapi::Dependency>()).reader();
    for d in 0..n {
        let dep: uapi::Dependency = reader
            .read()
            .map_err(|_| reject!(EFAULT, "deps: {n} entries at {:#x} are not readable", p.deps))?;
        let unknown = dep.flags & !uapi::DEP_FLAGS_ALL;
        ensure!(unknown == 0, EINVAL, "deps[{d}].flags: unknown flag bit {}", unknown.trailing_zeros());
        let resolved = if dep.flags & uapi::DEP_RELATIVE != 0 {
            ensure!(dep.queue_id == 0, EINVAL, "deps[{d}]: queue_id must be 0 with DEP_RELATIVE");
            ensure!(
                dep.seq != 0 && dep.seq <= index as u64,
                EINVAL,
                "deps[{d}]: {} back from primitive {index} is {}: a dependency must be an earlier \
                 primitive (a cycle otherwise)",
                dep.seq,
                if dep.seq == 0 { "itself" } else { "before the call" }
            );
            Resolved::InBatch(dep.seq as usize)
        } else {
            let queue = ctx.queue(dep.queue_id)?;
            let (seq, qid) = (dep.seq, dep.queue_id);
            match queue.timeline().dependency(seq) {
                Ok(r) => r,
                Err(e) if e == EINVAL && seq == 0 => {
                    return Err(reject!(EINVAL, "deps[{d}]: seq 0 (sequence numbers start at 1)"));
                }
                Err(e) if e == EINVAL => {
                    return Err(reject!(
                        EINVAL,
                        "deps[{d}]: seq {seq} not submitted to queue {qid} yet (a dependency on a \
                         later job could form a cycle)"
                    ));
                }
                Err(e) if e == ENOENT => {
                    return Err(reject!(
                        EINVAL,
                        "deps[{d}]: seq {seq} of queue {qid} ended too long ago for its status to be known"
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        };
        out.push(resolved, GFP_KERNEL)?;
    }
    Ok(out)
}

/// Makes `job` wait for `dependency`: counted down when its fence ends (at once if it already
/// has). The job's count must include this dependency; called at submission, with no lock held.
pub(crate) fn wait_for(dependency: &Job, job: &Arc<Job>) -> Result {
    if let Some(status) = dependency.fence().add_dependent(job)? {
        job.dependency_ended(status);
    }
    Ok(())
}

/// Reserves a place in the release queue (for a sequence number's first dependent). May be
/// called under a timeline's lock.
pub(crate) fn reserve_release() -> Result {
    let mut q = RELEASE.lock();
    let want = q.reserved.checked_add(1).ok_or(ENOMEM)?;
    // Capacity for every entry queued now plus every place promised.
    q.ended.reserve(want, GFP_KERNEL)?;
    q.reserved = want;
    Ok(())
}

/// Gives back a place [`reserve_release`] made and nothing used.
pub(crate) fn unreserve_release() {
    let mut q = RELEASE.lock();
    q.reserved = q.reserved.saturating_sub(1);
}

/// A sequence number with `jobs` waiting for it ended with `status`: they are queued for the next
/// [`drain`]. Allocates nothing (its place was reserved); called under its timeline's lock.
pub(crate) fn queue_release(status: u32, jobs: KVec<Arc<Job>>) {
    let mut q = RELEASE.lock();
    q.reserved = q.reserved.saturating_sub(1);
    // Room was reserved when the sequence number got its first dependent.
    if q.ended.push_within_capacity((status, jobs)).is_ok() {
        QUEUED.add(1, Relaxed);
    }
}

/// Dispatches or fails the jobs queued by [`queue_release`]. Called with no lock held;
/// returns at once when another thread is draining (it will see what was queued).
pub(crate) fn drain() {
    if QUEUED.load(Relaxed) == 0 {
        return;
    }
    let mut q = RELEASE.lock();
    if q.draining {
        return;
    }
    q.draining = true;
    while let Some((status, jobs)) = q.ended.pop() {
        QUEUED.fetch_sub(1, Relaxed);
        drop(q);
        for job in jobs.iter() {
            job.dependency_ended(status);
        }
        drop(jobs);
        q = RELEASE.lock();
    }
    q.draining = false;
}
