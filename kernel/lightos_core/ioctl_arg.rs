// SPDX-License-Identifier: GPL-2.0

//! Copying extensible ioctl arguments in and out of user memory (`../shared/DESIGN.md` §3).
//!
//! The argument's size is `_IOC_SIZE(cmd)`. Smaller than the v1 struct or not a multiple of 8:
//! `EINVAL`. Larger than [`uapi::MAX_IOCTL_SIZE`], or larger than the struct this module knows with a
//! non-zero tail: `E2BIG` (a newer client asks for something this module cannot do). A zero tail is
//! accepted, so newer clients work with older modules. User memory is read once; a bad pointer is
//! `EFAULT`.

use crate::uapi;
use kernel::{
    ioctl::_IOC_SIZE,
    prelude::*,
    transmute::{AsBytes, FromBytes},
    uaccess::{UserPtr, UserSlice},
};

/// Declares ABI structs plain bytes for the uaccess helpers.
macro_rules! plain_abi_structs {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: every ABI struct is `repr(C)` with only integer fields and explicit padding fields
        // (sizes asserted in the uapi), so every bit pattern is valid and all bytes are initialized.
        unsafe impl FromBytes for $t {}
        // SAFETY: as above.
        unsafe impl AsBytes for $t {}
    )*};
}

plain_abi_structs!(
    uapi::Info,
    uapi::BufferCreate,
    uapi::BufferInfo,
    uapi::BufferDestroy,
    uapi::Query,
    uapi::QueryStats,
    uapi::QueryContext,
    uapi::QueueCreate,
    uapi::QueueDestroy,
    uapi::Primitive,
    uapi::Submit,
    uapi::Wait,
    uapi::ExecutorRegister,
    uapi::JobFetch,
    uapi::JobComplete,
    uapi::RouteSet,
    uapi::OpStats,
    uapi::BackendInfo,
    uapi::BufferExport,
    uapi::BufferImport,
    uapi::ThermalInfo,
    uapi::Event,
    uapi::EventWait,
    uapi::SpikeQueueCreate,
    uapi::SpikeQueueId,
    uapi::SpikeWait,
    uapi::SpikeQueueExport,
    uapi::SpikeQueueImport,
    uapi::SpikeQueueInfo,
    uapi::PowerSet,
);

/// An ioctl argument in user memory: its address and the size the command encodes.
pub(crate) struct IoctlArg {
    ptr: UserPtr,
    size: usize,
}

impl IoctlArg {
    /// Checks the size encoded in `cmd` against the struct `T` this module knows.
    pub(crate) fn new<T>(cmd: u32, arg: usize) -> Result<Self> {
        let size = _IOC_SIZE(cmd);
        if size < size_of::<T>() || !size.is_multiple_of(8) {
            return Err(EINVAL);
        }
        if size > uapi::MAX_IOCTL_SIZE {
            return Err(E2BIG);
        }
        Ok(Self {
            ptr: UserPtr::from_addr(arg),
            size,
        })
    }

    /// Reads the argument once; a tail beyond `T` must be zero.
    pub(crate) fn read<T: FromBytes>(&self) -> Result<T> {
        let mut reader = UserSlice::new(self.ptr, self.size).reader();
        let value = reader.read::<T>()?;
        let mut chunk = [0u8; 64];
        while !reader.is_empty() {
            let n = reader.len().min(chunk.len());
            reader.read_slice(&mut chunk[..n])?;
            if chunk[..n].iter().any(|&b| b != 0) {
                return Err(E2BIG);
            }
        }
        Ok(value)
    }

    /// Writes `value` back over the first `size_of::<T>()` bytes of the argument.
    pub(crate) fn write<T: AsBytes>(&self, value: &T) -> Result {
        UserSlice::new(self.ptr, size_of::<T>()).writer().write(value)
    }
}
