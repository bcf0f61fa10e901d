// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The binary interface of `/dev/lightos`, declared once.
//!
//! This file has no dependencies: the kernel module includes it with `#[path]` and userspace uses it
//! as the `lightos-uapi` crate. `include/uapi/lightos.h` is its C twin; a host test compiles C
//! against that header and proves every size, offset and ioctl number equal to the ones here.
//!
//! Rules (docs/ABI.md): fixed-size fields only, natural alignment, explicit padding, sizes a multiple of
//! 8; every reserved field and unknown flag bit must be zero; ioctl numbers are append-only.

/// ABI major version: bumped only for incompatible changes (never, we hope).
pub const ABI_MAJOR: u32 = 1;
/// ABI minor version: bumped when ioctls, capabilities or struct fields are appended.
pub const ABI_MINOR: u32 = 0;

/// The ioctl type byte of `/dev/lightos` (`'L'`).
pub const IOC_MAGIC: u32 = b'L' as u32;

/// Bits of the ioctl number field (asm-generic/ioctl.h).
pub const IOC_NRBITS: u32 = 8;
/// Bits of the ioctl type field.
pub const IOC_TYPEBITS: u32 = 8;
/// Bits of the ioctl size field.
pub const IOC_SIZEBITS: u32 = 14;
/// Shift of the number field.
pub const IOC_NRSHIFT: u32 = 0;
/// Shift of the type field.
pub const IOC_TYPESHIFT: u32 = IOC_NRSHIFT + IOC_NRBITS;
/// Shift of the size field.
pub const IOC_SIZESHIFT: u32 = IOC_TYPESHIFT + IOC_TYPEBITS;
/// Shift of the direction field.
pub const IOC_DIRSHIFT: u32 = IOC_SIZESHIFT + IOC_SIZEBITS;
/// Direction: userspace writes, the kernel reads.
pub const IOC_WRITE: u32 = 1;
/// Direction: the kernel writes, userspace reads.
pub const IOC_READ: u32 = 2;

/// Encodes an ioctl number as `_IOC(dir, type, nr, size)` does.
pub const fn ioc(dir: u32, ty: u32, nr: u32, size: usize) -> u32 {
    (dir << IOC_DIRSHIFT)
        | (ty << IOC_TYPESHIFT)
        | (nr << IOC_NRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
}

/// Encodes a read-write `/dev/lightos` ioctl number, as `_IOWR('L', nr, T)` does.
pub const fn iowr(nr: u32, size: usize) -> u32 {
    ioc(IOC_READ | IOC_WRITE, IOC_MAGIC, nr, size)
}

/// `LIGHTOS_IOC_GET_INFO`: ABI version, capabilities, limits and this context's identity.
pub const IOC_GET_INFO: u32 = iowr(IOC_NR_GET_INFO, core::mem::size_of::<Info>());
/// The number (`_IOC_NR`) of [`IOC_GET_INFO`].
pub const IOC_NR_GET_INFO: u32 = 0x00;

/// Capability: `show_fdinfo` reports per-context state in `/proc/<pid>/fdinfo/<fd>`.
pub const CAP_FDINFO: u64 = 1 << 0;
/// Every capability bit this version of the ABI defines.
pub const CAP_ALL: u64 = CAP_FDINFO;

/// The most contexts (open file descriptions of `/dev/lightos`) the module allows at once.
pub const MAX_CONTEXTS: u32 = 4096;
/// Length of [`Info::module_version`], including its terminating NUL.
pub const MODULE_VERSION_LEN: usize = 32;
/// The largest argument size (`_IOC_SIZE`) any ioctl accepts; an extensible struct grows within it.
pub const MAX_IOCTL_SIZE: usize = 4096;

/// Argument of [`IOC_GET_INFO`] (`struct lightos_info`).
///
/// In: `flags` and `reserved` must be zero. Out: everything else. Newer userspace may pass a larger
/// struct whose unknown tail is zero; older userspace may not pass a smaller one (v1 is the minimum).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    /// In: must be zero (no flags are defined).
    pub flags: u32,
    /// Out: [`ABI_MAJOR`].
    pub abi_major: u32,
    /// Out: [`ABI_MINOR`].
    pub abi_minor: u32,
    /// Out: [`MAX_CONTEXTS`].
    pub max_contexts: u32,
    /// Out: `CAP_*` bits.
    pub capabilities: u64,
    /// Out: the identifier of the calling file descriptor's context (never reused while loaded).
    pub context_id: u64,
    /// Out: how many contexts are open module-wide, this one included.
    pub open_contexts: u32,
    /// In: must be zero (padding).
    pub pad: u32,
    /// Out: the module's version, NUL-terminated UTF-8 (e.g. `"0.1.0"`).
    pub module_version: [u8; MODULE_VERSION_LEN],
    /// In: must be zero. Room for the limits of later minor versions.
    pub reserved: [u64; 8],
}

impl Info {
    /// An all-zero `Info`, the valid input of [`IOC_GET_INFO`].
    pub const fn zeroed() -> Self {
        Self {
            flags: 0,
            abi_major: 0,
            abi_minor: 0,
            max_contexts: 0,
            capabilities: 0,
            context_id: 0,
            open_contexts: 0,
            pad: 0,
            module_version: [0; MODULE_VERSION_LEN],
            reserved: [0; 8],
        }
    }
}

// v1 size; a multiple of 8 as the ABI rules require.
const _: () = assert!(core::mem::size_of::<Info>() == 136);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_encoding_matches_asm_generic() {
        // _IOWR('L', 0, 136 bytes) computed by hand: dir 3 << 30 | size << 16 | 'L' << 8 | nr.
        assert_eq!(IOC_GET_INFO, (3u32 << 30) | (136 << 16) | (0x4c << 8));
    }

    #[test]
    fn capabilities_are_distinct_bits_within_cap_all() {
        assert_eq!(CAP_ALL & CAP_FDINFO, CAP_FDINFO);
        assert_eq!(CAP_ALL.count_ones(), 1);
    }
}
