//! The call kinds swept: every ioctl of `/dev/lightos` (each `QUERY` type, and the calls with
//! more than one path: blocking and not, with and without a job), `mmap` of each kind of object,
//! and opening and closing a context.
//!
//! There is no page-fault path to sweep: `mmap` inserts every page of the object
//! (`vm_insert_page`, kernel/lightos_core/mmap.rs) and the module has no fault handler, so touching
//! a mapping never enters the module; the page tables it needs are allocated, and swept, in `mmap`.

use super::{
    fixture::{self as fx, Fd},
    sweep::{Case, Kind, Needs, World},
};
use crate::sys;
use lightos_uapi as u;
use std::{cell::Cell, os::fd::RawFd, rc::Rc};

/// A case making ioctl `nr` on `fd` with `arg`; `undo` gets the argument as the call left it.
fn ioctl_case<T: Copy + 'static>(
    contexts: Vec<RawFd>,
    keep: Vec<Box<dyn std::any::Any>>,
    fd: RawFd,
    nr: u32,
    arg: T,
    mut undo: impl FnMut(&T) + 'static,
) -> Case {
    checked_ioctl_case(contexts, keep, fd, nr, arg, move |a| {
        undo(a);
        Ok(())
    })
}

/// [`ioctl_case`] whose `undo` also checks what a successful call did (an `Err` is a violation).
fn checked_ioctl_case<T: Copy + 'static>(
    contexts: Vec<RawFd>,
    keep: Vec<Box<dyn std::any::Any>>,
    fd: RawFd,
    nr: u32,
    arg: T,
    mut undo: impl FnMut(&T) -> Result<(), String> + 'static,
) -> Case {
    let cell = Rc::new(Cell::new(arg));
    let out = cell.clone();
    Case {
        contexts,
        call: Box::new(move || {
            let mut a = cell.get();
            let r = sys::ioctl_struct(fd, nr, &mut a);
            cell.set(a);
            r.map(|v| v as u64)
        }),
        undo: Box::new(move |_| undo(&out.get())),
        keep,
    }
}

/// Boxes what a case keeps alive.
fn keep<T: 'static>(v: T) -> Box<dyn std::any::Any> {
    Box::new(v)
}

/// Writes every page of `v` (volatile, so the compiler cannot turn the allocation into an
/// untouched `calloc`): a first write by the kernel would fault a page in, and that fault's
/// allocation would be counted (and could fail, as EFAULT) inside the call under test.
fn touch<T>(v: &mut [T]) {
    let base = v.as_mut_ptr().cast::<u8>();
    let len = std::mem::size_of_val(v);
    for off in (0..len).step_by(4096).chain(len.checked_sub(1)) {
        // SAFETY: `off < len`, inside `v`'s bytes; writing 0 into plain-data `T` (u8, Event) is valid.
        unsafe { std::ptr::write_volatile(base.add(off), 0) };
    }
}

/// Zeroed memory the kernel writes into, every page touched.
fn touched(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    touch(&mut v);
    v
}

/// Destroys buffer `handle` of `fd` (an undo).
fn destroy_buffer(fd: RawFd, handle: u32) {
    let mut a = u::BufferDestroy {
        handle,
        ..Default::default()
    };
    let _ = sys::ioctl_struct(fd, u::IOC_NR_BUFFER_DESTROY, &mut a);
}

/// A client context with a RELU route to a fresh executor: (client, executor, a 4 KiB buffer, a queue).
struct Pipeline {
    client: Fd,
    exec: Fd,
    buf: fx::Buffer,
    queue: fx::Queue,
}

fn pipeline() -> Result<Pipeline, String> {
    let exec = fx::open()?;
    let id = fx::executor(exec.0)?;
    let client = fx::open()?;
    fx::route(client.0, u::OP_RELU, id)?;
    let buf = fx::buffer(client.0, 4096, u::PLACEMENT_ANY)?;
    let queue = fx::queue(client.0, 0)?;
    Ok(Pipeline {
        client,
        exec,
        buf,
        queue,
    })
}

impl Pipeline {
    /// Submits one RELU; returns its sequence number.
    fn submit(&self) -> Result<u64, String> {
        fx::submit(
            self.client.0,
            self.queue.id,
            &[fx::relu(self.buf.handle, 1024)],
        )
    }

    fn into_keep(self) -> Vec<Box<dyn std::any::Any>> {
        // The client goes first: its queued jobs are aborted before the executor leaves.
        vec![keep(self.client), keep(self.exec)]
    }
}

fn get_info(_: &World) -> Result<Case, String> {
    let fd = fx::open()?;
    let c = fd.0;
    Ok(ioctl_case(
        vec![c],
        vec![keep(fd)],
        c,
        u::IOC_NR_GET_INFO,
        u::Info::zeroed(),
        |_| {},
    ))
}

