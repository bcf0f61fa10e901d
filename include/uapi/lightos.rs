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
pub const ABI_MINOR: u32 = 13;

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
/// Query type: module-wide counters per op, as `[OpStats; OP_COUNT]` indexed by `op - 1` (ABI 1.2).
pub const QUERY_OPS: u32 = 3;
/// Query type: the registered backends, as [`QueryBackends`] (ABI 1.2).
pub const QUERY_BACKENDS: u32 = 4;
/// The largest defined query type.
pub const QUERY_MAX: u32 = QUERY_QUOTA;

/// Capability: `show_fdinfo` reports per-context state in `/proc/<pid>/fdinfo/<fd>`.
pub const CAP_FDINFO: u64 = 1 << 0;
/// Capability: buffer objects (`BUFFER_CREATE`, `BUFFER_INFO`, `BUFFER_DESTROY`, `mmap`) (ABI 1.1).
pub const CAP_BUFFERS: u64 = 1 << 1;
/// Capability: module-wide counters in `/sys/kernel/debug/lightos/stats` (ABI 1.1).
pub const CAP_DEBUGFS: u64 = 1 << 2;
/// Capability: `LIGHTOS_IOC_QUERY` with [`QUERY_STATS`] and [`QUERY_CONTEXT`] (ABI 1.1).
pub const CAP_QUERY: u64 = 1 << 3;
/// Capability: queues, `SUBMIT`, `WAIT`, completion pages and the interception chain (ABI 1.2).
pub const CAP_SUBMIT: u64 = 1 << 4;
/// Capability: userspace executors (`EXECUTOR_REGISTER`, `JOB_FETCH`, `JOB_COMPLETE`) (ABI 1.2).
pub const CAP_EXECUTORS: u64 = 1 << 5;
/// Capability: per-context routing rules and deterministic mode (`ROUTE_SET`) (ABI 1.2).
pub const CAP_ROUTING: u64 = 1 << 6;
/// Capability: buffers shared between processes as dma-buf fds (`BUFFER_EXPORT`/`IMPORT`) (ABI 1.2).
pub const CAP_EXPORT: u64 = 1 << 7;
/// Capability: [`QUERY_THERMAL`] and thermal events through [`IOC_EVENT_WAIT`] (ABI 1.4).
pub const CAP_THERMAL: u64 = 1 << 8;
/// Capability: spike-event queues (`SPIKE_QUEUE_CREATE`/`DESTROY`, `SPIKE_WAIT`, `SPIKE_NOTIFY`) (ABI 1.5).
pub const CAP_SPIKES: u64 = 1 << 9;
/// Capability: `SPIKE_QUEUE_EXPORT`/`IMPORT`, sharing a spike queue with another process (ABI 1.6).
pub const CAP_SPIKE_SHARING: u64 = 1 << 10;
/// Capability: kernel-produced spike queues, [`OP_SPIKE_ENCODE`] and [`JobComplete::produced`]
/// (ABI 1.6).
pub const CAP_SPIKE_ENCODE: u64 = 1 << 11;
/// Capability: [`IOC_POWER_SET`] and the power fields of [`ThermalInfo`] (ABI 1.7).
pub const CAP_POWER: u64 = 1 << 12;
/// Capability: [`QUERY_LAST_ERROR`], the errno and reason of this context's last rejected ioctl
/// (ABI 1.8).
pub const CAP_REASONS: u64 = 1 << 13;
/// Capability: per-uid quotas, refused with `EDQUOT`, and [`QUERY_QUOTA`] (ABI 1.9).
pub const CAP_QUOTAS: u64 = 1 << 14;
/// Submission and completion rings per queue, `RING_SETUP` and `ENTER` (ABI 1.10).
pub const CAP_RINGS: u64 = 1 << 15;
/// Dependencies between jobs ([`Primitive::deps`], [`STATUS_DEPENDENCY_FAILED`]) (ABI 1.10).
pub const CAP_DEPENDENCIES: u64 = 1 << 16;
/// Every capability bit this version of the ABI defines.
pub const CAP_ALL: u64 = CAP_FDINFO
    | CAP_BUFFERS
    | CAP_DEBUGFS
    | CAP_QUERY
    | CAP_SUBMIT
    | CAP_EXECUTORS
    | CAP_ROUTING
    | CAP_EXPORT
    | CAP_THERMAL
    | CAP_SPIKES
    | CAP_SPIKE_SHARING
    | CAP_SPIKE_ENCODE
    | CAP_POWER
    | CAP_REASONS
    | CAP_QUOTAS
    | CAP_RINGS
    | CAP_DEPENDENCIES;

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
    /// Jobs admitted and not yet completed (1.2).
    pub jobs_in_flight: u64,
    /// Zero; room for later counters.
    pub reserved: [u64; 2],
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

// ---------------------------------------------------------------------------------------------
// ABI 1.2: queues, primitive submission, completion, executors, routing.
// ---------------------------------------------------------------------------------------------

/// `LIGHTOS_IOC_QUEUE_CREATE`: create a submission queue with its own timeline (ABI 1.2).
pub const IOC_QUEUE_CREATE: u32 = iowr(IOC_NR_QUEUE_CREATE, core::mem::size_of::<QueueCreate>());
/// The number (`_IOC_NR`) of [`IOC_QUEUE_CREATE`].
pub const IOC_NR_QUEUE_CREATE: u32 = 0x05;
/// `LIGHTOS_IOC_QUEUE_DESTROY`: drop a queue; jobs not yet started are aborted (ABI 1.2).
pub const IOC_QUEUE_DESTROY: u32 = iowr(IOC_NR_QUEUE_DESTROY, core::mem::size_of::<QueueDestroy>());
/// The number (`_IOC_NR`) of [`IOC_QUEUE_DESTROY`].
pub const IOC_NR_QUEUE_DESTROY: u32 = 0x06;
/// `LIGHTOS_IOC_SUBMIT`: validate, route, account and dispatch primitives (ABI 1.2).
pub const IOC_SUBMIT: u32 = iowr(IOC_NR_SUBMIT, core::mem::size_of::<Submit>());
/// The number (`_IOC_NR`) of [`IOC_SUBMIT`].
pub const IOC_NR_SUBMIT: u32 = 0x07;
/// `LIGHTOS_IOC_WAIT`: wait until a queue's timeline reaches a sequence number (ABI 1.2).
pub const IOC_WAIT: u32 = iowr(IOC_NR_WAIT, core::mem::size_of::<Wait>());
/// The number (`_IOC_NR`) of [`IOC_WAIT`].
pub const IOC_NR_WAIT: u32 = 0x08;
/// `LIGHTOS_IOC_EXECUTOR_REGISTER`: make this context a userspace backend (ABI 1.2).
pub const IOC_EXECUTOR_REGISTER: u32 = iowr(
    IOC_NR_EXECUTOR_REGISTER,
    core::mem::size_of::<ExecutorRegister>(),
);
/// The number (`_IOC_NR`) of [`IOC_EXECUTOR_REGISTER`].
pub const IOC_NR_EXECUTOR_REGISTER: u32 = 0x09;
/// `LIGHTOS_IOC_JOB_FETCH`: an executor takes its next job (ABI 1.2).
pub const IOC_JOB_FETCH: u32 = iowr(IOC_NR_JOB_FETCH, core::mem::size_of::<JobFetch>());
/// The number (`_IOC_NR`) of [`IOC_JOB_FETCH`].
pub const IOC_NR_JOB_FETCH: u32 = 0x0a;
/// `LIGHTOS_IOC_JOB_COMPLETE`: an executor reports a job's status (ABI 1.2).
pub const IOC_JOB_COMPLETE: u32 = iowr(IOC_NR_JOB_COMPLETE, core::mem::size_of::<JobComplete>());
/// The number (`_IOC_NR`) of [`IOC_JOB_COMPLETE`].
pub const IOC_NR_JOB_COMPLETE: u32 = 0x0b;
/// `LIGHTOS_IOC_ROUTE_SET`: add a routing rule, clear the rules, or set deterministic mode (ABI 1.2).
pub const IOC_ROUTE_SET: u32 = iowr(IOC_NR_ROUTE_SET, core::mem::size_of::<RouteSet>());
/// The number (`_IOC_NR`) of [`IOC_ROUTE_SET`].
pub const IOC_NR_ROUTE_SET: u32 = 0x0c;

/// `LIGHTOS_IOC_BUFFER_EXPORT`: share a buffer as a dma-buf file descriptor (ABI 1.2).
pub const IOC_BUFFER_EXPORT: u32 = iowr(IOC_NR_BUFFER_EXPORT, core::mem::size_of::<BufferExport>());
/// The number (`_IOC_NR`) of [`IOC_BUFFER_EXPORT`].
pub const IOC_NR_BUFFER_EXPORT: u32 = 0x0d;
/// `LIGHTOS_IOC_BUFFER_IMPORT`: give a buffer exported by any context a handle in this one (ABI 1.2).
pub const IOC_BUFFER_IMPORT: u32 = iowr(IOC_NR_BUFFER_IMPORT, core::mem::size_of::<BufferImport>());
/// The number (`_IOC_NR`) of [`IOC_BUFFER_IMPORT`].
pub const IOC_NR_BUFFER_IMPORT: u32 = 0x0e;

/// `BUFFER_EXPORT` flag: the new file descriptor is close-on-exec.
pub const EXPORT_CLOEXEC: u32 = 1 << 0;

/// Argument of [`IOC_BUFFER_EXPORT`] (`struct lightos_buffer_export`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BufferExport {
    /// In: the buffer.
    pub handle: u32,
    /// In: `EXPORT_*` flags.
    pub flags: u32,
    /// Out: a dma-buf file descriptor; the buffer lives while it (or a dup) is open.
    pub fd: i32,
    /// Must be zero (padding).
    pub pad: u32,
    /// In: must be zero.
    pub reserved: [u64; 2],
}

