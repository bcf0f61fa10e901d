// SPDX-License-Identifier: GPL-2.0

//! Who may register an executor, and whose jobs an executor may run (docs/ABI.md, "Executors and
//! trust").
//!
//! An executor sees the operand buffers of every job it runs, so, as with ublk servers and FUSE
//! daemons, registering one is a privilege: `CAP_SYS_ADMIN`, or membership of the group the module
//! is loaded with (`executor_gid`). An executor registered with `CAP_SYS_ADMIN` is *privileged* and
//! runs anyone's jobs; one registered through the group runs only the jobs of clients with its own
//! effective uid (as a FUSE mount without `allow_other` serves only its owner). Kernel devices (the
//! photonic NPU) are trusted by every client.

use crate::{
    privilege,
    reason::{reject, Rejection},
};
use kernel::{prelude::*, task::Kuid};

/// The trust an executor earned at registration.
#[derive(Clone, Copy)]
pub(crate) struct Trust {
    /// Registered with `CAP_SYS_ADMIN`: trusted by every client.
    privileged: bool,
    /// The registering task's effective uid: trusted by clients of that uid.
    uid: Kuid,
}

impl Trust {
    /// The trust of an executor the calling task registers, or `EPERM` when it may not register
    /// one (neither `CAP_SYS_ADMIN` nor a member of the executor group).
    pub(crate) fn of_caller() -> Result<Self, Rejection> {
        let uid = privilege::caller_uid();
        if privilege::capable_sys_admin() {
            return Ok(Self { privileged: true, uid });
        }
        match privilege::executor_gid() {
            Some(gid) if privilege::in_group(gid) => Ok(Self { privileged: false, uid }),
            Some(gid) => Err(reject!(
                EPERM,
                "registering an executor needs CAP_SYS_ADMIN or membership of group {gid}"
            )),
            None => Err(reject!(
                EPERM,
                "registering an executor needs CAP_SYS_ADMIN (no executor group: executor_gid unset)"
            )),
        }
    }

    /// Whether a client running as `client` may have its jobs run by this executor.
    pub(crate) fn trusted_by(&self, client: Kuid) -> bool {
        self.privileged || self.uid == client
    }
}