fn buffer_create(size: u64, placement: u32) -> Result<Case, String> {
    let fd = fx::open()?;
    let c = fd.0;
    let arg = u::BufferCreate {
        size,
        placement,
        ..Default::default()
    };
    Ok(ioctl_case(
        vec![c],
        vec![keep(fd)],
        c,
        u::IOC_NR_BUFFER_CREATE,
        arg,
        move |a| destroy_buffer(c, a.handle),
    ))
}

fn buffer_create_small(_: &World) -> Result<Case, String> {
    buffer_create(4096, u::PLACEMENT_HOST)
}

fn buffer_create_large(_: &World) -> Result<Case, String> {
    buffer_create(256 << 10, u::PLACEMENT_ANY)
}

fn buffer_create_device(_: &World) -> Result<Case, String> {
    buffer_create(64 << 10, u::PLACEMENT_DEVICE)
}

fn buffer_info(_: &World) -> Result<Case, String> {
    let fd = fx::open()?;
    let c = fd.0;
    let b = fx::buffer(c, 8192, u::PLACEMENT_ANY)?;
    let arg = u::BufferInfo {
        handle: b.handle,
        ..Default::default()
    };
    Ok(ioctl_case(
        vec![c],
        vec![keep(fd)],
        c,
        u::IOC_NR_BUFFER_INFO,
        arg,
        |_| {},
    ))
}

fn buffer_destroy(_: &World) -> Result<Case, String> {
    let fd = fx::open()?;
    let c = fd.0;
    let b = fx::buffer(c, 8192, u::PLACEMENT_ANY)?;
    let arg = u::BufferDestroy {
        handle: b.handle,
        ..Default::default()
    };
    Ok(ioctl_case(
        vec![c],
        vec![keep(fd)],
        c,
        u::IOC_NR_BUFFER_DESTROY,
        arg,
        |_| {},
    ))
}

fn query_case(ty: u32) -> Result<Case, String> {
    let fd = fx::open()?;
    let c = fd.0;
    // Something to report for the per-context and per-backend types.
    let _ = fx::buffer(c, 4096, u::PLACEMENT_ANY)?;
    let _ = fx::spike_queue(c, 64, 0)?;
    let mut out = touched(8192);
    let arg = u::Query {
        query_type: ty,
        size: out.len() as u64,
        ptr: out.as_mut_ptr() as u64,
        ..Default::default()
    };
    Ok(ioctl_case(
        vec![c],
        vec![keep(fd), keep(out)],
        c,
        u::IOC_NR_QUERY,
        arg,
        |_| {},
    ))
}

macro_rules! query_kinds {
    ($($f:ident = $ty:expr),* $(,)?) => {
        $(fn $f(_: &World) -> Result<Case, String> { query_case($ty) })*
    };
}
query_kinds!(
    query_stats = u::QUERY_STATS,
    query_context = u::QUERY_CONTEXT,
    query_ops = u::QUERY_OPS,
    query_backends = u::QUERY_BACKENDS,
    query_thermal = u::QUERY_THERMAL,
    query_spike_queues = u::QUERY_SPIKE_QUEUES,
    query_last_error = u::QUERY_LAST_ERROR,
    query_quota = u::QUERY_QUOTA,
);

fn queue_create(_: &World) -> Result<Case, String> {
    let fd = fx::open()?;
    let c = fd.0;
    Ok(ioctl_case(
        vec![c],
        vec![keep(fd)],
        c,
        u::IOC_NR_QUEUE_CREATE,
        u::QueueCreate::default(),
        move |a| {
            let mut d = u::QueueDestroy {
                queue_id: a.queue_id,
                ..Default::default()
            };
            let _ = sys::ioctl_struct(c, u::IOC_NR_QUEUE_DESTROY, &mut d);
        },
    ))
}

fn queue_destroy_idle(_: &World) -> Result<Case, String> {
    let fd = fx::open()?;
    let c = fd.0;
    let q = fx::queue(c, 0)?;
    let arg = u::QueueDestroy {
        queue_id: q.id,
        ..Default::default()
    };
    Ok(ioctl_case(
        vec![c],
        vec![keep(fd)],
        c,
        u::IOC_NR_QUEUE_DESTROY,
        arg,
        |_| {},
    ))
}

