//! Runs a [`Program`] against `/dev/lightos`: resolves resource indices, builds each argument struct
//! validly, applies the step's byte mutations, points the argument where the step says, arms
//! allocation-failure injection, issues the call and records what it created.

use crate::{
    emulator,
    kcov::Kcov,
    prog::{Call, Dep, Done, Field, Operand, Prim, Program, Ptr, Step},
    shared::Totals,
    sys,
};
use lightos_uapi as u;
use std::{
    collections::HashSet,
    os::fd::RawFd,
    sync::{atomic::Ordering, Arc, Mutex},
    time::Duration,
};

/// Context slots a program can fill.
pub const SLOTS: usize = 16;
/// The longest any blocking call may wait (relative timeouts are capped here).
pub const MAX_WAIT_NS: u64 = 50_000_000;

#[derive(Clone, Copy)]
struct Buf {
    handle: u32,
    offset: u64,
}

#[derive(Clone, Copy)]
struct Queue {
    slot: u8,
    id: u32,
    completion: u64,
    last_seq: u64,
    /// What RING_SETUP returned for it.
    rings: Option<RingInfo>,
}

/// A queue's rings, as RING_SETUP described them.
#[derive(Clone, Copy)]
struct RingInfo {
    offset: u64,
    size: u64,
    sq_entries: u32,
}

/// Whose rings a mapping holds: the queue (its creating slot and id) and its submission entries
/// (0 when unknown).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct RingGeom {
    slot: u8,
    queue: u32,
    sq_entries: u32,
}

#[derive(Clone, Copy)]
struct Sq {
    id: u32,
    offset: u64,
    size: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum MapKind {
    Buffer,
    Completion,
    Spike,
    Rings(RingGeom),
    Other,
}

/// A mapping to make.
struct MapReq {
    len: u64,
    prot: i32,
    private: bool,
    offset: u64,
    kind: MapKind,
}

#[derive(Clone, Copy)]
struct Map {
    addr: usize,
    len: usize,
    readable: bool,
    writable: bool,
    kind: MapKind,
    live: bool,
}

#[derive(Clone, Copy)]
struct Job {
    slot: u8,
    id: u64,
    prim: u::Primitive,
    /// A JOB_COMPLETE or JOB_BATCH completed it.
    done: bool,
}

/// What a program's calls created so far.
#[derive(Clone)]
struct State {
    slots: [RawFd; SLOTS],
    /// Descriptors to close at the end (slots overwritten, dups, exports).
    spare: Vec<RawFd>,
    bufs: Vec<Buf>,
    queues: Vec<Queue>,
    dmabufs: Vec<RawFd>,
    sqs: Vec<Sq>,
    spike_fds: Vec<RawFd>,
    maps: Vec<Map>,
    jobs: Vec<Job>,
    backends: Vec<u32>,
    /// Dependency lists that submission-ring entries point to: alive until the program ends, since
    /// an entry may be taken by a later ENTER than the one that wrote it.
    dep_lists: Vec<Vec<u::Dependency>>,
    npus_touched: u8,
}

impl State {
    fn new() -> Self {
        State {
            slots: [-1; SLOTS],
            spare: Vec::new(),
            bufs: Vec::new(),
            queues: Vec::new(),
            dmabufs: Vec::new(),
            sqs: Vec::new(),
            spike_fds: Vec::new(),
            maps: Vec::new(),
            jobs: Vec::new(),
            backends: Vec::new(),
            dep_lists: Vec::new(),
            npus_touched: 0,
        }
    }

    fn fd(&self, slot: u8) -> RawFd {
        self.slots[slot as usize % SLOTS]
    }

    /// The live, writable mapping of the rings of queue `q` (the latest, if there are several).
    fn rings_map(&self, q: &Queue) -> Option<(Map, RingGeom)> {
        self.maps.iter().rev().find_map(|m| match m.kind {
            MapKind::Rings(g) if m.live && m.writable && g.slot == q.slot && g.queue == q.id => {
                Some((*m, g))
            }
            _ => None,
        })
    }

    /// Marks the job `id` fetched by `slot` completed.
    fn complete_job(&mut self, slot: u8, id: u64) {
        if let Some(j) = self
            .jobs
            .iter_mut()
            .find(|j| j.slot == slot && j.id == id && !j.done)
        {
            j.done = true;
        }
    }
}

/// Picks element `i` (modulo the length) of `v`.
fn pick<T: Copy>(v: &[T], i: u16) -> Option<T> {
    if v.is_empty() {
        None
    } else {
        Some(v[i as usize % v.len()])
    }
}

/// Fixed pages the executor points arguments at.
struct Pages {
    /// PROT_NONE: any access faults.
    unmapped: usize,
}

/// Runs programs; one per fuzzer process, shared by a program's threads.
pub struct Executor {
    counters: &'static Totals,
    pages: Pages,
    inject: bool,
    kcov: bool,
    npus: u8,
    /// Time spent per call kind (`--profile`): name → (calls, ns).
    profile: Option<Mutex<std::collections::BTreeMap<&'static str, (u64, u64)>>>,
}

/// What one program run produced.
pub struct RunResult {
    /// Module PCs the program reached (empty without kcov).
    pub pcs: HashSet<u64>,
}

impl Executor {
    /// An executor counting into `counters`; `kcov` collects coverage of the module, `npus`
    /// emulators can be sent fault commands; `fail_nth` steps are armed where the kernel can inject.
    pub fn new(counters: &'static Totals, kcov: bool, npus: u8) -> Self {
        let unmapped = sys::mmap_anon(4096, libc::PROT_NONE).expect("mmap PROT_NONE page");
        Executor {
            counters,
            pages: Pages { unmapped },
            inject: sys::fail_nth_available(),
            kcov,
            npus,
            profile: None,
        }
    }

    /// Runs `prog` to the end (threads joined, children reaped), then releases everything it holds.
    pub fn run(self: &Arc<Self>, prog: &Program, range: Option<(u64, u64)>) -> RunResult {
        let state = Arc::new(Mutex::new(State::new()));
        let pcs = Arc::new(Mutex::new(HashSet::new()));
        let mut threads = Vec::new();
        let mut children = Vec::new();
        let mut kcov = self.kcov_open(range);
        for step in &prog.steps {
            match &step.call {
                Call::Thread { steps } => {
                    let (me, st, pcs, steps) =
                        (self.clone(), state.clone(), pcs.clone(), steps.clone());
                    // A thread the guest cannot create now (clone's EAGAIN: memory, an allocation
                    // failure injected nearby) is a step not taken, not a fuzzer panic (it once
                    // ended a worker with status 101 on the debug kernel).
                    let spawned = std::thread::Builder::new().spawn(move || {
                        let mut k = me.kcov_open(range);
                        for s in &steps {
                            me.step(&st, s, &mut k);
                        }
                        if let Some(k) = k {
                            pcs.lock().unwrap().extend(k.into_pcs());
                        }
                    });
                    if let Ok(t) = spawned {
                        threads.push(t);
                    }
                }
                Call::Fork { steps } => {
                    if let Some(pid) = self.fork(&state, steps) {
                        children.push(pid);
                    }
                }
                _ => self.step(&state, step, &mut kcov),
            }
        }
        for t in threads {
            let _ = t.join();
        }
        for pid in children {
            sys::reap(pid);
        }
        if let Some(k) = kcov {
            pcs.lock().unwrap().extend(k.into_pcs());
        }
        let st = state.lock().unwrap().clone();
        self.cleanup(&st);
        let pcs = std::mem::take(&mut *pcs.lock().unwrap());
        RunResult { pcs }
    }

    fn kcov_open(&self, range: Option<(u64, u64)>) -> Option<Kcov> {
        if self.kcov {
            range.and_then(|r| Kcov::open(r).ok())
        } else {
            None
        }
    }

