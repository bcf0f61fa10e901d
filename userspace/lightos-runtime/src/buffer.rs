//! Buffer objects: kernel memory a client maps zero-copy and hands to devices.

use crate::{sys, Error, Result};
use lightos_uapi as uapi;
use memmap2::{MmapMut, MmapOptions};
use nix::errno::Errno;
use std::{
    ops::{Deref, DerefMut},
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
    sync::Arc,
};

bitflags::bitflags! {
    /// Flags of a buffer object (`LIGHTOS_BUFFER_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct BufferFlags: u32 {
        /// Devices only read it (weights, inputs).
        const DEVICE_READ_ONLY = uapi::BUFFER_DEVICE_READ_ONLY;
        /// The host only reads it: it can be mapped read-only, never writable.
        const HOST_READ_ONLY = uapi::BUFFER_HOST_READ_ONLY;
    }
}

/// Where a buffer should live (a hint; the kernel reports what it chose).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Placement {
    /// Let the kernel choose.
    #[default]
    Any,
    /// Host memory.
    Host,
    /// Memory a device reaches directly (host memory when none can).
    Device,
}

impl Placement {
    fn to_raw(self) -> u32 {
        match self {
            Placement::Any => uapi::PLACEMENT_ANY,
            Placement::Host => uapi::PLACEMENT_HOST,
            Placement::Device => uapi::PLACEMENT_DEVICE,
        }
    }

    fn from_raw(raw: u32) -> Self {
        match raw {
            uapi::PLACEMENT_HOST => Placement::Host,
            uapi::PLACEMENT_DEVICE => Placement::Device,
            _ => Placement::Any,
        }
    }
}

/// A buffer object of one context. Dropping it destroys the handle; memory still mapped or used by
/// a job stays valid until those let go.
#[derive(Debug)]
pub struct Buffer {
    fd: Arc<OwnedFd>,
    handle: u32,
    size: usize,
    mmap_offset: u64,
    flags: BufferFlags,
    placement: Placement,
}

impl Buffer {
    pub(crate) fn create(
        fd: Arc<OwnedFd>,
        size: usize,
        flags: BufferFlags,
        placement: Placement,
    ) -> Result<Self> {
        let mut req = uapi::BufferCreate {
            size: size as u64,
            flags: flags.bits(),
            placement: placement.to_raw(),
            ..Default::default()
        };
        // SAFETY: `req` is a valid, writable `BufferCreate` that outlives the call; the fd is open.
        unsafe { sys::buffer_create(fd.as_raw_fd(), &mut req) }
            .map_err(|errno| sys::rejected(fd.as_raw_fd(), "BUFFER_CREATE", errno))?;
        let mut buffer = Self {
            fd,
            handle: req.handle,
            size: 0,
            mmap_offset: req.mmap_offset,
            flags,
            placement,
        };
        let info = buffer.query()?;
        buffer.size = info.size as usize;
        buffer.placement = Placement::from_raw(info.placement);
        Ok(buffer)
    }

    /// Gives the buffer behind `fd` (from [`Buffer::export`], in any process) a handle in the
    /// context of `fd_dev`.
    pub(crate) fn import(fd_dev: Arc<OwnedFd>, fd: BorrowedFd<'_>) -> Result<Self> {
        let mut req = uapi::BufferImport {
            fd: fd.as_raw_fd(),
            ..Default::default()
        };
        // SAFETY: `req` is a valid, writable `BufferImport` that outlives the call; the fd is open.
        unsafe { sys::buffer_import(fd_dev.as_raw_fd(), &mut req) }
            .map_err(|errno| sys::rejected(fd_dev.as_raw_fd(), "BUFFER_IMPORT", errno))?;
        let info = handle_info(&fd_dev, req.handle)?;
        Ok(Self {
            fd: fd_dev,
            handle: req.handle,
            size: info.size as usize,
            mmap_offset: info.mmap_offset,
            flags: BufferFlags::from_bits_truncate(info.flags),
            placement: Placement::from_raw(info.placement),
        })
    }