fn queue_destroy_busy(_: &World) -> Result<Case, String> {
    let p = pipeline()?;
    p.submit()?;
    p.submit()?;
    // One job running on the executor, one queued.
    fx::fetch(p.exec.0)?;
    let (c, e) = (p.client.0, p.exec.0);
    let arg = u::QueueDestroy {
        queue_id: p.queue.id,
        ..Default::default()
    };
    Ok(ioctl_case(
        vec![c, e],
        p.into_keep(),
        c,
        u::IOC_NR_QUEUE_DESTROY,
        arg,
        |_| {},
    ))
}

/// A SUBMIT of `prims` to the pipeline's executor. A successful one must have put every job in
/// the executor's queue: each is fetched and completed (a job ended at admission, e.g. as
/// DEVICE_LOST after an allocation failed in dispatch, is a violation).
fn submit_case(p: Pipeline, prims: Vec<u::Primitive>) -> Case {
    let (c, e) = (p.client.0, p.exec.0);
    let count = prims.len();
    let arg = u::Submit {
        queue_id: p.queue.id,
        count: count as u32,
        prims: prims.as_ptr() as u64,
        ..Default::default()
    };
    let mut k = p.into_keep();
    k.push(keep(prims));
    checked_ioctl_case(vec![c, e], k, c, u::IOC_NR_SUBMIT, arg, move |_| {
        for i in 0..count {
            let job = fx::fetch(e).map_err(|err| {
                format!(
                    "SUBMIT succeeded, but job {i} of {count} never reached the executor ({err})"
                )
            })?;
            fx::complete(e, job)?;
        }
        Ok(())
    })
}

fn submit_one(_: &World) -> Result<Case, String> {
    let p = pipeline()?;
    let prims = vec![fx::relu(p.buf.handle, 1024)];
    Ok(submit_case(p, prims))
}

fn submit_batch(_: &World) -> Result<Case, String> {
    let p = pipeline()?;
    let prims = vec![fx::relu(p.buf.handle, 1024); 16];
    Ok(submit_case(p, prims))
}

fn submit_photonic(w: &World) -> Result<Case, String> {
    let id = w.photonic0.ok_or("no photonic0")?;
    let fd = fx::open()?;
    let c = fd.0;
    fx::route(c, u::OP_MATMUL, id)?;
    let buf = fx::buffer(c, 4096, u::PLACEMENT_DEVICE)?;
    let q = fx::queue(c, 30_000)?;
    let prims = vec![fx::matmul8(buf.handle)];
    let arg = u::Submit {
        queue_id: q.id,
        count: 1,
        prims: prims.as_ptr() as u64,
        ..Default::default()
    };
    Ok(ioctl_case(
        vec![c],
        vec![keep(fd), keep(prims)],
        c,
        u::IOC_NR_SUBMIT,
        arg,
        move |a| {
            // Let the device finish, so that the next try finds it idle.
            let _ = fx::wait(c, a.queue_id, a.last_seq, 30_000);
        },
    ))
}

fn wait_case(p: Pipeline, seq: u64, timeout_ms: u64) -> Case {
    let (c, e) = (p.client.0, p.exec.0);
    let queue_id = p.queue.id;
    let cell = Rc::new(Cell::new(u::Wait::default()));
    Case {
        contexts: vec![c, e],
        call: Box::new(move || {
            // The deadline is computed at the call (a vDSO read, no system call).
            let mut a = u::Wait {
                queue_id,
                seq,
                timeout_ns: if timeout_ms == 0 {
                    1
                } else {
                    sys::monotonic_ns() + timeout_ms * 1_000_000
                },
                ..Default::default()
            };
            let r = sys::ioctl_struct(c, u::IOC_NR_WAIT, &mut a);
            cell.set(a);
            r.map(|v| v as u64)
        }),
        undo: Box::new(|_| Ok(())),
        keep: p.into_keep(),
    }
}

fn wait_done(_: &World) -> Result<Case, String> {
    let p = pipeline()?;
    let seq = p.submit()?;
    let job = fx::fetch(p.exec.0)?;
    fx::complete(p.exec.0, job)?;
    Ok(wait_case(p, seq, 1000))
}

fn wait_pending(_: &World) -> Result<Case, String> {
    let p = pipeline()?;
    let seq = p.submit()?;
    Ok(wait_case(p, seq, 20))
}

fn executor_register(_: &World) -> Result<Case, String> {
    let fd = fx::open()?;
    let c = fd.0;
    let arg = fx::executor_request();
    Ok(ioctl_case(
        vec![c],
        vec![keep(fd)],
        c,
        u::IOC_NR_EXECUTOR_REGISTER,
        arg,
        |_| {},
    ))
}

