// SPDX-License-Identifier: GPL-2.0

//! `SPIKE_QUEUE_CREATE`, `SPIKE_QUEUE_DESTROY`, `SPIKE_WAIT` and `SPIKE_NOTIFY`.

use crate::{context::Context, ioctl_arg::IoctlArg, uapi};
use kernel::prelude::*;

/// Handles `SPIKE_QUEUE_CREATE`. `EINVAL`: flags/pad/reserved, entries not a power of two within
/// the limits. `ENOSPC`: [`uapi::MAX_SPIKE_QUEUES_PER_CONTEXT`] reached.
pub(crate) fn create(ctx: &Context, arg: IoctlArg) -> Result<isize> {
    let mut req: uapi::SpikeQueueCreate = arg.read()?;
    if req.flags != 0 || req.pad != 0 || req.reserved.iter().any(|&r| r != 0) {
        return Err(EINVAL);
    }
    let queue = ctx.create_spike_queue(req.entries)?;
    req.queue_id = queue.id();
    req.mmap_offset = (u64::from(queue.id()) << uapi::MMAP_HANDLE_SHIFT) | uapi::MMAP_SPIKE_RING;
    req.mmap_size = queue.mmap_size() as u64;
    if let Err(err) = arg.write(&req) {
        let _ = ctx.destroy_spike_queue(queue.id());
        return Err(err);
    }
    Ok(0)
}

fn queue_id(arg: &IoctlArg) -> Result<u32> {
    let req: uapi::SpikeQueueId = arg.read()?;
    if req.flags != 0 || req.reserved.iter().any(|&r| r != 0) {
        return Err(EINVAL);
    }
    Ok(req.queue_id)
}

/// Handles `SPIKE_QUEUE_DESTROY`. `ENOENT`: unknown queue; `EINVAL`: flags/reserved.
pub(crate) fn destroy(ctx: &Context, arg: IoctlArg) -> Result<isize> {
    ctx.destroy_spike_queue(queue_id(&arg)?)?;
    Ok(0)
}

/// Handles `SPIKE_NOTIFY`. `ENOENT`: unknown queue; `EINVAL`: flags/reserved.
pub(crate) fn notify(ctx: &Context, arg: IoctlArg) -> Result<isize> {
    ctx.spike_queue(queue_id(&arg)?)?.notify();
    Ok(0)
}

/// Handles `SPIKE_WAIT`. `EINVAL`: flags/reserved, `min_events` 0 or above the ring's size.
/// `ENOENT`: unknown (or destroyed while waiting). `ETIMEDOUT`; `EINTR` (restarted with
/// `SA_RESTART`).
pub(crate) fn wait(ctx: &Context, arg: IoctlArg) -> Result<isize> {
    let mut req: uapi::SpikeWait = arg.read()?;
    if req.flags != 0 || req.reserved.iter().any(|&r| r != 0) {
        return Err(EINVAL);
    }
    let queue = ctx.spike_queue(req.queue_id)?;
    req.available = queue.wait(req.min_events, req.timeout_ns)?;
    arg.write(&req)?;
    Ok(0)
}

/// `pread(fd, buf, len, cookie)` on `/dev/lightos`, where `cookie` is a spike queue's mmap offset:
/// moves up to `len / 16` waiting events into `buf` as the ring's consumer (do not mix with a
/// consumer popping through the mapping). Sleeps until one event is waiting, unless the file is
/// `O_NONBLOCK` (`EAGAIN`). `EINVAL`: not a spike queue's cookie, or `len` below one event.
pub(crate) fn read(
    ctx: &Context,
    pos: i64,
    nonblocking: bool,
    out: &mut kernel::iov::IovIterDest<'_>,
) -> Result<usize> {
    let pos = u64::try_from(pos).map_err(|_| EINVAL)?;
    if pos & ((1u64 << uapi::MMAP_HANDLE_SHIFT) - 1) != uapi::MMAP_SPIKE_RING {
        return Err(EINVAL);
    }
    let id = u32::try_from(pos >> uapi::MMAP_HANDLE_SHIFT).map_err(|_| EINVAL)?;
    let queue = ctx.spike_queue(id).map_err(|_| EINVAL)?;
    let max = out.len() / size_of::<uapi::SpikeEvent>();
    if max == 0 {
        return Err(EINVAL);
    }
    if queue.available() == 0 {
        if nonblocking {
            return Err(EAGAIN);
        }
        queue.wait(1, uapi::TIMEOUT_INFINITE)?;
    }
    let n = queue.read_events(out, max);
    if n == 0 && max > 0 {
        return Err(EFAULT);
    }
    Ok(n * size_of::<uapi::SpikeEvent>())
}