    /// Forks a child that runs `steps` on a copy of the state and exits without cleanup.
    fn fork(&self, state: &Mutex<State>, steps: &[Step]) -> Option<libc::pid_t> {
        let guard = state.lock().unwrap();
        let copy = guard.clone();
        self.count();
        // SAFETY: the child only runs this executor's system calls on its own copy of the state and
        // leaves with _exit; the state lock it inherited held is forgotten, not used.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            std::mem::forget(guard);
            // SAFETY: alarm has no memory effects; it bounds the child's life.
            unsafe { libc::alarm(5) };
            let st = Mutex::new(copy);
            let mut none = None;
            for s in steps {
                if !matches!(s.call, Call::Thread { .. } | Call::Fork { .. }) {
                    self.step(&st, s, &mut none);
                }
            }
            // SAFETY: leaving the child at once, without running the parent's destructors.
            unsafe { libc::_exit(0) };
        }
        drop(guard);
        (pid > 0).then_some(pid)
    }

    fn count(&self) {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Closes, unmaps and resets everything a program left behind.
    fn cleanup(&self, st: &State) {
        for m in st.maps.iter().filter(|m| m.live) {
            sys::munmap(m.addr, m.len);
        }
        for &fd in st
            .slots
            .iter()
            .chain(&st.spare)
            .chain(&st.dmabufs)
            .chain(&st.spike_fds)
        {
            if fd >= 0 {
                sys::close(fd);
            }
        }
        for npu in 0..self.npus {
            if st.npus_touched & (1 << npu) != 0 {
                emulator::reset(npu);
            }
        }
    }

    /// Issues a struct ioctl: mutations applied, argument placed per `ptr`, injection armed.
    fn ioctl<T: Copy>(
        &self,
        fd: RawFd,
        nr: u32,
        arg: &mut T,
        step: &Step,
        ptr: Ptr,
        kcov: &mut Option<Kcov>,
    ) -> Result<i32, i32> {
        let size = std::mem::size_of::<T>();
        // SAFETY: T is a plain repr(C) uapi struct: any byte pattern is a valid value of it.
        let bytes = unsafe { std::slice::from_raw_parts_mut(arg as *mut T as *mut u8, size) };
        let before = bytes.to_vec();
        apply(bytes, &step.mutate);
        redirect_moved_pointers(&before, bytes, self.pages.unmapped as u64);
        self.ioctl_bytes(fd, u::iowr(nr, size), bytes, step.fail_nth, ptr, kcov)
    }

    /// Issues ioctl `cmd` with `bytes` as its argument (pointed to per `ptr`).
    fn ioctl_bytes(
        &self,
        fd: RawFd,
        cmd: u32,
        bytes: &mut [u8],
        fail_nth: u32,
        ptr: Ptr,
        kcov: &mut Option<Kcov>,
    ) -> Result<i32, i32> {
        let mut ro = None;
        let addr = match ptr {
            Ptr::Arg => bytes.as_mut_ptr() as usize,
            Ptr::Null => 0,
            Ptr::Unmapped => self.pages.unmapped,
            Ptr::Kernel => 0xffff_ffff_8100_0000,
            Ptr::ReadOnly => {
                let page = sys::read_only_copy(bytes);
                ro = page;
                page.map(|(a, _)| a).unwrap_or(0)
            }
        };
        if ((cmd >> 8) & 0xff) == u::IOC_MAGIC && (cmd & 0xff) < 64 {
            self.counters
                .nrs
                .fetch_or(1 << (cmd & 0xff), Ordering::Relaxed);
        }
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        self.counters.ioctls.fetch_add(1, Ordering::Relaxed);
        let armed = fail_nth > 0 && self.inject && with_fail_nth(|f| f.arm(fail_nth).is_ok());
        if let Some(k) = kcov.as_mut() {
            k.start();
        }
        let r = sys::ioctl(fd, cmd, addr);
        if let Some(k) = kcov.as_mut() {
            k.stop();
        }
        if armed && with_fail_nth(|f| f.disarm()) {
            self.counters.injected.fetch_add(1, Ordering::Relaxed);
        }
        if let Some((a, len)) = ro {
            sys::munmap(a, len);
        }
        r
    }

    fn map(&self, st: &Mutex<State>, fd: RawFd, r: MapReq) {
        let MapReq {
            len,
            prot,
            private,
            offset: off,
            kind,
        } = r;
        let len = len as usize;
        if len == 0 || len > (64 << 20) {
            // Still ask: the kernel must refuse a zero or absurd length cleanly.
            self.count();
            let _ = sys::mmap(fd, len.min(1 << 40), prot, map_flags(private), off);
            return;
        }
        self.count();
        if let Ok(addr) = sys::mmap(fd, len, prot, map_flags(private), off) {
            st.lock().unwrap().maps.push(Map {
                addr,
                len,
                readable: prot & libc::PROT_READ != 0,
                writable: prot & libc::PROT_WRITE != 0,
                kind,
                live: true,
            });
        }
    }

    /// Runs one step (not Thread/Fork, which [`Executor::run`] handles).
    fn step(&self, st: &Mutex<State>, step: &Step, kcov: &mut Option<Kcov>) {
        let now = sys::monotonic_ns();
        self.step_inner(st, step, kcov, now);
        if let Some(p) = &self.profile {
            let mut e = p.lock().unwrap();
            let slot = e.entry(step.call.name()).or_insert((0, 0));
            slot.0 += 1;
            slot.1 += sys::monotonic_ns() - now;
        }
    }

    /// Turns on per-call-kind timing.
    pub fn with_profile(mut self) -> Self {
        self.profile = Some(Mutex::new(Default::default()));
        self
    }

    /// The per-call-kind timing, slowest total first: (name, calls, ms).
    pub fn profile(&self) -> Vec<(&'static str, u64, f64)> {
        let mut v: Vec<_> = self
            .profile
            .as_ref()
            .map(|p| {
                p.lock()
                    .unwrap()
                    .iter()
                    .map(|(k, (n, ns))| (*k, *n, *ns as f64 / 1e6))
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|a, b| b.2.total_cmp(&a.2));
        v
    }

    fn step_inner(&self, st: &Mutex<State>, step: &Step, kcov: &mut Option<Kcov>, now: u64) {
        let deadline = |rel: u64| {
            if rel <= 1 {
                rel
            } else {
                now + rel.min(MAX_WAIT_NS)
            }
        };
        match &step.call {
            Call::Open { slot } => {
                self.count();
                if let Ok(fd) = sys::open_dev() {
                    let mut s = st.lock().unwrap();
                    let old = std::mem::replace(&mut s.slots[*slot as usize % SLOTS], fd);
                    if old >= 0 {
                        s.spare.push(old);
                    }
                }
            }
            Call::Close { fd } => {
                let mut s = st.lock().unwrap();
                let slot = *fd as usize % SLOTS;
                if s.slots[slot] >= 0 {
                    self.count();
                    sys::close(s.slots[slot]);
                    s.slots[slot] = -1;
                }
            }
            Call::Dup { fd, slot } => {
                let mut s = st.lock().unwrap();
                let src = s.fd(*fd);
                if src >= 0 {
                    self.count();
                    if let Some(new) = sys::dup(src) {
                        let old = std::mem::replace(&mut s.slots[*slot as usize % SLOTS], new);
                        if old >= 0 {
                            s.spare.push(old);
                        }
                    }
                }
            }
            Call::GetInfo { fd, size, ptr } => {
                let fd = st.lock().unwrap().fd(*fd);
                with_scratch(|bytes| {
                    let bytes = &mut bytes[..(*size as usize).min(u::MAX_IOCTL_SIZE * 2)];
                    bytes.fill(0);
                    apply(bytes, &step.mutate);
                    let cmd = u::iowr(u::IOC_NR_GET_INFO, bytes.len());
                    let _ = self.ioctl_bytes(fd, cmd, bytes, step.fail_nth, *ptr, kcov);
                });
            }
            Call::Query { fd, ty, size, ptr } => {
                let fd = st.lock().unwrap().fd(*fd);
                // Always room for the largest result: a mutated `size` may promise the kernel more
                // than the call asked for, and it may write that much.
                with_scratch(|out| {
                    let mut q = u::Query {
                        query_type: *ty,
                        flags: 0,
                        size: *size as u64,
                        ptr: match (*size, *ptr) {
                            (0, _) => 0,
                            (_, Ptr::Unmapped) => self.pages.unmapped as u64,
                            _ => out.as_mut_ptr() as u64,
                        },
                        reserved: [0; 2],
                    };
                    let _ = self.ioctl(fd, u::IOC_NR_QUERY, &mut q, step, Ptr::Arg, kcov);
                });
            }
            Call::BufCreate {
                fd,
                size,
                flags,
                placement,
            } => {
                let slot = *fd;
                let fd = st.lock().unwrap().fd(slot);
                let mut a = u::BufferCreate {
                    size: *size,
                    flags: *flags,
                    placement: *placement,
                    ..Default::default()
                };
                if self
                    .ioctl(fd, u::IOC_NR_BUFFER_CREATE, &mut a, step, Ptr::Arg, kcov)
                    .is_ok()
                {
                    st.lock().unwrap().bufs.push(Buf {
                        handle: a.handle,
                        offset: a.mmap_offset,
                    });
                }
            }
            Call::BufInfo { fd, buf } => {
                let (fd, b) = {
                    let s = st.lock().unwrap();
                    (s.fd(*fd), pick(&s.bufs, *buf))
                };
                let mut a = u::BufferInfo {
                    handle: b.map_or(0x7fff, |b| b.handle),
                    ..Default::default()
                };
                let _ = self.ioctl(fd, u::IOC_NR_BUFFER_INFO, &mut a, step, Ptr::Arg, kcov);
            }
            Call::BufDestroy { fd, buf } => {
                let (fd, b) = {
                    let s = st.lock().unwrap();
                    (s.fd(*fd), pick(&s.bufs, *buf))
                };
                let mut a = u::BufferDestroy {
                    handle: b.map_or(0x7fff, |b| b.handle),
                    ..Default::default()
                };
                let _ = self.ioctl(fd, u::IOC_NR_BUFFER_DESTROY, &mut a, step, Ptr::Arg, kcov);
            }
            Call::MapBuf {
                fd,
                buf,
                len,
                prot,
                private,
            } => {
                let (fd, b) = {
                    let s = st.lock().unwrap();
                    (s.fd(*fd), pick(&s.bufs, *buf))
                };
                let off = b.map_or(0x1000_0000, |b| b.offset);
                self.map(
                    st,
                    fd,
                    MapReq {
                        len: *len,
                        prot: *prot & 3,
                        private: *private,
                        offset: off,
                        kind: MapKind::Buffer,
                    },
                );
            }
            Call::MapCompletion { fd, queue, write } => {
                let (fd, q) = {
                    let s = st.lock().unwrap();
                    (s.fd(*fd), pick(&s.queues, *queue))
                };
                let prot = libc::PROT_READ | if *write { libc::PROT_WRITE } else { 0 };
                let off = q.map_or(u::MMAP_COMPLETION_PAGE, |q| q.completion);
                self.map(
                    st,
                    fd,
                    MapReq {
                        len: 4096,
                        prot,
                        private: false,
                        offset: off,
                        kind: MapKind::Completion,
                    },
                );
            }
            Call::MapSpike { fd, sq } => {
                let (fd, q) = {
                    let s = st.lock().unwrap();
                    (s.fd(*fd), pick(&s.sqs, *sq))
                };
                let (off, size) = q.map_or((u::MMAP_SPIKE_RING, 4096), |q| (q.offset, q.size));
                self.map(
                    st,
                    fd,
                    MapReq {
                        len: size,
                        prot: libc::PROT_READ | libc::PROT_WRITE,
                        private: false,
                        offset: off,
                        kind: MapKind::Spike,
                    },
                );
            }
            Call::MapRaw { fd, offset, len } => {
                let fd = st.lock().unwrap().fd(*fd);
                self.map(
                    st,
                    fd,
                    MapReq {
                        len: *len,
                        prot: libc::PROT_READ,
                        private: false,
                        offset: *offset & !0xfff,
                        kind: MapKind::Other,
                    },
                );
            }
            Call::MapDmabuf { dmabuf, len } => {
                let fd = pick(&st.lock().unwrap().dmabufs, *dmabuf).unwrap_or(-1);
                self.map(
                    st,
                    fd,
                    MapReq {
                        len: *len,
                        prot: libc::PROT_READ | libc::PROT_WRITE,
                        private: false,
                        offset: 0,
                        kind: MapKind::Other,
                    },
                );
            }
            Call::Unmap { map } => {
                let mut s = st.lock().unwrap();
                if !s.maps.is_empty() {
                    let i = *map as usize % s.maps.len();
                    if s.maps[i].live {
                        self.count();
                        sys::munmap(s.maps[i].addr, s.maps[i].len);
                        s.maps[i].live = false;
                    }
                }
            }
            Call::Touch { map, at, write } => {
                let s = st.lock().unwrap();
                if let Some(m) = pick(&s.maps, *map).filter(|m| m.live && m.kind != MapKind::Other)
                {
                    // A quarter of the touches of rings go to their header: two index words set
                    // to small garbage (within a ring or two of any entry count, or past it).
                    let header = matches!(m.kind, MapKind::Rings(_)) && *at >> 62 == 0;
                    let span = if header {
                        (u::RING_SQES_OFFSET as usize).min(m.len)
                    } else {
                        m.len
                    };
                    let off = (*at as usize % span) & !7;
                    let val = if header {
                        ((*at >> 16) & 0x1fff) | ((*at >> 40) & 0x1fff) << 32
                    } else {
                        off as u64 ^ 0x5a5a_5a5a_5a5a_5a5a
                    };
                    // SAFETY: `off` is inside a live mapping this program made (8-aligned); writes
                    // only go to mappings made writable, reads to readable ones.
                    unsafe {
                        let p = (m.addr + off) as *mut u64;
                        if *write && m.writable {
                            p.write_volatile(val);
                        } else if m.readable {
                            let _ = p.read_volatile();
                        }
                    }
                }
            }
            Call::Export { fd, buf, flags } => {
                let (fd, b) = {
                    let s = st.lock().unwrap();
                    (s.fd(*fd), pick(&s.bufs, *buf))
                };
                let mut a = u::BufferExport {
                    handle: b.map_or(0x7fff, |b| b.handle),
                    flags: *flags,
                    ..Default::default()
                };
                if self
                    .ioctl(fd, u::IOC_NR_BUFFER_EXPORT, &mut a, step, Ptr::Arg, kcov)
                    .is_ok()
                    && a.fd >= 0
                {
                    st.lock().unwrap().dmabufs.push(a.fd);
                }
            }
            Call::Import { fd, dmabuf } => {
                let slot = *fd;
                let (fd, d) = {
                    let s = st.lock().unwrap();
                    (s.fd(slot), pick(&s.dmabufs, *dmabuf))
                };
                let mut a = u::BufferImport {
                    fd: d.unwrap_or(-1),
                    ..Default::default()
                };
                if self
                    .ioctl(fd, u::IOC_NR_BUFFER_IMPORT, &mut a, step, Ptr::Arg, kcov)
                    .is_ok()
                {
                    st.lock().unwrap().bufs.push(Buf {
                        handle: a.handle,
                        offset: a.mmap_offset,
                    });
                }
            }
            Call::CloseDmabuf { dmabuf } => {
                let mut s = st.lock().unwrap();
                if !s.dmabufs.is_empty() {
                    let i = *dmabuf as usize % s.dmabufs.len();
                    if s.dmabufs[i] >= 0 {
                        self.count();
                        sys::close(s.dmabufs[i]);
                        s.dmabufs[i] = -1;
                    }
                }
            }
            Call::QueueCreate {
                fd,
                flags,
                priority,
                timeout_ms,
            } => {
                let slot = *fd;
                let fd = st.lock().unwrap().fd(slot);
                let mut a = u::QueueCreate {
                    flags: *flags,
                    priority: *priority,
                    timeout_ms: *timeout_ms,
                    ..Default::default()
                };
                if self
                    .ioctl(fd, u::IOC_NR_QUEUE_CREATE, &mut a, step, Ptr::Arg, kcov)
                    .is_ok()
                {
                    st.lock().unwrap().queues.push(Queue {
                        slot,
                        id: a.queue_id,
                        completion: a.completion_offset,
                        last_seq: 0,
                        rings: None,
                    });
                }
            }
            Call::QueueDestroy { fd, queue } => {
                let (fd, q) = {
                    let s = st.lock().unwrap();
                    (s.fd(*fd), pick(&s.queues, *queue))
                };
                let mut a = u::QueueDestroy {
                    queue_id: q.map_or(0x7fff, |q| q.id),
                    ..Default::default()
                };
                let _ = self.ioctl(fd, u::IOC_NR_QUEUE_DESTROY, &mut a, step, Ptr::Arg, kcov);
            }
            Call::Submit {
                fd,
                queue,
                prims,
                count,
                flags,
                ptr,
            } => {
                let unmapped = self.pages.unmapped as u64;
                // `_deps` holds the dependency lists the primitives point to until the call is done.
                let (fd, q, mut abi, _deps) = {
                    let s = st.lock().unwrap();
                    let (abi, deps): (Vec<u::Primitive>, Vec<_>) =
                        prims.iter().map(|p| prim_abi(p, &s, unmapped)).unzip();
                    (s.fd(*fd), pick(&s.queues, *queue), abi, deps)
                };
                let mut a = u::Submit {
                    queue_id: q.map_or(0x7fff, |q| q.id),
                    count: count.unwrap_or(abi.len() as u32),
                    flags: *flags,
                    prims: match ptr {
                        Ptr::Arg => abi.as_mut_ptr() as u64,
                        Ptr::Null => 0,
                        Ptr::Unmapped => self.pages.unmapped as u64,
                        Ptr::Kernel => 0xffff_ffff_8100_0000,
                        Ptr::ReadOnly => abi.as_ptr() as u64,
                    },
                    ..Default::default()
                };
                // A count above the array's length would read past it: the array grows to match.
                if (a.count as usize) > abi.len()
                    && a.count <= u::MAX_SUBMIT * 2
                    && *ptr == Ptr::Arg
                {
                    abi.resize(a.count as usize, u::Primitive::default());
                    a.prims = abi.as_mut_ptr() as u64;
                }
                if self
                    .ioctl(fd, u::IOC_NR_SUBMIT, &mut a, step, Ptr::Arg, kcov)
                    .is_ok()
                {
                    let mut s = st.lock().unwrap();
                    if let Some(qq) = s.queues.iter_mut().find(|x| {
                        Some(x.id) == q.map(|q| q.id) && x.slot == q.map_or(255, |q| q.slot)
                    }) {
                        qq.last_seq = a.last_seq;
                    }
                }
            }
            Call::Wait {
                fd,
                queue,
                delta,
                timeout_ns,
                flags,
            } => {
                let (fd, q) = {
                    let s = st.lock().unwrap();
                    (s.fd(*fd), pick(&s.queues, *queue))
                };
                let mut a = u::Wait {
                    queue_id: q.map_or(0x7fff, |q| q.id),
                    flags: *flags,
                    seq: q.map_or(1, |q| q.last_seq).wrapping_add_signed(*delta),
                    timeout_ns: deadline(*timeout_ns),
                    ..Default::default()
                };
                let _ = self.ioctl(fd, u::IOC_NR_WAIT, &mut a, step, Ptr::Arg, kcov);
            }
            Call::ExecRegister {
                fd,
                name,
                ops,
                det_ops,
                dtypes,
                flags,
            } => {
                let fd = st.lock().unwrap().fd(*fd);
                let mut n = [0u8; u::BACKEND_NAME_LEN];
                let text = format!("fz{}", name % 8);
                n[..text.len()].copy_from_slice(text.as_bytes());
                let mut a = u::ExecutorRegister {
                    name: n,
                    ops: *ops,
                    deterministic_ops: *det_ops,
                    dtypes: *dtypes,
                    flags: *flags,
                    backend_id: 0,
                    pad: 0,
                    reserved: [0; 2],
                };
                if self
                    .ioctl(
                        fd,
                        u::IOC_NR_EXECUTOR_REGISTER,
                        &mut a,
                        step,
                        Ptr::Arg,
                        kcov,
                    )
                    .is_ok()
                {
                    st.lock().unwrap().backends.push(a.backend_id);
                }
            }
            Call::JobFetch {
                fd,
                flags,
                timeout_ns,
            } => {
                let slot = *fd;
                let fd = st.lock().unwrap().fd(slot);
                // SAFETY: JobFetch is a plain repr(C) struct; all zero is its valid input.
                let mut a: u::JobFetch = unsafe { std::mem::zeroed() };
                a.flags = *flags;
                a.timeout_ns = deadline(*timeout_ns);
                if self
                    .ioctl(fd, u::IOC_NR_JOB_FETCH, &mut a, step, Ptr::Arg, kcov)
                    .is_ok()
                {
                    st.lock().unwrap().jobs.push(Job {
                        slot,
                        id: a.job_id,
                        prim: a.prim,
                        done: false,
                    });
                }
            }
            Call::JobComplete {
                fd,
                job,
                status,
                produced,
                flags,
                write_output,
            } => {
                let slot = *fd;
                let (fd, j) = {
                    let s = st.lock().unwrap();
                    let mine: Vec<Job> = s
                        .jobs
                        .iter()
                        .filter(|j| j.slot == slot % SLOTS as u8)
                        .copied()
                        .collect();
                    (
                        s.fd(slot),
                        pick(&mine, *job).or_else(|| pick(&s.jobs, *job)),
                    )
                };
                if *write_output {
                    if let Some(j) = j {
                        self.write_output(fd, &j.prim);
                    }
                }
                let mut a = u::JobComplete {
                    job_id: j.map_or(0xdead, |j| j.id),
                    status: *status,
                    flags: *flags,
                    produced: *produced,
                    ..Default::default()
                };
                if self
                    .ioctl(fd, u::IOC_NR_JOB_COMPLETE, &mut a, step, Ptr::Arg, kcov)
                    .is_ok()
                {
                    if let Some(j) = j {
                        st.lock().unwrap().complete_job(j.slot, j.id);
                    }
                }
            }
            Call::RouteSet {
                fd,
                flags,
                backend,
                op,
                dtype,
                det,
                min,
                max,
            } => {
                let (fd, b) = {
                    let s = st.lock().unwrap();
                    (s.fd(*fd), pick(&s.backends, *backend))
                };
                let mut a = u::RouteSet {
                    flags: *flags,
                    backend_id: b.unwrap_or(*backend as u32),
                    op: *op,
                    dtype: *dtype,
                    deterministic: *det,
                    min_bytes: *min,
                    max_bytes: *max,
                    ..Default::default()
                };
                let _ = self.ioctl(fd, u::IOC_NR_ROUTE_SET, &mut a, step, Ptr::Arg, kcov);
            }
            Call::EventWait {
                fd,
                after,
                capacity,
                timeout_ns,
                flags,
                ptr,
            } => {
                let fd = st.lock().unwrap().fd(*fd);
                // Room for the whole event log (the kernel writes at most that many), whatever
                // `capacity` (or a mutation of it) says.
                let capacity = *capacity;
                with_scratch(|events| {
                    let mut a = u::EventWait {
                        after_seq: *after,
                        timeout_ns: deadline(*timeout_ns),
                        events: match ptr {
                            Ptr::Arg => events.as_mut_ptr() as u64,
                            Ptr::Null => 0,
                            Ptr::Kernel => 0xffff_ffff_8100_0000,
                            _ => self.pages.unmapped as u64,
                        },
                        capacity,
                        flags: *flags,
                        ..Default::default()
                    };
                    let _ = self.ioctl(fd, u::IOC_NR_EVENT_WAIT, &mut a, step, Ptr::Arg, kcov);
                });
            }
            Call::SpikeCreate { fd, entries, flags } => {
                let slot = *fd;
                let fd = st.lock().unwrap().fd(slot);
                let mut a = u::SpikeQueueCreate {
                    entries: *entries,
                    flags: *flags,
                    ..Default::default()
                };
                if self
                    .ioctl(
                        fd,
                        u::IOC_NR_SPIKE_QUEUE_CREATE,
                        &mut a,
                        step,
                        Ptr::Arg,
                        kcov,
                    )
                    .is_ok()
                {
                    st.lock().unwrap().sqs.push(Sq {
                        id: a.queue_id,
                        offset: a.mmap_offset,
                        size: a.mmap_size,
                    });
                }
            }
            Call::SpikeDestroy { fd, sq } | Call::SpikeNotify { fd, sq } => {
                let (fd, q) = {
                    let s = st.lock().unwrap();
                    (s.fd(*fd), pick(&s.sqs, *sq))
                };
                let nr = if matches!(step.call, Call::SpikeDestroy { .. }) {
                    u::IOC_NR_SPIKE_QUEUE_DESTROY
                } else {
                    u::IOC_NR_SPIKE_NOTIFY
                };
                let mut a = u::SpikeQueueId {
                    queue_id: q.map_or(0x7fff, |q| q.id),
                    ..Default::default()
                };
                let _ = self.ioctl(fd, nr, &mut a, step, Ptr::Arg, kcov);
            }
            Call::SpikeWait {
                fd,
                sq,
                min_events,
                timeout_ns,
            } => {
                let (fd, q) = {
                    let s = st.lock().unwrap();
                    (s.fd(*fd), pick(&s.sqs, *sq))
                };
                let mut a = u::SpikeWait {
                    queue_id: q.map_or(0x7fff, |q| q.id),
                    min_events: *min_events,
                    timeout_ns: deadline(*timeout_ns),
                    ..Default::default()
                };
                let _ = self.ioctl(fd, u::IOC_NR_SPIKE_WAIT, &mut a, step, Ptr::Arg, kcov);
            }
            Call::SpikeExport { fd, sq, flags } => {
                let (fd, q) = {
                    let s = st.lock().unwrap();
                    (s.fd(*fd), pick(&s.sqs, *sq))
                };
                let mut a = u::SpikeQueueExport {
                    queue_id: q.map_or(0x7fff, |q| q.id),
                    flags: *flags,
                    ..Default::default()
                };
                if self
                    .ioctl(
                        fd,
                        u::IOC_NR_SPIKE_QUEUE_EXPORT,
                        &mut a,
                        step,
                        Ptr::Arg,
                        kcov,
                    )
                    .is_ok()
                    && a.fd >= 0
                {
                    st.lock().unwrap().spike_fds.push(a.fd);
                }
            }
            Call::SpikeImport { fd, spike_fd } => {
                let slot = *fd;
                let (fd, d) = {
                    let s = st.lock().unwrap();
                    (s.fd(slot), pick(&s.spike_fds, *spike_fd))
                };
                let mut a = u::SpikeQueueImport {
                    fd: d.unwrap_or(-1),
                    ..Default::default()
                };
                if self
                    .ioctl(
                        fd,
                        u::IOC_NR_SPIKE_QUEUE_IMPORT,
                        &mut a,
                        step,
                        Ptr::Arg,
                        kcov,
                    )
                    .is_ok()
                {
                    st.lock().unwrap().sqs.push(Sq {
                        id: a.queue_id,
                        offset: a.mmap_offset,
                        size: a.mmap_size,
                    });
                }
            }
            Call::SpikePush { map, n } => {
                let s = st.lock().unwrap();
                if let Some(m) =
                    pick(&s.maps, *map).filter(|m| m.live && m.kind == MapKind::Spike && m.writable)
                {
                    spike_push(m, *n);
                }
            }
            Call::PowerSet {
                fd,
                backend,
                flags,
                laser,
                tec,
            } => {
                let fd = st.lock().unwrap().fd(*fd);
                // Photonic backends are found by QUERY_BACKENDS at startup; `backend` picks among
                // small ids too, so both real and absent ids are tried.
                let mut a = u::PowerSet {
                    backend_id: *backend as u32,
                    flags: *flags,
                    laser_cap_mw: *laser,
                    tec_floor_permille: *tec,
                    ..Default::default()
                };
                let _ = self.ioctl(fd, u::IOC_NR_POWER_SET, &mut a, step, Ptr::Arg, kcov);
            }
            Call::RingSetup {
                fd,
                queue,
                sq_entries,
                cq_entries,
                flags,
            } => {
                let slot = *fd;
                let (fd, q) = {
                    let s = st.lock().unwrap();
                    (s.fd(slot), pick(&s.queues, *queue))
                };
                let mut a = u::RingSetup {
                    queue_id: q.map_or(0x7fff, |q| q.id),
                    flags: *flags,
                    sq_entries: *sq_entries,
                    cq_entries: *cq_entries,
                    ..Default::default()
                };
                if self
                    .ioctl(fd, u::IOC_NR_RING_SETUP, &mut a, step, Ptr::Arg, kcov)
                    .is_ok()
                {
                    // The queue that got the rings: the one named, or (a mutated id) another
                    // queue of the slot's context.
                    let mut s = st.lock().unwrap();
                    let named = q.map(|q| q.slot);
                    if let Some(x) = s
                        .queues
                        .iter_mut()
                        .find(|x| x.id == a.queue_id && (x.slot == slot || Some(x.slot) == named))
                    {
                        x.rings = Some(RingInfo {
                            offset: a.mmap_offset,
                            size: a.mmap_size,
                            sq_entries: a.sq_entries,
                        });
                    }
                }
            }
            Call::MapRings { fd, queue, len } => {
                let (fd, q) = {
                    let s = st.lock().unwrap();
                    (s.fd(*fd), pick(&s.queues, *queue))
                };
                let cookie = |id: u32| (u64::from(id) << u::MMAP_HANDLE_SHIFT) | u::MMAP_RINGS;
                // Without a RING_SETUP seen here (none, or one in a fork), one page is asked for:
                // the kernel maps it only if that is the rings' whole size.
                let (offset, size, sq_entries) = match (q, q.and_then(|q| q.rings)) {
                    (_, Some(r)) => (r.offset, r.size, r.sq_entries),
                    (Some(q), None) => (cookie(q.id), 4096, 0),
                    (None, None) => (cookie(0x7fff), 4096, 0),
                };
                let geom = RingGeom {
                    slot: q.map_or(u8::MAX, |q| q.slot),
                    queue: q.map_or(0x7fff, |q| q.id),
                    sq_entries,
                };
                self.map(
                    st,
                    fd,
                    MapReq {
                        len: len.unwrap_or(size),
                        prot: libc::PROT_READ | libc::PROT_WRITE,
                        private: false,
                        offset,
                        kind: MapKind::Rings(geom),
                    },
                );
            }
            Call::Enter {
                fd,
                queue,
                prims,
                tail_skew,
                to_submit,
                min_complete,
                flags,
                timeout_ns,
            } => {
                let slot = *fd;
                let unmapped = self.pages.unmapped as u64;
                let (fd, q, to_submit) = {
                    let mut s = st.lock().unwrap();
                    let q = pick(&s.queues, *queue);
                    let to_submit = match q.and_then(|q| s.rings_map(&q)) {
                        Some((m, g)) => {
                            let (abi, lists): (Vec<u::Primitive>, Vec<_>) =
                                prims.iter().map(|p| prim_abi(p, &s, unmapped)).unzip();
                            s.dep_lists.extend(lists);
                            // SAFETY: `m` is a live, writable mapping of `m.len` bytes this
                            // program made (page-aligned); the state lock, held, keeps other
                            // threads from unmapping it meanwhile.
                            let ready = unsafe {
                                ring_write(m.addr, m.len, g.sq_entries, &abi, *tail_skew)
                            };
                            to_submit.unwrap_or(ready)
                        }
                        None => to_submit.unwrap_or(prims.len() as u32),
                    };
                    (s.fd(slot), q, to_submit)
                };
                let mut a = u::Enter {
                    queue_id: q.map_or(0x7fff, |q| q.id),
                    flags: *flags,
                    to_submit,
                    min_complete: *min_complete,
                    timeout_ns: deadline(*timeout_ns),
                    ..Default::default()
                };
                if self
                    .ioctl(fd, u::IOC_NR_ENTER, &mut a, step, Ptr::Arg, kcov)
                    .is_ok()
                    && a.submitted > 0
                {
                    let mut s = st.lock().unwrap();
                    if let Some(qq) = q.and_then(|q| {
                        s.queues
                            .iter_mut()
                            .find(|x| x.id == q.id && x.slot == q.slot)
                    }) {
                        qq.last_seq = a.first_seq.wrapping_add(u64::from(a.submitted) - 1);
                    }
                }
            }
            Call::JobBatch {
                fd,
                flags,
                done,
                n_complete,
                max_fetch,
                max_revoked,
                timeout_ns,
                ptr,
                out_ptr,
                write_output,
            } => {
                let slot = *fd;
                let (fd, picked) = {
                    let s = st.lock().unwrap();
                    (s.fd(slot), batch_jobs(&s, slot, done))
                };
                if *write_output {
                    for (j, _) in picked.iter().take(4) {
                        if let Some(j) = j {
                            self.write_output(fd, &j.prim);
                        }
                    }
                }
                let mut completions: Vec<u::JobDone> = picked
                    .iter()
                    .map(|(j, d)| u::JobDone {
                        job_id: j.map_or(0xdead, |j| j.id),
                        status: d.status,
                        produced: d.produced,
                    })
                    .collect();
                let n = n_complete.unwrap_or(completions.len() as u32);
                // A count above the array's length would read past it: the array grows to match.
                if n as usize > completions.len()
                    && n <= 2 * u::MAX_JOB_BATCH
                    && matches!(ptr, Ptr::Arg | Ptr::ReadOnly)
                {
                    completions.resize(n as usize, u::JobDone::default());
                }
                // Room for the most the kernel writes, whatever a mutated count says.
                let mut jobs = vec![u::BatchJob::default(); u::MAX_JOB_BATCH as usize];
                let mut revoked = vec![0u32; u::MAX_JOB_BATCH as usize * u::MAX_OPERANDS];
                let ro = (*out_ptr == Ptr::ReadOnly)
                    .then(|| sys::read_only_copy(&[0; 8]))
                    .flatten();
                let out = |real: u64| match out_ptr {
                    Ptr::Arg => real,
                    Ptr::Null => 0,
                    Ptr::Unmapped => self.pages.unmapped as u64,
                    Ptr::Kernel => 0xffff_ffff_8100_0000,
                    Ptr::ReadOnly => ro.map_or(0, |(a, _)| a as u64),
                };
                let mut a = u::JobBatch {
                    flags: *flags,
                    n_complete: n,
                    completions: match ptr {
                        _ if completions.is_empty() => 0,
                        Ptr::Arg | Ptr::ReadOnly => completions.as_ptr() as u64,
                        Ptr::Null => 0,
                        Ptr::Unmapped => self.pages.unmapped as u64,
                        Ptr::Kernel => 0xffff_ffff_8100_0000,
                    },
                    max_fetch: *max_fetch,
                    jobs: out(jobs.as_mut_ptr() as u64),
                    timeout_ns: deadline(*timeout_ns),
                    revoked: out(revoked.as_mut_ptr() as u64),
                    max_revoked: *max_revoked,
                    ..Default::default()
                };
                let r = self.ioctl(fd, u::IOC_NR_JOB_BATCH, &mut a, step, Ptr::Arg, kcov);
                if let Some((addr, len)) = ro {
                    sys::munmap(addr, len);
                }
                // What the kernel applied: all on success, those before `error_index` on a
                // refused completion (none when the call failed before the completions).
                let applied = match r {
                    Ok(_) => picked.len(),
                    Err(_) if a.error_index < a.n_complete => {
                        (a.error_index as usize).min(picked.len())
                    }
                    Err(_) => 0,
                };
                let mut s = st.lock().unwrap();
                for (j, _) in picked.iter().take(applied) {
                    if let Some(j) = j {
                        s.complete_job(j.slot, j.id);
                    }
                }
                if r.is_ok() && *out_ptr == Ptr::Arg {
                    for b in jobs.iter().take((a.n_fetched as usize).min(jobs.len())) {
                        s.jobs.push(Job {
                            slot,
                            id: b.job_id,
                            prim: b.prim,
                            done: false,
                        });
                    }
                }
            }
            Call::Raw {
                fd,
                cmd,
                bytes,
                ptr,
            } => {
                let fd = st.lock().unwrap().fd(*fd);
                let size = ((cmd >> u::IOC_SIZESHIFT) & ((1 << u::IOC_SIZEBITS) - 1)) as usize;
                let mut buf = bytes.clone();
                buf.resize(size.max(bytes.len()), 0);
                apply(&mut buf, &step.mutate);
                let _ = self.ioctl_bytes(fd, *cmd, &mut buf, step.fail_nth, *ptr, kcov);
            }
            Call::Inject { npu, cmd } => {
                if self.npus > 0 {
                    let npu = npu % self.npus;
                    st.lock().unwrap().npus_touched |= 1 << npu;
                    self.counters
                        .emulator_faults
                        .fetch_add(1, Ordering::Relaxed);
                    emulator::send(npu, cmd);
                }
            }
            Call::Sleep { us } => {
                std::thread::sleep(Duration::from_micros((*us).min(20_000) as u64))
            }
            Call::Thread { .. } | Call::Fork { .. } => {}
        }
    }

    /// Fills a fetched job's output operand (mapped through the executor's own handle).
    fn write_output(&self, fd: RawFd, prim: &u::Primitive) {
        let out = prim.n_inputs as usize;
        if out >= u::MAX_OPERANDS {
            return;
        }
        let t = prim.operands[out];
        let mut info = u::BufferInfo {
            handle: t.buffer,
            ..Default::default()
        };
        self.count();
        if sys::ioctl_struct(fd, u::IOC_NR_BUFFER_INFO, &mut info).is_err() || info.size == 0 {
            return;
        }
        self.count();
        if let Ok(addr) = sys::mmap(
            fd,
            info.size as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            info.mmap_offset,
        ) {
            let at = (t.offset as usize).min(info.size as usize);
            let n = (info.size as usize - at).min(4096);
            // SAFETY: [at, at + n) lies inside the fresh writable mapping of `info.size` bytes.
            unsafe { std::ptr::write_bytes((addr + at) as *mut u8, 0x3f, n) };
            self.count();
            sys::munmap(addr, info.size as usize);
        }
    }
}

/// Runs `f` on this thread's 64 KiB scratch buffer: room for any QUERY result, the whole event log
/// and the largest GET_INFO, whatever size a mutated field promises the kernel.
fn with_scratch<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 64 << 10]);
    }
    SCRATCH.with(|s| f(&mut s.borrow_mut()))
}

