//! `lightos.LightOSError`: every failure of the bindings, with the errno the kernel returned where
//! there was one, the reason in words and a hint.

use pyo3::{exceptions::PyRuntimeError, prelude::*};

pyo3::create_exception!(
    lightos,
    LightOSError,
    PyRuntimeError,
    "A LightOS failure: `errno` (an int, or None when no system call failed), `reason` (what \
     went wrong, the kernel's words where it gave some) and `hint` (what to do about it)."
);

/// Errno values by name, for the ones the kernel's reasons name (`EINVAL (shapes: …)`).
const ERRNOS: [(&str, i32); 12] = [
    ("ENOENT", 2),
    ("EIO", 5),
    ("ENOMEM", 12),
    ("EACCES", 13),
    ("EBUSY", 16),
    ("ENODEV", 19),
    ("EINVAL", 22),
    ("ERANGE", 34),
    ("EOVERFLOW", 75),
    ("ETIMEDOUT", 110),
    ("EDQUOT", 122),
    ("ECANCELED", 125),
];

/// The first errno name in `text`, as its number.
fn errno_in(text: &str) -> Option<i32> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .find_map(|w| ERRNOS.iter().find(|(n, _)| *n == w).map(|&(_, v)| v))
}

/// A `LightOSError` for `reason`, with `hint`; its errno is the one the reason names, if any.
pub(crate) fn error(reason: impl std::fmt::Display, hint: &str) -> PyErr {
    let reason = reason.to_string();
    let errno = errno_in(&reason);
    Python::attach(|py| {
        let e = LightOSError::new_err(format!("{reason} (hint: {hint})"));
        let v = e.value(py);
        // Setting plain attributes on a fresh exception instance cannot fail.
        let _ = v.setattr("errno", errno);
        let _ = v.setattr("reason", reason);
        let _ = v.setattr("hint", hint);
        e
    })
}

/// A `LightOSError` for a bad argument: `EINVAL`.
pub(crate) fn invalid(reason: impl std::fmt::Display, hint: &str) -> PyErr {
    error(format!("EINVAL: {reason}"), hint)
}
