// SPDX-License-Identifier: GPL-2.0

//! `SUBMIT`: it runs the interception chain: every primitive is copied from user memory once, then
//! validated ([`validate`]), routed ([`policy`]) and only when all passed admitted to the queue,
//! accounted ([`account`]) and dispatched to its backend. A rejected batch has no side effect; its
//! `error_index` names the primitive at fault. `ENTER` runs the same chain on the entries of a
//! queue's submission ring ([`run`]). A primitive with dependencies ([`deps`]) is admitted with the
//! rest and dispatched once they ended OK.

use crate::{
    buffer::object::Buffer,
    context::Context,
    ioctl::arg::IoctlArg,
    reason::{self, ensure, reject, Rejection},
    spike::ring::SpikeQueue,
    sched::{
        account,
        backend::Backend,
        deps::{self, Resolved},
        job::{Job, JobSpec},
        queue::Queue,
        timeline::Charge,
        policy::LastRoute,
        validate::{self, Lookups},
    },
    uapi,
};
use core::cell::Cell;
use kernel::{
    prelude::*,
    sync::Arc,
    uaccess::{UserPtr, UserSlice},
};

/// A primitive that passed validation and policy.
struct Accepted {
    prim: uapi::Primitive,
    /// Bytes its operands span and the operations it represents.
    bytes: u64,
    flops: u64,
    /// Its operand buffers and spike queue, moved into its job at admission.
    buffers: Cell<[Option<Arc<Buffer>>; uapi::MAX_OPERANDS]>,
    spike_queue: Cell<Option<Arc<SpikeQueue>>>,
    backend: Arc<dyn Backend>,
    /// Its dependencies, resolved.
    deps: KVec<Resolved>,
    /// Its job is in the backend's queue (false until dispatched, and when the backend refused it).
    queued: bool,
}

/// The chain's working storage for one call: the primitives copied in, those accepted, the jobs
/// admitted. Emptied after every call (nothing is held between calls) but kept by a queue's rings
/// with its capacity, so a warm `ENTER` allocates nothing.
pub(crate) struct Scratch {
    prims: KVec<uapi::Primitive>,
    accepted: KVec<Accepted>,
    jobs: KVec<Arc<Job>>,
}

impl Scratch {
    /// Empty, nothing allocated.
    pub(crate) const fn new() -> Self {
        Self { prims: KVec::new(), accepted: KVec::new(), jobs: KVec::new() }
    }

    /// Where the call's primitives are copied to.
    pub(crate) fn prims(&mut self) -> &mut KVec<uapi::Primitive> {
        &mut self.prims
    }
}

/// Handles `SUBMIT`. `EINVAL`: flags/reserved or a count outside 1..=`MAX_SUBMIT`; `ENOENT`: unknown
/// queue; `EFAULT`: unreadable primitives; `EBUSY`: the queue is full; `ENODEV`: a routed backend
/// went away; `ENOMEM`; the chain's errors otherwise.
pub(crate) fn submit(
    ctx: &Context,
    mut req: uapi::Submit,
    arg: &IoctlArg<uapi::Submit>,
) -> Result<isize, Rejection> {
    // Errors not caused by one primitive report `error_index == count`.
    req.error_index = req.count;
    let result = submit_batch(ctx, &mut req);
    arg.write_back(&req, result)
}

/// Checks `req` and runs the chain for its primitives; sets `error_index` to the primitive at fault.
fn submit_batch(ctx: &Context, req: &mut uapi::Submit) -> Result<(), Rejection> {
    reason::known_flags(req.flags.into(), 0)?;
    reason::zeros("reserved", &req.reserved)?;
    ensure!(
        (1..=uapi::MAX_SUBMIT).contains(&req.count),
        EINVAL,
        "count {}: 1 to {} primitives per SUBMIT",
        req.count,
        uapi::MAX_SUBMIT
    );
    let queue = ctx.queue(req.queue_id)?;
    let mut scratch = Scratch::new();
    read_prims(req.prims, req.count as usize, scratch.prims())?;
    let (first_seq, last_seq) = run(ctx, &queue, &mut scratch, &mut req.error_index)?;
    req.first_seq = first_seq;
    req.last_seq = last_seq;
    Ok(())
}

