// SPDX-License-Identifier: GPL-2.0

//! `BUFFER_CREATE`, `BUFFER_INFO` and `BUFFER_DESTROY`: validating the request, then acting on it.

use crate::{
    buffer::{self, Buffer},
    context::Context,
    ioctl_arg::IoctlArg,
    uapi,
};
use kernel::prelude::*;

/// Handles `BUFFER_CREATE`. `EINVAL` for non-zero `pad`/`reserved` or a bad size, flag or placement;
/// `ENOSPC` when the context is full; `ENOMEM` when the module-wide budget is spent.
pub(crate) fn create(ctx: &Context, arg: IoctlArg) -> Result<isize> {
    let mut req: uapi::BufferCreate = arg.read()?;
    if req.pad != 0 || req.handle != 0 || req.mmap_offset != 0 || req.reserved.iter().any(|&r| r != 0) {
        return Err(EINVAL);
    }
    let buffer = Buffer::new(req.size, req.flags, req.placement)?;
    let handle = ctx.insert_buffer(buffer)?;
    req.handle = handle;
    req.mmap_offset = buffer::mmap_offset(handle);
    if let Err(err) = arg.write(&req) {
        // The client cannot learn the handle: do not leave an unreachable buffer behind.
        let _ = ctx.remove_buffer(handle);
        return Err(err);
    }
    Ok(0)
}

/// Handles `BUFFER_INFO`. `EINVAL` for non-zero `pad`/`reserved`; `ENOENT` for an unknown handle.
pub(crate) fn info(ctx: &Context, arg: IoctlArg) -> Result<isize> {
    let mut req: uapi::BufferInfo = arg.read()?;
    if req.pad != 0 || req.reserved.iter().any(|&r| r != 0) {
        return Err(EINVAL);
    }
    let buffer = ctx.buffer(req.handle)?;
    req.flags = buffer.flags();
    req.size = buffer.size() as u64;
    req.mmap_offset = buffer::mmap_offset(req.handle);
    req.bus_addr = buffer.bus_addr();
    req.placement = buffer.placement();
    arg.write(&req)?;
    Ok(0)
}

/// Handles `BUFFER_DESTROY`. `EINVAL` for non-zero `flags`/`reserved`; `ENOENT` for an unknown handle.
pub(crate) fn destroy(ctx: &Context, arg: IoctlArg) -> Result<isize> {
    let req: uapi::BufferDestroy = arg.read()?;
    if req.flags != 0 || req.reserved.iter().any(|&r| r != 0) {
        return Err(EINVAL);
    }
    ctx.remove_buffer(req.handle)?;
    Ok(0)
}
