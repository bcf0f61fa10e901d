// SPDX-License-Identifier: GPL-2.0

//! `mmap` of `/dev/lightos`: the offset is a cookie naming one object of the caller's context — a
//! buffer, a queue's completion page or a spike queue's ring — and exactly that object's pages are
//! mapped, zero-copy.
//!
//! A buffer's cookie: the offset must be the cookie `BUFFER_CREATE`/`BUFFER_INFO` returned and the length the buffer's
//! size; the mapping must be shared; `PROT_WRITE` on a host-read-only buffer and `PROT_EXEC` on any
//! buffer are refused with `EACCES`, and the matching `VM_MAY*` bits are cleared so `mprotect`
//! cannot add them later. Anything else that does not match: `EINVAL`. In an executor's context the
//! device-read-only flag decides instead (the executor is the device side).
//!
//! A cookie whose low 32 bits are `MMAP_COMPLETION_PAGE` maps that queue's completion page, one
//! page, read-only; `MMAP_SPIKE_RING` maps that spike queue's ring, read-write; `MMAP_RINGS` maps
//! that queue's submission and completion rings, read-write.

use crate::{context::Context, uapi};
use kernel::{
    mm::virt::{flags, VmaNew},
    page::{PAGE_SHIFT, PAGE_SIZE},
    prelude::*,
};

/// Maps the object (buffer, completion page or spike ring) that `vma`'s offset names.
pub(crate) fn map_object(ctx: &Context, vma: &VmaNew) -> Result {
    // SAFETY: `vma` is being set up by this mmap call, so reading its page offset is not a data race;
    // the 7.2 kernel crate has no accessor for `vm_pgoff`.
    let pgoff = unsafe { (*vma.as_ptr()).vm_pgoff } as u64;
    let offset = pgoff.checked_shl(PAGE_SHIFT as u32).ok_or(EINVAL)?;
    let low = offset & ((1u64 << uapi::MMAP_HANDLE_SHIFT) - 1);
    let handle = u32::try_from(offset >> uapi::MMAP_HANDLE_SHIFT).map_err(|_| EINVAL)?;
    if low == uapi::MMAP_COMPLETION_PAGE {
        return map_completion_page(ctx, handle, vma);
    }
    if low == uapi::MMAP_SPIKE_RING {
        return map_spike_ring(ctx, handle, vma);
    }
    if low == uapi::MMAP_RINGS {
        return map_rings(ctx, handle, vma);
    }
    if low != 0 {
        return Err(EINVAL);
    }
    let buffer = ctx.buffer(handle).map_err(|_| EINVAL)?;

    if vma.end() - vma.start() != buffer.size() || vma.flags() & flags::SHARED == 0 {
        return Err(EINVAL);
    }
    if vma.executable() {
        return Err(EACCES);
    }
    vma.try_clear_mayexec()?;
    // An executor is the device side: the device-read-only flag governs its writes.
    let read_only = if ctx.executor().is_some() {
        buffer.flags() & uapi::BUFFER_DEVICE_READ_ONLY != 0
    } else {
        buffer.host_read_only()
    };
    if read_only {
        if vma.writable() {
            return Err(EACCES);
        }
        vma.try_clear_maywrite()?;
    }
    vma.set_dontexpand();
    vma.set_dontdump();
    let mixed = vma.set_mixedmap();
    for (i, page) in buffer.pages().iter().enumerate() {
        mixed.vm_insert_page(vma.start() + i * PAGE_SIZE, page)?;
    }
    Ok(())
}

/// Maps queue `queue_id`'s completion page, read-only: exactly one page, shared, no write or exec.
fn map_completion_page(ctx: &Context, queue_id: u32, vma: &VmaNew) -> Result {
    let queue = ctx.queue(queue_id).map_err(|_| EINVAL)?;
    if vma.end() - vma.start() != PAGE_SIZE || vma.flags() & flags::SHARED == 0 {
        return Err(EINVAL);
    }
    if vma.executable() || vma.writable() {
        return Err(EACCES);
    }
    vma.try_clear_mayexec()?;
    vma.try_clear_maywrite()?;
    vma.set_dontexpand();
    vma.set_dontdump();
    vma.set_mixedmap().vm_insert_page(vma.start(), queue.page())
}

/// Maps spike queue `queue_id`'s ring (header and entries), read-write and shared, whole length.
fn map_spike_ring(ctx: &Context, queue_id: u32, vma: &VmaNew) -> Result {
    let queue = ctx.spike_queue(queue_id).map_err(|_| EINVAL)?;
    map_shared_pages(vma, queue.pages())
}

/// Maps queue `queue_id`'s submission and completion rings, read-write and shared, whole length.
fn map_rings(ctx: &Context, queue_id: u32, vma: &VmaNew) -> Result {
    let queue = ctx.queue(queue_id).map_err(|_| EINVAL)?;
    let rings = queue.timeline().rings().ok_or(EINVAL)?;
    map_shared_pages(vma, rings.pages())
}

/// Maps all of `pages`, read-write: the mapping must be shared and exactly their length (else
/// `EINVAL`), never executable (`EACCES`), and cannot grow.
fn map_shared_pages(vma: &VmaNew, pages: &[kernel::page::Page]) -> Result {
    if vma.end() - vma.start() != pages.len() * PAGE_SIZE || vma.flags() & flags::SHARED == 0 {
        return Err(EINVAL);
    }
    if vma.executable() {
        return Err(EACCES);
    }
    vma.try_clear_mayexec()?;
    vma.set_dontexpand();
    vma.set_dontdump();
    let mixed = vma.set_mixedmap();
    for (i, page) in pages.iter().enumerate() {
        mixed.vm_insert_page(vma.start() + i * PAGE_SIZE, page)?;
    }
    Ok(())
}