/// Runs `f` on this thread's `fail-nth` file, opened once per thread (arming must not open it:
/// the open's own allocations would consume the armed count). False when unavailable.
fn with_fail_nth(f: impl FnOnce(&sys::FailNth) -> bool) -> bool {
    thread_local! {
        static FAIL_NTH: Option<sys::FailNth> = sys::FailNth::open().ok();
    }
    FAIL_NTH.with(|file| file.as_ref().is_some_and(f))
}

fn map_flags(private: bool) -> i32 {
    if private {
        libc::MAP_PRIVATE
    } else {
        libc::MAP_SHARED
    }
}

/// Writes each field change into `bytes` (changes past the end are dropped).
pub fn apply(bytes: &mut [u8], fields: &[Field]) {
    for f in fields {
        let (off, w) = (f.off as usize, f.width.clamp(1, 8) as usize);
        if off + w <= bytes.len() {
            bytes[off..off + w].copy_from_slice(&f.val.to_le_bytes()[..w]);
        }
    }
}

/// Sends every pointer field that a mutation moved to another user address to the unmapped page.
/// A pointer the fuzzer set up names its own scratch memory; moved by a few bytes or a flipped bit
/// it names the fuzzer's heap, and the kernel, writing a result there as asked, corrupted the
/// worker's heap (musl's `free` then stopped it with a general protection fault: the open
/// "worker killed" reports of 2026-12-06). Pointer fields are the 8-byte words that held a user
/// address before the mutation; the kernel's EFAULT paths are still exercised through the unmapped
/// page. A non-pointer u64 (a size, an offset) that held and was mutated to values in the same
/// range is redirected too: those mutations are lost, a price worth paying.
fn redirect_moved_pointers(before: &[u8], after: &mut [u8], unmapped: u64) {
    // Addresses a process can map: from mmap_min_addr (64 KiB) up to the top of user space.
    let user = |v: u64| (0x1_0000..1 << 47).contains(&v);
    for (b, a) in before.chunks_exact(8).zip(after.chunks_exact_mut(8)) {
        let old = u64::from_le_bytes(b.try_into().unwrap_or_default());
        let new = u64::from_le_bytes((&*a).try_into().unwrap_or_default());
        if old != new && user(old) && user(new) {
            a.copy_from_slice(&unmapped.to_le_bytes());
        }
    }
}