/// The interception chain for the primitives in `scratch` (copied from user memory once) on
/// `queue`: all admitted or none. Returns the first and last sequence numbers; on a rejection sets
/// `error_index` to the primitive at fault (it is left alone for errors no primitive caused).
/// `scratch` is empty again afterwards.
pub(crate) fn run(
    ctx: &Context,
    queue: &Arc<Queue>,
    scratch: &mut Scratch,
    error_index: &mut u32,
) -> Result<(u64, u64), Rejection> {
    let Scratch { prims, accepted, jobs } = scratch;
    accepted.clear();
    jobs.clear();
    let result = run_chain(ctx, queue, prims, accepted, jobs, error_index);
    // What the call held (buffers, backends, jobs) goes now, not at the next call.
    prims.clear();
    accepted.clear();
    jobs.clear();
    result
}

/// [`run`] on the parts of its scratch (`accepted` and `jobs` empty).
fn run_chain(
    ctx: &Context,
    queue: &Arc<Queue>,
    prims: &[uapi::Primitive],
    accepted: &mut KVec<Accepted>,
    jobs: &mut KVec<Arc<Job>>,
    error_index: &mut u32,
) -> Result<(u64, u64), Rejection> {
    let timeline = queue.timeline();
    timeline.expire();
    let count = prims.len();

    let client = crate::privilege::caller_uid();
    accepted.reserve(count, GFP_KERNEL)?;
    // In deterministic mode every primitive is deterministic, and the backend is told so: it may
    // have kernels whose bits depend on the CPU (the CPU backend's native bf16) and must not use them.
    let det_mode = ctx.routes().deterministic();
    let (mut lookups, mut last_route) = (Lookups::new(), LastRoute::default());
    for (i, &prim) in prims.iter().enumerate() {
        let mut prim = prim;
        if det_mode {
            prim.flags |= uapi::PRIM_DETERMINISTIC;
        }
        let stage = validate::check(ctx, &prim, &mut lookups).and_then(|checked| {
            let deps = deps::resolve(ctx, &prim, i)?;
            let backend = ctx.routes().route_again(&mut last_route, &prim, checked.out_dtype, checked.bytes, client)?;
            Ok(Accepted {
                prim,
                bytes: checked.bytes,
                flops: checked.flops,
                buffers: Cell::new(checked.buffers),
                spike_queue: Cell::new(checked.spike_queue),
                backend,
                deps,
                queued: false,
            })
        });
        match stage {
            Ok(a) => accepted.push(a, GFP_KERNEL)?,
            Err(err) => {
                account::reject(prim.op);
                *error_index = i as u32;
                return Err(err);
            }
        }
    }

    // Room in every routed backend's FIFO first: once admitted, a job is dispatched without
    // allocating (an ENOMEM after admission could only end it as if its device were lost).
    let reserved = Reserved::take(accepted, queue.priority())?;
    let mut quota = ctx.account().charge_jobs(count)?;
    timeline
        .admit(count, jobs, |i| {
            let a = &accepted[i];
            let charge = Charge {
                op: a.prim.op,
                backend: a.backend.counters().clone(),
                quota: quota.take(),
                user_data: a.prim.user_data,
            };
            // Moved: nothing below needs the buffers (if admission fails, they drop with the jobs).
            let spec = JobSpec {
                prim: a.prim,
                buffers: a.buffers.take(),
                spike_queue: a.spike_queue.take(),
                priority: queue.priority(),
                backend: a.backend.clone(),
            };
            (charge, spec)
        })
        .map_err(|err| admission_rejection(err, queue.id(), count))?;
    // Every job below takes its reserved slot (or finds its backend closed, which dropped it).
    reserved.used();
    let first_seq = jobs.first().map_or(0, |j| j.seq());
    let last_seq = jobs.last().map_or(0, |j| j.seq());
    for (job, a) in jobs.iter().zip(accepted.iter_mut()) {
        account::accept(a.prim.op, a.backend.counters(), a.bytes, a.flops);
        ctx.count_job(a.prim.op);
        if job.has_deps() {
            continue; // dispatched when its dependencies are met, below
        }
        a.queued = a.backend.enqueue(job.clone()).is_ok();
        if !a.queued {
            // The backend went away between routing and dispatch.
            job.complete(uapi::STATUS_DEVICE_LOST);
        }
    }
    timeline.arm_timeout();
    for (i, (job, a)) in jobs.iter().zip(accepted.iter()).enumerate() {
        if job.has_deps() {
            register_deps(jobs, i, job, &a.deps);
        }
    }
    // The backends hold the jobs now: a job that ends during a kick below is then held by its
    // timeline alone, whose slot is reused.
    jobs.clear();
    // One wake-up per backend and batch, not per job; none for a backend that refused its jobs
    // (it is going away: a wake-up could reach it after its teardown).
    for (backend, _) in batches(accepted) {
        if accepted.iter().any(|a| a.queued && a.backend.id() == backend.id()) {
            backend.kick();
        }
    }
    Ok((first_seq, last_seq))
}

