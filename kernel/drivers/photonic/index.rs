// SPDX-License-Identifier: GPL-2.0

//! Device names in probe order: `photonic0`, `photonic1`, … — module-wide, the lowest index no
//! bound NPU holds. A name freed by unbind is reused by the next probe (as `ida_alloc` would), so
//! unbinding every NPU and binding one again gives `photonic0`.

use crate::uapi;
use kernel::{
    prelude::*,
    str::CString,
    sync::atomic::{Atomic, Relaxed},
};

/// Most NPUs bound at once: one per `QUERY_THERMAL` entry.
const MAX_DEVICES: u32 = uapi::MAX_THERMAL_DEVICES as u32;

// Every index is one bit of `TAKEN`.
const _: () = assert!(MAX_DEVICES <= u32::BITS);

/// Bit `i`: index `i` is taken.
static TAKEN: Atomic<u32> = Atomic::new(0);

/// An index held by one bound NPU; freed when dropped.
pub(crate) struct Index(u32);

impl Index {
    /// Takes the lowest free index. `ENOSPC` when [`MAX_DEVICES`] NPUs are bound.
    pub(crate) fn alloc() -> Result<Self> {
        let mut taken = TAKEN.load(Relaxed);
        loop {
            let i = (!taken).trailing_zeros();
            if i >= MAX_DEVICES {
                return Err(ENOSPC);
            }
            match TAKEN.cmpxchg(taken, taken | 1 << i, Relaxed) {
                Ok(_) => return Ok(Self(i)),
                Err(now) => taken = now,
            }
        }
    }

    /// The N of `photonicN`.
    pub(crate) fn get(&self) -> u32 {
        self.0
    }

    /// The backend name `photonicN`, NUL-padded.
    pub(crate) fn backend_name(&self) -> Result<[u8; uapi::BACKEND_NAME_LEN]> {
        let name = CString::try_from_fmt(fmt!("photonic{}", self.0))?;
        let bytes = name.to_bytes();
        let mut out = [0u8; uapi::BACKEND_NAME_LEN];
        out.get_mut(..bytes.len()).ok_or(EINVAL)?.copy_from_slice(bytes);
        Ok(out)
    }

    /// The device's debugfs directory name, `lightos-photonicN`.
    pub(crate) fn debugfs_name(&self) -> Result<CString> {
        CString::try_from_fmt(fmt!("lightos-photonic{}", self.0))
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        let mut taken = TAKEN.load(Relaxed);
        while let Err(now) = TAKEN.cmpxchg(taken, taken & !(1 << self.0), Relaxed) {
            taken = now;
        }
    }
}
