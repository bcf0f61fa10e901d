// SPDX-License-Identifier: GPL-2.0

//! Copying extensible ioctl arguments in and out of user memory (`../shared/DESIGN.md` §3).
//!
//! Every ioctl is `_IOWR`; another direction is `ENOTTY`. The argument's size is `_IOC_SIZE(cmd)`.
//! Smaller than the v1 struct or not a multiple of 8: `EINVAL`. Larger than
//! [`uapi::MAX_IOCTL_SIZE`], or larger than the struct this module knows with a non-zero tail:
//! `E2BIG` (a newer client asks for something this module cannot do). A zero tail is accepted, so
//! newer clients work with older modules. User memory is read once; a bad pointer is `EFAULT`. Each
//! rejection says why (see [`crate::reason`]).

use crate::{
    reason::{ensure, reject, Rejection},
    uapi,
};
use core::marker::PhantomData;
use kernel::{
    ioctl::{_IOC_DIR, _IOC_NR, _IOC_SIZE},
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
    uapi::QueryLastError,
    uapi::QueryQuota,
    uapi::Dependency,
    uapi::RingSetup,
    uapi::Enter,
    uapi::JobDone,
    uapi::BatchJob,
    uapi::JobBatch,
);

/// An ioctl argument of type `T` in user memory: its address and the size the command encodes.
pub(crate) struct IoctlArg<T> {
    ptr: UserPtr,
    size: usize,
    _arg: PhantomData<fn() -> T>,
}

impl<T: FromBytes + AsBytes> IoctlArg<T> {
    /// Checks the direction and size encoded in `cmd` against the struct `T` this module knows.
    /// Every `/dev/lightos` ioctl is read-write (`_IOWR`): another direction is `ENOTTY`, as for an
    /// unknown number.
    pub(crate) fn new(cmd: u32, arg: usize) -> Result<Self, Rejection> {
        let dir = _IOC_DIR(cmd);
        ensure!(
            dir == uapi::IOC_READ | uapi::IOC_WRITE,
            ENOTTY,
            "ioctl {:#x}: direction {} is not read-write (3)",
            _IOC_NR(cmd),
            dir
        );
        let (size, known) = (_IOC_SIZE(cmd), size_of::<T>());
        ensure!(size >= known, EINVAL, "argument size {size} < {known}, the struct's first version");
        ensure!(size.is_multiple_of(8), EINVAL, "argument size {size} is not a multiple of 8");
        ensure!(size <= uapi::MAX_IOCTL_SIZE, E2BIG, "argument size {size} > {}", uapi::MAX_IOCTL_SIZE);
        Ok(Self {
            ptr: UserPtr::from_addr(arg),
            size,
            _arg: PhantomData,
        })
    }

    /// Reads the argument once; a tail beyond `T` must be zero (`E2BIG`: a newer client asks for
    /// something this module does not know).
    pub(crate) fn read(&self) -> Result<T, Rejection> {
        let mut reader = UserSlice::new(self.ptr, self.size).reader();
        let value = reader.read::<T>()?;
        let mut chunk = [0u8; 64];
        let mut at = size_of::<T>();
        while !reader.is_empty() {
            let n = reader.len().min(chunk.len());
            reader.read_slice(&mut chunk[..n])?;
            if let Some(i) = chunk[..n].iter().position(|&b| b != 0) {
                return Err(reject!(
                    E2BIG,
                    "argument byte {} is not zero: this module knows {} bytes",
                    at + i,
                    size_of::<T>()
                ));
            }
            at += n;
        }
        Ok(value)
    }

    /// Writes `value` back over the first `size_of::<T>()` bytes of the argument.
    pub(crate) fn write(&self, value: &T) -> Result {
        UserSlice::new(self.ptr, size_of::<T>()).writer().write(value)
    }

    /// Writes `value` back whatever `result` says (its outputs explain a rejection too, e.g. an
    /// `error_index`), then returns `result` as a handler's result: a failed write fails a success
    /// and is ignored after a rejection.
    pub(crate) fn write_back(&self, value: &T, result: Result<(), Rejection>) -> Result<isize, Rejection> {
        match result {
            Ok(()) => {
                self.write(value)?;
                Ok(0)
            }
            Err(err) => {
                let _ = self.write(value);
                Err(err)
            }
        }
    }
}
