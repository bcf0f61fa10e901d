// SPDX-License-Identifier: GPL-2.0

//! `POWER_SET`: a device's power controls (laser cap, TEC floor), for userspace power governors.
//!
//! `EPERM` without `CAP_SYS_ADMIN` (a cap slows every user of the device; the ioctl table checks it
//! before the argument is read); `EINVAL`: no flag or an unknown one, non-zero reserved, a cap or
//! floor out of range; `ENODEV`: no such backend; `EOPNOTSUPP`: the backend has no power controls
//! (a userspace executor).

use crate::{
    context::Context,
    errno,
    ioctl::arg::IoctlArg,
    reason::{self, ensure, reject, Rejection},
    sched::backend,
    uapi,
};
use kernel::prelude::*;

/// Handles `POWER_SET`.
pub(crate) fn power_set(
    _ctx: &Context,
    req: uapi::PowerSet,
    _arg: &IoctlArg<uapi::PowerSet>,
) -> Result<isize, Rejection> {
    let known = uapi::POWER_SET_LASER_CAP | uapi::POWER_SET_TEC_FLOOR;
    ensure!(req.flags != 0, EINVAL, "flags: none set (LASER_CAP, TEC_FLOOR or both)");
    reason::known_flags(req.flags.into(), known.into())?;
    reason::zeros("reserved", &req.reserved)?;
    let (min, max) = (uapi::LASER_CAP_MIN_MW, uapi::LASER_MAX_MW);
    ensure!(
        req.flags & uapi::POWER_SET_LASER_CAP == 0 || (min..=max).contains(&req.laser_cap_mw),
        EINVAL,
        "laser_cap_mw {}: {min} to {max}",
        req.laser_cap_mw
    );
    ensure!(
        req.flags & uapi::POWER_SET_TEC_FLOOR == 0 || req.tec_floor_permille <= 1000,
        EINVAL,
        "tec_floor_permille {}: 0 to 1000",
        req.tec_floor_permille
    );
    let id = req.backend_id;
    let target = backend::with_backends(|list| list.iter().find(|b| b.id() == id).cloned());
    let target = target.ok_or_else(|| reject!(ENODEV, "backend {id}: no such backend"))?;
    target.set_power(&req).map_err(|err| {
        if err == errno::eopnotsupp() {
            reject!(err, "backend {id}: no power controls (a userspace executor)")
        } else {
            err.into()
        }
    })?;
    Ok(0)
}