/// Argument of [`IOC_BUFFER_IMPORT`] (`struct lightos_buffer_import`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BufferImport {
    /// In: a file descriptor from `BUFFER_EXPORT` (in this or another process).
    pub fd: i32,
    /// In: must be zero.
    pub flags: u32,
    /// Out: the buffer's handle in this context.
    pub handle: u32,
    /// Must be zero (padding).
    pub pad: u32,
    /// Out: its size in bytes.
    pub size: u64,
    /// Out: the offset to pass to `mmap`.
    pub mmap_offset: u64,
    /// In: must be zero.
    pub reserved: [u64; 2],
}

/// Op: `out[M,N] = a[M,K] · b[K,N]` (2-D, or 3-D with a shared leading batch dimension). With
/// i8/FP8 inputs and a float output (ABI 1.7): `params[0]` (A) and `params[1]` (B) each hold an f32
/// scale's bits in the low word and an i32 zero point in the high word, and an optional third input
/// holds B's f32 scales per output column `[N]` (B's scale word then 0); all zero: the raw sums.
pub const OP_MATMUL: u16 = 1;
/// Op: 2-D convolution, NCHW input `[N,C,H,W]`, weights `[O,C,KH,KW]`, optional bias `[O]`;
/// `params[0]` = stride (0 means 1), `params[1]` = padding.
pub const OP_CONV2D: u16 = 2;
/// Op: softmax over one axis of its input: `params[0]` = 0 for the last (as before 1.13), or (ABI
/// 1.13) the axis plus one (1 to `ndim`).
pub const OP_SOFTMAX: u16 = 3;
/// Op: layer normalisation over the last dimension `[.., D]`, optional gamma `[D]` and beta `[D]`;
/// `params[0]` low 32 bits = epsilon as `f32` bits (0 means 1e-5).
pub const OP_LAYERNORM: u16 = 4;
/// Op: scaled dot-product attention, `q[B,S,D]`, `k[B,T,D]`, `v[B,T,E]` → `out[B,S,E]`;
/// `params[0]` low 32 bits = scale as `f32` bits (0 means 1/sqrt(D)); flag [`PRIM_CAUSAL`].
pub const OP_ATTENTION: u16 = 5;
/// Op: GELU (tanh approximation), element-wise; may run in place.
pub const OP_GELU: u16 = 6;
/// Op: ReLU, element-wise; may run in place.
pub const OP_RELU: u16 = 7;
/// Op: element-wise sum of two same-shaped tensors; may run in place.
pub const OP_ADD: u16 = 8;
/// Op: element-wise product of two same-shaped tensors; may run in place.
pub const OP_MUL: u16 = 9;
/// Op: float → `i8`/`fp8`: `q = round(x / scale) + zero_point`; `params[0]` = scale (`f32` bits),
/// `params[1]` = zero point (`i32`).
pub const OP_QUANTIZE: u16 = 10;
/// Op: `i8`/`fp8` → float: `x = (q - zero_point) * scale`; params as [`OP_QUANTIZE`].
pub const OP_DEQUANTIZE: u16 = 11;
/// Op: copy a tensor into another of the same dtype and element count (no overlap).
pub const OP_COPY: u16 = 12;
/// Op (ABI 1.6): encode `f32` values as spikes into a kernel-produced spike queue. The output
/// operand (dtype [`DTYPE_SPIKE_EVENT`], 1-D) is the staging area the backend writes the events
/// to; at completion the kernel copies them into the queue. `params[0]` = queue id;
/// `params[1]` = `SPIKE_ENCODE_*` encoding | `SPIKE_ENCODE_F_*` flags | steps << 32;
/// `params[2]` = `f32` bits: low word gain (rate) or threshold (latency, delta), high word offset
/// (rate) or tau (latency); `params[3]` = channel (low 16 bits) | step duration in ns << 32;
/// `seed` drives rate coding. See docs/ABI.md.
pub const OP_SPIKE_ENCODE: u16 = 13;
/// Op (ABI 1.11): 2-D pooling of an NCHW input `[N,C,H,W]` into `[N,C,OH,OW]`, max or average,
/// as ONNX's MaxPool/AveragePool define it (global pooling is a kernel of the whole plane).
/// `params[0]` = kernel height | kernel width << 16 | stride height << 32 | stride width << 48;
/// `params[1]` = padding top | left << 16 | bottom << 32 | right << 48; `params[2]` = dilation
/// height | dilation width << 16 | `POOL_*` mode << 32 | [`POOL_CEIL`]; every other bit 0.
/// Kernel, stride and dilation from 1 to [`POOL_MAX_PARAM`], padding up to it.
pub const OP_POOL2D: u16 = 14;
/// Op (ABI 1.12): local response normalization across channels of `x[N,C,…]` (2 to 4 dims),
/// as ONNX's LRN defines it: `out = x / (bias + alpha/size · Σ x²)^beta`, the sum over the
/// `size` channels centred on each one (`⌊(size−1)/2⌋` before, `⌈(size−1)/2⌉` after), clipped at
/// the edges. `params[0]` = size (1 to [`LRN_MAX_SIZE`]); `params[1]` = alpha | beta << 32 (f32
/// bits; alpha ≥ 0, beta finite); `params[2]` = bias (f32 bits, > 0, finite).
pub const OP_LRN: u16 = 15;
/// Op (ABI 1.13): an element-wise function of one float tensor into one shaped as it (any
/// strides); `params[0]` = a `UNARY_*` function. May run in place.
pub const OP_UNARY: u16 = 16;
/// Op (ABI 1.13): an element-wise function of two float tensors of one shape (numpy broadcasting
/// is a stride-0 operand) into one shaped as them; `params[0]` = a `BINARY_*` function. May run
/// in place.
pub const OP_BINARY: u16 = 17;
/// Op (ABI 1.13): a reduction of a float tensor over some of its axes; the output has the input's
/// dimensions with each reduced one 1 (ONNX's `keepdims`). `params[0]` = a `REDUCE_*` kind,
/// `params[1]` = the axes as a bit mask (bit `i` for axis `i`; not zero, no bit at or past `ndim`).
pub const OP_REDUCE: u16 = 18;
/// Op (ABI 1.13): gather, ONNX's `Gather`: `out = data` indexed along `params[0]` (an axis of
/// `data`) by the second input, whose elements are always `i64` (whatever `dtype`, which is
/// `data`'s) and may count from the end (−size to size−1); `out` has `data`'s dimensions before
/// the axis, then the indices', then `data`'s after it. An index out of range fails the job.
pub const OP_GATHER: u16 = 19;
/// The number of ops; op numbers run from 1 to this.
pub const OP_COUNT: usize = 19;
/// The number of ops before ABI 1.6 (`QUERY_OPS` accepts room for this many).
pub const OP_COUNT_1_2: usize = 12;

/// [`OP_MATMUL`] `params[2]` (ABI 1.11): apply ReLU to the result (after the bias), a float
/// MATMUL's epilogue. A float MATMUL's third input (1.11) is a bias `[N]` of its dtype, added to
/// every row; a quantized one's is its per-column scales (1.7).
pub const MATMUL_EPILOGUE_RELU: u64 = 1;

/// The four 16-bit fields of a parameter word ([`OP_POOL2D`], the extended [`OP_CONV2D`]), lowest
/// first.
pub const fn param_fields(word: u64) -> [u64; 4] {
    [
        word & 0xffff,
        (word >> 16) & 0xffff,
        (word >> 32) & 0xffff,
        word >> 48,
    ]
}

/// A parameter word of four 16-bit fields, lowest first (the inverse of [`param_fields`]).
pub const fn param_word(fields: [u16; 4]) -> u64 {
    fields[0] as u64
        | (fields[1] as u64) << 16
        | (fields[2] as u64) << 32
        | (fields[3] as u64) << 48
}

/// [`OP_CONV2D`] `params[2]` flag (ABI 1.11): the extended form, ONNX's Conv. Then `params[0]` =
/// stride height | stride width << 16 | dilation height << 32 | dilation width << 48 (each 1 to
/// [`CONV2D_MAX_PARAM`]); `params[1]` = padding top | left << 16 | bottom << 32 | right << 48 (each
/// up to it); `params[2]` = groups (low 16 bits, at least 1, dividing both the input's and the
/// output's channels) | [`CONV2D_EPILOGUE_RELU`] | this flag; weights `[O, C/groups, KH, KW]`.
pub const CONV2D_EXTENDED: u64 = 1 << 63;
/// [`OP_CONV2D`] extended `params[2]` flag: apply ReLU to the result (after the bias).
pub const CONV2D_EPILOGUE_RELU: u64 = 1 << 16;
/// The largest stride, dilation and padding of an extended [`OP_CONV2D`].
pub const CONV2D_MAX_PARAM: u64 = 4096;

/// [`OP_UNARY`] function: `e^x`.
pub const UNARY_EXP: u64 = 1;
/// [`OP_UNARY`] function: `tanh x`.
pub const UNARY_TANH: u64 = 2;
/// [`OP_UNARY`] function: `1 / (1 + e^−x)`.
pub const UNARY_SIGMOID: u64 = 3;
/// [`OP_UNARY`] function: `√x` (NaN below zero, as IEEE 754 has it).
pub const UNARY_SQRT: u64 = 4;
/// [`OP_UNARY`] function: the error function `erf x`.
pub const UNARY_ERF: u64 = 5;
/// [`OP_UNARY`] function: `1 / x`.
pub const UNARY_RECIPROCAL: u64 = 6;
/// [`OP_UNARY`] function: `−x`.
pub const UNARY_NEG: u64 = 7;
/// The largest `UNARY_*` function.
pub const UNARY_MAX: u64 = UNARY_NEG;

/// [`OP_BINARY`] function: `a − b`.
pub const BINARY_SUB: u64 = 1;
/// [`OP_BINARY`] function: `a / b`.
pub const BINARY_DIV: u64 = 2;
/// [`OP_BINARY`] function: the larger of `a` and `b` (NaN if either is).
pub const BINARY_MAX: u64 = 3;
/// [`OP_BINARY`] function: the smaller of `a` and `b` (NaN if either is).
pub const BINARY_MIN: u64 = 4;
/// [`OP_BINARY`] function: `a` to the power `b`.
pub const BINARY_POW: u64 = 5;
/// The largest `BINARY_*` function.
pub const BINARY_MAX_FN: u64 = BINARY_POW;

