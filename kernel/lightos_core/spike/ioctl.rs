// SPDX-License-Identifier: GPL-2.0

//! `SPIKE_QUEUE_CREATE`, `SPIKE_QUEUE_DESTROY`, `SPIKE_WAIT`, `SPIKE_NOTIFY`,
//! `SPIKE_QUEUE_EXPORT` and `SPIKE_QUEUE_IMPORT`.

use crate::{
    buffer::export,
    context::Context,
    ioctl::arg::IoctlArg,
    quota,
    reason::{self, reject, Rejection},
    spike::ring::SpikeQueue,
    uapi,
};
use kernel::{prelude::*, sync::Arc};

/// The mmap cookie of spike queue `id`.
fn mmap_offset(id: u32) -> u64 {
    (u64::from(id) << uapi::MMAP_HANDLE_SHIFT) | uapi::MMAP_SPIKE_RING
}

/// Handles `SPIKE_QUEUE_CREATE`. `EINVAL`: unknown flags, pad/reserved, entries not a power of two
/// within the limits. `ENOSPC`: [`uapi::MAX_SPIKE_QUEUES_PER_CONTEXT`] reached. `EDQUOT`: the
/// uid's spike queue quota reached.
pub(crate) fn create(
    ctx: &Context,
    mut req: uapi::SpikeQueueCreate,
    arg: &IoctlArg<uapi::SpikeQueueCreate>,
) -> Result<isize, Rejection> {
    reason::known_flags(req.flags.into(), uapi::SPIKE_QUEUE_KERNEL_PRODUCER.into())?;
    reason::zero("pad", req.pad.into())?;
    reason::zeros("reserved", &req.reserved)?;
    let (entries, kernel_producer) = (req.entries, req.flags & uapi::SPIKE_QUEUE_KERNEL_PRODUCER != 0);
    let charge = ctx.account().charge(quota::Kind::SpikeQueues, 1)?;
    let queue = SpikeQueue::new(entries, kernel_producer, charge).map_err(|err| {
        if err == EINVAL {
            reject!(
                EINVAL,
                "entries {entries}: a power of two from {} to {}",
                uapi::SPIKE_RING_MIN_ENTRIES,
                uapi::SPIKE_RING_MAX_ENTRIES
            )
        } else {
            err.into()
        }
    })?;
    let size = queue.mmap_size() as u64;
    let id = ctx.insert_spike_queue(queue)?;
    req.queue_id = id;
    req.mmap_offset = mmap_offset(id);
    req.mmap_size = size;
    if let Err(err) = arg.write(&req) {
        let _ = ctx.destroy_spike_queue(id);
        return Err(err.into());
    }
    Ok(0)
}

/// Handles `SPIKE_QUEUE_EXPORT`: a new descriptor (a dma-buf of the `lightos-spikes` exporter)
/// that holds the queue; another process that receives it (fork, `SCM_RIGHTS`) imports it.
/// `EINVAL`: unknown flags, non-zero fd/pad/reserved; `ENOENT`: unknown queue; `EMFILE`.
pub(crate) fn export(
    ctx: &Context,
    mut req: uapi::SpikeQueueExport,
    arg: &IoctlArg<uapi::SpikeQueueExport>,
) -> Result<isize, Rejection> {
    reason::known_flags(req.flags.into(), uapi::SPIKE_EXPORT_CLOEXEC.into())?;
    reason::zero("fd (an output)", req.fd.unsigned_abs().into())?;
    reason::zero("pad", req.pad.into())?;
    reason::zeros("reserved", &req.reserved)?;
    let queue = ctx.spike_queue(req.queue_id)?;
    let size = queue.mmap_size();
    let cloexec = req.flags & uapi::SPIKE_EXPORT_CLOEXEC != 0;
    export::export_arc(&export::SPIKE_QUEUES, queue, size, cloexec, |fd| {
        req.fd = fd;
        arg.write(&req)
    })?;
    Ok(0)
}

