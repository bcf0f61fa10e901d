//! Setting up what a call needs, without injection: contexts, buffers, queues, jobs, an executor,
//! spike queues. Every helper fails with a message naming the step (a setup failure is a defect of
//! the sweep or of the module, reported as a violation).

use crate::sys;
use lightos_uapi as u;
use std::os::fd::RawFd;

/// An open descriptor, closed when dropped.
#[derive(Debug)]
pub struct Fd(pub RawFd);

impl Drop for Fd {
    fn drop(&mut self) {
        sys::close(self.0);
    }
}

/// Opens a context on `/dev/lightos`.
pub fn open() -> Result<Fd, String> {
    sys::open_dev()
        .map(Fd)
        .map_err(|e| format!("open /dev/lightos: errno {e}"))
}

/// Issues ioctl `nr` with `arg`, naming `what` in the error.
pub fn call<T>(fd: RawFd, nr: u32, arg: &mut T, what: &str) -> Result<(), String> {
    sys::ioctl_struct(fd, nr, arg)
        .map(|_| ())
        .map_err(|e| format!("{what}: errno {e}"))
}

/// Reads query `ty` of `fd` into a `T`.
pub fn query<T: Copy>(fd: RawFd, ty: u32, zero: T) -> Result<T, String> {
    let mut out = zero;
    let mut q = u::Query {
        query_type: ty,
        size: std::mem::size_of::<T>() as u64,
        ptr: &mut out as *mut T as u64,
        ..Default::default()
    };
    call(fd, u::IOC_NR_QUERY, &mut q, &format!("QUERY type {ty}"))?;
    Ok(out)
}

/// A buffer: its handle, mmap offset and mapped size.
#[derive(Clone, Copy, Debug)]
pub struct Buffer {
    /// The handle in its context.
    pub handle: u32,
    /// Its mmap cookie.
    pub offset: u64,
    /// Its size, whole pages.
    pub size: u64,
}

/// Creates a buffer of `size` bytes.
pub fn buffer(fd: RawFd, size: u64, placement: u32) -> Result<Buffer, String> {
    let mut a = u::BufferCreate {
        size,
        placement,
        ..Default::default()
    };
    call(fd, u::IOC_NR_BUFFER_CREATE, &mut a, "BUFFER_CREATE")?;
    Ok(Buffer {
        handle: a.handle,
        offset: a.mmap_offset,
        size: size.div_ceil(4096) * 4096,
    })
}

/// A queue: its id and completion page's mmap offset.
#[derive(Clone, Copy, Debug)]
pub struct Queue {
    /// The queue id.
    pub id: u32,
    /// The completion page's cookie.
    pub completion: u64,
}

/// Creates a queue whose jobs time out after `timeout_ms`.
pub fn queue(fd: RawFd, timeout_ms: u32) -> Result<Queue, String> {
    let mut a = u::QueueCreate {
        timeout_ms,
        ..Default::default()
    };
    call(fd, u::IOC_NR_QUEUE_CREATE, &mut a, "QUEUE_CREATE")?;
    Ok(Queue {
        id: a.queue_id,
        completion: a.completion_offset,
    })
}

/// The name of the sweep's executor.
pub const EXECUTOR: &str = "failnth0";

/// The registration request of the sweep's executor: RELU and SPIKE_ENCODE on f32 and spike events.
pub fn executor_request() -> u::ExecutorRegister {
    let mut name = [0u8; u::BACKEND_NAME_LEN];
    name[..EXECUTOR.len()].copy_from_slice(EXECUTOR.as_bytes());
    u::ExecutorRegister {
        name,
        ops: 1 << u::OP_RELU | 1 << u::OP_SPIKE_ENCODE,
        deterministic_ops: 0,
        dtypes: 1 << u::DTYPE_F32 | 1 << u::DTYPE_SPIKE_EVENT,
        flags: 0,
        backend_id: 0,
        pad: 0,
        reserved: [0; 2],
    }
}