/// [`OP_REDUCE`] kind: the sum.
pub const REDUCE_SUM: u64 = 1;
/// [`OP_REDUCE`] kind: the mean.
pub const REDUCE_MEAN: u64 = 2;
/// [`OP_REDUCE`] kind: the maximum (NaN if any element is).
pub const REDUCE_MAX: u64 = 3;
/// The largest `REDUCE_*` kind.
pub const REDUCE_MAX_KIND: u64 = REDUCE_MAX;

/// The largest window of [`OP_LRN`].
pub const LRN_MAX_SIZE: u64 = 4096;

/// [`OP_POOL2D`] mode: the maximum of each window (padding never wins).
pub const POOL_MAX: u64 = 0;
/// [`OP_POOL2D`] mode: the mean of the window's elements inside the input.
pub const POOL_AVG: u64 = 1;
/// [`OP_POOL2D`] mode: the mean over the whole window, padding counted as zeros
/// (`count_include_pad`).
pub const POOL_AVG_INCLUDE_PAD: u64 = 2;
/// [`OP_POOL2D`] `params[2]` flag: round the output size up (ONNX `ceil_mode`).
pub const POOL_CEIL: u64 = 1 << 40;
/// The largest kernel size, stride, dilation and padding of [`OP_POOL2D`].
pub const POOL_MAX_PARAM: u64 = 4096;

/// [`OP_SPIKE_ENCODE`] encoding: rate (Bernoulli per step, snnTorch `spikegen.rate`).
pub const SPIKE_ENCODE_RATE: u64 = 1;
/// [`OP_SPIKE_ENCODE`] encoding: latency (one spike per input, snnTorch `spikegen.latency`).
pub const SPIKE_ENCODE_LATENCY: u64 = 2;
/// [`OP_SPIKE_ENCODE`] encoding: delta (input `[steps, neurons]`, snnTorch `spikegen.delta`).
pub const SPIKE_ENCODE_DELTA: u64 = 3;
/// [`OP_SPIKE_ENCODE`] flag: linear latency code.
pub const SPIKE_ENCODE_F_LINEAR: u64 = 1 << 8;
/// [`OP_SPIKE_ENCODE`] flag: normalise the latency code to the whole window.
pub const SPIKE_ENCODE_F_NORMALIZE: u64 = 1 << 9;
/// [`OP_SPIKE_ENCODE`] flag: no spike for latency inputs below the threshold.
pub const SPIKE_ENCODE_F_CLIP: u64 = 1 << 10;
/// [`OP_SPIKE_ENCODE`] flag: delta off-spikes (value −1).
pub const SPIKE_ENCODE_F_OFF_SPIKE: u64 = 1 << 11;
/// [`OP_SPIKE_ENCODE`] flag: delta compares the first step with itself.
pub const SPIKE_ENCODE_F_PADDING: u64 = 1 << 12;
/// Most time steps one [`OP_SPIKE_ENCODE`] may ask for.
pub const SPIKE_ENCODE_MAX_STEPS: u64 = 65_536;

/// Dtype: IEEE 754 binary32.
pub const DTYPE_F32: u8 = 1;
/// Dtype: IEEE 754 binary16.
pub const DTYPE_F16: u8 = 2;
/// Dtype: bfloat16.
pub const DTYPE_BF16: u8 = 3;
/// Dtype: signed 8-bit integer.
pub const DTYPE_I8: u8 = 4;
/// Dtype: 8-bit float, OCP FP8 E4M3.
pub const DTYPE_FP8_E4M3: u8 = 5;
/// Dtype (ABI 1.6): a 16-byte [`SpikeEvent`]; only the output of [`OP_SPIKE_ENCODE`].
pub const DTYPE_SPIKE_EVENT: u8 = 6;
/// The largest defined dtype.
pub const DTYPE_MAX: u8 = DTYPE_SPIKE_EVENT;

/// Rounding mode: round to nearest, ties to even (the default).
pub const ROUND_NEAREST_EVEN: u8 = 0;
/// Rounding mode: toward zero.
pub const ROUND_TOWARD_ZERO: u8 = 1;
/// Rounding mode: stochastic, driven by the primitive's `seed`.
pub const ROUND_STOCHASTIC: u8 = 2;
/// The largest defined rounding mode.
pub const ROUND_MAX: u8 = ROUND_STOCHASTIC;

/// Primitive flag: the result must be bit-reproducible; only a backend that declares determinism
/// for this op may run it (`EOPNOTSUPP` otherwise).
pub const PRIM_DETERMINISTIC: u32 = 1 << 0;
/// Primitive flag ([`OP_ATTENTION`] only): causal mask.
pub const PRIM_CAUSAL: u32 = 1 << 1;
/// Every primitive flag this version defines.
pub const PRIM_FLAGS_ALL: u32 = PRIM_DETERMINISTIC | PRIM_CAUSAL;

/// The most dimensions a tensor has.
pub const MAX_DIMS: usize = 4;
/// The most operands (inputs and the output) of a primitive.
pub const MAX_OPERANDS: usize = 4;
/// The most primitives one `SUBMIT` carries.
pub const MAX_SUBMIT: u32 = 256;
/// The most jobs a queue has in flight (submitted, not completed); beyond it `SUBMIT` fails `EBUSY`.
pub const MAX_QUEUE_INFLIGHT: u32 = 1024;
/// The most queues a context holds.
pub const MAX_QUEUES_PER_CONTEXT: u32 = 64;
/// The most elements along one dimension.
pub const MAX_DIM_SIZE: u64 = 1 << 32;
/// The most routing rules a context holds.
pub const MAX_ROUTES: u32 = 32;
/// The most executors registered at once, module-wide.
pub const MAX_EXECUTORS: u32 = 16;
/// Length of a backend name, including its terminating NUL.
pub const BACKEND_NAME_LEN: usize = 32;

/// Queue priorities: `QueueCreate::priority` is 0 (lowest) to this.
pub const QUEUE_PRIORITY_MAX: u32 = 3;
/// Default job timeout when `QueueCreate::timeout_ms` is 0.
pub const DEFAULT_JOB_TIMEOUT_MS: u32 = 10_000;
/// Largest job timeout.
pub const MAX_JOB_TIMEOUT_MS: u32 = 600_000;
/// Entries in a completion page's status ring (a power of two).
pub const COMPLETION_RING_ENTRIES: usize = 128;
/// The mmap cookie of a queue's completion page is `queue_id << MMAP_HANDLE_SHIFT | this`.
pub const MMAP_COMPLETION_PAGE: u64 = 1 << 31;

/// Job status: completed successfully.
pub const STATUS_OK: u32 = 0;
/// Job status: the backend found the primitive invalid (the kernel's checks passed).
pub const STATUS_INVALID: u32 = 1;
/// Job status: not completed within the queue's timeout.
pub const STATUS_TIMEOUT: u32 = 2;
/// Job status: aborted before it ran (queue destroyed, file closed).
pub const STATUS_ABORTED: u32 = 3;
/// Job status: aborted by a device's thermal protection.
pub const STATUS_THERMAL_ABORT: u32 = 4;
/// Job status: its backend went away (an executor exited, a device was lost).
pub const STATUS_DEVICE_LOST: u32 = 5;
/// Job status: the device misbehaved (a corrupt completion, a command it refused) and was reset.
pub const STATUS_DEVICE_ERROR: u32 = 6;
/// A job this one depended on ended with a status other than OK: this one did not run (ABI 1.10).
pub const STATUS_DEPENDENCY_FAILED: u32 = 7;
/// The largest defined job status.
pub const STATUS_MAX: u32 = STATUS_DEPENDENCY_FAILED;
/// Completion entry status of a job still in flight.
pub const STATUS_PENDING: u32 = 0xffff_fffe;
/// `WAIT` status of a job so old that its entry left the completion ring.
pub const STATUS_UNKNOWN: u32 = 0xffff_ffff;

/// `WAIT`/`JOB_FETCH` timeout meaning "block until done".
pub const TIMEOUT_INFINITE: u64 = u64::MAX;

/// Backend identifier meaning "any backend that supports the primitive" in a routing rule.
pub const BACKEND_ANY: u32 = 0;

/// Argument of [`IOC_QUEUE_CREATE`] (`struct lightos_queue_create`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCreate {
    /// In: must be zero (no flags are defined).
    pub flags: u32,
    /// In: 0 (lowest) to [`QUEUE_PRIORITY_MAX`]; executors take higher-priority jobs first.
    pub priority: u32,
    /// In: job timeout in milliseconds, 0 for [`DEFAULT_JOB_TIMEOUT_MS`], at most [`MAX_JOB_TIMEOUT_MS`].
    pub timeout_ms: u32,
    /// Out: the queue's identifier in this context (never 0).
    pub queue_id: u32,
    /// Out: the mmap offset of the queue's read-only completion page ([`CompletionPage`]).
    pub completion_offset: u64,
    /// In: must be zero.
    pub reserved: [u64; 3],
}

/// Argument of [`IOC_QUEUE_DESTROY`] (`struct lightos_queue_destroy`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDestroy {
    /// In: the queue to destroy.
    pub queue_id: u32,
    /// In: must be zero.
    pub flags: u32,
    /// In: must be zero.
    pub reserved: [u64; 2],
}

/// One operand of a primitive (`struct lightos_tensor`): a strided view into a buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tensor {
    /// The buffer's handle in the submitting context.
    pub buffer: u32,
    /// Number of dimensions, 1 to [`MAX_DIMS`].
    pub ndim: u32,
    /// Byte offset of element 0 in the buffer; a multiple of the element size.
    pub offset: u64,
    /// Elements along each dimension (outermost first); unused dimensions must be 0.
    pub shape: [u64; MAX_DIMS],
    /// Stride of each dimension in elements; all zero means contiguous row-major.
    pub strides: [u64; MAX_DIMS],
}