fn job_fetch_case(p: Pipeline, timeout_ms: u64) -> Case {
    let (c, e) = (p.client.0, p.exec.0);
    let cell = Rc::new(Cell::new(u::JobFetch::default()));
    let out = cell.clone();
    Case {
        contexts: vec![e, c],
        call: Box::new(move || {
            let mut a = u::JobFetch {
                flags: if timeout_ms == 0 {
                    u::FETCH_NONBLOCK
                } else {
                    0
                },
                timeout_ns: sys::monotonic_ns() + timeout_ms * 1_000_000,
                ..Default::default()
            };
            let r = sys::ioctl_struct(e, u::IOC_NR_JOB_FETCH, &mut a);
            cell.set(a);
            r.map(|v| v as u64)
        }),
        undo: Box::new(move |_| {
            let _ = fx::complete(e, out.get().job_id);
            Ok(())
        }),
        keep: p.into_keep(),
    }
}

fn job_fetch_ready(_: &World) -> Result<Case, String> {
    let p = pipeline()?;
    p.submit()?;
    Ok(job_fetch_case(p, 0))
}

fn job_fetch_idle(_: &World) -> Result<Case, String> {
    Ok(job_fetch_case(pipeline()?, 20))
}

fn job_complete(_: &World) -> Result<Case, String> {
    let p = pipeline()?;
    p.submit()?;
    let job = fx::fetch(p.exec.0)?;
    let (c, e) = (p.client.0, p.exec.0);
    let arg = u::JobComplete {
        job_id: job,
        ..Default::default()
    };
    Ok(ioctl_case(
        vec![e, c],
        p.into_keep(),
        e,
        u::IOC_NR_JOB_COMPLETE,
        arg,
        |_| {},
    ))
}

fn route_set(_: &World) -> Result<Case, String> {
    let fd = fx::open()?;
    let c = fd.0;
    fx::route(c, u::OP_MATMUL, u::BACKEND_ANY)?;
    let arg = u::RouteSet {
        op: u::OP_RELU,
        dtype: u::DTYPE_F32,
        min_bytes: 64,
        ..Default::default()
    };
    Ok(ioctl_case(
        vec![c],
        vec![keep(fd)],
        c,
        u::IOC_NR_ROUTE_SET,
        arg,
        |_| {},
    ))
}

fn buffer_export(_: &World) -> Result<Case, String> {
    let fd = fx::open()?;
    let c = fd.0;
    let b = fx::buffer(c, 8192, u::PLACEMENT_ANY)?;
    let arg = u::BufferExport {
        handle: b.handle,
        flags: u::EXPORT_CLOEXEC,
        ..Default::default()
    };
    Ok(ioctl_case(
        vec![c],
        vec![keep(fd)],
        c,
        u::IOC_NR_BUFFER_EXPORT,
        arg,
        |a| sys::close(a.fd),
    ))
}

fn buffer_import(_: &World) -> Result<Case, String> {
    let owner = fx::open()?;
    let b = fx::buffer(owner.0, 8192, u::PLACEMENT_ANY)?;
    let dmabuf = fx::buffer_export(owner.0, b.handle)?;
    let fd = fx::open()?;
    let c = fd.0;
    let arg = u::BufferImport {
        fd: dmabuf.0,
        ..Default::default()
    };
    Ok(ioctl_case(
        vec![c, owner.0],
        vec![keep(fd), keep(dmabuf), keep(owner)],
        c,
        u::IOC_NR_BUFFER_IMPORT,
        arg,
        move |a| destroy_buffer(c, a.handle),
    ))
}

fn event_wait(timeout_ms: u64) -> Result<Case, String> {
    let fd = fx::open()?;
    let c = fd.0;
    let mut events = vec![u::Event::default(); u::EVENT_LOG_ENTRIES as usize];
    touch(&mut events);
    let ptr = events.as_mut_ptr() as u64;
    Ok(Case {
        contexts: vec![c],
        call: Box::new(move || {
            let mut a = u::EventWait {
                timeout_ns: if timeout_ms == 0 {
                    1
                } else {
                    sys::monotonic_ns() + timeout_ms * 1_000_000
                },
                events: ptr,
                capacity: u::EVENT_LOG_ENTRIES,
                ..Default::default()
            };
            sys::ioctl_struct(c, u::IOC_NR_EVENT_WAIT, &mut a).map(|v| v as u64)
        }),
        undo: Box::new(|_| Ok(())),
        keep: vec![keep(fd), keep(events)],
    })
}

fn event_wait_poll(_: &World) -> Result<Case, String> {
    event_wait(0)
}

fn event_wait_timed(_: &World) -> Result<Case, String> {
    event_wait(20)
}

