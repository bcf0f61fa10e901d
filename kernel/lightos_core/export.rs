// SPDX-License-Identifier: GPL-2.0

//! `BUFFER_EXPORT` and `BUFFER_IMPORT`: sharing a buffer with another context or process as a dma-buf
//! file descriptor.
//!
//! The dma-buf's private data is a reference to the [`Buffer`] (an `Arc` turned into a raw pointer),
//! dropped by the dma-buf's `release` when its last file reference goes; the dma-buf holds a module
//! reference (`owner`), so the callbacks outlive every fd. Importing a LightOS dma-buf gives the
//! importer's context a handle on the very same pages. Other drivers cannot attach to it yet
//! (`map_dma_buf` refuses with `EOPNOTSUPP`: no device backend has a DMA address for it until the
//! photonic driver), and a dma-buf from another exporter cannot be imported (`EINVAL`).
//!
//! The 7.2 kernel crate has no dma-buf exporter abstraction, so this file uses the C API through
//! `bindings`, each call with its safety argument.

use crate::{buffer::Buffer, context::Context, ioctl_arg::IoctlArg, uapi};
use core::ptr::NonNull;
use kernel::{
    bindings,
    fs::{file::FileDescriptorReservation, File},
    prelude::*,
    sync::{aref::ARef, Arc, ArcBorrow},
};

/// Whether `ptr` is an `ERR_PTR`.
fn is_err<T>(ptr: *mut T) -> bool {
    ptr as usize >= (-(bindings::MAX_ERRNO as isize)) as usize
}

/// `map_dma_buf`: no device can reach buffer pages yet.
///
/// # Safety
///
/// Called by the dma-buf core; it touches none of its arguments.
unsafe extern "C" fn map_dma_buf(
    _attach: *mut bindings::dma_buf_attachment,
    _dir: bindings::dma_data_direction,
) -> *mut bindings::sg_table {
    (-(bindings::EOPNOTSUPP as isize)) as *mut bindings::sg_table
}

/// `unmap_dma_buf`: nothing was mapped.
///
/// # Safety
///
/// Called by the dma-buf core; it touches none of its arguments.
unsafe extern "C" fn unmap_dma_buf(
    _attach: *mut bindings::dma_buf_attachment,
    _sgt: *mut bindings::sg_table,
    _dir: bindings::dma_data_direction,
) {
}

/// `release`: the last file reference is gone; drop the buffer reference the dma-buf held.
///
/// # Safety
///
/// Called by the dma-buf core once, with the dma-buf `export` created, whose `priv_` is the pointer
/// `Arc::into_raw` returned there.
unsafe extern "C" fn release(dmabuf: *mut bindings::dma_buf) {
    // SAFETY: per the function's safety requirements, `priv_` came from `Arc::into_raw` and this is
    // the only place that turns it back, once.
    drop(unsafe { Arc::<Buffer>::from_raw((*dmabuf).priv_.cast::<Buffer>()) });
}

/// The dma-buf operations of LightOS buffers; also how an import recognises one of ours.
static DMABUF_OPS: bindings::dma_buf_ops = bindings::dma_buf_ops {
    attach: None,
    detach: None,
    pin: None,
    unpin: None,
    map_dma_buf: Some(map_dma_buf),
    unmap_dma_buf: Some(unmap_dma_buf),
    release: Some(release),
    begin_cpu_access: None,
    end_cpu_access: None,
    mmap: None,
    vmap: None,
    vunmap: None,
};