/// A compute primitive (`struct lightos_primitive`), as `SUBMIT` carries and `JOB_FETCH` returns.
///
/// Operands `0..n_inputs` are the inputs and operand `n_inputs` is the output; the rest must be zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Primitive {
    /// An `OP_*` value.
    pub op: u16,
    /// The inputs' `DTYPE_*`.
    pub dtype: u8,
    /// The output's `DTYPE_*`, or 0 for the same as `dtype`.
    pub out_dtype: u8,
    /// How many inputs the primitive has (the op fixes the allowed counts).
    pub n_inputs: u8,
    /// A `ROUND_*` mode.
    pub rounding: u8,
    /// Must be zero (padding).
    pub pad: u16,
    /// `PRIM_*` flags.
    pub flags: u32,
    /// Must be zero (padding).
    pub pad2: u32,
    /// Opaque to the kernel; returned to the executor with the job.
    pub user_data: u64,
    /// Seed for stochastic rounding or any randomness the op uses (determinism metadata).
    pub seed: u64,
    /// Op-specific parameters (see each `OP_*`); unused ones must be zero.
    pub params: [u64; 4],
    /// The operands.
    pub operands: [Tensor; MAX_OPERANDS],
    /// In (ABI 1.10): user address of `n_deps` [`Dependency`] entries, the jobs this one waits
    /// for; 0 when `n_deps` is 0. Zero in what `JOB_FETCH` returns.
    pub deps: u64,
    /// In (ABI 1.10): how many dependencies, 0 to [`MAX_DEPS`]. Zero in what `JOB_FETCH` returns.
    pub n_deps: u32,
    /// Must be zero (padding).
    pub pad3: u32,
}

impl Primitive {
    /// The output's `DTYPE_*`: `out_dtype`, or `dtype` where `out_dtype` is 0 (the ABI's one rule
    /// for it, used by the kernel's validation, the photonic driver and every backend).
    pub const fn output_dtype(&self) -> u8 {
        if self.out_dtype == 0 {
            self.dtype
        } else {
            self.out_dtype
        }
    }
}

/// Argument of [`IOC_SUBMIT`] (`struct lightos_submit`).
///
/// The primitives are copied from `prims` once, all validated, routed and accounted, and only then
/// dispatched: a rejected batch has no effect, and `error_index` names the first bad primitive.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Submit {
    /// In: the queue.
    pub queue_id: u32,
    /// In: number of primitives at `prims`, 1 to [`MAX_SUBMIT`].
    pub count: u32,
    /// In: must be zero.
    pub flags: u32,
    /// Out: on a rejection, the index of the primitive that caused it (`count` if none did).
    pub error_index: u32,
    /// In: user address of `count` [`Primitive`]s.
    pub prims: u64,
    /// Out: sequence number of the first primitive; they are consecutive.
    pub first_seq: u64,
    /// Out: sequence number of the last primitive (wait for this one).
    pub last_seq: u64,
    /// In: must be zero.
    pub reserved: [u64; 2],
}

/// Argument of [`IOC_WAIT`] (`struct lightos_wait`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wait {
    /// In: the queue.
    pub queue_id: u32,
    /// In: must be zero.
    pub flags: u32,
    /// In: the sequence number to wait for (at most the last one submitted).
    pub seq: u64,
    /// In: absolute `CLOCK_MONOTONIC` deadline in ns; [`TIMEOUT_INFINITE`] blocks until done; a past
    /// deadline only polls. Expiry: `ETIMEDOUT`.
    pub timeout_ns: u64,
    /// Out: the job's `STATUS_*` ([`STATUS_UNKNOWN`] when it left the completion ring).
    pub status: u32,
    /// Must be zero (padding).
    pub pad: u32,
    /// Out: the queue's timeline: every job up to this sequence number is complete.
    pub completed_seq: u64,
    /// In: must be zero.
    pub reserved: [u64; 2],
}

/// One entry of a completion page's status ring (`struct lightos_completion_entry`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompletionEntry {
    /// The sequence number this entry describes (entry index = `seq % COMPLETION_RING_ENTRIES`).
    pub seq: u64,
    /// Its `STATUS_*` (or [`STATUS_PENDING`]).
    pub status: u32,
    /// Zero.
    pub pad: u32,
}

/// The read-only completion page of a queue (`struct lightos_completion_page`), mapped with the
/// `completion_offset` of `QUEUE_CREATE`. The kernel writes the entry, then (release) `completed_seq`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletionPage {
    /// Every job up to this sequence number is complete (read it with acquire ordering).
    pub completed_seq: u64,
    /// The last sequence number submitted.
    pub submitted_seq: u64,
    /// Jobs of this queue that completed with a status other than OK.
    pub errors: u64,
    /// [`COMPLETION_RING_ENTRIES`].
    pub ring_entries: u32,
    /// Zero.
    pub pad: u32,
    /// Zero.
    pub reserved: [u64; 4],
    /// The status of the last [`COMPLETION_RING_ENTRIES`] sequence numbers.
    pub ring: [CompletionEntry; COMPLETION_RING_ENTRIES],
}

/// Argument of [`IOC_EXECUTOR_REGISTER`] (`struct lightos_executor_register`).
///
/// The calling context becomes a backend until it is closed; its in-flight jobs then fail with
/// [`STATUS_DEVICE_LOST`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecutorRegister {
    /// In: NUL-terminated name, unique among backends (e.g. `"cpu0"`).
    pub name: [u8; BACKEND_NAME_LEN],
    /// In: ops it runs, bit `op` set for each `OP_*`.
    pub ops: u64,
    /// In: ops whose results it guarantees bit-reproducible (a subset of `ops`).
    pub deterministic_ops: u64,
    /// In: dtypes it accepts, bit `dtype` set for each `DTYPE_*`.
    pub dtypes: u32,
    /// In: must be zero.
    pub flags: u32,
    /// Out: the backend identifier routing rules name (never 0).
    pub backend_id: u32,
    /// Must be zero (padding).
    pub pad: u32,
    /// In: must be zero.
    pub reserved: [u64; 2],
}

/// `JOB_FETCH` flag: do not block when no job is ready (`EAGAIN`).
pub const FETCH_NONBLOCK: u32 = 1 << 0;

/// Argument of [`IOC_JOB_FETCH`] (`struct lightos_job_fetch`).
///
/// The job's operand buffers are given handles in the executor's own context for the job's
/// duration (`handles[i]` for operand `i`); the executor maps them with their usual mmap cookie.
/// The primitive's `operands[i].buffer` fields are rewritten to those handles.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobFetch {
    /// In: `FETCH_*` flags.
    pub flags: u32,
    /// Must be zero (padding).
    pub pad: u32,
    /// In: absolute `CLOCK_MONOTONIC` deadline in ns, or [`TIMEOUT_INFINITE`]. Expiry: `ETIMEDOUT`.
    pub timeout_ns: u64,
    /// Out: the job's identifier, passed back to `JOB_COMPLETE`.
    pub job_id: u64,
    /// Out: the primitive, operand handles translated into this context.
    pub prim: Primitive,
    /// In: must be zero.
    pub reserved: [u64; 2],
}

/// Argument of [`IOC_JOB_COMPLETE`] (`struct lightos_job_complete`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobComplete {
    /// In: the job.
    pub job_id: u64,
    /// In: `STATUS_OK`, `STATUS_INVALID` or `STATUS_THERMAL_ABORT`.
    pub status: u32,
    /// In: must be zero.
    pub flags: u32,
    /// In (ABI 1.6): events written to the output of an [`OP_SPIKE_ENCODE`] job (at most its
    /// length), which the kernel then produces into the queue; 0 for every other op.
    pub produced: u32,
    /// In: must be zero.
    pub pad: u32,
    /// In: must be zero.
    pub reserved: [u64; 1],
}

/// `ROUTE_SET` flag: remove every rule of this context before adding (a rule of all zeros only clears).
pub const ROUTE_CLEAR: u32 = 1 << 0;
/// `ROUTE_SET` flag: set this context's deterministic mode from `deterministic`.
pub const ROUTE_SET_MODE: u32 = 1 << 1;
/// Every `ROUTE_*` flag.
pub const ROUTE_FLAGS_ALL: u32 = ROUTE_CLEAR | ROUTE_SET_MODE;

/// Argument of [`IOC_ROUTE_SET`] (`struct lightos_route_set`).
///
/// Rules are tried in the order they were added; the first whose op, dtype and byte range match the
/// primitive picks its backend. No match (or no rules): the first backend that supports the op.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteSet {
    /// In: `ROUTE_*` flags.
    pub flags: u32,
    /// In: the backend this rule routes to, or [`BACKEND_ANY`].
    pub backend_id: u32,
    /// In: the op this rule matches, or 0 for any.
    pub op: u16,
    /// In: the dtype it matches, or 0 for any.
    pub dtype: u8,
    /// In (with [`ROUTE_SET_MODE`]): 1 makes every primitive of this context deterministic, 0 not.
    pub deterministic: u8,
    /// Must be zero (padding).
    pub pad: u32,
    /// In: the smallest total operand size in bytes this rule matches.
    pub min_bytes: u64,
    /// In: the largest, or 0 for no limit.
    pub max_bytes: u64,
    /// Out: the number of rules now.
    pub rules: u32,
    /// Must be zero (padding).
    pub pad2: u32,
    /// In: must be zero.
    pub reserved: [u64; 2],
}

/// Buckets of a latency histogram: bucket `i` counts latencies below `2^i` µs (the last: the rest).
pub const LATENCY_BUCKETS: usize = 16;

/// Counters of one op or one backend (`struct lightos_op_stats`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpStats {
    /// Primitives accepted.
    pub count: u64,
    /// Floating-point (or integer) operations they represent, by the op's formula.
    pub flops: u64,
    /// Operand bytes they named.
    pub bytes: u64,
    /// Primitives rejected, or completed with a status other than OK.
    pub errors: u64,
    /// Submit-to-completion latencies, log2 µs buckets.
    pub latency_us_log2: [u64; LATENCY_BUCKETS],
}