fn spike_queue_create(entries: u32, flags: u32) -> Result<Case, String> {
    let fd = fx::open()?;
    let c = fd.0;
    let arg = u::SpikeQueueCreate {
        entries,
        flags,
        ..Default::default()
    };
    Ok(ioctl_case(
        vec![c],
        vec![keep(fd)],
        c,
        u::IOC_NR_SPIKE_QUEUE_CREATE,
        arg,
        move |a| destroy_spike_queue(c, a.queue_id),
    ))
}

fn destroy_spike_queue(fd: RawFd, queue_id: u32) {
    let mut d = u::SpikeQueueId {
        queue_id,
        ..Default::default()
    };
    let _ = sys::ioctl_struct(fd, u::IOC_NR_SPIKE_QUEUE_DESTROY, &mut d);
}

fn spike_create_user(_: &World) -> Result<Case, String> {
    spike_queue_create(64, 0)
}

fn spike_create_kernel(_: &World) -> Result<Case, String> {
    spike_queue_create(4096, u::SPIKE_QUEUE_KERNEL_PRODUCER)
}

/// A context with a 64-entry spike queue.
fn with_spike_queue() -> Result<(Fd, fx::SpikeQueue), String> {
    let fd = fx::open()?;
    let q = fx::spike_queue(fd.0, 64, 0)?;
    Ok((fd, q))
}

fn spike_queue_id_case(nr: u32) -> Result<Case, String> {
    let (fd, q) = with_spike_queue()?;
    let c = fd.0;
    let arg = u::SpikeQueueId {
        queue_id: q.id,
        ..Default::default()
    };
    Ok(ioctl_case(vec![c], vec![keep(fd)], c, nr, arg, |_| {}))
}

fn spike_destroy(_: &World) -> Result<Case, String> {
    spike_queue_id_case(u::IOC_NR_SPIKE_QUEUE_DESTROY)
}

fn spike_notify(_: &World) -> Result<Case, String> {
    spike_queue_id_case(u::IOC_NR_SPIKE_NOTIFY)
}

fn spike_wait(timeout_ms: u64) -> Result<Case, String> {
    let (fd, q) = with_spike_queue()?;
    let c = fd.0;
    Ok(Case {
        contexts: vec![c],
        call: Box::new(move || {
            let mut a = u::SpikeWait {
                queue_id: q.id,
                min_events: 1,
                timeout_ns: if timeout_ms == 0 {
                    1
                } else {
                    sys::monotonic_ns() + timeout_ms * 1_000_000
                },
                ..Default::default()
            };
            sys::ioctl_struct(c, u::IOC_NR_SPIKE_WAIT, &mut a).map(|v| v as u64)
        }),
        undo: Box::new(|_| Ok(())),
        keep: vec![keep(fd)],
    })
}

fn spike_wait_poll(_: &World) -> Result<Case, String> {
    spike_wait(0)
}

fn spike_wait_timed(_: &World) -> Result<Case, String> {
    spike_wait(20)
}

fn spike_export(_: &World) -> Result<Case, String> {
    let (fd, q) = with_spike_queue()?;
    let c = fd.0;
    let arg = u::SpikeQueueExport {
        queue_id: q.id,
        flags: u::SPIKE_EXPORT_CLOEXEC,
        ..Default::default()
    };
    Ok(ioctl_case(
        vec![c],
        vec![keep(fd)],
        c,
        u::IOC_NR_SPIKE_QUEUE_EXPORT,
        arg,
        |a| sys::close(a.fd),
    ))
}

fn spike_import(_: &World) -> Result<Case, String> {
    let (owner, q) = with_spike_queue()?;
    let exported = fx::spike_export(owner.0, q.id)?;
    let fd = fx::open()?;
    let c = fd.0;
    let arg = u::SpikeQueueImport {
        fd: exported.0,
        ..Default::default()
    };
    Ok(ioctl_case(
        vec![c, owner.0],
        vec![keep(fd), keep(exported), keep(owner)],
        c,
        u::IOC_NR_SPIKE_QUEUE_IMPORT,
        arg,
        move |a| destroy_spike_queue(c, a.queue_id),
    ))
}

fn power_set(w: &World) -> Result<Case, String> {
    let id = w.photonic0.ok_or("no photonic0")?;
    let fd = fx::open()?;
    let c = fd.0;
    let arg = u::PowerSet {
        backend_id: id,
        flags: u::POWER_SET_LASER_CAP,
        laser_cap_mw: 4000,
        ..Default::default()
    };
    Ok(ioctl_case(
        vec![c],
        vec![keep(fd)],
        c,
        u::IOC_NR_POWER_SET,
        arg,
        move |_| {
            let mut back = u::PowerSet {
                backend_id: id,
                flags: u::POWER_SET_LASER_CAP,
                laser_cap_mw: u::LASER_MAX_MW,
                ..Default::default()
            };
            let _ = sys::ioctl_struct(c, u::IOC_NR_POWER_SET, &mut back);
        },
    ))
}