/// Handles `BUFFER_EXPORT`. `EINVAL`: unknown flags, non-zero pad/fd/reserved; `ENOENT`: unknown
/// handle; `EMFILE`: no free descriptor; `EFAULT`.
pub(crate) fn export(ctx: &Context, module: &'static ThisModule, arg: IoctlArg) -> Result<isize> {
    let mut req: uapi::BufferExport = arg.read()?;
    if req.flags & !uapi::EXPORT_CLOEXEC != 0
        || req.pad != 0
        || req.fd != 0
        || req.reserved.iter().any(|&r| r != 0)
    {
        return Err(EINVAL);
    }
    let buffer = ctx.buffer(req.handle)?;
    let cloexec = if req.flags & uapi::EXPORT_CLOEXEC != 0 { bindings::O_CLOEXEC } else { 0 };
    let reservation = FileDescriptorReservation::get_unused_fd_flags(cloexec)?;
    let size = buffer.size();
    let info = bindings::dma_buf_export_info {
        exp_name: c"lightos".as_char_ptr(),
        owner: module.as_ptr(),
        ops: &DMABUF_OPS,
        size,
        flags: bindings::O_RDWR as i32,
        resv: core::ptr::null_mut(),
        priv_: Arc::into_raw(buffer).cast_mut().cast(),
    };
    // SAFETY: `info` is fully initialised and outlives the call; the ops are static and provide the
    // three mandatory callbacks; on success the dma-buf owns `priv_` (released by `release`).
    let dmabuf = unsafe { bindings::dma_buf_export(&info) };
    if is_err(dmabuf) {
        // SAFETY: export failed, so nothing took ownership of the reference in `priv_`.
        drop(unsafe { Arc::<Buffer>::from_raw(info.priv_.cast::<Buffer>()) });
        return Err(Error::from_errno(dmabuf as isize as i32));
    }
    req.fd = reservation.reserved_fd() as i32;
    if let Err(err) = arg.write(&req) {
        // SAFETY: `dmabuf` is the valid dma-buf just exported; dropping its only reference
        // releases it (and with it the buffer reference). The reservation is returned on drop.
        unsafe { bindings::dma_buf_put(dmabuf) };
        return Err(err);
    }
    // SAFETY: `dmabuf` is valid and `file` is its file, on which `dma_buf_export` returned one
    // reference that we own; it is handed to the new descriptor here.
    let file = unsafe { ARef::<File>::from_raw(NonNull::new_unchecked((*dmabuf).file.cast::<File>())) };
    reservation.fd_install(file);
    Ok(0)
}

/// Handles `BUFFER_IMPORT`. `EINVAL`: flags/pad/reserved/outputs, or a dma-buf LightOS did not
/// export; `EBADF`: not an open descriptor; `ENOSPC`: the context is full.
pub(crate) fn import(ctx: &Context, arg: IoctlArg) -> Result<isize> {
    let mut req: uapi::BufferImport = arg.read()?;
    if req.flags != 0
        || req.pad != 0
        || req.handle != 0
        || req.size != 0
        || req.mmap_offset != 0
        || req.reserved.iter().any(|&r| r != 0)
    {
        return Err(EINVAL);
    }
    // SAFETY: `dma_buf_get` accepts any integer; it returns a referenced dma-buf or an `ERR_PTR`.
    let dmabuf = unsafe { bindings::dma_buf_get(req.fd) };
    if is_err(dmabuf) {
        return Err(Error::from_errno(dmabuf as isize as i32));
    }
    // SAFETY: `dmabuf` is a valid dma-buf we hold a reference on until `dma_buf_put` below. If its
    // ops are ours, `priv_` is the `Arc<Buffer>` raw pointer that `export` stored, alive as long as
    // the dma-buf; `ArcBorrow::from_raw` borrows it and `into` takes a new reference.
    let buffer: Result<Arc<Buffer>> = unsafe {
        if core::ptr::eq((*dmabuf).ops, &DMABUF_OPS) {
            Ok(ArcBorrow::<Buffer>::from_raw((*dmabuf).priv_.cast::<Buffer>()).into())
        } else {
            Err(EINVAL)
        }
    };
    // SAFETY: drops the reference `dma_buf_get` took.
    unsafe { bindings::dma_buf_put(dmabuf) };
    let buffer = buffer?;
    let size = buffer.size() as u64;
    let handle = ctx.insert_buffer(buffer)?;
    req.handle = handle;
    req.size = size;
    req.mmap_offset = crate::buffer::mmap_offset(handle);
    if let Err(err) = arg.write(&req) {
        let _ = ctx.remove_buffer(handle);
        return Err(err);
    }
    Ok(0)
}
