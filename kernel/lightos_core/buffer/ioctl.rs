// SPDX-License-Identifier: GPL-2.0

//! `BUFFER_CREATE`, `BUFFER_INFO` and `BUFFER_DESTROY`: validating the request, then acting on it.

use crate::{
    buffer::object::{self, Buffer},
    context::Context,
    ioctl::arg::IoctlArg,
    reason::{self, Rejection},
    uapi,
};
use kernel::prelude::*;

/// Handles `BUFFER_CREATE`. `EINVAL` for non-zero `pad`/`reserved`/outputs or a bad size, flag or
/// placement; `ENOSPC` when the context is full; `EDQUOT` over the uid's quota; `ENOMEM` when the module-wide budget is spent.
pub(crate) fn create(
    ctx: &Context,
    mut req: uapi::BufferCreate,
    arg: &IoctlArg<uapi::BufferCreate>,
) -> Result<isize, Rejection> {
    reason::zero("pad", req.pad.into())?;
    reason::zero("handle (an output)", req.handle.into())?;
    reason::zero("mmap_offset (an output)", req.mmap_offset)?;
    reason::zeros("reserved", &req.reserved)?;
    // Room for the handle first: a buffer is never created only to be dropped for want of it.
    let room = object::HandleRoom::new()?;
    let buffer = Buffer::new(req.size, req.flags, req.placement, ctx.account())?;
    let handle = ctx.insert_buffer(buffer, room)?;
    req.handle = handle;
    req.mmap_offset = object::mmap_offset(handle);
    if let Err(err) = arg.write(&req) {
        // The client cannot learn the handle: do not leave an unreachable buffer behind.
        let _ = ctx.remove_buffer(handle);
        return Err(err.into());
    }
    Ok(0)
}

/// Handles `BUFFER_INFO`. `EINVAL` for non-zero `pad`/`reserved`; `ENOENT` for an unknown handle.
pub(crate) fn info(
    ctx: &Context,
    mut req: uapi::BufferInfo,
    arg: &IoctlArg<uapi::BufferInfo>,
) -> Result<isize, Rejection> {
    reason::zero("pad", req.pad.into())?;
    reason::zeros("reserved", &req.reserved)?;
    let buffer = ctx.buffer(req.handle)?;
    req.flags = buffer.flags();
    req.size = buffer.size() as u64;
    req.mmap_offset = object::mmap_offset(req.handle);
    req.bus_addr = buffer.bus_addr();
    req.placement = buffer.placement();
    arg.write(&req)?;
    Ok(0)
}

/// Handles `BUFFER_DESTROY`. `EINVAL` for non-zero `flags`/`reserved`; `ENOENT` for an unknown handle.
pub(crate) fn destroy(
    ctx: &Context,
    req: uapi::BufferDestroy,
    _arg: &IoctlArg<uapi::BufferDestroy>,
) -> Result<isize, Rejection> {
    reason::known_flags(req.flags.into(), 0)?;
    reason::zeros("reserved", &req.reserved)?;
    ctx.remove_buffer(req.handle)?;
    Ok(0)
}