/// Makes `fd` the sweep's executor; returns its backend id.
pub fn executor(fd: RawFd) -> Result<u32, String> {
    let mut a = executor_request();
    call(fd, u::IOC_NR_EXECUTOR_REGISTER, &mut a, "EXECUTOR_REGISTER")?;
    Ok(a.backend_id)
}

/// Routes `op` of `fd`'s context to `backend`.
pub fn route(fd: RawFd, op: u16, backend: u32) -> Result<(), String> {
    let mut a = u::RouteSet {
        backend_id: backend,
        op,
        ..Default::default()
    };
    call(fd, u::IOC_NR_ROUTE_SET, &mut a, "ROUTE_SET")
}

/// A contiguous 1-D f32 tensor of `elems` elements at the start of buffer `handle`.
fn vector(handle: u32, elems: u64) -> u::Tensor {
    u::Tensor {
        buffer: handle,
        ndim: 1,
        shape: [elems, 0, 0, 0],
        ..Default::default()
    }
}

/// RELU in place over the first `elems` f32 of buffer `handle`.
pub fn relu(handle: u32, elems: u64) -> u::Primitive {
    let mut p = u::Primitive {
        op: u::OP_RELU,
        dtype: u::DTYPE_F32,
        n_inputs: 1,
        ..Default::default()
    };
    p.operands[0] = vector(handle, elems);
    p.operands[1] = vector(handle, elems);
    p
}

/// `out[8,8] = a[8,8]·b[8,8]`, all f32 in buffer `handle` (at least 768 bytes).
pub fn matmul8(handle: u32) -> u::Primitive {
    let mut p = u::Primitive {
        op: u::OP_MATMUL,
        dtype: u::DTYPE_F32,
        n_inputs: 2,
        ..Default::default()
    };
    for (i, offset) in [0u64, 256, 512].into_iter().enumerate() {
        p.operands[i] = u::Tensor {
            buffer: handle,
            ndim: 2,
            offset,
            shape: [8, 8, 0, 0],
            ..Default::default()
        };
    }
    p
}

/// Submits `prims` to queue `q`; returns the last sequence number.
pub fn submit(fd: RawFd, q: u32, prims: &[u::Primitive]) -> Result<u64, String> {
    let mut a = u::Submit {
        queue_id: q,
        count: prims.len() as u32,
        prims: prims.as_ptr() as u64,
        ..Default::default()
    };
    call(fd, u::IOC_NR_SUBMIT, &mut a, "SUBMIT")?;
    Ok(a.last_seq)
}

/// Fetches the executor's next job without blocking; returns its id.
pub fn fetch(exec: RawFd) -> Result<u64, String> {
    let mut a = u::JobFetch {
        flags: u::FETCH_NONBLOCK,
        ..Default::default()
    };
    call(exec, u::IOC_NR_JOB_FETCH, &mut a, "JOB_FETCH")?;
    Ok(a.job_id)
}

/// Completes job `job` with STATUS_OK.
pub fn complete(exec: RawFd, job: u64) -> Result<(), String> {
    let mut a = u::JobComplete {
        job_id: job,
        ..Default::default()
    };
    call(exec, u::IOC_NR_JOB_COMPLETE, &mut a, "JOB_COMPLETE")
}

/// Waits up to `timeout_ms` for sequence `seq` of queue `q`; returns the job's status.
pub fn wait(fd: RawFd, q: u32, seq: u64, timeout_ms: u64) -> Result<u32, String> {
    let mut a = u::Wait {
        queue_id: q,
        seq,
        timeout_ns: sys::monotonic_ns() + timeout_ms * 1_000_000,
        ..Default::default()
    };
    call(fd, u::IOC_NR_WAIT, &mut a, "WAIT")?;
    Ok(a.status)
}

/// A queue's rings (ABI 1.10): their mmap cookie and length.
#[derive(Clone, Copy, Debug)]
pub struct Rings {
    /// The rings' mmap cookie.
    pub offset: u64,
    /// Their mapped length.
    pub size: u64,
}