/// Handles `SPIKE_QUEUE_IMPORT`: adds the queue behind an exported descriptor to this context
/// under a new identifier (the same ring: the importer maps and uses it like its own).
/// `EINVAL`: flags/outputs/reserved non-zero, or a descriptor that is not an exported spike queue;
/// `EBADF`; `ENOSPC`: the context holds its limit of queues.
pub(crate) fn import(
    ctx: &Context,
    mut req: uapi::SpikeQueueImport,
    arg: &IoctlArg<uapi::SpikeQueueImport>,
) -> Result<isize, Rejection> {
    reason::known_flags(req.flags.into(), 0)?;
    reason::zero("queue_id (an output)", req.queue_id.into())?;
    reason::zero("entries (an output)", req.entries.into())?;
    reason::zero("mmap_offset (an output)", req.mmap_offset)?;
    reason::zero("mmap_size (an output)", req.mmap_size)?;
    reason::zeros("reserved", &req.reserved)?;
    let queue = export::import_arc(&export::SPIKE_QUEUES, req.fd)?;
    req.entries = queue.entries();
    req.mmap_size = queue.mmap_size() as u64;
    let id = ctx.insert_spike_queue(queue)?;
    req.queue_id = id;
    req.mmap_offset = mmap_offset(id);
    if let Err(err) = arg.write(&req) {
        let _ = ctx.destroy_spike_queue(id);
        return Err(err.into());
    }
    Ok(0)
}

/// Waits on queue `id` of `ctx` as [`SpikeQueue::wait`], ending with `ENOENT` if `ctx` destroys it.
fn wait_on(ctx: &Context, id: u32, queue: &Arc<SpikeQueue>, min: u32, deadline_ns: u64) -> Result<u32> {
    queue.wait(min, deadline_ns, || ctx.holds_spike_queue(id, queue))
}

/// The queue a [`uapi::SpikeQueueId`] names, after its flags and reserved words are checked.
fn queue_id(req: &uapi::SpikeQueueId) -> Result<u32, Rejection> {
    reason::known_flags(req.flags.into(), 0)?;
    reason::zeros("reserved", &req.reserved)?;
    Ok(req.queue_id)
}

/// Handles `SPIKE_QUEUE_DESTROY`. `ENOENT`: unknown queue; `EINVAL`: flags/reserved.
pub(crate) fn destroy(
    ctx: &Context,
    req: uapi::SpikeQueueId,
    _arg: &IoctlArg<uapi::SpikeQueueId>,
) -> Result<isize, Rejection> {
    ctx.destroy_spike_queue(queue_id(&req)?)?;
    Ok(0)
}

/// Handles `SPIKE_NOTIFY`. `ENOENT`: unknown queue; `EINVAL`: flags/reserved.
pub(crate) fn notify(
    ctx: &Context,
    req: uapi::SpikeQueueId,
    _arg: &IoctlArg<uapi::SpikeQueueId>,
) -> Result<isize, Rejection> {
    ctx.spike_queue(queue_id(&req)?)?.notify();
    Ok(0)
}

/// Handles `SPIKE_WAIT`. `EINVAL`: flags/reserved, `min_events` 0 or above the ring's size.
/// `ENOENT`: unknown (or destroyed while waiting). `ETIMEDOUT`; `EINTR` (restarted with
/// `SA_RESTART`).
pub(crate) fn wait(
    ctx: &Context,
    mut req: uapi::SpikeWait,
    arg: &IoctlArg<uapi::SpikeWait>,
) -> Result<isize, Rejection> {
    reason::known_flags(req.flags.into(), 0)?;
    reason::zeros("reserved", &req.reserved)?;
    let queue = ctx.spike_queue(req.queue_id)?;
    let entries = queue.entries();
    let min = req.min_events;
    req.available = wait_on(ctx, req.queue_id, &queue, min, req.timeout_ns).map_err(|err| {
        if err == EINVAL {
            reject!(EINVAL, "min_events {min}: 1 to the ring's {entries} entries")
        } else if err == ENOENT {
            reject!(ENOENT, "spike queue {}: destroyed while waiting", req.queue_id)
        } else {
            Rejection::from(err)
        }
    })?;
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