/// One backend in [`QueryBackends`] (`struct lightos_backend_info`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendInfo {
    /// NUL-terminated name.
    pub name: [u8; BACKEND_NAME_LEN],
    /// Identifier for routing rules.
    pub backend_id: u32,
    /// `BACKEND_KIND_*`.
    pub kind: u32,
    /// Ops it runs (bit per op).
    pub ops: u64,
    /// Ops it runs bit-reproducibly.
    pub deterministic_ops: u64,
    /// Dtypes it accepts (bit per dtype).
    pub dtypes: u32,
    /// Jobs queued to it now, not yet started.
    pub queued: u32,
    /// Jobs it is running now.
    pub running: u32,
    /// Zero (padding).
    pub pad: u32,
    /// Its counters.
    pub stats: OpStats,
}

/// Backend kind: a userspace executor process.
pub const BACKEND_KIND_EXECUTOR: u32 = 1;
/// Backend kind: a device driven by a kernel driver.
pub const BACKEND_KIND_DEVICE: u32 = 2;

/// Result of [`QUERY_BACKENDS`] (`struct lightos_query_backends`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryBackends {
    /// How many entries of `backends` are valid.
    pub count: u32,
    /// Zero (padding).
    pub pad: u32,
    /// The backends.
    pub backends: [BackendInfo; MAX_EXECUTORS as usize],
}

/// `LIGHTOS_IOC_EVENT_WAIT`: read device events (thermal guard transitions), waiting for one when
/// none is newer than the caller's last (ABI 1.4).
pub const IOC_EVENT_WAIT: u32 = iowr(IOC_NR_EVENT_WAIT, core::mem::size_of::<EventWait>());
/// The number (`_IOC_NR`) of [`IOC_EVENT_WAIT`].
pub const IOC_NR_EVENT_WAIT: u32 = 0x0f;
/// `QUERY` type: the thermal guard of every device that has one, [`QueryThermal`] (ABI 1.4).
pub const QUERY_THERMAL: u32 = 5;

/// Thermal guard state: laser unrestricted.
pub const THERMAL_NORMAL: u32 = 0;
/// Thermal guard state: laser power throttled.
pub const THERMAL_THROTTLE: u32 = 1;
/// Thermal guard state: emergency shutdown, laser off, jobs refused with `THERMAL_ABORT`.
pub const THERMAL_SHUTDOWN: u32 = 2;
/// Thermal guard state: the device stopped answering.
pub const THERMAL_LOST: u32 = 3;
/// Number of thermal guard states.
pub const THERMAL_STATES: usize = 4;
/// Buckets of [`ThermalInfo::lateness_hist`].
pub const LATENESS_BUCKETS: usize = 16;
/// Upper bounds (µs, exclusive) of the first 15 lateness buckets; the last bucket takes the rest.
pub const LATENESS_BOUNDS_US: [u64; LATENESS_BUCKETS - 1] = [
    5, 10, 20, 50, 100, 150, 200, 300, 400, 500, 750, 1000, 2000, 5000, 10_000,
];
/// Most devices [`QueryThermal`] describes.
pub const MAX_THERMAL_DEVICES: usize = 8;

/// One device's thermal guard (`struct lightos_thermal_info`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThermalInfo {
    /// The backend's NUL-terminated name.
    pub name: [u8; BACKEND_NAME_LEN],
    /// The backend's identifier.
    pub backend_id: u32,
    /// A `THERMAL_*` state.
    pub state: u32,
    /// Chip temperature at the last guard tick (m°C).
    pub temp_mc: i32,
    /// Highest temperature seen since the driver bound (m°C).
    pub max_temp_mc: i32,
    /// Laser power limit the guard imposes now (mW).
    pub laser_limit_mw: u32,
    /// TEC drive the guard commands now (‰).
    pub tec_permille: u32,
    /// Throttling starts at this temperature (m°C).
    pub throttle_mc: i32,
    /// Emergency shutdown at this temperature (m°C).
    pub shutdown_mc: i32,
    /// Restart after a shutdown below this temperature (m°C).
    pub restart_mc: i32,
    /// Zero (padding).
    pub pad: u32,
    /// The guard's period (ns).
    pub period_ns: u64,
    /// Ticks run.
    pub ticks: u64,
    /// Ticks skipped because the timer ran a period or more late.
    pub missed: u64,
    /// Worst lateness of a tick against its programmed expiry (ns).
    pub worst_late_ns: u64,
    /// Tick lateness histogram; bucket bounds in [`LATENESS_BOUNDS_US`].
    pub lateness_hist: [u64; LATENESS_BUCKETS],
    /// Entries into THROTTLE.
    pub throttles: u64,
    /// Emergency shutdowns.
    pub shutdowns: u64,
    /// Restarts after a shutdown.
    pub restarts: u64,
    /// Time spent in each state (ms of guard ticks), indexed by `THERMAL_*`.
    pub time_in_state_ms: [u64; THERMAL_STATES],
    /// Time from the last shutdown trip to the device reporting its laser off (ns; 0: none yet).
    pub last_trip_to_off_ns: u64,
    /// Worst such time (ns).
    pub worst_trip_to_off_ns: u64,
    /// Laser cap set by [`IOC_POWER_SET`] (mW; [`LASER_MAX_MW`]: none) (ABI 1.7).
    pub laser_cap_mw: u32,
    /// Least TEC drive set by [`IOC_POWER_SET`] (‰) (ABI 1.7).
    pub tec_floor_permille: u32,
    /// Laser power the device reports now (mW) (ABI 1.7).
    pub laser_mw: u32,
    /// Laser, heater and compute power the device reports now (mW) (ABI 1.7).
    pub power_mw: u32,
    /// Zero.
    pub reserved: [u64; 2],
}

/// The laser's full power, and the value of [`ThermalInfo::laser_cap_mw`] with no cap (mW).
pub const LASER_MAX_MW: u32 = 5000;
/// The lowest laser cap [`IOC_POWER_SET`] accepts (a cap never turns the laser off) (mW).
pub const LASER_CAP_MIN_MW: u32 = 100;
/// [`PowerSet::flags`]: apply `laser_cap_mw`.
pub const POWER_SET_LASER_CAP: u32 = 1 << 0;
/// [`PowerSet::flags`]: apply `tec_floor_permille`.
pub const POWER_SET_TEC_FLOOR: u32 = 1 << 1;

/// Argument of [`IOC_POWER_SET`] (`struct lightos_power_set`): a device's power controls, in force
/// until changed or the driver unbinds; the thermal guard keeps the last word (laser at
/// `min(cap, guard limit)`, TEC at `max(floor, guard drive)`). Needs `CAP_SYS_ADMIN`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PowerSet {
    /// In: a device with a thermal guard.
    pub backend_id: u32,
    /// In: `POWER_SET_*`, at least one.
    pub flags: u32,
    /// In: [`LASER_CAP_MIN_MW`]..=[`LASER_MAX_MW`].
    pub laser_cap_mw: u32,
    /// In: 0..=1000.
    pub tec_floor_permille: u32,
    /// In: must be zero.
    pub reserved: [u64; 2],
}

/// Result of [`QUERY_THERMAL`] (`struct lightos_query_thermal`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryThermal {
    /// How many entries of `devices` are valid.
    pub count: u32,
    /// Zero (padding).
    pub pad: u32,
    /// Sequence number of the newest event (0: none yet): pass it to `EVENT_WAIT` to wait for
    /// events from now on.
    pub last_event_seq: u64,
    /// The devices.
    pub devices: [ThermalInfo; MAX_THERMAL_DEVICES],
}

/// Event: the guard started throttling the laser (temperature at or above the throttle point).
pub const EVENT_THROTTLE: u32 = 1;
/// Event: throttling ended, the laser limit is back to its maximum.
pub const EVENT_THROTTLE_END: u32 = 2;
/// Event: emergency shutdown, laser off, jobs aborted.
pub const EVENT_SHUTDOWN: u32 = 3;
/// Event: the device cooled below the restart point after a shutdown; jobs run again.
pub const EVENT_RESTART: u32 = 4;
/// Event: the device stopped answering; its jobs end `DEVICE_LOST` and it leaves the backends.
pub const EVENT_DEVICE_LOST: u32 = 5;
/// Event: the device latched its own over-temperature fault (the guard failed to hold it).
pub const EVENT_FAULT_LATCHED: u32 = 6;
/// Events the module keeps; older ones are counted as `lost` by a reader that falls behind.
pub const EVENT_LOG_ENTRIES: u32 = 256;

/// One device event (`struct lightos_event`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// Module-wide sequence number, from 1, consecutive.
    pub seq: u64,
    /// When it happened (`CLOCK_MONOTONIC` ns).
    pub time_ns: u64,
    /// The backend it concerns.
    pub backend_id: u32,
    /// An `EVENT_*`.
    pub kind: u32,
    /// Chip temperature then (m°C).
    pub temp_mc: i32,
    /// Laser power limit then (mW).
    pub laser_limit_mw: u32,
}

/// Argument of [`IOC_EVENT_WAIT`] (`struct lightos_event_wait`).
///
/// Returns at once the events newer than `after_seq` (up to `capacity`); when there are none,
/// sleeps until one happens (`ETIMEDOUT` at the deadline, `EINTR` on a signal).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventWait {
    /// In: return events with a sequence number above this (0: from the oldest kept); at most
    /// the newest sequence number (`EINVAL` beyond).
    pub after_seq: u64,
    /// In: absolute `CLOCK_MONOTONIC` deadline in ns; [`TIMEOUT_INFINITE`] waits without limit; a
    /// past deadline only polls.
    pub timeout_ns: u64,
    /// In: user address of `capacity` [`Event`]s.
    pub events: u64,
    /// In: room at `events`, 1 to [`EVENT_LOG_ENTRIES`].
    pub capacity: u32,
    /// In: must be zero.
    pub flags: u32,
    /// Out: events written.
    pub count: u32,
    /// Zero (padding).
    pub pad: u32,
    /// Out: sequence number of the last event written (the next call's `after_seq`).
    pub last_seq: u64,
    /// Out: events after `after_seq` that had left the log before this call.
    pub lost: u64,
    /// In: must be zero.
    pub reserved: [u64; 2],
}

