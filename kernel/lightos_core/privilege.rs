// SPDX-License-Identifier: GPL-2.0

//! What the calling task may do: `CAP_SYS_ADMIN`, membership of the executor group (the module
//! parameter `executor_gid`), and who it is (its effective uid).
//!
//! The 7.2 kernel crate has no wrappers for `capable` or `in_egroup_p`, so these call the C
//! functions; both only read the current task's credentials.

use kernel::{bindings, task::Kuid};

/// Whether the calling task has `CAP_SYS_ADMIN` in the initial user namespace.
pub(crate) fn capable_sys_admin() -> bool {
    // SAFETY: `capable` only reads the current task's credentials; any capability number is valid.
    unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as i32) }
}

/// The group whose members may register executors (`executor_gid`, a gid of the initial user
/// namespace), or `None` when the parameter is unset (negative, the default) or out of range.
pub(crate) fn executor_gid() -> Option<u32> {
    let gid = *crate::module_parameters::executor_gid.value();
    // `u32::MAX` is the kernel's invalid gid (`(gid_t)-1`), never a group.
    u32::try_from(gid).ok().filter(|&g| g != u32::MAX)
}

/// Whether the calling task's effective gid or one of its supplementary groups is `gid` (a gid of
/// the initial user namespace).
pub(crate) fn in_group(gid: u32) -> bool {
    // `KGIDT_INIT`: a gid of the initial user namespace is the kernel's gid itself.
    let kgid = bindings::kgid_t { val: gid };
    // SAFETY: `in_egroup_p` only reads the current task's credentials; any `kgid_t` is valid.
    unsafe { bindings::in_egroup_p(kgid) != 0 }
}

/// The calling task's effective uid.
pub(crate) fn caller_uid() -> Kuid {
    Kuid::current_euid()
}
