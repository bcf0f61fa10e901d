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
pub const ABI_MINOR: u32 = 1;

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

/// `LIGHTOS_IOC_BUFFER_CREATE`: allocate a zeroed buffer object in this context (ABI 1.1).
pub const IOC_BUFFER_CREATE: u32 = iowr(IOC_NR_BUFFER_CREATE, core::mem::size_of::<BufferCreate>());
/// The number (`_IOC_NR`) of [`IOC_BUFFER_CREATE`].
pub const IOC_NR_BUFFER_CREATE: u32 = 0x01;
/// `LIGHTOS_IOC_BUFFER_INFO`: size, flags, mmap cookie and bus address of a buffer (ABI 1.1).
pub const IOC_BUFFER_INFO: u32 = iowr(IOC_NR_BUFFER_INFO, core::mem::size_of::<BufferInfo>());
/// The number (`_IOC_NR`) of [`IOC_BUFFER_INFO`].
pub const IOC_NR_BUFFER_INFO: u32 = 0x02;
/// `LIGHTOS_IOC_BUFFER_DESTROY`: drop this context's handle on a buffer (ABI 1.1).
pub const IOC_BUFFER_DESTROY: u32 =
    iowr(IOC_NR_BUFFER_DESTROY, core::mem::size_of::<BufferDestroy>());
/// The number (`_IOC_NR`) of [`IOC_BUFFER_DESTROY`].
pub const IOC_NR_BUFFER_DESTROY: u32 = 0x03;

/// `LIGHTOS_IOC_QUERY`: read one kind of telemetry into a user buffer (ABI 1.1).
pub const IOC_QUERY: u32 = iowr(IOC_NR_QUERY, core::mem::size_of::<Query>());
/// The number (`_IOC_NR`) of [`IOC_QUERY`].
pub const IOC_NR_QUERY: u32 = 0x04;

/// Query type: module-wide counters, as [`QueryStats`].
pub const QUERY_STATS: u32 = 1;
/// Query type: the calling context, as [`QueryContext`].
pub const QUERY_CONTEXT: u32 = 2;
/// The largest defined query type.
pub const QUERY_MAX: u32 = QUERY_CONTEXT;

/// Capability: `show_fdinfo` reports per-context state in `/proc/<pid>/fdinfo/<fd>`.
pub const CAP_FDINFO: u64 = 1 << 0;
/// Capability: buffer objects (`BUFFER_CREATE`, `BUFFER_INFO`, `BUFFER_DESTROY`, `mmap`) (ABI 1.1).
pub const CAP_BUFFERS: u64 = 1 << 1;
/// Capability: module-wide counters in `/sys/kernel/debug/lightos/stats` (ABI 1.1).
pub const CAP_DEBUGFS: u64 = 1 << 2;
/// Capability: `LIGHTOS_IOC_QUERY` with [`QUERY_STATS`] and [`QUERY_CONTEXT`] (ABI 1.1).
pub const CAP_QUERY: u64 = 1 << 3;
/// Every capability bit this version of the ABI defines.
pub const CAP_ALL: u64 = CAP_FDINFO | CAP_BUFFERS | CAP_DEBUGFS | CAP_QUERY;

/// The most contexts (open file descriptions of `/dev/lightos`) the module allows at once.
pub const MAX_CONTEXTS: u32 = 4096;
/// Length of [`Info::module_version`], including its terminating NUL.
pub const MODULE_VERSION_LEN: usize = 32;
/// The largest argument size (`_IOC_SIZE`) any ioctl accepts; an extensible struct grows within it.
pub const MAX_IOCTL_SIZE: usize = 4096;
/// The largest buffer object, in bytes.
pub const MAX_BUFFER_SIZE: u64 = 256 << 20;
/// The most buffer objects one context may hold at once.
pub const MAX_BUFFERS_PER_CONTEXT: u32 = 4096;
/// The most bytes all buffer objects of all contexts may hold at once.
pub const MAX_BUFFER_BYTES: u64 = 1 << 30;

/// Buffer flag: devices only read this buffer (weights, inputs); a job may not name it as an output.
pub const BUFFER_DEVICE_READ_ONLY: u32 = 1 << 0;
/// Buffer flag: the host only reads this buffer; `mmap` with `PROT_WRITE` is refused with `EACCES`.
pub const BUFFER_HOST_READ_ONLY: u32 = 1 << 1;
/// Every buffer flag this version of the ABI defines.
pub const BUFFER_FLAGS_ALL: u32 = BUFFER_DEVICE_READ_ONLY | BUFFER_HOST_READ_ONLY;

/// Placement hint: let the module choose.
pub const PLACEMENT_ANY: u32 = 0;
/// Placement hint: host memory.
pub const PLACEMENT_HOST: u32 = 1;
/// Placement hint: memory a device can reach directly (falls back to host memory when none can).
pub const PLACEMENT_DEVICE: u32 = 2;
/// The largest defined placement hint.
pub const PLACEMENT_MAX: u32 = PLACEMENT_DEVICE;