/// `LIGHTOS_IOC_SPIKE_QUEUE_CREATE`: create a spike-event ring shared by mmap (ABI 1.5).
pub const IOC_SPIKE_QUEUE_CREATE: u32 = iowr(
    IOC_NR_SPIKE_QUEUE_CREATE,
    core::mem::size_of::<SpikeQueueCreate>(),
);
/// The number (`_IOC_NR`) of [`IOC_SPIKE_QUEUE_CREATE`].
pub const IOC_NR_SPIKE_QUEUE_CREATE: u32 = 0x10;
/// `LIGHTOS_IOC_SPIKE_QUEUE_DESTROY`: drop a spike queue; its waiters return `ENOENT` (ABI 1.5).
pub const IOC_SPIKE_QUEUE_DESTROY: u32 = iowr(
    IOC_NR_SPIKE_QUEUE_DESTROY,
    core::mem::size_of::<SpikeQueueId>(),
);
/// The number (`_IOC_NR`) of [`IOC_SPIKE_QUEUE_DESTROY`].
pub const IOC_NR_SPIKE_QUEUE_DESTROY: u32 = 0x11;
/// `LIGHTOS_IOC_SPIKE_WAIT`: wait until a spike ring holds at least N events (ABI 1.5).
pub const IOC_SPIKE_WAIT: u32 = iowr(IOC_NR_SPIKE_WAIT, core::mem::size_of::<SpikeWait>());
/// The number (`_IOC_NR`) of [`IOC_SPIKE_WAIT`].
pub const IOC_NR_SPIKE_WAIT: u32 = 0x12;
/// `LIGHTOS_IOC_SPIKE_NOTIFY`: a producer published events; wake the ring's waiters (ABI 1.5).
pub const IOC_SPIKE_NOTIFY: u32 = iowr(IOC_NR_SPIKE_NOTIFY, core::mem::size_of::<SpikeQueueId>());
/// The number (`_IOC_NR`) of [`IOC_SPIKE_NOTIFY`].
pub const IOC_NR_SPIKE_NOTIFY: u32 = 0x13;
/// `LIGHTOS_IOC_SPIKE_QUEUE_EXPORT`: a file descriptor that names a spike queue (ABI 1.6).
pub const IOC_SPIKE_QUEUE_EXPORT: u32 = iowr(
    IOC_NR_SPIKE_QUEUE_EXPORT,
    core::mem::size_of::<SpikeQueueExport>(),
);
/// The number (`_IOC_NR`) of [`IOC_SPIKE_QUEUE_EXPORT`].
pub const IOC_NR_SPIKE_QUEUE_EXPORT: u32 = 0x14;
/// `LIGHTOS_IOC_SPIKE_QUEUE_IMPORT`: add an exported spike queue to this context (ABI 1.6).
pub const IOC_SPIKE_QUEUE_IMPORT: u32 = iowr(
    IOC_NR_SPIKE_QUEUE_IMPORT,
    core::mem::size_of::<SpikeQueueImport>(),
);
/// The number (`_IOC_NR`) of [`IOC_SPIKE_QUEUE_IMPORT`].
pub const IOC_NR_SPIKE_QUEUE_IMPORT: u32 = 0x15;
/// `LIGHTOS_IOC_POWER_SET`: set a device's laser cap and TEC floor (ABI 1.7).
pub const IOC_POWER_SET: u32 = iowr(IOC_NR_POWER_SET, core::mem::size_of::<PowerSet>());
/// The number (`_IOC_NR`) of [`IOC_POWER_SET`].
pub const IOC_NR_POWER_SET: u32 = 0x16;

/// Fewest entries of a spike ring.
pub const SPIKE_RING_MIN_ENTRIES: u32 = 2;
/// Most entries of a spike ring (1 MiB of events).
pub const SPIKE_RING_MAX_ENTRIES: u32 = 65_536;
/// Most spike queues per context.
pub const MAX_SPIKE_QUEUES_PER_CONTEXT: u32 = 16;
/// The mmap cookie of a spike ring is `queue_id << MMAP_HANDLE_SHIFT | this`.
pub const MMAP_SPIKE_RING: u64 = 1 << 30;
/// Where the events start in a mapped ring (after the [`SpikeRingHeader`]).
pub const SPIKE_RING_EVENTS_OFFSET: u32 = 64;
/// [`SpikeRingHeader::flags`]: a consumer sleeps in `SPIKE_WAIT`; a producer that sees it after
/// publishing its tail calls `SPIKE_NOTIFY`.
pub const SPIKE_RING_NEED_WAKEUP: u32 = 1 << 0;
/// `QUERY` type: this context's spike queues, [`QuerySpikeQueues`] (ABI 1.5).
pub const QUERY_SPIKE_QUEUES: u32 = 6;

/// One spike queue in [`QuerySpikeQueues`] (`struct lightos_spike_queue_info`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpikeQueueInfo {
    /// The queue.
    pub queue_id: u32,
    /// Its entries.
    pub entries: u32,
    /// Events in the ring now (clamped `tail - head`).
    pub available: u32,
    /// Events producers counted as dropped (the header's `overflow`).
    pub overflow: u32,
    /// Events published so far (the header's `tail`, free-running, wraps at 2³²).
    pub tail: u32,
    /// Events consumed so far (the header's `head`, likewise).
    pub head: u32,
    /// `SPIKE_WAIT` calls.
    pub waits: u64,
    /// Sleeps ended by a `SPIKE_NOTIFY`.
    pub wakeups: u64,
    /// `SPIKE_NOTIFY` calls.
    pub notifies: u64,
}

/// Result of [`QUERY_SPIKE_QUEUES`] (`struct lightos_query_spike_queues`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuerySpikeQueues {
    /// How many entries of `queues` are valid.
    pub count: u32,
    /// Zero (padding).
    pub pad: u32,
    /// The calling context's spike queues.
    pub queues: [SpikeQueueInfo; MAX_SPIKE_QUEUES_PER_CONTEXT as usize],
}

/// The header at the start of a mapped spike ring (`struct lightos_spike_ring`), io_uring CQ style:
/// free-running `head` (consumer) and `tail` (producer) indices, entry `i` at
/// `SPIKE_RING_EVENTS_OFFSET + (i & mask) * 16`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpikeRingHeader {
    /// Next entry the consumer reads (it stores it with release ordering after reading).
    pub head: u32,
    /// Next entry the producer writes (it stores it with release ordering after writing).
    pub tail: u32,
    /// `entries - 1`.
    pub mask: u32,
    /// Entries (a power of two).
    pub entries: u32,
    /// Events a producer dropped because the ring was full (producers increment it).
    pub overflow: u32,
    /// `SPIKE_RING_*` flags.
    pub flags: u32,
    /// [`SPIKE_RING_EVENTS_OFFSET`].
    pub events_offset: u32,
    /// Zero.
    pub pad: u32,
    /// Zero.
    pub reserved: [u64; 4],
}

/// One spike event (`struct lightos_spike_event`), 16 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpikeEvent {
    /// When (ns).
    pub timestamp_ns: u64,
    /// The neuron (address).
    pub neuron: u32,
    /// Polarity or graded value.
    pub value: i16,
    /// Channel (population, layer, sensor).
    pub channel: u16,
}

/// Argument of [`IOC_SPIKE_QUEUE_CREATE`] (`struct lightos_spike_queue_create`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpikeQueueCreate {
    /// In: entries, a power of two from [`SPIKE_RING_MIN_ENTRIES`] to [`SPIKE_RING_MAX_ENTRIES`].
    pub entries: u32,
    /// In: `SPIKE_QUEUE_*` flags (ABI 1.6), else zero.
    pub flags: u32,
    /// Out: the queue.
    pub queue_id: u32,
    /// Zero (padding).
    pub pad: u32,
    /// Out: the mmap offset of the ring.
    pub mmap_offset: u64,
    /// Out: the length to map (header and events, whole pages).
    pub mmap_size: u64,
    /// In: must be zero.
    pub reserved: [u64; 2],
}

/// `SPIKE_QUEUE_CREATE` flag (ABI 1.6): only the kernel produces into this queue (from
/// [`OP_SPIKE_ENCODE`] jobs); it keeps the tail itself and ignores what userspace writes there.
pub const SPIKE_QUEUE_KERNEL_PRODUCER: u32 = 1 << 0;
/// [`SpikeRingHeader::flags`] (ABI 1.6): the ring is kernel-produced.
pub const SPIKE_RING_KERNEL_PRODUCER: u32 = 1 << 1;
/// `SPIKE_QUEUE_EXPORT` flag: the new descriptor is close-on-exec.
pub const SPIKE_EXPORT_CLOEXEC: u32 = 1 << 0;

/// Argument of [`IOC_SPIKE_QUEUE_EXPORT`] (`struct lightos_spike_queue_export`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpikeQueueExport {
    /// In: the queue.
    pub queue_id: u32,
    /// In: `SPIKE_EXPORT_*`.
    pub flags: u32,
    /// Out: a file descriptor naming the queue (must be 0 in).
    pub fd: i32,
    /// Zero (padding).
    pub pad: u32,
    /// In: must be zero.
    pub reserved: [u64; 2],
}

/// Argument of [`IOC_SPIKE_QUEUE_IMPORT`] (`struct lightos_spike_queue_import`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpikeQueueImport {
    /// In: a descriptor from `SPIKE_QUEUE_EXPORT`.
    pub fd: i32,
    /// In: must be zero.
    pub flags: u32,
    /// Out: the queue's identifier in this context.
    pub queue_id: u32,
    /// Out: its entries.
    pub entries: u32,
    /// Out: the mmap offset of the ring in this context.
    pub mmap_offset: u64,
    /// Out: the length to map.
    pub mmap_size: u64,
    /// In: must be zero.
    pub reserved: [u64; 2],
}

/// Argument of [`IOC_SPIKE_QUEUE_DESTROY`] and [`IOC_SPIKE_NOTIFY`] (`struct lightos_spike_queue_id`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpikeQueueId {
    /// In: the queue.
    pub queue_id: u32,
    /// In: must be zero.
    pub flags: u32,
    /// In: must be zero.
    pub reserved: [u64; 2],
}

