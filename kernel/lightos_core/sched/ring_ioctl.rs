// SPDX-License-Identifier: GPL-2.0

//! `RING_SETUP` and `ENTER`: a queue's rings ([`crate::sched::rings`]) and submitting from them
//! through the same chain as `SUBMIT` ([`crate::sched::submit::run`]).

use crate::{
    context::Context,
    ioctl::arg::IoctlArg,
    quota,
    reason::{self, ensure, reject, Rejection},
    sched::{
        rings::{Rings, SqState},
        submit,
    },
    uapi,
};
use kernel::prelude::*;

/// Handles `RING_SETUP`. `EINVAL`: flags/reserved, entries not powers of two, out of range or
/// `cq_entries < sq_entries`; `ENOENT`: unknown queue; `EEXIST`: the queue has rings; `EDQUOT`:
/// the buffer-bytes quota; `ENOMEM`.
pub(crate) fn setup(
    ctx: &Context,
    mut req: uapi::RingSetup,
    arg: &IoctlArg<uapi::RingSetup>,
) -> Result<isize, Rejection> {
    reason::known_flags(req.flags.into(), 0)?;
    reason::zeros("reserved", &req.reserved)?;
    for (name, out) in [("mmap_offset", req.mmap_offset), ("mmap_size", req.mmap_size)] {
        ensure!(out == 0, EINVAL, "{name}: an output, must be 0");
    }
    reason::zero("sqes_offset (an output)", req.sqes_offset.into())?;
    reason::zero("cqes_offset (an output)", req.cqes_offset.into())?;
    let (sq, cq) = (req.sq_entries, req.cq_entries);
    ensure!(
        sq.is_power_of_two() && sq <= uapi::RING_MAX_SQ_ENTRIES,
        EINVAL,
        "sq_entries {sq}: a power of two from 1 to {}",
        uapi::RING_MAX_SQ_ENTRIES
    );
    ensure!(
        cq.is_power_of_two() && cq >= sq && cq <= uapi::RING_MAX_CQ_ENTRIES,
        EINVAL,
        "cq_entries {cq}: a power of two from sq_entries ({sq}) to {}",
        uapi::RING_MAX_CQ_ENTRIES
    );
    let queue = ctx.queue(req.queue_id)?;
    ensure!(
        queue.timeline().rings().is_none(),
        EEXIST,
        "queue {}: it has rings already",
        req.queue_id
    );
    let pages = Rings::pages_for(sq, cq);
    let charge = ctx.account().charge(quota::Kind::BufferBytes, pages as u64 * kernel::page::PAGE_SIZE as u64)?;
    let rings = Rings::new(sq, cq, charge)?;
    req.mmap_offset = (u64::from(req.queue_id) << uapi::MMAP_HANDLE_SHIFT) | uapi::MMAP_RINGS;
    req.mmap_size = rings.mmap_size() as u64;
    req.sqes_offset = uapi::RING_SQES_OFFSET;
    req.cqes_offset = rings.cqes_offset() as u32;
    // A job slot for every completion entry (up to the queue's in-flight bound): a queue in
    // steady state then allocates nothing per job.
    queue.timeline().preallocate(cq as usize)?;
    queue.timeline().set_rings(rings).map_err(|err| {
        if err == EEXIST {
            reject!(EEXIST, "queue {}: it has rings already", req.queue_id)
        } else {
            Rejection::from(err)
        }
    })?;
    arg.write(&req)?;
    Ok(0)
}

/// Handles `ENTER`. `EINVAL`: flags/pad/reserved, outputs not zero, no rings, `to_submit` above
/// [`uapi::MAX_SUBMIT`] or above what the ring holds (or a tail more than a ring ahead),
/// `min_complete` 0 or above the completion ring with `ENTER_GETEVENTS` (non-zero without);
/// `ENOENT`: unknown queue; the chain's errors for the entries (`error_index` names the one at
/// fault; the batch is consumed and counted in `sq_rejected`); `ETIMEDOUT`; `EINTR`.
pub(crate) fn enter(ctx: &Context, mut req: uapi::Enter, arg: &IoctlArg<uapi::Enter>) -> Result<isize, Rejection> {
    let result = enter_checked(ctx, &mut req);
    arg.write_back(&req, result)
}

/// [`enter`] on the copied request, which it fills in; `error_index` is `to_submit` for errors
/// no entry caused.
fn enter_checked(ctx: &Context, req: &mut uapi::Enter) -> Result<(), Rejection> {
    let outputs_zero = (req.submitted, req.error_index, req.first_seq, req.completions);
    req.error_index = req.to_submit;
    reason::known_flags(req.flags.into(), uapi::ENTER_FLAGS_ALL.into())?;
    reason::zero("pad", req.pad.into())?;
    reason::zeros("reserved", &req.reserved)?;
    reason::zero("submitted (an output)", outputs_zero.0.into())?;
    reason::zero("error_index (an output)", outputs_zero.1.into())?;
    reason::zero("first_seq (an output)", outputs_zero.2)?;
    reason::zero("completions (an output)", outputs_zero.3.into())?;
    let queue = ctx.queue(req.queue_id)?;
    let rings = queue
        .timeline()
        .rings()
        .ok_or_else(|| reject!(EINVAL, "queue {}: no rings (RING_SETUP first)", req.queue_id))?;
    let wait = req.flags & uapi::ENTER_GETEVENTS != 0;
    if wait {
        ensure!(
            (1..=rings.cq_entries()).contains(&req.min_complete),
            EINVAL,
            "min_complete {}: 1 to the completion ring's {} entries",
            req.min_complete,
            rings.cq_entries()
        );
    } else {
        reason::zero("min_complete (without ENTER_GETEVENTS)", req.min_complete.into())?;
    }
    ensure!(
        req.to_submit <= uapi::MAX_SUBMIT,
        EINVAL,
        "to_submit {}: at most {} entries per ENTER",
        req.to_submit,
        uapi::MAX_SUBMIT
    );
    if req.to_submit > 0 {
        let mut sq = rings.sq().lock();
        let SqState { head, scratch } = &mut *sq;
        let ready = rings.sq_ready(*head).ok_or_else(|| {
            reject!(EINVAL, "sq_tail: more than the ring's entries ahead of sq_head {}", *head)
        })?;
        ensure!(
            req.to_submit <= ready,
            EINVAL,
            "to_submit {}: the submission ring holds {ready}",
            req.to_submit
        );
        rings.read_sqes(*head, req.to_submit, scratch.prims())?;
        match submit::run(ctx, &queue, scratch, &mut req.error_index) {
            Ok((first, _)) => {
                rings.consume(head, req.to_submit, false);
                req.submitted = req.to_submit;
                req.first_seq = first;
                req.error_index = 0;
            }
            Err(err) => {
                // Nothing is wrong with the entries when the queue is full or memory short: they
                // stay for a retry. Otherwise the batch is consumed, and counted.
                let retry = err.error() == ENOMEM || err.error() == EBUSY;
                if !retry {
                    rings.consume(head, req.to_submit, true);
                }
                req.completions = rings.cq_ready();
                return Err(err);
            }
        }
    }
    if wait {
        let waited = queue.timeline().wait_completions(req.min_complete, req.timeout_ns);
        req.completions = rings.cq_ready();
        waited?;
    }
    req.completions = rings.cq_ready();
    Ok(())
}
