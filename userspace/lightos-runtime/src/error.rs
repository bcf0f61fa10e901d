//! Typed errors of the runtime: what failed, the errno the kernel gave and, from ABI 1.8 on, the
//! kernel's reason for a rejection (`QUERY_LAST_ERROR`).

use nix::errno::Errno;
use std::path::PathBuf;

/// An error of the LightOS runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening the device node failed.
    #[error("cannot open {path}: {errno} ({hint})", hint = open_hint(*errno))]
    Open {
        /// The device node.
        path: PathBuf,
        /// The errno `open` returned.
        errno: Errno,
    },
    /// An ioctl was rejected by the kernel.
    #[error("{op} failed: {errno:?} ({})", why(*errno, reason))]
    Ioctl {
        /// The operation, e.g. `GET_INFO`.
        op: &'static str,
        /// The errno the kernel returned.
        errno: Errno,
        /// Why, as the kernel said (`None`: it gave no reason, or predates ABI 1.8).
        reason: Option<String>,
    },
    /// Mapping a buffer failed.
    #[error("mmap of buffer {handle} failed: {errno} ({})", errno.desc())]
    Map {
        /// The buffer's handle.
        handle: u32,
        /// The errno `mmap` returned.
        errno: Errno,
    },
    /// `SUBMIT` rejected the primitive at `index` of the batch (nothing was submitted).
    #[error("SUBMIT rejected primitive {index}: {errno:?} ({})", why(*errno, reason))]
    Submit {
        /// Index of the rejected primitive in the batch.
        index: u32,
        /// The errno the kernel returned.
        errno: Errno,
        /// Why, as the kernel said (`None`: it gave no reason, or predates ABI 1.8).
        reason: Option<String>,
    },
    /// The module speaks an ABI major version this runtime does not.
    #[error("kernel ABI {kernel_major}.{kernel_minor} is incompatible with this runtime (ABI {runtime_major}.x)")]
    AbiMismatch {
        /// The kernel's major version.
        kernel_major: u32,
        /// The kernel's minor version.
        kernel_minor: u32,
        /// This runtime's major version.
        runtime_major: u32,
    },
}

impl Error {
    /// The errno behind this error, if the kernel gave one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Open { errno, .. }
            | Error::Ioctl { errno, .. }
            | Error::Map { errno, .. }
            | Error::Submit { errno, .. } => Some(*errno),
            Error::AbiMismatch { .. } => None,
        }
    }

    /// The kernel's reason for rejecting the request ("operand 2: extent 4352 > buffer 4096"), if
    /// it gave one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Error::Ioctl { reason, .. } | Error::Submit { reason, .. } => reason.as_deref(),
            _ => None,
        }
    }

    /// What the user can do about this error, when the runtime knows (e.g. an executor
    /// registration refused for want of privilege).
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Error::Ioctl {
                op: "EXECUTOR_REGISTER",
                errno: Errno::EPERM,
                ..
            } => Some(EXECUTOR_PRIVILEGE_HINT),
            _ => None,
        }
    }
}

/// Why an executor registration is refused with `EPERM`, and what to do (docs/ABI.md, "Executors
/// and trust").
const EXECUTOR_PRIVILEGE_HINT: &str = "an executor sees its clients' buffers, so registering one \
needs CAP_SYS_ADMIN (run it as root) or membership of the group lightos_core was loaded with \
(`insmod lightos_core.ko executor_gid=<gid>`); see docs/ABI.md, \"Executors and trust\"";

/// The parenthesised part of a rejection's message: the kernel's reason, else the errno's text.
fn why(errno: Errno, reason: &Option<String>) -> &str {
    reason.as_deref().unwrap_or(errno.desc())
}

fn open_hint(errno: Errno) -> &'static str {
    match errno {
        Errno::ENOENT => "is lightos_core.ko loaded? try `insmod lightos_core.ko`",
        Errno::EACCES | Errno::EPERM => {
            "the device node is root-only by default: ask for membership of the group \
             `lightos` (packaging/udev/60-lightos.rules); see docs/ABI.md, \"Contexts\""
        }
        Errno::ENFILE => "too many LightOS contexts are open",
        _ => errno.desc(),
    }
}

/// The runtime's result type.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_shows_the_kernels_reason_and_else_the_errnos_text() {
        let with = Error::Submit {
            index: 0,
            errno: Errno::EINVAL,
            reason: Some("operand 2: extent 4352 > buffer 4096".into()),
        };
        assert_eq!(
            with.to_string(),
            "SUBMIT rejected primitive 0: EINVAL (operand 2: extent 4352 > buffer 4096)"
        );
        assert_eq!(with.reason(), Some("operand 2: extent 4352 > buffer 4096"));
        let without = Error::Ioctl {
            op: "GET_INFO",
            errno: Errno::ENOTTY,
            reason: None,
        };
        assert_eq!(
            without.to_string(),
            format!("GET_INFO failed: ENOTTY ({})", Errno::ENOTTY.desc())
        );
        assert_eq!(without.reason(), None);
        assert_eq!(without.hint(), None);
    }

    #[test]
    fn a_refused_executor_registration_carries_the_reason_and_a_hint() {
        let refused = Error::Ioctl {
            op: "EXECUTOR_REGISTER",
            errno: Errno::EPERM,
            reason: Some(
                "registering an executor needs CAP_SYS_ADMIN or membership of group 2000".into(),
            ),
        };
        assert_eq!(
            refused.to_string(),
            "EXECUTOR_REGISTER failed: EPERM (registering an executor needs CAP_SYS_ADMIN or \
             membership of group 2000)"
        );
        assert!(refused.hint().is_some_and(|h| h.contains("executor_gid")));
    }
}
