// SPDX-License-Identifier: GPL-2.0

//! `SPIKE_QUEUE_CREATE`, `SPIKE_QUEUE_DESTROY`, `SPIKE_WAIT`, `SPIKE_NOTIFY`,
//! `SPIKE_QUEUE_EXPORT` and `SPIKE_QUEUE_IMPORT`.

use crate::{context::Context, export, ioctl_arg::IoctlArg, spike::SpikeQueue, uapi};
use kernel::{prelude::*, sync::Arc};

/// The mmap cookie of spike queue `id`.
fn mmap_offset(id: u32) -> u64 {
    (u64::from(id) << uapi::MMAP_HANDLE_SHIFT) | uapi::MMAP_SPIKE_RING
}

/// Handles `SPIKE_QUEUE_CREATE`. `EINVAL`: unknown flags, pad/reserved, entries not a power of two
/// within the limits. `ENOSPC`: [`uapi::MAX_SPIKE_QUEUES_PER_CONTEXT`] reached.
pub(crate) fn create(ctx: &Context, arg: IoctlArg) -> Result<isize> {
    let mut req: uapi::SpikeQueueCreate = arg.read()?;
    if req.flags & !uapi::SPIKE_QUEUE_KERNEL_PRODUCER != 0
        || req.pad != 0
        || req.reserved.iter().any(|&r| r != 0)
    {
        return Err(EINVAL);
    }
    let queue = SpikeQueue::new(req.entries, req.flags & uapi::SPIKE_QUEUE_KERNEL_PRODUCER != 0)?;
    let size = queue.mmap_size() as u64;
    let id = ctx.insert_spike_queue(queue)?;
    req.queue_id = id;
    req.mmap_offset = mmap_offset(id);
    req.mmap_size = size;
    if let Err(err) = arg.write(&req) {
        let _ = ctx.destroy_spike_queue(id);
        return Err(err);
    }
    Ok(0)
}

/// Handles `SPIKE_QUEUE_EXPORT`: a new descriptor (a dma-buf of the `lightos-spikes` exporter)
/// that holds the queue; another process that receives it (fork, `SCM_RIGHTS`) imports it.
/// `EINVAL`: unknown flags, non-zero fd/pad/reserved; `ENOENT`: unknown queue; `EMFILE`.
pub(crate) fn export(ctx: &Context, module: &'static ThisModule, arg: IoctlArg) -> Result<isize> {
    let mut req: uapi::SpikeQueueExport = arg.read()?;
    if req.flags & !uapi::SPIKE_EXPORT_CLOEXEC != 0
        || req.fd != 0
        || req.pad != 0
        || req.reserved.iter().any(|&r| r != 0)
    {
        return Err(EINVAL);
    }
    let queue = ctx.spike_queue(req.queue_id)?;
    let size = queue.mmap_size();
    let cloexec = req.flags & uapi::SPIKE_EXPORT_CLOEXEC != 0;
    export::export_arc(&export::SPIKE_QUEUES, queue, size, cloexec, module, |fd| {
        req.fd = fd;
        arg.write(&req)
    })?;
    Ok(0)
}

/// Handles `SPIKE_QUEUE_IMPORT`: adds the queue behind an exported descriptor to this context
/// under a new identifier (the same ring: the importer maps and uses it like its own).
/// `EINVAL`: flags/outputs/reserved non-zero, or a descriptor that is not an exported spike queue;
/// `EBADF`; `ENOSPC`: the context holds its limit of queues.
pub(crate) fn import(ctx: &Context, arg: IoctlArg) -> Result<isize> {
    let mut req: uapi::SpikeQueueImport = arg.read()?;
    if req.flags != 0
        || req.queue_id != 0
        || req.entries != 0
        || req.mmap_offset != 0
        || req.mmap_size != 0
        || req.reserved.iter().any(|&r| r != 0)
    {
        return Err(EINVAL);
    }
    let queue = export::import_arc(&export::SPIKE_QUEUES, req.fd)?;
    req.entries = queue.entries();
    req.mmap_size = queue.mmap_size() as u64;
    let id = ctx.insert_spike_queue(queue)?;
    req.queue_id = id;
    req.mmap_offset = mmap_offset(id);
    if let Err(err) = arg.write(&req) {
        let _ = ctx.destroy_spike_queue(id);
        return Err(err);
    }
    Ok(0)
}

/// Waits on queue `id` of `ctx` as [`SpikeQueue::wait`], ending with `ENOENT` if `ctx` destroys it.
fn wait_on(ctx: &Context, id: u32, queue: &Arc<SpikeQueue>, min: u32, deadline_ns: u64) -> Result<u32> {
    queue.wait(min, deadline_ns, || ctx.holds_spike_queue(id, queue))
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
    req.available = wait_on(ctx, req.queue_id, &queue, req.min_events, req.timeout_ns)?;
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
        wait_on(ctx, id, &queue, 1, uapi::TIMEOUT_INFINITE)?;
    }
    let n = queue.read_events(out, max);
    if n == 0 && max > 0 {
        return Err(EFAULT);
    }
    Ok(n * size_of::<uapi::SpikeEvent>())
}
