// SPDX-License-Identifier: GPL-2.0

//! The ioctl table of `/dev/lightos`: number → argument struct → handler, declared once in the
//! spirit of DRM's `declare_drm_ioctls!`.
//!
//! For every entry the table checks the command's direction and size and reads the argument
//! ([`IoctlArg`]), checks `CAP_SYS_ADMIN` for [`ADMIN`] entries before reading, then calls the
//! handler with the argument's value and its [`IoctlArg`] (to write results back). Another ioctl type
//! than `'L'` or an unknown number is `ENOTTY`. A rejected call's errno and reason are recorded in the
//! context for `QUERY_LAST_ERROR` (see [`Context::record_rejection`]).

use crate::{
    buffer::{self, export},
    context::Context,
    ioctl::arg::IoctlArg,
    privilege,
    reason::{self, reject, Rejection},
    sched::{executor_ioctl, queue_ioctl, ring_ioctl, submit},
    spike,
    telemetry::{events, info, power, query},
    uapi,
};
use kernel::{
    ioctl::{_IOC_DIR, _IOC_NR, _IOC_SIZE, _IOC_TYPE},
    prelude::*,
};

/// Entry flag: only a caller with `CAP_SYS_ADMIN` may issue it (else `EPERM`).
const ADMIN: u32 = 1 << 0;

/// Whether an entry's `flags` ask for [`ADMIN`].
const fn needs_admin(flags: u32) -> bool {
    flags & ADMIN != 0
}

/// One ioctl, its argument type erased: checks and reads the argument, then runs the handler.
type Call = fn(&Context, u32, usize) -> Result<isize, Rejection>;

/// Declares the table [`IOCTLS`], indexed by ioctl number. Each entry is
/// `(command, argument struct, flags, handler)`, where the command is the ABI's `_IOWR` number and
/// the handler is `fn(&Context, Arg, &IoctlArg<Arg>) -> Result<isize, Rejection>`. Checked at
/// compile time: the numbers run from 0 without gaps (so the number is the index), and each
/// command is an `_IOWR` of type `'L'` that encodes its argument struct's size.
macro_rules! lightos_ioctls {
    ($(($cmd:expr, $arg:ty, $flags:expr, $handler:expr)),* $(,)?) => {
        /// The ioctls of `/dev/lightos`, indexed by `_IOC_NR`.
        const IOCTLS: &[Call] = {
            let mut next = 0u32;
            $(
                assert!(_IOC_NR($cmd) == next, "ioctl numbers must run from 0 without gaps");
                assert!(_IOC_SIZE($cmd) == size_of::<$arg>(), "the command encodes another size");
                assert!(_IOC_TYPE($cmd) == uapi::IOC_MAGIC, "not a LightOS ('L') command");
                assert!(
                    _IOC_DIR($cmd) == uapi::IOC_READ | uapi::IOC_WRITE,
                    "every LightOS ioctl is _IOWR"
                );
                next += 1;
            )*
            let _ = next;
            &[$(
                (|ctx: &Context, cmd: u32, arg: usize| -> Result<isize, Rejection> {
                    let arg = IoctlArg::<$arg>::new(cmd, arg)?;
                    if needs_admin($flags) && !privilege::capable_sys_admin() {
                        return Err(reject!(EPERM, "needs CAP_SYS_ADMIN"));
                    }
                    let req = arg.read()?;
                    $handler(ctx, req, &arg)
                }) as Call
            ),*]
        };
    };
}

lightos_ioctls! {
    (uapi::IOC_GET_INFO, uapi::Info, 0, info::get_info),
    (uapi::IOC_BUFFER_CREATE, uapi::BufferCreate, 0, buffer::ioctl::create),
    (uapi::IOC_BUFFER_INFO, uapi::BufferInfo, 0, buffer::ioctl::info),
    (uapi::IOC_BUFFER_DESTROY, uapi::BufferDestroy, 0, buffer::ioctl::destroy),
    (uapi::IOC_QUERY, uapi::Query, 0, query::query),
    (uapi::IOC_QUEUE_CREATE, uapi::QueueCreate, 0, queue_ioctl::queue_create),
    (uapi::IOC_QUEUE_DESTROY, uapi::QueueDestroy, 0, queue_ioctl::queue_destroy),
    (uapi::IOC_SUBMIT, uapi::Submit, 0, submit::submit),
    (uapi::IOC_WAIT, uapi::Wait, 0, queue_ioctl::wait),
    (uapi::IOC_EXECUTOR_REGISTER, uapi::ExecutorRegister, 0, executor_ioctl::register),
    (uapi::IOC_JOB_FETCH, uapi::JobFetch, 0, executor_ioctl::fetch),
    (uapi::IOC_JOB_COMPLETE, uapi::JobComplete, 0, executor_ioctl::complete),
    (uapi::IOC_ROUTE_SET, uapi::RouteSet, 0, |ctx: &Context, req, arg| ctx.routes().set(req, arg)),
    (uapi::IOC_BUFFER_EXPORT, uapi::BufferExport, 0, export::export),
    (uapi::IOC_BUFFER_IMPORT, uapi::BufferImport, 0, export::import),
    (uapi::IOC_EVENT_WAIT, uapi::EventWait, 0, events::wait),
    (uapi::IOC_SPIKE_QUEUE_CREATE, uapi::SpikeQueueCreate, 0, spike::ioctl::create),
    (uapi::IOC_SPIKE_QUEUE_DESTROY, uapi::SpikeQueueId, 0, spike::ioctl::destroy),
    (uapi::IOC_SPIKE_WAIT, uapi::SpikeWait, 0, spike::ioctl::wait),
    (uapi::IOC_SPIKE_NOTIFY, uapi::SpikeQueueId, 0, spike::ioctl::notify),
    (uapi::IOC_SPIKE_QUEUE_EXPORT, uapi::SpikeQueueExport, 0, spike::ioctl::export),
    (uapi::IOC_SPIKE_QUEUE_IMPORT, uapi::SpikeQueueImport, 0, spike::ioctl::import),
    (uapi::IOC_POWER_SET, uapi::PowerSet, ADMIN, power::power_set),
    (uapi::IOC_RING_SETUP, uapi::RingSetup, 0, ring_ioctl::setup),
    (uapi::IOC_ENTER, uapi::Enter, 0, ring_ioctl::enter),
    (uapi::IOC_JOB_BATCH, uapi::JobBatch, 0, executor_ioctl::batch),
}

/// Runs ioctl `cmd` with argument address `arg` on `ctx`; records a rejection's reason in `ctx`.
pub(crate) fn dispatch(ctx: &Context, cmd: u32, arg: usize) -> Result<isize> {
    if _IOC_TYPE(cmd) != uapi::IOC_MAGIC {
        // Not a LightOS ioctl (e.g. a terminal ioctl from `isatty`): not recorded.
        return Err(ENOTTY);
    }
    let nr = _IOC_NR(cmd);
    let result = match IOCTLS.get(nr as usize) {
        Some(call) => call(ctx, cmd, arg),
        None => Err(reject!(ENOTTY, "no ioctl number {:#x}", nr)),
    };
    result.map_err(|rejection| {
        if reason::is_rejection(rejection.error()) {
            ctx.record_rejection(nr, &rejection);
        }
        rejection.error()
    })
}
