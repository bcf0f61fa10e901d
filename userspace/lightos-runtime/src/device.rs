//! An open `/dev/lightos`: one kernel context.

use crate::{sys, Buffer, BufferFlags, DeviceInfo, Error, Placement, Result};
use lightos_uapi as uapi;
use nix::{errno::Errno, fcntl::OFlag, sys::stat::Mode};
use std::{
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
    path::{Path, PathBuf},
    sync::Arc,
};

/// Where the module creates its device node.
pub const DEFAULT_DEVICE_PATH: &str = "/dev/lightos";

/// A handle on `/dev/lightos`; each `Device` is its own kernel context, closed on drop.
#[derive(Debug)]
pub struct Device {
    fd: Arc<OwnedFd>,
    path: PathBuf,
}

impl Device {
    /// Opens [`DEFAULT_DEVICE_PATH`] and checks that the module speaks this runtime's ABI.
    pub fn open() -> Result<Self> {
        Self::open_path(DEFAULT_DEVICE_PATH)
    }

    /// Opens the device node at `path` and checks that the module speaks this runtime's ABI.
    pub fn open_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let raw = nix::fcntl::open(&path, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|errno| Error::Open {
                path: path.clone(),
                errno,
            })?;
        // SAFETY: `open` just returned this descriptor and nothing else owns it.
        let fd = Arc::new(unsafe { OwnedFd::from_raw_fd(raw) });
        let device = Self { fd, path };
        let info = device.info()?;
        if info.abi_major != uapi::ABI_MAJOR {
            return Err(Error::AbiMismatch {
                kernel_major: info.abi_major,
                kernel_minor: info.abi_minor,
                runtime_major: uapi::ABI_MAJOR,
            });
        }
        Ok(device)
    }

    /// The device node this handle was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Asks the module for its ABI version, capabilities, limits and this context's identity.
    pub fn info(&self) -> Result<DeviceInfo> {
        let mut raw = uapi::Info::zeroed();
        // SAFETY: `raw` is a valid, writable `Info` that outlives the call; the fd is open.
        unsafe { sys::get_info(self.fd.as_raw_fd(), &mut raw) }.map_err(|errno: Errno| {
            Error::Ioctl {
                op: "GET_INFO",
                errno,
            }
        })?;
        Ok(DeviceInfo::from_raw(&raw))
    }

    /// Module-wide counters (`QUERY_STATS`).
    pub fn stats(&self) -> Result<uapi::QueryStats> {
        self.query(uapi::QUERY_STATS)
    }

    /// This context's state (`QUERY_CONTEXT`).
    pub fn context_stats(&self) -> Result<uapi::QueryContext> {
        self.query(uapi::QUERY_CONTEXT)
    }

    /// Runs `QUERY` of `query_type` into a `T` (the result struct of that type).
    fn query<T: Default>(&self, query_type: u32) -> Result<T> {
        let mut result = T::default();
        let mut req = uapi::Query {
            query_type,
            size: std::mem::size_of::<T>() as u64,
            ptr: &mut result as *mut T as u64,
            ..Default::default()
        };
        // SAFETY: `req.ptr` points to a writable `T` of `req.size` bytes that outlives the call, and
        // `req` itself is a valid `Query`; the kernel writes at most `size` bytes there.
        unsafe { sys::query(self.fd.as_raw_fd(), &mut req) }
            .map_err(|errno: Errno| Error::Ioctl { op: "QUERY", errno })?;
        Ok(result)
    }

    /// Creates a zeroed buffer object of at least `size` bytes in this context.
    pub fn create_buffer(
        &self,
        size: usize,
        flags: BufferFlags,
        placement: Placement,
    ) -> Result<Buffer> {
        Buffer::create(Arc::clone(&self.fd), size, flags, placement)
    }
}

impl AsFd for Device {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_a_missing_node_names_the_path_and_the_module() {
        let err = Device::open_path("/nonexistent/lightos").unwrap_err();
        assert_eq!(err.errno(), Some(Errno::ENOENT));
        let text = err.to_string();
        assert!(text.contains("/nonexistent/lightos"), "{text}");
        assert!(text.contains("insmod lightos_core.ko"), "{text}");
    }

    #[test]
    fn a_node_that_is_not_lightos_fails_get_info_with_enotty() {
        let err = Device::open_path("/dev/null").unwrap_err();
        assert!(
            matches!(
                err,
                Error::Ioctl {
                    op: "GET_INFO",
                    errno: Errno::ENOTTY
                }
            ),
            "{err}"
        );
    }
}