/// A mapping made by `mmap` (undo: unmapped).
fn ring_setup(_: &World) -> Result<Case, String> {
    let fd = fx::open()?;
    let c = fd.0;
    let q = fx::queue(c, 0)?;
    let arg = u::RingSetup {
        queue_id: q.id,
        sq_entries: 8,
        cq_entries: 16,
        ..Default::default()
    };
    Ok(ioctl_case(
        vec![c],
        vec![keep(fd)],
        c,
        u::IOC_NR_RING_SETUP,
        arg,
        |_| {},
    ))
}

/// An ENTER taking one RELU from the submission ring of the pipeline's queue (rings set up and
/// mapped, the entry written and `sq_tail` published beforehand). A successful one must have put
/// the job in the executor's queue, as [`submit_case`] checks.
fn enter_one(_: &World) -> Result<Case, String> {
    let p = pipeline()?;
    let (c, e) = (p.client.0, p.exec.0);
    let rings = fx::rings(c, p.queue.id, 8, 8)?;
    let map = fx::map(c, rings.size, rings.offset)?;
    let entry = (map.addr + u::RING_SQES_OFFSET as usize) as *mut u::Primitive;
    let tail = (map.addr + std::mem::offset_of!(u::RingHeader, sq_tail)) as *mut u32;
    // SAFETY: the mapping is the rings, read-write, at least RING_SQES_OFFSET plus 8 entries long:
    // entry 0 and the header's `sq_tail` lie within it, aligned.
    unsafe {
        entry.write_volatile(fx::relu(p.buf.handle, 1024));
        std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
        tail.write_volatile(1);
    }
    let arg = u::Enter {
        queue_id: p.queue.id,
        to_submit: 1,
        ..Default::default()
    };
    // The mapping goes first, then the client, then the executor.
    let mut k = vec![keep(map)];
    k.extend(p.into_keep());
    Ok(checked_ioctl_case(
        vec![c, e],
        k,
        c,
        u::IOC_NR_ENTER,
        arg,
        move |a| {
            if a.submitted != 1 {
                return Err(format!("ENTER succeeded but took {} entries", a.submitted));
            }
            let job = fx::fetch(e).map_err(|err| {
                format!("ENTER succeeded, but its job never reached the executor ({err})")
            })?;
            fx::complete(e, job)
        },
    ))
}

/// A JOB_BATCH that only completes one job the executor fetched.
fn job_batch_complete(_: &World) -> Result<Case, String> {
    let p = pipeline()?;
    p.submit()?;
    let job = fx::fetch(p.exec.0)?;
    let (c, e) = (p.client.0, p.exec.0);
    let done = vec![u::JobDone {
        job_id: job,
        status: u::STATUS_OK,
        produced: 0,
    }];
    let arg = u::JobBatch {
        n_complete: 1,
        completions: done.as_ptr() as u64,
        ..Default::default()
    };
    let mut k = p.into_keep();
    k.push(keep(done));
    Ok(ioctl_case(
        vec![e, c],
        k,
        e,
        u::IOC_NR_JOB_BATCH,
        arg,
        |_| {},
    ))
}

/// A JOB_BATCH that only fetches (without blocking) the one job queued for the executor; what it
/// fetched is completed. A success that fetched nothing is accepted: a job whose cached operand
/// handle cannot be made (an allocation that failed) ends `DEVICE_LOST` and is left out, by
/// design (`Executor::fetch_batch`).
fn job_batch_fetch(_: &World) -> Result<Case, String> {
    let p = pipeline()?;
    p.submit()?;
    let (c, e) = (p.client.0, p.exec.0);
    // Written here, so the kernel's write faults nothing in.
    let mut jobs = vec![u::BatchJob::default(); 1];
    let arg = u::JobBatch {
        flags: u::FETCH_NONBLOCK,
        max_fetch: 1,
        jobs: jobs.as_mut_ptr() as u64,
        ..Default::default()
    };
    let mut k = p.into_keep();
    k.push(keep(jobs));
    Ok(ioctl_case(
        vec![e, c],
        k,
        e,
        u::IOC_NR_JOB_BATCH,
        arg,
        move |a| {
            if a.n_fetched == 1 {
                // SAFETY: `a.jobs` is the one-entry array the case keeps alive; the kernel wrote
                // its entry.
                let job = unsafe { (a.jobs as *const u::BatchJob).read_volatile() };
                let _ = fx::complete(e, job.job_id);
            }
        },
    ))
}

