// SPDX-License-Identifier: GPL-2.0

//! `POWER_SET`: a device's power controls (laser cap, TEC floor), for userspace power governors.
//!
//! `EPERM` without `CAP_SYS_ADMIN` (a cap slows every user of the device); `EINVAL`: no flag or an
//! unknown one, non-zero reserved, a cap or floor out of range; `ENODEV`: no such backend;
//! `EOPNOTSUPP`: the backend has no power controls (a userspace executor).

use crate::{backend, ioctl_arg::IoctlArg, uapi};
use kernel::{bindings, prelude::*};

/// Handles `POWER_SET`.
pub(crate) fn power_set(arg: IoctlArg) -> Result<isize> {
    // SAFETY: `capable` only reads the current task's credentials; any capability number is valid.
    if !unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as i32) } {
        return Err(EPERM);
    }
    let req: uapi::PowerSet = arg.read()?;
    let known = uapi::POWER_SET_LASER_CAP | uapi::POWER_SET_TEC_FLOOR;
    if req.flags == 0 || req.flags & !known != 0 || req.reserved.iter().any(|&r| r != 0) {
        return Err(EINVAL);
    }
    if req.flags & uapi::POWER_SET_LASER_CAP != 0
        && !(uapi::LASER_CAP_MIN_MW..=uapi::LASER_MAX_MW).contains(&req.laser_cap_mw)
    {
        return Err(EINVAL);
    }
    if req.flags & uapi::POWER_SET_TEC_FLOOR != 0 && req.tec_floor_permille > 1000 {
        return Err(EINVAL);
    }
    let target = backend::with_backends(|list| list.iter().find(|b| b.id() == req.backend_id).cloned());
    target.ok_or(ENODEV)?.set_power(&req)?;
    Ok(0)
}