/// Argument of [`IOC_SPIKE_WAIT`] (`struct lightos_spike_wait`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpikeWait {
    /// In: the queue.
    pub queue_id: u32,
    /// In: return once the ring holds at least this many events (1 to its entries).
    pub min_events: u32,
    /// In: absolute `CLOCK_MONOTONIC` deadline, [`TIMEOUT_INFINITE`], or past to poll (`ETIMEDOUT`).
    pub timeout_ns: u64,
    /// Out: events in the ring (`tail - head`, at most its entries even if a producer wrote
    /// garbage indices).
    pub available: u32,
    /// In: must be zero.
    pub flags: u32,
    /// In: must be zero.
    pub reserved: [u64; 2],
}

// ---------------------------------------------------------------------------------------------
// ABI 1.8: a reason for every rejection.
// ---------------------------------------------------------------------------------------------

/// `QUERY` type: this context's last rejected ioctl, as [`QueryLastError`] (ABI 1.8).
pub const QUERY_LAST_ERROR: u32 = 7;
/// Bytes of [`QueryLastError::reason`], its terminating NUL included.
pub const REASON_LEN: usize = 128;

/// Result of [`QUERY_LAST_ERROR`] (`struct lightos_query_last_error`): the last ioctl this context
/// rejected and why.
///
/// Every ioctl this context fails replaces it, except those that did not reject the request
/// (`EAGAIN`, `ETIMEDOUT`, `EINTR`) and ioctls of another type than `'L'`; successful ioctls, this
/// query included, leave it as it is ("last rejection", like `errno`). All zero before the first
/// rejection.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLastError {
    /// Rejections this context has recorded so far (0: none; the rest is zero then).
    pub rejections: u64,
    /// The errno the ioctl returned (positive, e.g. 22 for `EINVAL`; C: `error`, as `errno` is a macro).
    pub error: u32,
    /// The `_IOC_NR` of the rejected ioctl (e.g. [`IOC_NR_SUBMIT`]).
    pub ioctl_nr: u32,
    /// Why, in a few words of ASCII ("operand 2: extent 4352 > buffer 4096"), NUL-terminated and
    /// truncated to fit; empty when the module gave no reason. Never holds kernel addresses or
    /// another context's data.
    pub reason: [u8; REASON_LEN],
    /// Zero; room for later fields.
    pub reserved: [u64; 2],
}

impl Default for QueryLastError {
    fn default() -> Self {
        Self {
            rejections: 0,
            error: 0,
            ioctl_nr: 0,
            reason: [0; REASON_LEN],
            reserved: [0; 2],
        }
    }
}

impl QueryLastError {
    /// The reason's bytes, up to its NUL.
    pub fn reason_bytes(&self) -> &[u8] {
        let end = self
            .reason
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(REASON_LEN);
        &self.reason[..end]
    }
}

// ---------------------------------------------------------------------------------------------
// ABI 1.9: per-uid quotas.
// ---------------------------------------------------------------------------------------------

/// `QUERY` type: the per-uid quotas and the caller's usage, as [`QueryQuota`] (ABI 1.9).
pub const QUERY_QUOTA: u32 = 8;

/// Result of [`QUERY_QUOTA`] (`struct lightos_query_quota`): the quotas (module parameters
/// `quota_*`) and what the uid that opened this context uses now, module-wide. Objects are charged
/// to the uid that created them until they die, also after their context closed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueryQuota {
    /// The effective uid that opened this context (in the initial user namespace).
    pub uid: u32,
    /// 1 when this context was opened with `CAP_SYS_ADMIN`: counted, not limited by quotas.
    pub exempt: u32,
    /// Quota of bytes in live buffer objects.
    pub buffer_bytes_quota: u64,
    /// Bytes in live buffer objects of this uid.
    pub buffer_bytes: u64,
    /// Quota of live buffer objects.
    pub buffers_quota: u64,
    /// Live buffer objects of this uid.
    pub buffers: u64,
    /// Quota of live submission queues.
    pub queues_quota: u64,
    /// Live submission queues of this uid.
    pub queues: u64,
    /// Quota of jobs in flight.
    pub jobs_quota: u64,
    /// Jobs of this uid in flight.
    pub jobs: u64,
    /// Quota of live spike queues.
    pub spike_queues_quota: u64,
    /// Live spike queues of this uid.
    pub spike_queues: u64,
    /// Zero; room for later fields.
    pub reserved: [u64; 4],
}

const _: () = assert!(core::mem::size_of::<QueryQuota>() == 8 + 10 * 8 + 32);

// ---------------------------------------------------------------------------------------------
// ABI 1.10: the fast path. Dependencies between jobs; submission and completion rings per queue.
// ---------------------------------------------------------------------------------------------

/// Most dependencies of one primitive.
pub const MAX_DEPS: u32 = 16;
/// [`Dependency::flags`]: `seq` counts back within the same `SUBMIT`/`ENTER` call (1 = the
/// primitive just before this one), on the same queue; `queue_id` must be zero.
pub const DEP_RELATIVE: u32 = 1 << 0;
/// Every [`Dependency`] flag.
pub const DEP_FLAGS_ALL: u32 = DEP_RELATIVE;

/// A job a primitive waits for (`struct lightos_dependency`).
///
/// The kernel starts the primitive only when every job it depends on ended OK; when one ended
/// otherwise the primitive ends [`STATUS_DEPENDENCY_FAILED`] without running. A dependency names
/// a job already submitted (a queue of the same context and a sequence number it handed out, whose
/// status is still known: in flight, or among the last [`COMPLETION_RING_ENTRIES`]), or, with
/// [`DEP_RELATIVE`], an earlier primitive of the same call. Anything else (a later or the same
/// primitive, which is how a cycle would be written; sequence number 0; an unknown queue) is
/// rejected with `EINVAL`/`ENOENT` at submission.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dependency {
    /// The queue (of the submitting context); zero with [`DEP_RELATIVE`].
    pub queue_id: u32,
    /// `DEP_*` flags.
    pub flags: u32,
    /// The sequence number on that queue, or with [`DEP_RELATIVE`] how many primitives back.
    pub seq: u64,
}

/// `LIGHTOS_IOC_RING_SETUP`: give a queue a submission ring and a completion ring (ABI 1.10).
pub const IOC_RING_SETUP: u32 = iowr(IOC_NR_RING_SETUP, core::mem::size_of::<RingSetup>());
/// The number (`_IOC_NR`) of [`IOC_RING_SETUP`].
pub const IOC_NR_RING_SETUP: u32 = 0x17;
/// `LIGHTOS_IOC_ENTER`: submit what a queue's submission ring holds and/or wait for completions
/// (ABI 1.10).
pub const IOC_ENTER: u32 = iowr(IOC_NR_ENTER, core::mem::size_of::<Enter>());
/// The number (`_IOC_NR`) of [`IOC_ENTER`].
pub const IOC_NR_ENTER: u32 = 0x18;

/// Most entries of a submission ring.
pub const RING_MAX_SQ_ENTRIES: u32 = 1024;
/// Most entries of a completion ring.
pub const RING_MAX_CQ_ENTRIES: u32 = 4096;
/// The mmap cookie of a queue's rings is `queue_id << MMAP_HANDLE_SHIFT | this`.
pub const MMAP_RINGS: u64 = 1 << 29;
/// Where the submission entries start in the mapped rings (after the [`RingHeader`]).
pub const RING_SQES_OFFSET: u32 = 128;

/// Argument of [`IOC_RING_SETUP`] (`struct lightos_ring_setup`).
///
/// One mapping holds the [`RingHeader`], then `sq_entries` [`Primitive`]s at `sqes_offset`, then
/// `cq_entries` [`Cqe`]s at `cqes_offset`. A queue gets rings once; its `SUBMIT` and `WAIT` keep
/// working, and every job of the queue (whichever call submitted it) posts a [`Cqe`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingSetup {
    /// In: the queue.
    pub queue_id: u32,
    /// In: must be zero.
    pub flags: u32,
    /// In: submission entries, a power of two from 1 to [`RING_MAX_SQ_ENTRIES`].
    pub sq_entries: u32,
    /// In: completion entries, a power of two from `sq_entries` to [`RING_MAX_CQ_ENTRIES`].
    pub cq_entries: u32,
    /// Out: the mmap cookie (`queue_id << MMAP_HANDLE_SHIFT | MMAP_RINGS`).
    pub mmap_offset: u64,
    /// Out: bytes to map (whole pages).
    pub mmap_size: u64,
    /// Out: where the submission entries start ([`RING_SQES_OFFSET`]).
    pub sqes_offset: u32,
    /// Out: where the completion entries start.
    pub cqes_offset: u32,
    /// In: must be zero.
    pub reserved: [u64; 2],
}

/// The header of a queue's mapped rings (`struct lightos_ring_header`), io_uring's SQ/CQ rings in
/// one: free-running `u32` indices, masked by `entries - 1`. The client writes submission entries
/// and then (release) `sq_tail`; the kernel copies each entry once and then (release) `sq_head`.
/// The kernel writes completion entries and then (release) `cq_tail`; the client reads them and
/// then (release) `cq_head`. The kernel only reads the client's indices and clamps what they imply
/// to the ring, so garbage there can never make it touch memory outside the rings.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingHeader {
    /// Next submission entry the kernel takes (kernel-written).
    pub sq_head: u32,
    /// One past the last submission entry the client wrote (client-written).
    pub sq_tail: u32,
    /// `sq_entries - 1`.
    pub sq_mask: u32,
    /// Submission entries.
    pub sq_entries: u32,
    /// Next completion entry the client reads (client-written).
    pub cq_head: u32,
    /// One past the last completion entry the kernel wrote (kernel-written).
    pub cq_tail: u32,
    /// `cq_entries - 1`.
    pub cq_mask: u32,
    /// Completion entries.
    pub cq_entries: u32,
    /// Completions that found the completion ring full (kernel-written, never reset): their
    /// status is still in the queue's timeline (`WAIT`, the completion page), never lost silently.
    pub cq_overflow: u64,
    /// Entries `ENTER` rejected whole (kernel-written, never reset).
    pub sq_rejected: u64,
    /// Zero; room for later fields.
    pub reserved: [u64; 10],
}

