// SPDX-License-Identifier: GPL-2.0

//! `LIGHTOS_IOC_QUERY`: one extensible ioctl for telemetry, `{type, size, ptr}`.
//!
//! A zero `ptr` asks for the result's size only. Otherwise `size` must be at least the result's size
//! (`EINVAL`; for `QUERY_OPS`, room for the ops of ABI 1.2 is enough), and is set to the bytes
//! written. Unknown types and non-zero flags/reserved: `EINVAL`. `QUERY_LAST_ERROR` (1.8) reads the
//! context's last rejection and leaves it as it is.

use crate::{
    context::Context,
    ioctl::arg::IoctlArg,
    reason::{self, reject, Rejection},
    sched::{account, backend},
    telemetry::{events, stats},
    uapi,
};
use kernel::{
    prelude::*,
    transmute::AsBytes,
    uaccess::{UserPtr, UserSlice, UserSliceWriter},
};

/// Handles `QUERY`.
pub(crate) fn query(
    ctx: &Context,
    mut req: uapi::Query,
    arg: &IoctlArg<uapi::Query>,
) -> Result<isize, Rejection> {
    reason::known_flags(req.flags.into(), 0)?;
    reason::zeros("reserved", &req.reserved)?;
    match req.query_type {
        uapi::QUERY_STATS => reply(arg, &mut req, &stats::snapshot()),
        uapi::QUERY_CONTEXT => reply(arg, &mut req, &ctx.snapshot()),
        uapi::QUERY_LAST_ERROR => reply(arg, &mut req, &ctx.last_rejection()),
        uapi::QUERY_QUOTA => reply(arg, &mut req, &ctx.account().snapshot()),
        uapi::QUERY_OPS => {
            // A client built before 1.6 has room for the ops it knows: it gets those (and the size
            // it can hold), so appending an op does not break it.
            let entry = size_of::<uapi::OpStats>() as u64;
            let count = if req.ptr != 0 && req.size >= entry * uapi::OP_COUNT_1_2 as u64 {
                (req.size / entry).min(uapi::OP_COUNT as u64) as usize
            } else {
                uapi::OP_COUNT
            };
            reply_with(arg, &mut req, count * entry as usize, |w| account::write_ops(w, count))
        }
        uapi::QUERY_BACKENDS => reply_with(
            arg,
            &mut req,
            size_of::<uapi::QueryBackends>(),
            backend::write_snapshot,
        ),
        uapi::QUERY_THERMAL => reply_with(
            arg,
            &mut req,
            size_of::<uapi::QueryThermal>(),
            |w| backend::write_thermal(w, events::last_seq()),
        ),
        uapi::QUERY_SPIKE_QUEUES => reply_with(
            arg,
            &mut req,
            size_of::<uapi::QuerySpikeQueues>(),
            |w| ctx.write_spike_queues(w),
        ),
        t => Err(reject!(EINVAL, "query_type {t}: unknown (1 to {})", uapi::QUERY_MAX)),
    }
}

/// Writes `result` to `req.ptr` (unless it is 0) and its size back into `req.size`.
fn reply<T: AsBytes>(
    arg: &IoctlArg<uapi::Query>,
    req: &mut uapi::Query,
    result: &T,
) -> Result<isize, Rejection> {
    reply_with(arg, req, size_of::<T>(), |w| w.write(result))
}

/// Like [`reply`] for a result of `needed` bytes that `write` produces piece by piece.
fn reply_with(
    arg: &IoctlArg<uapi::Query>,
    req: &mut uapi::Query,
    needed: usize,
    write: impl FnOnce(&mut UserSliceWriter) -> Result,
) -> Result<isize, Rejection> {
    if req.ptr != 0 {
        if req.size < needed as u64 {
            return Err(reject!(EINVAL, "size {}: the result needs {needed} bytes", req.size));
        }
        let ptr = usize::try_from(req.ptr).map_err(|_| EFAULT)?;
        write(&mut UserSlice::new(UserPtr::from_addr(ptr), needed).writer())?;
    }
    req.size = needed as u64;
    arg.write(req)?;
    Ok(0)
}