fn mmap_case(fd: Fd, len: u64, prot: i32, offset: u64, extra: Vec<Box<dyn std::any::Any>>) -> Case {
    let c = fd.0;
    let len = len as usize;
    let mut k = vec![keep(fd)];
    k.extend(extra);
    Case {
        contexts: vec![c],
        call: Box::new(move || sys::mmap(c, len, prot, libc::MAP_SHARED, offset).map(|a| a as u64)),
        undo: Box::new(move |addr| {
            sys::munmap(addr as usize, len);
            Ok(())
        }),
        keep: k,
    }
}

const RW: i32 = libc::PROT_READ | libc::PROT_WRITE;

fn mmap_buffer(_: &World) -> Result<Case, String> {
    let fd = fx::open()?;
    let b = fx::buffer(fd.0, 64 << 10, u::PLACEMENT_ANY)?;
    Ok(mmap_case(fd, b.size, RW, b.offset, vec![]))
}

fn mmap_completion(_: &World) -> Result<Case, String> {
    let fd = fx::open()?;
    let q = fx::queue(fd.0, 0)?;
    Ok(mmap_case(fd, 4096, libc::PROT_READ, q.completion, vec![]))
}

fn mmap_spike_ring(_: &World) -> Result<Case, String> {
    let (fd, q) = with_spike_queue()?;
    Ok(mmap_case(fd, q.size, RW, q.offset, vec![]))
}

fn mmap_rings(_: &World) -> Result<Case, String> {
    let fd = fx::open()?;
    let q = fx::queue(fd.0, 0)?;
    let rings = fx::rings(fd.0, q.id, 8, 16)?;
    Ok(mmap_case(fd, rings.size, RW, rings.offset, vec![]))
}

fn open_context(_: &World) -> Result<Case, String> {
    Ok(Case {
        contexts: vec![],
        call: Box::new(|| sys::open_dev().map(|fd| fd as u64)),
        undo: Box::new(|fd| {
            sys::close(fd as RawFd);
            Ok(())
        }),
        keep: vec![],
    })
}

/// Closing `fd` (`close` cannot fail: a fired failure is tolerated, and the module-wide state
/// afterwards shows whether anything leaked).
fn close_case(fd: Fd, keep: Vec<Box<dyn std::any::Any>>) -> Case {
    let c = fd.0;
    std::mem::forget(fd);
    Case {
        contexts: vec![],
        call: Box::new(move || {
            // SAFETY: `c` is owned by this case alone (its `Fd` was forgotten).
            let r = unsafe { libc::close(c) };
            if r < 0 {
                Err(sys::errno())
            } else {
                Ok(0)
            }
        }),
        undo: Box::new(|_| Ok(())),
        keep,
    }
}

fn close_client(_: &World) -> Result<Case, String> {
    let p = pipeline()?;
    p.submit()?;
    p.submit()?;
    fx::fetch(p.exec.0)?;
    let _ = fx::spike_queue(p.client.0, 64, 0)?;
    Ok(close_case(p.client, vec![keep(p.exec)]))
}

fn close_executor(_: &World) -> Result<Case, String> {
    let p = pipeline()?;
    p.submit()?;
    p.submit()?;
    fx::fetch(p.exec.0)?;
    Ok(close_case(p.exec, vec![keep(p.client)]))
}

/// Builds the kind table: `name, ioctl number (or None), needs, setup;` per line.
macro_rules! kinds {
    ($($name:literal, $ioctl:expr, $needs:ident, $setup:expr;)*) => {
        vec![$(Kind { name: $name, ioctl: $ioctl, needs: Needs::$needs, setup: $setup }),*]
    };
}