/// The ABI primitive of `p` (operand buffer indices resolved to handles, dependencies to queue ids
/// and sequence numbers) and the dependency list its `deps` points to: the list must stay alive
/// (and unchanged) until the kernel has read it. `unmapped` is the fuzzer's unmapped page.
fn prim_abi(p: &Prim, s: &State, unmapped: u64) -> (u::Primitive, Vec<u::Dependency>) {
    let mut a = prim_ops(p, &s.bufs);
    let mut list: Vec<u::Dependency> = p.deps.iter().map(|d| dependency(d, &s.queues)).collect();
    let n = p.n_deps.unwrap_or(list.len() as u32);
    let ours = matches!(p.deps_ptr, Ptr::Arg | Ptr::ReadOnly);
    // A count above the list's length would read past it: the list grows to match.
    if ours && n as usize > list.len() && n <= 2 * u::MAX_DEPS {
        list.resize(n as usize, u::Dependency::default());
    }
    a.n_deps = n;
    a.deps = match p.deps_ptr {
        Ptr::Arg | Ptr::ReadOnly if list.is_empty() => 0,
        Ptr::Arg | Ptr::ReadOnly => list.as_ptr() as u64,
        Ptr::Null => 0,
        Ptr::Unmapped => unmapped,
        Ptr::Kernel => 0xffff_ffff_8100_0000,
    };
    (a, list)
}