/// Gives queue `q` a submission ring of `sq` entries and a completion ring of `cq`.
pub fn rings(fd: RawFd, q: u32, sq: u32, cq: u32) -> Result<Rings, String> {
    let mut a = u::RingSetup {
        queue_id: q,
        sq_entries: sq,
        cq_entries: cq,
        ..Default::default()
    };
    call(fd, u::IOC_NR_RING_SETUP, &mut a, "RING_SETUP")?;
    Ok(Rings {
        offset: a.mmap_offset,
        size: a.mmap_size,
    })
}

/// A shared read-write mapping of `/dev/lightos`, unmapped when dropped.
#[derive(Debug)]
pub struct Mapping {
    /// Its address.
    pub addr: usize,
    /// Its length.
    pub len: usize,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        sys::munmap(self.addr, self.len);
    }
}

/// Maps `len` bytes of the object at cookie `offset` of `fd`, read-write and shared.
pub fn map(fd: RawFd, len: u64, offset: u64) -> Result<Mapping, String> {
    let len = len as usize;
    sys::mmap(
        fd,
        len,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_SHARED,
        offset,
    )
    .map(|addr| Mapping { addr, len })
    .map_err(|e| format!("mmap {offset:#x}: errno {e}"))
}

/// A spike queue: its id, ring cookie and ring length.
#[derive(Clone, Copy, Debug)]
pub struct SpikeQueue {
    /// The queue id.
    pub id: u32,
    /// The ring's mmap cookie.
    pub offset: u64,
    /// The ring's mapped length.
    pub size: u64,
}

/// Creates a spike queue of `entries` entries with `flags`.
pub fn spike_queue(fd: RawFd, entries: u32, flags: u32) -> Result<SpikeQueue, String> {
    let mut a = u::SpikeQueueCreate {
        entries,
        flags,
        ..Default::default()
    };
    call(
        fd,
        u::IOC_NR_SPIKE_QUEUE_CREATE,
        &mut a,
        "SPIKE_QUEUE_CREATE",
    )?;
    Ok(SpikeQueue {
        id: a.queue_id,
        offset: a.mmap_offset,
        size: a.mmap_size,
    })
}

/// Exports spike queue `q` of `fd` as a descriptor.
pub fn spike_export(fd: RawFd, q: u32) -> Result<Fd, String> {
    let mut a = u::SpikeQueueExport {
        queue_id: q,
        flags: u::SPIKE_EXPORT_CLOEXEC,
        ..Default::default()
    };
    call(
        fd,
        u::IOC_NR_SPIKE_QUEUE_EXPORT,
        &mut a,
        "SPIKE_QUEUE_EXPORT",
    )?;
    Ok(Fd(a.fd))
}

/// Exports buffer `handle` of `fd` as a dma-buf descriptor.
pub fn buffer_export(fd: RawFd, handle: u32) -> Result<Fd, String> {
    let mut a = u::BufferExport {
        handle,
        flags: u::EXPORT_CLOEXEC,
        ..Default::default()
    };
    call(fd, u::IOC_NR_BUFFER_EXPORT, &mut a, "BUFFER_EXPORT")?;
    Ok(Fd(a.fd))
}

/// The id of the registered backend `name`, if any.
pub fn backend_id(fd: RawFd, name: &str) -> Result<Option<u32>, String> {
    Ok(backends(fd)?
        .into_iter()
        .find(|(n, ..)| n == name)
        .map(|(_, id, ..)| id))
}

/// The registered backends: name, id, jobs queued, jobs running.
pub fn backends(fd: RawFd) -> Result<Vec<(String, u32, u32, u32)>, String> {
    // QueryBackends has no Default (arrays above 32); it is plain data, so all-zero is valid.
    // SAFETY: QueryBackends is repr(C) integers and byte arrays; all-zero bytes are a valid value.
    let zero: u::QueryBackends = unsafe { std::mem::zeroed() };
    let q = query(fd, u::QUERY_BACKENDS, zero)?;
    Ok(q.backends[..(q.count as usize).min(q.backends.len())]
        .iter()
        .map(|b| {
            let len = b.name.iter().position(|&c| c == 0).unwrap_or(b.name.len());
            let name = String::from_utf8_lossy(&b.name[..len]).into_owned();
            (name, b.backend_id, b.queued, b.running)
        })
        .collect())
}
