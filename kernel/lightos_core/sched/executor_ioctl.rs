// SPDX-License-Identifier: GPL-2.0

//! `EXECUTOR_REGISTER`, `JOB_FETCH`, `JOB_COMPLETE` and `JOB_BATCH`: validating the request, then
//! acting on it.

use crate::{
    context::Context,
    ioctl::arg::IoctlArg,
    reason::{self, ensure, reject, Rejection},
    sched::{executor::Executor, trust::Trust},
    uapi,
};
use kernel::{
    prelude::*,
    sync::Arc,
    uaccess::{UserPtr, UserSlice},
};

/// Handles `EXECUTOR_REGISTER`. `EPERM`: the caller has neither `CAP_SYS_ADMIN` nor membership of
/// the executor group (checked first, see [`crate::sched::trust`]); `EINVAL`: an empty or unterminated name, no ops, unknown op or
/// dtype bits, deterministic ops it does not run, non-zero flags/pad/reserved/`backend_id`;
/// `EBUSY`: this context is already an executor; `EEXIST`: the name is taken; `ENOSPC`: too many
/// backends.
pub(crate) fn register(
    ctx: &Context,
    mut req: uapi::ExecutorRegister,
    arg: &IoctlArg<uapi::ExecutorRegister>,
) -> Result<isize, Rejection> {
    let trust = Trust::of_caller()?;
    reason::zero("backend_id (an output)", req.backend_id.into())?;
    check_registration(&req)?;
    let id = ctx.become_executor(&req, trust).map_err(|r| {
        if r.error() == EEXIST {
            reject!(EEXIST, "name: a backend of that name is registered")
        } else if r.error() == ENOSPC {
            reject!(ENOSPC, "{} backends are registered, the most there may be", uapi::MAX_EXECUTORS)
        } else {
            r
        }
    })?;
    req.backend_id = id;
    arg.write(&req)?;
    Ok(0)
}

/// The rules of a registration request (see [`register`]).
fn check_registration(req: &uapi::ExecutorRegister) -> Result<(), Rejection> {
    let known_ops = ((1u64 << (uapi::OP_COUNT + 1)) - 1) & !1;
    let known_dtypes = ((1u32 << (uapi::DTYPE_MAX + 1)) - 1) & !1;
    let name_len = req.name.iter().position(|&b| b == 0);
    let name_len = name_len.ok_or_else(|| reject!(EINVAL, "name: not NUL-terminated"))?;
    ensure!(name_len != 0, EINVAL, "name: empty");
    ensure!(
        req.name[name_len..].iter().all(|&b| b == 0),
        EINVAL,
        "name: bytes after its NUL must be zero"
    );
    ensure!(req.ops != 0, EINVAL, "ops: an executor runs at least one op");
    let unknown = req.ops & !known_ops;
    ensure!(unknown == 0, EINVAL, "ops: unknown op bit {}", unknown.trailing_zeros());
    let extra = req.deterministic_ops & !req.ops;
    ensure!(
        extra == 0,
        EINVAL,
        "deterministic_ops: bit {} is not in ops",
        extra.trailing_zeros()
    );
    ensure!(req.dtypes != 0, EINVAL, "dtypes: an executor takes at least one dtype");
    let unknown = req.dtypes & !known_dtypes;
    ensure!(unknown == 0, EINVAL, "dtypes: unknown dtype bit {}", unknown.trailing_zeros());
    reason::known_flags(req.flags.into(), 0)?;
    reason::zero("pad", req.pad.into())?;
    reason::zeros("reserved", &req.reserved)?;
    Ok(())
}

