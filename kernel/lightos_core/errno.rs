// SPDX-License-Identifier: GPL-2.0

//! Error codes the 7.2 kernel crate does not declare as constants.

use kernel::{bindings, error::Error};

/// `EOPNOTSUPP`: no backend can run the primitive the way it asks (e.g. deterministically).
pub(crate) fn eopnotsupp() -> Error {
    Error::from_errno(-(bindings::EOPNOTSUPP as i32))
}

/// `EDQUOT`: a per-uid quota ([`crate::quota`]) would be exceeded.
pub(crate) fn edquot() -> Error {
    Error::from_errno(-(bindings::EDQUOT as i32))
}

/// `ECANCELED`: the job had already ended (timed out or aborted) when its executor completed it.
pub(crate) fn ecanceled() -> Error {
    Error::from_errno(-(bindings::ECANCELED as i32))
}
