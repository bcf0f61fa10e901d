// SPDX-License-Identifier: GPL-2.0

//! `QUEUE_CREATE`, `QUEUE_DESTROY` and `WAIT`: a context's queues and waiting on a queue's timeline
//! ([`crate::sched::timeline`]). `SUBMIT` is [`crate::sched::submit`].

use crate::{
    context::Context,
    ioctl::arg::IoctlArg,
    reason::{self, ensure, reject, Rejection},
    uapi,
};
use kernel::prelude::*;

/// Handles `QUEUE_CREATE`. `EINVAL`: flags/reserved, priority or timeout out of range. `ENOSPC`:
/// [`uapi::MAX_QUEUES_PER_CONTEXT`] reached.
pub(crate) fn queue_create(
    ctx: &Context,
    mut req: uapi::QueueCreate,
    arg: &IoctlArg<uapi::QueueCreate>,
) -> Result<isize, Rejection> {
    reason::known_flags(req.flags.into(), 0)?;
    reason::zeros("reserved", &req.reserved)?;
    let queue = ctx.create_queue(req.priority, req.timeout_ms)?;
    req.queue_id = queue.id();
    req.completion_offset =
        (u64::from(queue.id()) << uapi::MMAP_HANDLE_SHIFT) | uapi::MMAP_COMPLETION_PAGE;
    if let Err(err) = arg.write(&req) {
        let _ = ctx.destroy_queue(queue.id());
        return Err(err.into());
    }
    Ok(0)
}

/// Handles `QUEUE_DESTROY`: jobs not yet completed end with `ABORTED`. `ENOENT`: unknown queue.
pub(crate) fn queue_destroy(
    ctx: &Context,
    req: uapi::QueueDestroy,
    _arg: &IoctlArg<uapi::QueueDestroy>,
) -> Result<isize, Rejection> {
    reason::known_flags(req.flags.into(), 0)?;
    reason::zeros("reserved", &req.reserved)?;
    ctx.destroy_queue(req.queue_id)?;
    Ok(0)
}

/// Handles `WAIT`. `EINVAL`: flags/pad/reserved, or a sequence number not yet submitted (or 0).
/// `ENOENT`: unknown queue. `ETIMEDOUT`, `EINTR` (restarted with `SA_RESTART`).
pub(crate) fn wait(ctx: &Context, mut req: uapi::Wait, arg: &IoctlArg<uapi::Wait>) -> Result<isize, Rejection> {
    reason::known_flags(req.flags.into(), 0)?;
    reason::zero("pad", req.pad.into())?;
    reason::zeros("reserved", &req.reserved)?;
    ensure!(req.seq != 0, EINVAL, "seq 0: sequence numbers start at 1");
    let queue = ctx.queue(req.queue_id)?;
    let (status, completed) = queue.timeline().wait(req.seq, req.timeout_ns).map_err(|err| {
        if err == EINVAL {
            reject!(EINVAL, "seq {}: not submitted to queue {} yet", req.seq, req.queue_id)
        } else {
            Rejection::from(err)
        }
    })?;
    req.status = status;
    req.completed_seq = completed;
    arg.write(&req)?;
    Ok(0)
}