/// Handles `JOB_FETCH`. `EINVAL`: unknown flags, non-zero pad/reserved/outputs; `EPERM`: this
/// context is not an executor; `EAGAIN` (non-blocking), `ETIMEDOUT`, `EINTR`.
pub(crate) fn fetch(
    ctx: &Context,
    mut req: uapi::JobFetch,
    arg: &IoctlArg<uapi::JobFetch>,
) -> Result<isize, Rejection> {
    reason::known_flags(req.flags.into(), uapi::FETCH_NONBLOCK.into())?;
    reason::zero("pad", req.pad.into())?;
    reason::zero("job_id (an output)", req.job_id)?;
    reason::zeros("reserved", &req.reserved)?;
    let executor: Arc<Executor> = executor_of(ctx)?;
    let (job_id, prim) =
        executor.fetch(ctx, req.timeout_ns, req.flags & uapi::FETCH_NONBLOCK != 0)?;
    req.job_id = job_id;
    req.prim = prim;
    if let Err(err) = arg.write(&req) {
        // The executor cannot learn the job: fail it rather than leave it running forever.
        let _ = executor.complete(ctx, job_id, uapi::STATUS_DEVICE_LOST, 0);
        return Err(err.into());
    }
    Ok(0)
}

/// The rule every reported status follows: an executor reports OK, INVALID or THERMAL_ABORT.
fn check_status(status: u32) -> Result<(), Rejection> {
    ensure!(
        matches!(status, uapi::STATUS_OK | uapi::STATUS_INVALID | uapi::STATUS_THERMAL_ABORT),
        EINVAL,
        "status {status}: an executor reports OK, INVALID or THERMAL_ABORT"
    );
    Ok(())
}

/// Why [`Executor::complete`] refused job `job_id` with `err`.
fn completion_rejection(err: Error, job_id: u64, produced: u32) -> Rejection {
    if err == ENOENT {
        reject!(ENOENT, "job {job_id}: not a job this executor runs")
    } else if err == EINVAL {
        reject!(
            EINVAL,
            "produced {produced}: above the job's staging capacity (0 for ops other than spike_encode)"
        )
    } else if err == crate::errno::ecanceled() {
        reject!(err, "job {job_id}: it had already timed out or been aborted")
    } else {
        err.into()
    }
}

/// Handles `JOB_BATCH` (see [`uapi::JobBatch`]). `EINVAL`: flags/pad/reserved, outputs not zero,
/// counts above [`uapi::MAX_JOB_BATCH`], a completion's bad status or `produced` (`error_index`
/// names it); `EPERM`: not an executor; `ENOENT`: a completion for a job it does not run; `EFAULT`;
/// `EINTR`. On any error `error_index` is how many completions were applied.
pub(crate) fn batch(
    ctx: &Context,
    mut req: uapi::JobBatch,
    arg: &IoctlArg<uapi::JobBatch>,
) -> Result<isize, Rejection> {
    let result = batch_checked(ctx, &mut req);
    arg.write_back(&req, result)
}

