// SPDX-License-Identifier: GPL-2.0

//! `BUFFER_EXPORT` and `BUFFER_IMPORT`: sharing a buffer with another context or process as a dma-buf
//! file descriptor.
//!
//! Spike queues are exported the same way (`SPIKE_QUEUE_EXPORT`, [`SPIKE_QUEUES`]), with their own
//! ops table so a queue's descriptor cannot be imported as a buffer nor the reverse.
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

use crate::{
    buffer::object::Buffer,
    context::Context,
    ioctl::arg::IoctlArg,
    reason::{self, reject, Rejection},
    spike::ring::SpikeQueue,
    uapi,
};
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

/// `release`: the last file reference is gone; drop the object reference the dma-buf held.
///
/// # Safety
///
/// Called by the dma-buf core once, with a dma-buf [`export_arc`] created with the ops of `T`,
/// whose `priv_` is the pointer `Arc::<T>::into_raw` returned there.
unsafe extern "C" fn release<T: Send + Sync>(dmabuf: *mut bindings::dma_buf) {
    // SAFETY: per the function's safety requirements, `priv_` came from `Arc::<T>::into_raw` and
    // this is the only place that turns it back, once.
    drop(unsafe { Arc::<T>::from_raw((*dmabuf).priv_.cast::<T>()) });
}

/// The dma-buf operations of exported `T`s: no device attachment yet, `release` drops the `Arc`.
const fn ops_for<T: Send + Sync>() -> bindings::dma_buf_ops {
    bindings::dma_buf_ops {
        attach: None,
        detach: None,
        pin: None,
        unpin: None,
        map_dma_buf: Some(map_dma_buf),
        unmap_dma_buf: Some(unmap_dma_buf),
        release: Some(release::<T>),
        begin_cpu_access: None,
        end_cpu_access: None,
        mmap: None,
        vmap: None,
        vunmap: None,
    }
}

/// What an exported object is: its dma-buf ops (how an import recognises one of ours) and name.
pub(crate) struct ExportKind<T> {
    ops: bindings::dma_buf_ops,
    name: &'static CStr,
    /// What it is, for reasons ("buffer").
    what: &'static str,
    _object: core::marker::PhantomData<fn() -> T>,
}

// SAFETY: the ops table holds only function pointers and the name is a static string; nothing in
// it is mutated after construction.
unsafe impl<T> Sync for ExportKind<T> {}

/// Buffer objects (`BUFFER_EXPORT`), exporter name `lightos`.
static BUFFERS: ExportKind<Buffer> = ExportKind {
    ops: ops_for::<Buffer>(),
    name: c"lightos",
    what: "buffer",
    _object: core::marker::PhantomData,
};

/// Spike queues (`SPIKE_QUEUE_EXPORT`), exporter name `lightos-spikes`.
pub(crate) static SPIKE_QUEUES: ExportKind<SpikeQueue> = ExportKind {
    ops: ops_for::<SpikeQueue>(),
    name: c"lightos-spikes",
    what: "spike queue",
    _object: core::marker::PhantomData,
};

/// Exports `object` as a new dma-buf of `size` bytes and installs a descriptor for it, after
/// `publish` (which tells userspace the descriptor number) succeeded. The dma-buf holds a reference
/// on this module. `EMFILE`: no free descriptor.
pub(crate) fn export_arc<T: Send + Sync>(
    kind: &'static ExportKind<T>,
    object: Arc<T>,
    size: usize,
    cloexec: bool,
    publish: impl FnOnce(i32) -> Result,
) -> Result {
    let flags = if cloexec { bindings::O_CLOEXEC } else { 0 };
    let reservation = FileDescriptorReservation::get_unused_fd_flags(flags)?;
    let info = bindings::dma_buf_export_info {
        exp_name: kind.name.as_char_ptr(),
        owner: crate::THIS_MODULE.as_ptr(),
        ops: &kind.ops,
        size,
        flags: bindings::O_RDWR as i32,
        resv: core::ptr::null_mut(),
        priv_: Arc::into_raw(object).cast_mut().cast(),
    };
    // SAFETY: `info` is fully initialised and outlives the call; the ops are static and provide the
    // three mandatory callbacks; on success the dma-buf owns `priv_` (released by `release::<T>`).
    let dmabuf = unsafe { bindings::dma_buf_export(&info) };
    if is_err(dmabuf) {
        // SAFETY: export failed, so nothing took ownership of the reference in `priv_`.
        drop(unsafe { Arc::<T>::from_raw(info.priv_.cast::<T>()) });
        return Err(Error::from_errno(dmabuf as isize as i32));
    }
    if let Err(err) = publish(reservation.reserved_fd() as i32) {
        // SAFETY: `dmabuf` is the valid dma-buf just exported; dropping its only reference
        // releases it (and with it the object reference). The reservation is returned on drop.
        unsafe { bindings::dma_buf_put(dmabuf) };
        return Err(err);
    }
    // SAFETY: `dmabuf` is valid and `file` is its file, on which `dma_buf_export` returned one
    // reference that we own; it is handed to the new descriptor here.
    let file = unsafe { ARef::<File>::from_raw(NonNull::new_unchecked((*dmabuf).file.cast::<File>())) };
    reservation.fd_install(file);
    Ok(())
}

