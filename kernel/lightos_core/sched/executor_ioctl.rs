// SPDX-License-Identifier: GPL-2.0

//! `EXECUTOR_REGISTER`, `JOB_FETCH` and `JOB_COMPLETE`: validating the request, then acting on it.

use crate::{
    context::Context,
    ioctl::arg::IoctlArg,
    reason::{self, ensure, reject, Rejection},
    sched::{executor::Executor, trust::Trust},
    uapi,
};
use kernel::{prelude::*, sync::Arc};

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
    ensure!(
        matches!(
            req.status,
            uapi::STATUS_OK | uapi::STATUS_INVALID | uapi::STATUS_THERMAL_ABORT
        ),
        EINVAL,
        "status {}: an executor reports OK, INVALID or THERMAL_ABORT",
        req.status
    );
    let executor = executor_of(ctx)?;
    executor.complete(ctx, req.job_id, req.status, req.produced).map_err(|err| {
        if err == ENOENT {
            reject!(ENOENT, "job {}: not a job this executor runs", req.job_id)
        } else if err == EINVAL {
            reject!(
                EINVAL,
                "produced {}: above the job's staging capacity (0 for ops other than spike_encode)",
                req.produced
            )
        } else if err == crate::errno::ecanceled() {
            reject!(err, "job {}: it had already timed out or been aborted", req.job_id)
        } else {
            err.into()
        }
    })?;
    Ok(0)
}

/// The executor `ctx` registered, or `EPERM`.
fn executor_of(ctx: &Context) -> Result<Arc<Executor>, Rejection> {
    ctx.executor()
        .ok_or_else(|| reject!(EPERM, "this context is not an executor (EXECUTOR_REGISTER first)"))
}