/// [`batch`] on the copied request, which it fills in.
fn batch_checked(ctx: &Context, req: &mut uapi::JobBatch) -> Result<(), Rejection> {
    let outputs = (req.n_fetched, req.n_revoked, req.error_index);
    // On an error, `error_index` is how many completions were applied.
    req.error_index = 0;
    reason::known_flags(req.flags.into(), uapi::FETCH_NONBLOCK.into())?;
    reason::zero("pad", req.pad.into())?;
    reason::zeros("reserved", &req.reserved)?;
    reason::zero("n_fetched (an output)", outputs.0.into())?;
    reason::zero("n_revoked (an output)", outputs.1.into())?;
    reason::zero("error_index (an output)", outputs.2.into())?;
    let most = uapi::MAX_JOB_BATCH;
    ensure!(req.n_complete <= most, EINVAL, "n_complete {}: at most {most}", req.n_complete);
    ensure!(req.max_fetch <= most, EINVAL, "max_fetch {}: at most {most}", req.max_fetch);
    let executor = executor_of(ctx)?;

    // The completions, copied once, then applied in order.
    let n = req.n_complete as usize;
    // On the stack: bounded by MAX_JOB_BATCH (checked above), and a batch allocates nothing.
    let mut done = [uapi::JobDone::default(); uapi::MAX_JOB_BATCH as usize];
    let done = &mut done[..n];
    let at = usize::try_from(req.completions).map_err(|_| EFAULT)?;
    let mut reader = UserSlice::new(UserPtr::from_addr(at), n * size_of::<uapi::JobDone>()).reader();
    for d in done.iter_mut() {
        *d = reader.read::<uapi::JobDone>()?;
    }
    // Applied in order up to the first refused: an invalid status, or one `complete_batch` refuses.
    let valid = done.iter().position(|d| check_status(d.status).is_err()).unwrap_or(n);
    if let Err((i, err)) = executor.complete_batch(ctx, &done[..valid]) {
        req.error_index = i as u32;
        return Err(completion_rejection(err, done[i].job_id, done[i].produced));
    }
    req.error_index = valid as u32;
    if let Some(d) = done.get(valid) {
        check_status(d.status)?;
    }
    req.error_index = req.n_complete;

    // Cached handles given up, reported before any job could name a new one. The array is
    // proved writable first, so that handles are never dropped without being reported.
    if req.max_revoked > 0 {
        let max = req.max_revoked.min(most * uapi::MAX_OPERANDS as u32) as usize;
        let at = usize::try_from(req.revoked).map_err(|_| EFAULT)?;
        UserSlice::new(UserPtr::from_addr(at), max * 4)
            .writer()
            .write_slice(&[0u8; (uapi::MAX_JOB_BATCH as usize) * uapi::MAX_OPERANDS * 4][..max * 4])
            .map_err(|_| reject!(EFAULT, "revoked: {max} entries at {at:#x} are not writable"))?;
        let gone = executor.revoke(ctx, max)?;
        let mut w = UserSlice::new(UserPtr::from_addr(at), gone.len() * 4).writer();
        for h in gone.iter() {
            w.write(h)?;
        }
        req.n_revoked = gone.len() as u32;
    }

    if req.max_fetch > 0 {
        let nonblock = req.flags & uapi::FETCH_NONBLOCK != 0;
        let jobs = match executor.fetch_batch(ctx, req.timeout_ns, nonblock, req.max_fetch as usize) {
            Ok(jobs) => jobs,
            Err(err) if err == EAGAIN || err == ETIMEDOUT => KVec::new(),
            // The completions stand: the call is not restarted.
            Err(err) if err == ERESTARTSYS => return Err(EINTR.into()),
            Err(err) => return Err(err.into()),
        };
        let at = usize::try_from(req.jobs).map_err(|_| EFAULT)?;
        let len = jobs.len() * size_of::<uapi::BatchJob>();
        let mut w = UserSlice::new(UserPtr::from_addr(at), len).writer();
        for (i, (job_id, prim)) in jobs.iter().enumerate() {
            if w.write(&uapi::BatchJob { job_id: *job_id, prim: *prim }).is_err() {
                // The executor cannot learn these jobs: fail them rather than leave them running.
                for (id, _) in &jobs[i..] {
                    let _ = executor.complete(ctx, *id, uapi::STATUS_DEVICE_LOST, 0);
                }
                let n = jobs.len();
                executor.give_back(jobs);
                return Err(reject!(EFAULT, "jobs: {n} entries at {at:#x} are not writable"));
            }
        }
        req.n_fetched = jobs.len() as u32;
        executor.give_back(jobs);
    }
    Ok(())
}

/// Handles `JOB_COMPLETE`. `EINVAL`: flags/pad/reserved, a status an executor may not report (only
/// OK, INVALID and THERMAL_ABORT), or `produced` non-zero for a job that is not an
/// `OP_SPIKE_ENCODE` or above its staging capacity; `EPERM`: not an executor; `ENOENT`: not one of
/// its running jobs; `ECANCELED`: the job had already timed out or been aborted.
pub(crate) fn complete(
    ctx: &Context,
    req: uapi::JobComplete,
    _arg: &IoctlArg<uapi::JobComplete>,
) -> Result<isize, Rejection> {
    reason::known_flags(req.flags.into(), 0)?;
    reason::zero("pad", req.pad.into())?;
    reason::zeros("reserved", &req.reserved)?;
    check_status(req.status)?;
    let executor = executor_of(ctx)?;
    executor
        .complete(ctx, req.job_id, req.status, req.produced)
        .map_err(|err| completion_rejection(err, req.job_id, req.produced))?;
    Ok(0)
}

/// The executor `ctx` registered, or `EPERM`.
fn executor_of(ctx: &Context) -> Result<Arc<Executor>, Rejection> {
    ctx.executor()
        .ok_or_else(|| reject!(EPERM, "this context is not an executor (EXECUTOR_REGISTER first)"))
}