/// A buffer's mmap cookie is its handle shifted left by this many bits.
pub const MMAP_HANDLE_SHIFT: u32 = 32;

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
    /// Out (1.1): [`MAX_BUFFER_SIZE`].
    pub max_buffer_size: u64,
    /// Out (1.1): [`MAX_BUFFER_BYTES`].
    pub max_buffer_bytes: u64,
    /// Out (1.1): [`MAX_BUFFERS_PER_CONTEXT`].
    pub max_buffers_per_context: u32,
    /// In: must be zero (padding).
    pub pad2: u32,
    /// In: must be zero. Room for later minor versions.
    pub reserved: [u64; 5],
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
            max_buffer_size: 0,
            max_buffer_bytes: 0,
            max_buffers_per_context: 0,
            pad2: 0,
            reserved: [0; 5],
        }
    }
}

/// Argument of [`IOC_BUFFER_CREATE`] (`struct lightos_buffer_create`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BufferCreate {
    /// In: size in bytes, 1 to [`MAX_BUFFER_SIZE`]; the buffer is rounded up to whole pages.
    pub size: u64,
    /// In: `BUFFER_*` flags.
    pub flags: u32,
    /// In: a `PLACEMENT_*` hint.
    pub placement: u32,
    /// Out: the buffer's handle in this context (never 0).
    pub handle: u32,
    /// In: must be zero (padding).
    pub pad: u32,
    /// Out: the offset to pass to `mmap` to map exactly this buffer.
    pub mmap_offset: u64,
    /// In: must be zero.
    pub reserved: [u64; 4],
}

/// Argument of [`IOC_BUFFER_INFO`] (`struct lightos_buffer_info`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BufferInfo {
    /// In: the handle to describe.
    pub handle: u32,
    /// Out: the buffer's `BUFFER_*` flags.
    pub flags: u32,
    /// Out: the mapped size in bytes (the requested size rounded up to whole pages).
    pub size: u64,
    /// Out: the offset to pass to `mmap`.
    pub mmap_offset: u64,
    /// Out: the address a device uses for this buffer, or 0 when no device has mapped it.
    pub bus_addr: u64,
    /// Out: the `PLACEMENT_*` the buffer got.
    pub placement: u32,
    /// In: must be zero (padding).
    pub pad: u32,
    /// In: must be zero.
    pub reserved: [u64; 4],
}

/// Argument of [`IOC_BUFFER_DESTROY`] (`struct lightos_buffer_destroy`).
///
/// The handle goes at once; the memory lives on while a mapping or a job still uses it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BufferDestroy {
    /// In: the handle to drop.
    pub handle: u32,
    /// In: must be zero (no flags are defined).
    pub flags: u32,
    /// In: must be zero.
    pub reserved: [u64; 2],
}

/// Argument of [`IOC_QUERY`] (`struct lightos_query`).
///
/// With `ptr` 0 the kernel only writes the result's size into `size`. Otherwise `size` is the room at
/// `ptr`: less than the result's size is `EINVAL`; more is fine, and `size` is set to what was written.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// In: a `QUERY_*` type.
    pub query_type: u32,
    /// In: must be zero.
    pub flags: u32,
    /// In: bytes available at `ptr`. Out: bytes of the result.
    pub size: u64,
    /// In: user address of the result buffer, or 0 to ask for the size.
    pub ptr: u64,
    /// In: must be zero.
    pub reserved: [u64; 2],
}

/// Result of [`QUERY_STATS`] (`struct lightos_query_stats`): module-wide counters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Contexts open now.
    pub contexts: u64,
    /// Buffer objects alive now.
    pub buffers: u64,
    /// Bytes in live buffer objects.
    pub buffer_bytes: u64,
    /// Buffer objects created since the module was loaded.
    pub buffers_created: u64,
    /// Buffer creations refused by a limit.
    pub buffer_limit_hits: u64,
    /// Zero; room for later counters.
    pub reserved: [u64; 3],
}

/// Result of [`QUERY_CONTEXT`] (`struct lightos_query_context`): the calling context.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueryContext {
    /// The context's identifier.
    pub context_id: u64,
    /// ioctls issued on it, this one included.
    pub ioctls: u64,
    /// Buffer handles it holds.
    pub buffers: u32,
    /// Zero (padding).
    pub pad: u32,
    /// Zero; room for later fields.
    pub reserved: [u64; 4],
}

const _: () = assert!(core::mem::size_of::<Query>() == 40);
const _: () = assert!(core::mem::size_of::<QueryStats>() == 64);
const _: () = assert!(core::mem::size_of::<QueryContext>() == 56);
const _: () = assert!(core::mem::size_of::<BufferCreate>() == 64);
const _: () = assert!(core::mem::size_of::<BufferInfo>() == 72);
const _: () = assert!(core::mem::size_of::<BufferDestroy>() == 24);

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
        let caps = [CAP_FDINFO, CAP_BUFFERS, CAP_DEBUGFS, CAP_QUERY];
        assert_eq!(caps.iter().fold(0, |acc, c| acc | c), CAP_ALL);
        assert_eq!(CAP_ALL.count_ones() as usize, caps.len());
    }
}