/// The ABI dependency of `d`: its queue index resolved to an id (0x7fff when the program has no
/// queue), and a sequence number counted back from that queue's last submitted one when it says so.
fn dependency(d: &Dep, queues: &[Queue]) -> u::Dependency {
    let q = d.queue.and_then(|i| pick(queues, i));
    let seq = if d.back && d.flags & u::DEP_RELATIVE == 0 {
        q.map_or(1, |q| q.last_seq).wrapping_sub(d.seq)
    } else {
        d.seq
    };
    u::Dependency {
        queue_id: match d.queue {
            None => 0,
            Some(_) => q.map_or(0x7fff, |q| q.id),
        },
        flags: d.flags,
        seq,
    }
}

/// The jobs the completions `done` of a JOB_BATCH on `slot` name, in order: see [`Done::job`].
/// An entry past the slot's outstanding jobs is left out; a stale one with no job at all names
/// none (`None`: an id no executor runs).
fn batch_jobs(s: &State, slot: u8, done: &[Done]) -> Vec<(Option<Job>, Done)> {
    let mine: Vec<Job> = s
        .jobs
        .iter()
        .filter(|j| j.slot == slot % SLOTS as u8 && !j.done)
        .copied()
        .collect();
    done.iter()
        .filter_map(|d| {
            if d.job & Done::STALE != 0 {
                Some((pick(&s.jobs, d.job & !Done::STALE), *d))
            } else {
                mine.get(d.job as usize).map(|j| (Some(*j), *d))
            }
        })
        .collect()
}