    /// Shares the buffer as a dma-buf file descriptor (close-on-exec unless `inheritable`); another
    /// context or process imports it with [`crate::Context::import_buffer`]. The memory lives while
    /// the descriptor (or any handle or mapping) does.
    pub fn export(&self, inheritable: bool) -> Result<OwnedFd> {
        let mut req = uapi::BufferExport {
            handle: self.handle,
            flags: if inheritable { 0 } else { uapi::EXPORT_CLOEXEC },
            ..Default::default()
        };
        // SAFETY: `req` is a valid, writable `BufferExport` that outlives the call; the fd is open.
        unsafe { sys::buffer_export(self.fd.as_raw_fd(), &mut req) }
            .map_err(|errno| sys::rejected(self.fd.as_raw_fd(), "BUFFER_EXPORT", errno))?;
        // SAFETY: the kernel just installed this descriptor for us; nothing else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(req.fd) })
    }

    /// Asks the kernel about this buffer.
    fn query(&self) -> Result<uapi::BufferInfo> {
        let mut info = uapi::BufferInfo {
            handle: self.handle,
            ..Default::default()
        };
        // SAFETY: `info` is a valid, writable `BufferInfo` that outlives the call; the fd is open.
        unsafe { sys::buffer_info(self.fd.as_raw_fd(), &mut info) }
            .map_err(|errno| sys::rejected(self.fd.as_raw_fd(), "BUFFER_INFO", errno))?;
        Ok(info)
    }

    /// The handle in this buffer's context.
    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// Its size in bytes (the requested size rounded up to whole pages).
    pub fn size(&self) -> usize {
        self.size
    }

    /// The flags it was created with.
    pub fn flags(&self) -> BufferFlags {
        self.flags
    }

    /// Where the kernel placed it.
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// The address a device uses for it, if a device has mapped it.
    pub fn bus_addr(&self) -> Result<Option<u64>> {
        Ok(Some(self.query()?.bus_addr).filter(|&a| a != 0))
    }

    /// Maps the buffer read-write into this process (zero-copy: the bytes are the kernel's pages).
    /// Fails with `EACCES` for a [`BufferFlags::HOST_READ_ONLY`] buffer.
    pub fn map(&self) -> Result<MappedBuffer> {
        // SAFETY: the mapping is of kernel pages owned by the buffer object; the kernel keeps them
        // alive while mapped. Other mappings of the same buffer may write concurrently, as with any
        // shared memory; `MappedBuffer` exposes it as plain bytes.
        let map = unsafe {
            MmapOptions::new()
                .offset(self.mmap_offset)
                .len(self.size)
                .map_mut(self.fd.as_raw_fd())
        }
        .map_err(|e| Error::Map {
            handle: self.handle,
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        })?;
        Ok(MappedBuffer { map })
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let mut req = uapi::BufferDestroy {
            handle: self.handle,
            ..Default::default()
        };
        // SAFETY: `req` is a valid `BufferDestroy`; the fd is open. A failure (the handle is already
        // gone) leaves nothing to clean up.
        let _ = unsafe { sys::buffer_destroy(self.fd.as_raw_fd(), &mut req) };
    }
}

/// A buffer mapped into this process; dereferences to its bytes. Unmapped on drop.
#[derive(Debug)]
pub struct MappedBuffer {
    map: MmapMut,
}

impl Deref for MappedBuffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map
    }
}

impl DerefMut for MappedBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }
}

/// Size and mmap offset of `handle` in the context of `fd` (`BUFFER_INFO`).
pub(crate) fn handle_info(fd: &OwnedFd, handle: u32) -> Result<uapi::BufferInfo> {
    let mut info = uapi::BufferInfo {
        handle,
        ..Default::default()
    };
    // SAFETY: `info` is a valid, writable `BufferInfo` that outlives the call; the fd is open.
    unsafe { sys::buffer_info(fd.as_raw_fd(), &mut info) }
        .map_err(|errno| sys::rejected(fd.as_raw_fd(), "BUFFER_INFO", errno))?;
    Ok(info)
}

/// The error of `op` refused by the runtime itself with `errno` (no ioctl was made).
pub(crate) fn ioctl_error(op: &'static str, errno: Errno) -> Error {
    Error::Ioctl {
        op,
        errno,
        reason: None,
    }
}