/// The object behind descriptor `fd` if it is a dma-buf exported as `kind`. `EBADF`: not an open
/// descriptor; `EINVAL`: not a dma-buf, or another exporter's or kind's.
pub(crate) fn import_arc<T: Send + Sync>(
    kind: &'static ExportKind<T>,
    fd: i32,
) -> Result<Arc<T>, Rejection> {
    // SAFETY: `dma_buf_get` accepts any integer; it returns a referenced dma-buf or an `ERR_PTR`.
    let dmabuf = unsafe { bindings::dma_buf_get(fd) };
    if is_err(dmabuf) {
        let err = Error::from_errno(dmabuf as isize as i32);
        return Err(if err == EINVAL {
            reject!(EINVAL, "fd {fd}: not a dma-buf")
        } else {
            reject!(err, "fd {fd}: not an open descriptor")
        });
    }
    // SAFETY: `dmabuf` is a valid dma-buf we hold a reference on until `dma_buf_put` below. If its
    // ops are `kind`'s, `priv_` is the `Arc<T>` raw pointer that `export_arc` stored, alive as long
    // as the dma-buf; `ArcBorrow::from_raw` borrows it and `into` takes a new reference.
    let object: Result<Arc<T>, Rejection> = unsafe {
        if core::ptr::eq((*dmabuf).ops, &kind.ops) {
            Ok(ArcBorrow::<T>::from_raw((*dmabuf).priv_.cast::<T>()).into())
        } else {
            Err(reject!(EINVAL, "fd {fd}: not a dma-buf LightOS exported as a {}", kind.what))
        }
    };
    // SAFETY: drops the reference `dma_buf_get` took.
    unsafe { bindings::dma_buf_put(dmabuf) };
    object
}

/// Handles `BUFFER_EXPORT`. `EINVAL`: unknown flags, non-zero pad/fd/reserved; `ENOENT`: unknown
/// handle; `EMFILE`: no free descriptor; `EFAULT`.
pub(crate) fn export(
    ctx: &Context,
    mut req: uapi::BufferExport,
    arg: &IoctlArg<uapi::BufferExport>,
) -> Result<isize, Rejection> {
    reason::known_flags(req.flags.into(), uapi::EXPORT_CLOEXEC.into())?;
    reason::zero("pad", req.pad.into())?;
    reason::zero("fd (an output)", req.fd.unsigned_abs().into())?;
    reason::zeros("reserved", &req.reserved)?;
    let buffer = ctx.buffer(req.handle)?;
    let size = buffer.size();
    let cloexec = req.flags & uapi::EXPORT_CLOEXEC != 0;
    export_arc(&BUFFERS, buffer, size, cloexec, |fd| {
        req.fd = fd;
        arg.write(&req)
    })?;
    Ok(0)
}

/// Handles `BUFFER_IMPORT`. `EINVAL`: flags/pad/reserved/outputs, or a dma-buf LightOS did not
/// export as a buffer; `EBADF`: not an open descriptor; `ENOSPC`: the context is full.
pub(crate) fn import(
    ctx: &Context,
    mut req: uapi::BufferImport,
    arg: &IoctlArg<uapi::BufferImport>,
) -> Result<isize, Rejection> {
    reason::known_flags(req.flags.into(), 0)?;
    reason::zero("pad", req.pad.into())?;
    reason::zero("handle (an output)", req.handle.into())?;
    reason::zero("size (an output)", req.size)?;
    reason::zero("mmap_offset (an output)", req.mmap_offset)?;
    reason::zeros("reserved", &req.reserved)?;
    let room = crate::buffer::object::HandleRoom::new()?;
    let buffer = import_arc(&BUFFERS, req.fd)?;
    let size = buffer.size() as u64;
    let handle = ctx.insert_buffer(buffer, room)?;
    req.handle = handle;
    req.size = size;
    req.mmap_offset = crate::buffer::object::mmap_offset(handle);
    if let Err(err) = arg.write(&req) {
        let _ = ctx.remove_buffer(handle);
        return Err(err.into());
    }
    Ok(0)
}