/// Writes `prims` into the submission ring mapped at `addr` (`len` bytes; `sq_entries` from
/// RING_SETUP, 0 when unknown) the way a client does: from `sq_tail` on, as many as the ring has
/// room for (a tail more than a ring ahead of `sq_head`, garbage, is first reset to `sq_head`),
/// then `sq_tail` published (release) past them, moved by `skew`. Returns how many entries the
/// published tail says the ring holds (`sq_tail - sq_head`).
///
/// # Safety
///
/// `addr` must be 8-aligned and valid for reads and writes of `len` bytes for the whole call.
unsafe fn ring_write(
    addr: usize,
    len: usize,
    sq_entries: u32,
    prims: &[u::Primitive],
    skew: i32,
) -> u32 {
    use std::mem::{offset_of, size_of};
    let sqes = u::RING_SQES_OFFSET as usize;
    if len < sqes {
        return 0;
    }
    // The header's words lie within the first RING_SQES_OFFSET bytes, inside `len`.
    let word = |off: usize| (addr + off) as *mut u32;
    let tail_p = word(offset_of!(u::RingHeader, sq_tail));
    // SAFETY: a header word (above), aligned; the caller's guarantee covers it.
    let head = unsafe { word(offset_of!(u::RingHeader, sq_head)).read_volatile() };
    let entries = if sq_entries.is_power_of_two() {
        sq_entries
    } else {
        // Unknown: the header says, if it is still sane.
        // SAFETY: a header word, as above.
        let e = unsafe { word(offset_of!(u::RingHeader, sq_entries)).read_volatile() };
        if e.is_power_of_two() && e <= u::RING_MAX_SQ_ENTRIES {
            e
        } else {
            1
        }
    };
    let slots = (len - sqes) / size_of::<u::Primitive>();
    // SAFETY: a header word, as above.
    let mut tail = unsafe { tail_p.read_volatile() };
    if tail.wrapping_sub(head) > entries {
        tail = head;
    }
    let n = (prims.len() as u32).min(entries - tail.wrapping_sub(head));
    for (i, p) in prims.iter().take(n as usize).enumerate() {
        let index = (tail.wrapping_add(i as u32) & (entries - 1)) as usize;
        if index < slots {
            let at = addr + sqes + index * size_of::<u::Primitive>();
            // SAFETY: entry `index` < `slots` lies within `len`; it is 8-aligned (entries start
            // at 128 and are 400 bytes each) and a Primitive is plain integers.
            unsafe { (at as *mut u::Primitive).write_volatile(*p) };
        }
    }
    std::sync::atomic::fence(Ordering::Release);
    let published = tail.wrapping_add(n).wrapping_add_signed(skew);
    // SAFETY: a header word, as above.
    unsafe { tail_p.write_volatile(published) };
    published.wrapping_sub(head)
}