/// One completion entry (`struct lightos_cqe`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cqe {
    /// The primitive's `user_data`.
    pub user_data: u64,
    /// Its sequence number on the queue.
    pub seq: u64,
    /// Its `STATUS_*`.
    pub status: u32,
    /// Zero.
    pub flags: u32,
    /// Time on its backend in ns, from start to end (0 when it never started).
    pub device_ns: u64,
}

/// [`Enter::flags`]: wait for `min_complete` completion entries to be in the ring.
pub const ENTER_GETEVENTS: u32 = 1 << 0;
/// Every [`Enter`] flag.
pub const ENTER_FLAGS_ALL: u32 = ENTER_GETEVENTS;

/// Argument of [`IOC_ENTER`] (`struct lightos_enter`).
///
/// Takes `to_submit` entries from the submission ring (all or none: they pass through the same
/// interception chain as `SUBMIT`; a rejected batch is consumed, counted in
/// [`RingHeader::sq_rejected`], names the entry at fault in `error_index` and has no other effect,
/// except that `EBUSY` and `ENOMEM` leave the entries in the ring for a retry), then with
/// [`ENTER_GETEVENTS`] waits until the completion ring holds `min_complete` entries or `timeout_ns`
/// passes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Enter {
    /// In: the queue.
    pub queue_id: u32,
    /// In: `ENTER_*` flags.
    pub flags: u32,
    /// In: entries to take from the submission ring, 0 to [`MAX_SUBMIT`] (and at most what it holds).
    pub to_submit: u32,
    /// In: with [`ENTER_GETEVENTS`], completion entries to wait for, 1 to `cq_entries`.
    pub min_complete: u32,
    /// In: absolute `CLOCK_MONOTONIC` deadline of the wait in ns ([`TIMEOUT_INFINITE`]: none).
    pub timeout_ns: u64,
    /// Out: entries taken.
    pub submitted: u32,
    /// Out: on a rejected submission, the index (from `sq_head`) of the entry at fault.
    pub error_index: u32,
    /// Out: the sequence number of the first entry taken (they are consecutive).
    pub first_seq: u64,
    /// Out: completion entries in the ring when the call returned.
    pub completions: u32,
    /// Must be zero.
    pub pad: u32,
    /// In: must be zero.
    pub reserved: [u64; 2],
}

/// `LIGHTOS_IOC_JOB_BATCH`: an executor completes a batch of jobs and fetches the next (ABI 1.10).
pub const IOC_JOB_BATCH: u32 = iowr(IOC_NR_JOB_BATCH, core::mem::size_of::<JobBatch>());
/// The number (`_IOC_NR`) of [`IOC_JOB_BATCH`].
pub const IOC_NR_JOB_BATCH: u32 = 0x19;
/// Most completions, and most jobs, in one [`JobBatch`].
pub const MAX_JOB_BATCH: u32 = 64;

/// One completion reported by [`JobBatch`] (`struct lightos_job_done`), as `JOB_COMPLETE` takes it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobDone {
    /// The job.
    pub job_id: u64,
    /// `STATUS_OK`, `STATUS_INVALID` or `STATUS_THERMAL_ABORT`.
    pub status: u32,
    /// Events staged by an `OP_SPIKE_ENCODE` (0 for other ops).
    pub produced: u32,
}

/// One job fetched by [`JobBatch`] (`struct lightos_batch_job`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchJob {
    /// Pass it back in a [`JobDone`].
    pub job_id: u64,
    /// The primitive; operand buffers are the executor's cached handles.
    pub prim: Primitive,
}

/// Argument of [`IOC_JOB_BATCH`] (`struct lightos_job_batch`).
///
/// Applies the `n_complete` completions at `completions` in order (one the kernel refuses stops the
/// call: `error_index` names it, those before it stand; on any error `error_index` says how many
/// were applied; one whose job had already timed out or been
/// aborted is skipped, as `JOB_COMPLETE`'s `ECANCELED` would say), then reports at most
/// `max_revoked` cached handles it dropped, then with `max_fetch > 0` waits for one job until
/// `timeout_ns` (absolute, `CLOCK_MONOTONIC`; with `FETCH_NONBLOCK` not at all) and takes up to
/// `max_fetch` that are ready. An expired wait or an empty queue fetches 0 jobs and succeeds. A
/// signal during the wait ends the call with `EINTR` (not restarted: the completions stand).
///
/// Operand handles are cached: a buffer keeps one handle in the executor's context for as long as
/// a client holds it, so an executor maps each buffer once. Handles are never reused within a
/// context. A handle reported in `revoked` is gone: unmap it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobBatch {
    /// In: `FETCH_NONBLOCK` or 0.
    pub flags: u32,
    /// In: completions at `completions`, 0 to [`MAX_JOB_BATCH`].
    pub n_complete: u32,
    /// In: user address of `n_complete` [`JobDone`]s.
    pub completions: u64,
    /// In: room at `jobs`, 0 to [`MAX_JOB_BATCH`].
    pub max_fetch: u32,
    /// Out: jobs written to `jobs`.
    pub n_fetched: u32,
    /// In: user address of `max_fetch` [`BatchJob`]s (written).
    pub jobs: u64,
    /// In: absolute deadline of the wait for the first job; [`TIMEOUT_INFINITE`] blocks.
    pub timeout_ns: u64,
    /// In: user address of `max_revoked` `u32` handles (written).
    pub revoked: u64,
    /// In: room at `revoked`.
    pub max_revoked: u32,
    /// Out: handles written to `revoked`.
    pub n_revoked: u32,
    /// Out, on an error: how many completions were applied (`0..error_index` stand); when one was
    /// refused, it is completion `error_index`. `n_complete` when the error came after them all.
    pub error_index: u32,
    /// Must be zero.
    pub pad: u32,
    /// Must be zero.
    pub reserved: [u64; 2],
}

const _: () = assert!(core::mem::size_of::<JobDone>() == 16);
const _: () = assert!(core::mem::size_of::<BatchJob>() == 408);
const _: () = assert!(core::mem::size_of::<JobBatch>() == 80);

/// `BACKEND_KIND_*`: the null device (`null0`, module parameter `null_backend`): completes every
/// primitive at once in the kernel without touching its operands, to measure the framework alone.
/// Only a routing rule naming it sends jobs there.
pub const BACKEND_KIND_NULL: u32 = 3;

const _: () = assert!(core::mem::size_of::<Dependency>() == 16);
const _: () = assert!(core::mem::size_of::<RingSetup>() == 56);
const _: () = assert!(core::mem::size_of::<RingHeader>() == RING_SQES_OFFSET as usize);
const _: () = assert!(core::mem::size_of::<Cqe>() == 32);
const _: () = assert!(core::mem::size_of::<Enter>() == 64);

const _: () = assert!(core::mem::size_of::<BufferExport>() == 32);
const _: () = assert!(core::mem::size_of::<BufferImport>() == 48);
const _: () = assert!(core::mem::size_of::<QueueCreate>() == 48);
const _: () = assert!(core::mem::size_of::<QueueDestroy>() == 24);
const _: () = assert!(core::mem::size_of::<Tensor>() == 80);
const _: () = assert!(core::mem::size_of::<Primitive>() == 400);
const _: () = assert!(core::mem::size_of::<Submit>() == 56);
const _: () = assert!(core::mem::size_of::<Wait>() == 56);
const _: () = assert!(core::mem::size_of::<CompletionPage>() == 64 + 16 * COMPLETION_RING_ENTRIES);
const _: () = assert!(core::mem::size_of::<CompletionPage>() <= 4096);
const _: () = assert!(core::mem::size_of::<ExecutorRegister>() == 80);
const _: () = assert!(core::mem::size_of::<JobFetch>() == 440);
const _: () = assert!(core::mem::size_of::<JobComplete>() == 32);
const _: () = assert!(core::mem::size_of::<RouteSet>() == 56);
const _: () = assert!(core::mem::size_of::<OpStats>() == 32 + 8 * LATENCY_BUCKETS);
const _: () = assert!(core::mem::size_of::<BackendInfo>() == 72 + 160);
const _: () =
    assert!(core::mem::size_of::<ThermalInfo>() == 72 + 8 * (4 + LATENESS_BUCKETS + 3 + 4 + 2 + 4));
const _: () = assert!(core::mem::size_of::<QueryThermal>() == 16 + MAX_THERMAL_DEVICES * 336);
const _: () = assert!(core::mem::size_of::<Event>() == 32);
const _: () = assert!(core::mem::size_of::<SpikeRingHeader>() == SPIKE_RING_EVENTS_OFFSET as usize);
const _: () = assert!(core::mem::size_of::<SpikeEvent>() == 16);
const _: () = assert!(core::mem::size_of::<SpikeQueueCreate>() == 48);
const _: () = assert!(core::mem::size_of::<SpikeQueueId>() == 24);
const _: () = assert!(core::mem::size_of::<SpikeWait>() == 40);
const _: () = assert!(core::mem::size_of::<SpikeQueueExport>() == 32);
const _: () = assert!(core::mem::size_of::<SpikeQueueImport>() == 48);
const _: () = assert!(core::mem::size_of::<PowerSet>() == 32);
const _: () = assert!(core::mem::size_of::<SpikeQueueInfo>() == 48);
const _: () = assert!(core::mem::size_of::<QuerySpikeQueues>() == 8 + 16 * 48);
const _: () = assert!(core::mem::size_of::<EventWait>() == 72);
const _: () = assert!(core::mem::size_of::<QueryLastError>() == 16 + REASON_LEN + 16);

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
        let caps = [
            CAP_FDINFO,
            CAP_BUFFERS,
            CAP_DEBUGFS,
            CAP_QUERY,
            CAP_SUBMIT,
            CAP_EXECUTORS,
            CAP_ROUTING,
            CAP_EXPORT,
            CAP_THERMAL,
            CAP_SPIKES,
            CAP_SPIKE_SHARING,
            CAP_SPIKE_ENCODE,
            CAP_POWER,
            CAP_REASONS,
            CAP_QUOTAS,
            CAP_RINGS,
            CAP_DEPENDENCIES,
        ];
        assert_eq!(caps.iter().fold(0, |acc, c| acc | c), CAP_ALL);
        assert_eq!(CAP_ALL.count_ones() as usize, caps.len());
    }
}
