// SPDX-License-Identifier: GPL-2.0

//! Rejections with a reason: an errno and a few words saying why, which the ioctl table records in
//! the context for `QUERY_LAST_ERROR` (docs/ABI.md, "Reasons").
//!
//! A handler returns `Result<T, Rejection>`; [`reject!`] builds one from an errno and a format
//! string, and `?` turns any plain kernel [`Error`] into one without a reason. The text is formatted
//! into a fixed buffer (no allocation) and truncated to [`CAPACITY`] bytes, which keeps a
//! `Result<_, Rejection>` small enough to return by value (clippy's `result_large_err` limit of 128
//! bytes) and fits [`uapi::QueryLastError::reason`] with its NUL. Reasons name only what the caller
//! sent or may know (its own handles, sizes, limits), never kernel addresses or another context's
//! data.

use crate::uapi;
use core::fmt::{self, Write};
use kernel::{alloc::AllocError, prelude::*, str::Formatter};

/// The most bytes of a reason the module keeps.
pub(crate) const CAPACITY: usize = 116;
const _: () = assert!(CAPACITY < uapi::REASON_LEN && CAPACITY <= u8::MAX as usize);

/// An ioctl's refusal: the errno it returns and why.
pub(crate) struct Rejection {
    error: Error,
    len: u8,
    reason: [u8; CAPACITY],
}

impl Rejection {
    /// `error`, because of the formatted `why` (truncated to fit).
    pub(crate) fn new(error: Error, why: fmt::Arguments<'_>) -> Self {
        let mut reason = [0u8; CAPACITY];
        let mut f = Formatter::new(&mut reason);
        // A reason too long to fit is cut short, not dropped: the formatter keeps what fits.
        let _ = f.write_fmt(why);
        let len = f.bytes_written().min(CAPACITY) as u8;
        Self { error, len, reason }
    }

    /// The errno.
    pub(crate) fn error(&self) -> Error {
        self.error
    }

    /// The reason's bytes (empty when none was given), without a NUL.
    pub(crate) fn reason(&self) -> &[u8] {
        &self.reason[..usize::from(self.len)]
    }

    /// The same errno with `prefix: ` put before the reason (e.g. the operand a check was about).
    pub(crate) fn context(self, prefix: fmt::Arguments<'_>) -> Self {
        match core::str::from_utf8(self.reason()) {
            Ok(reason) if !reason.is_empty() => Self::new(self.error, format_args!("{prefix}: {reason}")),
            _ => Self::new(self.error, prefix),
        }
    }
}

impl From<Error> for Rejection {
    fn from(error: Error) -> Self {
        Self { error, len: 0, reason: [0; CAPACITY] }
    }
}

impl From<AllocError> for Rejection {
    fn from(error: AllocError) -> Self {
        Error::from(error).into()
    }
}

/// `Rejection::new(errno, format_args!(...))`: an errno and why, e.g.
/// `reject!(ERANGE, "extent {} > buffer {}", end, size)`.
macro_rules! reject {
    ($error:expr, $($why:tt)+) => {
        $crate::reason::Rejection::new($error, ::core::format_args!($($why)+))
    };
}
pub(crate) use reject;

/// `Err(reject!(...))` unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $error:expr, $($why:tt)+) => {
        if !$cond {
            return Err($crate::reason::reject!($error, $($why)+));
        }
    };
}
pub(crate) use ensure;

/// Whether an ioctl that failed with `error` rejected its request (and so replaces the context's
/// last rejection): every error but the outcomes of a valid request that can be retried as is
/// (`EAGAIN`, `ETIMEDOUT`, `EINTR` and the restart codes behind it).
pub(crate) fn is_rejection(error: Error) -> bool {
    use kernel::error::code::{ERESTARTNOHAND, ERESTARTNOINTR, ERESTARTSYS, ERESTART_RESTARTBLOCK};
    ![EAGAIN, ETIMEDOUT, EINTR, ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK]
        .contains(&error)
}

/// The ABI's rule for a must-be-zero field: `EINVAL` ("`name`: not zero") unless `value` is 0.
pub(crate) fn zero(name: &str, value: u64) -> Result<(), Rejection> {
    ensure!(value == 0, EINVAL, "{name}: not zero");
    Ok(())
}

/// [`zero`] for every word of an array: names the first non-zero one (`reserved[1]: not zero`).
pub(crate) fn zeros(name: &str, words: &[u64]) -> Result<(), Rejection> {
    match words.iter().position(|&w| w != 0) {
        Some(i) => Err(reject!(EINVAL, "{name}[{i}]: not zero")),
        None => Ok(()),
    }
}

/// The ABI's rule for flags: `EINVAL` naming the lowest bit of `flags` outside `known`
/// ("flags: unknown bit 9").
pub(crate) fn known_flags(flags: u64, known: u64) -> Result<(), Rejection> {
    let unknown = flags & !known;
    ensure!(unknown == 0, EINVAL, "flags: unknown bit {}", unknown.trailing_zeros());
    Ok(())
}