/// Makes job `i` of the admitted `jobs` wait for its resolved dependencies, then drops the
/// submission's own count (which dispatches it when they all ended already). A dependency that
/// cannot be registered (no memory) counts as failed: the job then ends `DEPENDENCY_FAILED`.
fn register_deps(jobs: &[Arc<Job>], i: usize, job: &Arc<Job>, resolved: &[Resolved]) {
    for dep in resolved {
        let registered = match dep {
            Resolved::Ended(status) => {
                job.dependency_ended(*status);
                Ok(())
            }
            Resolved::Wait(dependency) => deps::wait_for(dependency, job),
            // `resolve` checked `1 <= back <= i`.
            Resolved::InBatch(back) => match jobs.get(i.wrapping_sub(*back)) {
                Some(earlier) => deps::wait_for(earlier, job),
                None => Err(EINVAL),
            },
        };
        if registered.is_err() {
            job.dependency_ended(uapi::STATUS_ABORTED);
        }
    }
    job.dependency_ended(uapi::STATUS_OK);
}

/// Each distinct backend of `accepted`, in order of first appearance, with the number of its jobs.
fn batches(accepted: &[Accepted]) -> impl Iterator<Item = (&Arc<dyn Backend>, usize)> {
    accepted.iter().enumerate().filter_map(move |(i, a)| {
        let id = a.backend.id();
        let first = !accepted[..i].iter().any(|b| b.backend.id() == id);
        first.then(|| (&a.backend, accepted[i..].iter().filter(|b| b.backend.id() == id).count()))
    })
}

/// FIFO room reserved in the backends of a batch; given back when dropped unless
/// [`Reserved::used`] says the batch was admitted (its jobs then take the room).
struct Reserved<'a> {
    accepted: &'a [Accepted],
    priority: u32,
    /// Backends (in [`batches`] order) whose room was reserved.
    backends: usize,
}

impl<'a> Reserved<'a> {
    /// Reserves room for each backend's jobs at queue priority `priority`. `ENOMEM`, or `ENODEV`
    /// when a backend went away after routing; nothing stays reserved on failure.
    fn take(accepted: &'a [Accepted], priority: u32) -> Result<Self, Rejection> {
        let mut reserved = Self { accepted, priority, backends: 0 };
        for (backend, n) in batches(accepted) {
            match backend.reserve(priority, n) {
                Ok(()) => reserved.backends += 1,
                Err(err) if err == ENODEV => {
                    return Err(reject!(
                        ENODEV,
                        "backend {} went away during the submission",
                        backend.id()
                    ));
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(reserved)
    }

    /// The batch was admitted: its jobs take the room.
    fn used(mut self) {
        self.backends = 0;
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        for (backend, n) in batches(self.accepted).take(self.backends) {
            backend.unreserve(self.priority, n);
        }
    }
}

/// Why [`Timeline::admit`](crate::sched::timeline::Timeline::admit) refused `count` jobs with `err`.
fn admission_rejection(err: Error, queue_id: u32, count: usize) -> Rejection {
    if err == EBUSY {
        reject!(
            EBUSY,
            "queue {queue_id}: {count} more jobs would exceed its {} in flight",
            uapi::MAX_QUEUE_INFLIGHT
        )
    } else if err == ENODEV {
        reject!(ENODEV, "queue {queue_id} is being destroyed")
    } else {
        err.into()
    }
}

/// Copies `count` primitives from user address `ptr`, once, into `prims`.
fn read_prims(ptr: u64, count: usize, prims: &mut KVec<uapi::Primitive>) -> Result {
    let ptr = usize::try_from(ptr).map_err(|_| EFAULT)?;
    let len = count.checked_mul(size_of::<uapi::Primitive>()).ok_or(EINVAL)?;
    let mut reader = UserSlice::new(UserPtr::from_addr(ptr), len).reader();
    prims.reserve(count, GFP_KERNEL)?;
    for _ in 0..count {
        prims.push(reader.read::<uapi::Primitive>()?, GFP_KERNEL)?;
    }
    Ok(())
}