/// Every kind, in sweep order.
pub fn all() -> Vec<Kind> {
    use u::*;
    kinds! {
        "open", None, Nothing, open_context;
        "GET_INFO", Some(IOC_NR_GET_INFO), Nothing, get_info;
        "BUFFER_CREATE 4 KiB host", Some(IOC_NR_BUFFER_CREATE), Nothing, buffer_create_small;
        "BUFFER_CREATE 256 KiB", Some(IOC_NR_BUFFER_CREATE), Nothing, buffer_create_large;
        "BUFFER_CREATE 64 KiB device", Some(IOC_NR_BUFFER_CREATE), Nothing, buffer_create_device;
        "BUFFER_INFO", Some(IOC_NR_BUFFER_INFO), Nothing, buffer_info;
        "BUFFER_DESTROY", Some(IOC_NR_BUFFER_DESTROY), Nothing, buffer_destroy;
        "QUERY STATS", Some(IOC_NR_QUERY), Nothing, query_stats;
        "QUERY CONTEXT", Some(IOC_NR_QUERY), Nothing, query_context;
        "QUERY OPS", Some(IOC_NR_QUERY), Nothing, query_ops;
        "QUERY BACKENDS", Some(IOC_NR_QUERY), Nothing, query_backends;
        "QUERY THERMAL", Some(IOC_NR_QUERY), Nothing, query_thermal;
        "QUERY SPIKE_QUEUES", Some(IOC_NR_QUERY), Nothing, query_spike_queues;
        "QUERY LAST_ERROR", Some(IOC_NR_QUERY), Nothing, query_last_error;
        "QUERY QUOTA", Some(IOC_NR_QUERY), Nothing, query_quota;
        "QUEUE_CREATE", Some(IOC_NR_QUEUE_CREATE), Nothing, queue_create;
        "QUEUE_DESTROY idle", Some(IOC_NR_QUEUE_DESTROY), Nothing, queue_destroy_idle;
        "QUEUE_DESTROY with jobs", Some(IOC_NR_QUEUE_DESTROY), Nothing, queue_destroy_busy;
        "SUBMIT 1 to an executor", Some(IOC_NR_SUBMIT), Nothing, submit_one;
        "SUBMIT 16 to an executor", Some(IOC_NR_SUBMIT), Nothing, submit_batch;
        "SUBMIT MATMUL to photonic0", Some(IOC_NR_SUBMIT), Photonic, submit_photonic;
        "WAIT completed", Some(IOC_NR_WAIT), Nothing, wait_done;
        "WAIT pending 20 ms", Some(IOC_NR_WAIT), Nothing, wait_pending;
        "EXECUTOR_REGISTER", Some(IOC_NR_EXECUTOR_REGISTER), Nothing, executor_register;
        "JOB_FETCH ready", Some(IOC_NR_JOB_FETCH), Nothing, job_fetch_ready;
        "JOB_FETCH idle 20 ms", Some(IOC_NR_JOB_FETCH), Nothing, job_fetch_idle;
        "JOB_COMPLETE", Some(IOC_NR_JOB_COMPLETE), Nothing, job_complete;
        "ROUTE_SET add", Some(IOC_NR_ROUTE_SET), Nothing, route_set;
        "BUFFER_EXPORT", Some(IOC_NR_BUFFER_EXPORT), Nothing, buffer_export;
        "BUFFER_IMPORT", Some(IOC_NR_BUFFER_IMPORT), Nothing, buffer_import;
        "EVENT_WAIT poll", Some(IOC_NR_EVENT_WAIT), Nothing, event_wait_poll;
        "EVENT_WAIT 20 ms", Some(IOC_NR_EVENT_WAIT), Nothing, event_wait_timed;
        "SPIKE_QUEUE_CREATE 64 user", Some(IOC_NR_SPIKE_QUEUE_CREATE), Nothing, spike_create_user;
        "SPIKE_QUEUE_CREATE 4096 kernel", Some(IOC_NR_SPIKE_QUEUE_CREATE), Nothing, spike_create_kernel;
        "SPIKE_QUEUE_DESTROY", Some(IOC_NR_SPIKE_QUEUE_DESTROY), Nothing, spike_destroy;
        "SPIKE_WAIT poll", Some(IOC_NR_SPIKE_WAIT), Nothing, spike_wait_poll;
        "SPIKE_WAIT 20 ms", Some(IOC_NR_SPIKE_WAIT), Nothing, spike_wait_timed;
        "SPIKE_NOTIFY", Some(IOC_NR_SPIKE_NOTIFY), Nothing, spike_notify;
        "SPIKE_QUEUE_EXPORT", Some(IOC_NR_SPIKE_QUEUE_EXPORT), Nothing, spike_export;
        "SPIKE_QUEUE_IMPORT", Some(IOC_NR_SPIKE_QUEUE_IMPORT), Nothing, spike_import;
        "POWER_SET photonic0", Some(IOC_NR_POWER_SET), Photonic, power_set;
        "RING_SETUP 8/16", Some(IOC_NR_RING_SETUP), Nothing, ring_setup;
        "ENTER 1 to an executor", Some(IOC_NR_ENTER), Nothing, enter_one;
        "JOB_BATCH complete 1", Some(IOC_NR_JOB_BATCH), Nothing, job_batch_complete;
        "JOB_BATCH fetch 1", Some(IOC_NR_JOB_BATCH), Nothing, job_batch_fetch;
        "mmap buffer 64 KiB", None, Nothing, mmap_buffer;
        "mmap completion page", None, Nothing, mmap_completion;
        "mmap spike ring", None, Nothing, mmap_spike_ring;
        "mmap rings", None, Nothing, mmap_rings;
        "close context with jobs", None, Nothing, close_client;
        "close executor with a job", None, Nothing, close_executor;
    }
}
