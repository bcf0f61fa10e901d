// SPDX-License-Identifier: GPL-2.0

//! `EXECUTOR_REGISTER`, `JOB_FETCH` and `JOB_COMPLETE`: validating the request, then acting on it.

use crate::{context::Context, executor::Executor, ioctl_arg::IoctlArg, uapi};
use kernel::prelude::*;

/// Handles `EXECUTOR_REGISTER`. `EBUSY`: this context is already an executor; see
/// [`Executor::register`] for the rest.
pub(crate) fn register(ctx: &Context, arg: IoctlArg) -> Result<isize> {
    let mut req: uapi::ExecutorRegister = arg.read()?;
    if req.backend_id != 0 {
        return Err(EINVAL);
    }
    let id = ctx.become_executor(&req)?;
    req.backend_id = id;
    arg.write(&req)?;
    Ok(0)
}

/// Handles `JOB_FETCH`. `EINVAL`: unknown flags, non-zero pad/reserved/outputs; `EPERM`: this
/// context is not an executor; `EAGAIN` (non-blocking), `ETIMEDOUT`, `EINTR`.
pub(crate) fn fetch(ctx: &Context, arg: IoctlArg) -> Result<isize> {
    let mut req: uapi::JobFetch = arg.read()?;
    if req.flags & !uapi::FETCH_NONBLOCK != 0
        || req.pad != 0
        || req.job_id != 0
        || req.reserved.iter().any(|&r| r != 0)
    {
        return Err(EINVAL);
    }
    let executor: kernel::sync::Arc<Executor> = ctx.executor().ok_or(EPERM)?;
    let (job_id, prim) =
        executor.fetch(ctx, req.timeout_ns, req.flags & uapi::FETCH_NONBLOCK != 0)?;
    req.job_id = job_id;
    req.prim = prim;
    if let Err(err) = arg.write(&req) {
        // The executor cannot learn the job: fail it rather than leave it running forever.
        let _ = executor.complete(ctx, job_id, uapi::STATUS_DEVICE_LOST, 0);
        return Err(err);
    }
    Ok(0)
}

/// Handles `JOB_COMPLETE`. `EINVAL`: flags/pad/reserved, a status an executor may not report (only
/// OK, INVALID and THERMAL_ABORT), or `produced` non-zero for a job that is not an
/// `OP_SPIKE_ENCODE` or above its staging capacity; `EPERM`: not an executor; `ENOENT`: not one of
/// its running jobs; `ECANCELED`: the job had already timed out or been aborted.
pub(crate) fn complete(ctx: &Context, arg: IoctlArg) -> Result<isize> {
    let req: uapi::JobComplete = arg.read()?;
    if req.flags != 0 || req.pad != 0 || req.reserved.iter().any(|&r| r != 0) {
        return Err(EINVAL);
    }
    if !matches!(
        req.status,
        uapi::STATUS_OK | uapi::STATUS_INVALID | uapi::STATUS_THERMAL_ABORT
    ) {
        return Err(EINVAL);
    }
    let executor = ctx.executor().ok_or(EPERM)?;
    executor.complete(ctx, req.job_id, req.status, req.produced)?;
    Ok(0)
}
