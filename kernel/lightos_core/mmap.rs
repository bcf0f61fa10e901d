// SPDX-License-Identifier: GPL-2.0

//! `mmap` of a buffer's cookie: maps exactly that buffer's pages into the caller, zero-copy.
//!
//! The offset must be the cookie `BUFFER_CREATE`/`BUFFER_INFO` returned and the length the buffer's
//! size; the mapping must be shared; `PROT_WRITE` on a host-read-only buffer and `PROT_EXEC` on any
//! buffer are refused with `EACCES`, and the matching `VM_MAY*` bits are cleared so `mprotect`
//! cannot add them later. Anything else that does not match: `EINVAL`.

use crate::{context::Context, uapi};
use kernel::{
    mm::virt::{flags, VmaNew},
    page::{PAGE_SHIFT, PAGE_SIZE},
    prelude::*,
};

/// Maps the buffer that `vma`'s offset names.
pub(crate) fn mmap_buffer(ctx: &Context, vma: &VmaNew) -> Result {
    // SAFETY: `vma` is being set up by this mmap call, so reading its page offset is not a data race;
    // the 7.2 kernel crate has no accessor for `vm_pgoff`.
    let pgoff = unsafe { (*vma.as_ptr()).vm_pgoff } as u64;
    let offset = pgoff.checked_shl(PAGE_SHIFT as u32).ok_or(EINVAL)?;
    if offset & ((1u64 << uapi::MMAP_HANDLE_SHIFT) - 1) != 0 {
        return Err(EINVAL);
    }
    let handle = u32::try_from(offset >> uapi::MMAP_HANDLE_SHIFT).map_err(|_| EINVAL)?;
    let buffer = ctx.buffer(handle).map_err(|_| EINVAL)?;

    if vma.end() - vma.start() != buffer.size() || vma.flags() & flags::SHARED == 0 {
        return Err(EINVAL);
    }
    if vma.executable() {
        return Err(EACCES);
    }
    vma.try_clear_mayexec()?;
    if buffer.host_read_only() {
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
