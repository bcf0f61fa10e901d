//! An open `/dev/lightos`: one kernel context.

use crate::spike::queue::{Producer, SpikeQueue};
use crate::{
    sys, Buffer, BufferFlags, DType, Error, Executor, ExecutorSpec, ModuleInfo, Op, Placement,
    Queue, Result,
};
use lightos_uapi as uapi;
use nix::{errno::Errno, fcntl::OFlag, sys::stat::Mode};
use std::{
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

/// Where the module creates its device node.
pub const DEFAULT_DEVICE_PATH: &str = "/dev/lightos";

/// A handle on `/dev/lightos`; each `Context` is its own kernel context, closed on drop.
#[derive(Debug)]
pub struct Context {
    fd: Arc<OwnedFd>,
    path: PathBuf,
}

impl Context {
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
    pub fn info(&self) -> Result<ModuleInfo> {
        let mut raw = uapi::Info::zeroed();
        // SAFETY: `raw` is a valid, writable `Info` that outlives the call; the fd is open.
        unsafe { sys::get_info(self.fd.as_raw_fd(), &mut raw) }
            .map_err(|errno: Errno| sys::rejected(self.fd.as_raw_fd(), "GET_INFO", errno))?;
        Ok(ModuleInfo::from_raw(&raw))
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

impl Context {
    /// Creates a spike-event ring of `entries` events (a power of two, 2 to 65 536), mapped,
    /// produced into from userspace.
    pub fn create_spike_queue(&self, entries: u32) -> Result<SpikeQueue> {
        SpikeQueue::create(Arc::clone(&self.fd), entries, Producer::User)
    }

    /// Like [`Context::create_spike_queue`], for a ring only the kernel produces into
    /// (`OP_SPIKE_ENCODE` jobs); pushing into it is refused.
    pub fn create_kernel_spike_queue(&self, entries: u32) -> Result<SpikeQueue> {
        SpikeQueue::create(Arc::clone(&self.fd), entries, Producer::Kernel)
    }

    /// Adds the spike queue another context exported ([`SpikeQueue::export`]) to this one, mapped.
    pub fn import_spike_queue(&self, exported: std::os::fd::BorrowedFd<'_>) -> Result<SpikeQueue> {
        SpikeQueue::import(Arc::clone(&self.fd), exported)
    }

    /// Gives the buffer exported as `fd` (see [`Buffer::export`]) a handle in this context.
    pub fn import_buffer(&self, fd: BorrowedFd<'_>) -> Result<Buffer> {
        Buffer::import(Arc::clone(&self.fd), fd)
    }

    /// Creates a submission queue: `priority` 0 (lowest) to 3, job `timeout` (zero: the default).
    pub fn create_queue(&self, priority: u32, timeout: Duration) -> Result<Queue> {
        Queue::create(Arc::clone(&self.fd), priority, timeout)
    }

    /// Registers this context as an executor (a userspace backend). Its jobs fail with DEVICE_LOST
    /// when this context is closed.
    pub fn register_executor(&self, spec: &ExecutorSpec) -> Result<Executor> {
        Executor::register(Arc::clone(&self.fd), spec)
    }

    /// Appends a routing rule: primitives of `op` (any if `None`) on `dtype` (any if `None`) whose
    /// operands span `bytes` go to `backend_id` (0: any backend). Returns the number of rules.
    pub fn add_route(
        &self,
        op: Option<Op>,
        dtype: Option<DType>,
        bytes: std::ops::RangeInclusive<u64>,
        backend_id: u32,
    ) -> Result<u32> {
        self.route_set(uapi::RouteSet {
            backend_id,
            op: op.map_or(0, |o| o as u16),
            dtype: dtype.map_or(0, |d| d as u8),
            min_bytes: *bytes.start(),
            max_bytes: if *bytes.end() == u64::MAX {
                0
            } else {
                *bytes.end()
            },
            ..Default::default()
        })
    }

    /// Removes every routing rule of this context.
    pub fn clear_routes(&self) -> Result<u32> {
        self.route_set(uapi::RouteSet {
            flags: uapi::ROUTE_CLEAR,
            ..Default::default()
        })
    }

    /// Makes every primitive of this context deterministic (or not).
    pub fn set_deterministic(&self, on: bool) -> Result<u32> {
        self.route_set(uapi::RouteSet {
            flags: uapi::ROUTE_SET_MODE,
            deterministic: u8::from(on),
            ..Default::default()
        })
    }

    fn route_set(&self, mut req: uapi::RouteSet) -> Result<u32> {
        // SAFETY: `req` is a valid, writable `RouteSet` that outlives the call; the fd is open.
        unsafe { sys::route_set(self.fd.as_raw_fd(), &mut req) }
            .map_err(|errno| sys::rejected(self.fd.as_raw_fd(), "ROUTE_SET", errno))?;
        Ok(req.rules)
    }
}

impl AsFd for Context {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_a_missing_node_names_the_path_and_the_module() {
        let err = Context::open_path("/nonexistent/lightos").unwrap_err();
        assert_eq!(err.errno(), Some(Errno::ENOENT));
        let text = err.to_string();
        assert!(text.contains("/nonexistent/lightos"), "{text}");
        assert!(text.contains("insmod lightos_core.ko"), "{text}");
    }

    #[test]
    fn a_node_that_is_not_lightos_fails_get_info_with_enotty() {
        let err = Context::open_path("/dev/null").unwrap_err();
        assert!(
            matches!(
                err,
                Error::Ioctl {
                    op: "GET_INFO",
                    errno: Errno::ENOTTY,
                    ..
                }
            ),
            "{err}"
        );
    }
}