/// The ABI primitive of `p` without dependencies, its operands' buffer indices resolved to handles.
fn prim_ops(p: &Prim, bufs: &[Buf]) -> u::Primitive {
    let mut a = u::Primitive {
        op: p.op,
        dtype: p.dtype,
        out_dtype: p.out_dtype,
        n_inputs: p.n_inputs,
        rounding: p.rounding,
        flags: p.flags,
        seed: p.seed,
        params: p.params,
        ..Default::default()
    };
    for (i, o) in p.operands.iter().take(u::MAX_OPERANDS).enumerate() {
        a.operands[i] = tensor(o, bufs);
    }
    a
}

fn tensor(o: &Operand, bufs: &[Buf]) -> u::Tensor {
    u::Tensor {
        buffer: pick(bufs, o.buf).map_or(o.buf as u32, |b| b.handle),
        ndim: o.ndim,
        offset: o.offset,
        shape: o.shape,
        strides: o.strides,
    }
}

/// Produces `n` events into a user-produced spike ring: events at `tail & mask`, then `tail` moves.
fn spike_push(m: Map, n: u16) {
    if m.len < 4096 {
        return;
    }
    let hdr = m.addr as *mut u32;
    // SAFETY: the mapping is a live, writable spike ring of at least one page: the header's words
    // are in bounds; event slots are bounded by the header's `entries` clamped to the mapping.
    unsafe {
        let tail_p = hdr.add(1);
        let mask = hdr.add(2).read_volatile();
        let cap = ((m.len - u::SPIKE_RING_EVENTS_OFFSET as usize) / 16) as u32;
        let mut tail = tail_p.read_volatile();
        for i in 0..n as u32 {
            let slot = (tail & mask) % cap.max(1);
            let ev =
                (m.addr + u::SPIKE_RING_EVENTS_OFFSET as usize + slot as usize * 16) as *mut u64;
            ev.write_volatile(i as u64);
            ev.add(1).write_volatile((i as u64) << 8);
            tail = tail.wrapping_add(1);
        }
        std::sync::atomic::fence(Ordering::Release);
        tail_p.write_volatile(tail);
    }
}

