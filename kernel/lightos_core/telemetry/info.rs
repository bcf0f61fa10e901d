// SPDX-License-Identifier: GPL-2.0

//! `LIGHTOS_IOC_GET_INFO`: ABI version, capabilities, limits and the caller's context.

use crate::{
    context::{self, Context},
    ioctl::arg::IoctlArg,
    MODULE_VERSION,
    reason::{self, Rejection},
    uapi,
};
use kernel::prelude::*;

const _: () = assert!(MODULE_VERSION.len() < uapi::MODULE_VERSION_LEN);

/// Handles `GET_INFO`: rejects non-zero `flags`, `pad`, `pad2` or `reserved` with `EINVAL`, fills
/// the rest.
pub(crate) fn get_info(
    ctx: &Context,
    mut info: uapi::Info,
    arg: &IoctlArg<uapi::Info>,
) -> Result<isize, Rejection> {
    reason::known_flags(info.flags.into(), 0)?;
    reason::zero("pad", info.pad.into())?;
    reason::zero("pad2", info.pad2.into())?;
    reason::zeros("reserved", &info.reserved)?;
    info.abi_major = uapi::ABI_MAJOR;
    info.abi_minor = uapi::ABI_MINOR;
    info.max_contexts = uapi::MAX_CONTEXTS;
    info.capabilities = uapi::CAP_ALL;
    info.context_id = ctx.id();
    info.open_contexts = context::open_contexts();
    info.max_buffer_size = uapi::MAX_BUFFER_SIZE;
    info.max_buffer_bytes = uapi::MAX_BUFFER_BYTES;
    info.max_buffers_per_context = uapi::MAX_BUFFERS_PER_CONTEXT;
    info.module_version = [0; uapi::MODULE_VERSION_LEN];
    info.module_version[..MODULE_VERSION.len()].copy_from_slice(MODULE_VERSION.as_bytes());
    arg.write(&info)?;
    Ok(0)
}
