//! Typed errors of the runtime: what failed, and the errno the kernel gave.

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
    #[error("{op} failed: {errno} ({})", errno.desc())]
    Ioctl {
        /// The operation, e.g. `GET_INFO`.
        op: &'static str,
        /// The errno the kernel returned.
        errno: Errno,
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
    #[error("SUBMIT rejected primitive {index}: {errno} ({})", errno.desc())]
    Submit {
        /// Index of the rejected primitive in the batch.
        index: u32,
        /// The errno the kernel returned.
        errno: Errno,
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
}

fn open_hint(errno: Errno) -> &'static str {
    match errno {
        Errno::ENOENT => "is lightos_core.ko loaded? try `insmod lightos_core.ko`",
        Errno::EACCES | Errno::EPERM => {
            "the device node is root-only by default; see docs/USAGE.md"
        }
        Errno::ENFILE => "too many LightOS contexts are open",
        _ => errno.desc(),
    }
}

/// The runtime's result type.
pub type Result<T> = std::result::Result<T, Error>;