#[cfg(test)]
mod tests {
    use super::{
        apply, batch_jobs, prim_abi, redirect_moved_pointers, ring_write, Job, Queue, State,
    };
    use crate::prog::{Dep, Done, Field, Prim, Ptr};
    use lightos_uapi as u;

    /// A primitive with no operands and `deps`.
    fn prim(deps: Vec<Dep>) -> Prim {
        Prim {
            op: u::OP_RELU,
            dtype: u::DTYPE_F32,
            out_dtype: 0,
            rounding: 0,
            flags: 0,
            params: [0; 4],
            seed: 0,
            operands: Vec::new(),
            n_inputs: 1,
            deps,
            n_deps: None,
            deps_ptr: Ptr::Arg,
        }
    }

    #[test]
    fn dependencies_resolve_to_queue_ids_and_sequence_numbers() {
        let mut s = State::new();
        for (id, last_seq) in [(5, 10), (9, 3)] {
            s.queues.push(Queue {
                slot: 0,
                id,
                completion: 0,
                last_seq,
                rings: None,
            });
        }
        let dep = |queue, flags, seq, back| Dep {
            queue,
            flags,
            seq,
            back,
        };
        let mut p = prim(vec![
            dep(None, u::DEP_RELATIVE, 1, false),
            dep(Some(1), 0, 2, true),
            dep(Some(2), 0, 7, false),
            dep(None, 0, 0, true),
            dep(Some(0), u::DEP_RELATIVE | 4, 2, true),
        ]);
        let (a, list) = prim_abi(&p, &s, 0x5000);
        let want = |queue_id, flags, seq| u::Dependency {
            queue_id,
            flags,
            seq,
        };
        assert_eq!(
            list,
            [
                want(0, u::DEP_RELATIVE, 1),
                want(9, 0, 1),
                want(5, 0, 7),
                want(0, 0, 1),
                want(5, u::DEP_RELATIVE | 4, 2),
            ]
        );
        assert_eq!((a.deps, a.n_deps), (list.as_ptr() as u64, 5));

        // A count past the list: it grows with zero entries; a bad pointer keeps the count.
        p.n_deps = Some(7);
        let (a, list) = prim_abi(&p, &s, 0x5000);
        assert_eq!((list.len(), a.n_deps, a.deps), (7, 7, list.as_ptr() as u64));
        p.deps_ptr = Ptr::Unmapped;
        let (a, _) = prim_abi(&p, &s, 0x5000);
        assert_eq!((a.deps, a.n_deps), (0x5000, 7));

        // None: no list.
        let (a, list) = prim_abi(&prim(Vec::new()), &s, 0x5000);
        assert_eq!((a.deps, a.n_deps, list.len()), (0, 0, 0));
    }

    #[test]
    fn ring_entries_go_from_the_tail_within_the_ring_and_a_garbage_tail_is_reset() {
        let len = 4096;
        let mut mem = vec![0u64; len / 8];
        let addr = mem.as_mut_ptr() as usize;
        let header = addr as *mut u::RingHeader;
        let entry = |i: usize| (addr + 128 + i * 400) as *const u::Primitive;
        let prims = |ks: &[u64]| -> Vec<u::Primitive> {
            ks.iter()
                .map(|&k| u::Primitive {
                    user_data: k,
                    ..Default::default()
                })
                .collect()
        };
        // SAFETY: `mem` is `len` bytes, 8-aligned, alive and not otherwise borrowed in this block.
        unsafe {
            assert_eq!(ring_write(addr, len, 4, &prims(&[1, 2, 3]), 0), 3);
            let got: Vec<u64> = (0..3).map(|i| (*entry(i)).user_data).collect();
            assert_eq!(got, [1, 2, 3]);
            // The kernel took none: room for one more.
            assert_eq!(ring_write(addr, len, 4, &prims(&[4, 5]), 0), 4);
            assert_eq!(((*entry(3)).user_data, (*header).sq_tail), (4, 4));
            // The kernel took all four: the next entry wraps to slot 0.
            (*header).sq_head = 4;
            assert_eq!(ring_write(addr, len, 4, &prims(&[6]), 0), 1);
            assert_eq!(((*entry(0)).user_data, (*header).sq_tail), (6, 5));
            // A garbage tail is reset to the head; the published tail is skewed as asked.
            (*header).sq_tail = 1000;
            assert_eq!(ring_write(addr, len, 4, &prims(&[7]), -1), 0);
            assert_eq!(((*entry(0)).user_data, (*header).sq_tail), (7, 4));
            // Unknown entries: the header's count, if it is a power of two.
            *header = u::RingHeader {
                sq_entries: 2,
                ..Default::default()
            };
            assert_eq!(ring_write(addr, len, 0, &prims(&[8, 9, 10]), 0), 2);
            assert_eq!((*entry(2)).user_data, 3);
            // A mapping shorter than the ring: entries past it are not written.
            *header = u::RingHeader::default();
            assert_eq!(ring_write(addr, 128 + 400, 4, &prims(&[11, 12]), 0), 2);
            assert_eq!(((*entry(0)).user_data, (*entry(1)).user_data), (11, 9));
            // Shorter than the header: nothing.
            assert_eq!(ring_write(addr, 64, 4, &prims(&[13]), 0), 0);
        }
    }

    #[test]
    fn batch_completions_name_the_slots_outstanding_jobs_oldest_first() {
        let mut s = State::new();
        for (slot, id, done) in [
            (8, 100, false),
            (9, 200, false),
            (8, 101, true),
            (8, 102, false),
        ] {
            s.jobs.push(Job {
                slot,
                id,
                prim: u::Primitive::default(),
                done,
            });
        }
        let done = |job| Done {
            job,
            status: u::STATUS_OK,
            produced: 0,
        };
        let ids = |s: &State, d: &[Done]| -> Vec<Option<u64>> {
            batch_jobs(s, 8, d)
                .iter()
                .map(|(j, _)| j.map(|j| j.id))
                .collect()
        };
        let batch = [done(1), done(0), done(5), done(Done::STALE | 1)];
        assert_eq!(ids(&s, &batch), [Some(102), Some(100), Some(200)]);
        s.complete_job(8, 100);
        assert_eq!(ids(&s, &[done(0)]), [Some(102)]);
        assert_eq!(ids(&State::new(), &batch), [None]);
    }

    #[test]
    fn a_pointer_moved_by_a_mutation_goes_to_the_unmapped_page() {
        let heap = 0x7f00_1234_5678u64;
        let mut before = Vec::new();
        for w in [heap, 16, 0, heap + 64] {
            before.extend_from_slice(&w.to_le_bytes());
        }
        let mut after = before.clone();
        apply(
            &mut after,
            &[
                Field {
                    off: 0,
                    width: 1,
                    val: 0x80,
                }, // a pointer nudged: redirected
                Field {
                    off: 8,
                    width: 8,
                    val: heap,
                }, // a length set to an address: kept
                Field {
                    off: 16,
                    width: 8,
                    val: 0x7f00_0000_0000,
                }, // null set to an address: kept
                Field {
                    off: 24,
                    width: 8,
                    val: 0,
                }, // a pointer made null: kept
            ],
        );
        redirect_moved_pointers(&before, &mut after, 0x5000);
        let words: Vec<u64> = after
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(words, [0x5000, heap, 0x7f00_0000_0000, 0]);
    }

    #[test]
    fn apply_writes_little_endian_fields_and_drops_those_past_the_end() {
        let mut b = [0u8; 8];
        apply(
            &mut b,
            &[
                Field {
                    off: 0,
                    width: 2,
                    val: 0x1234,
                },
                Field {
                    off: 4,
                    width: 4,
                    val: u64::MAX,
                },
                Field {
                    off: 6,
                    width: 4,
                    val: 7,
                },
            ],
        );
        assert_eq!(b, [0x34, 0x12, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    }
}
