//! A fuzz program: the call sequence the generator builds, the executor runs, and a failing run saves
//! (JSON) for `lightos-fuzz replay`. Resources are named by index into what earlier calls created,
//! so a program stays meaningful after mutation and replays without the generator.

use serde::{Deserialize, Serialize};

/// One program: its steps, run in order by one thread (a [`Call::Thread`] or [`Call::Fork`] step
/// runs its own steps concurrently).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Program {
    pub steps: Vec<Step>,
}

/// A call plus how it is perturbed.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Step {
    pub call: Call,
    /// Byte-level changes to the call's argument struct after it is built validly ("nearly valid").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mutate: Vec<Field>,
    /// When non-zero, the `fail_nth`-th allocation of the call fails (debug kernel; ignored elsewhere).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fail_nth: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

fn is_arg(p: &Ptr) -> bool {
    *p == Ptr::Arg
}

fn is_zero_i32(v: &i32) -> bool {
    *v == 0
}

impl From<Call> for Step {
    fn from(call: Call) -> Self {
        Step {
            call,
            mutate: Vec::new(),
            fail_nth: 0,
        }
    }
}

/// Overwrites `width` bytes (1, 2, 4 or 8) at byte `off` of an argument struct with `val`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub off: u16,
    pub width: u8,
    pub val: u64,
}

/// Where an ioctl's argument pointer points.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Ptr {
    /// The argument struct (the normal case).
    #[default]
    Arg,
    /// NULL.
    Null,
    /// An address with nothing mapped.
    Unmapped,
    /// A kernel address.
    Kernel,
    /// A read-only page (the kernel's write-back must fail with EFAULT).
    ReadOnly,
}

/// A tensor operand of a [`Prim`]: a view of buffer `buf` (index into the program's buffers).
#[derive(Serialize, Deserialize, Clone, Copy, Debug)]
pub struct Operand {
    pub buf: u16,
    pub offset: u64,
    pub ndim: u32,
    pub shape: [u64; 4],
    pub strides: [u64; 4],
}

/// A primitive of a SUBMIT, or a submission-ring entry of an ENTER.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Prim {
    pub op: u16,
    pub dtype: u8,
    pub out_dtype: u8,
    pub rounding: u8,
    pub flags: u32,
    pub params: [u64; 4],
    pub seed: u64,
    pub operands: Vec<Operand>,
    /// How many operands are inputs (the rest are outputs); `n_inputs` in the ABI.
    pub n_inputs: u8,
    /// The jobs it depends on (ABI 1.10), written as the `Dependency` array `deps` points to.
    /// Absent in programs saved before 1.10.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<Dep>,
    /// `n_deps` as written when it is not `deps.len()` (a bad count); the array grows with zero
    /// entries to match a count up to twice `MAX_DEPS`, so the kernel never reads past it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_deps: Option<u32>,
    /// Where `deps` points (`Arg`: the array, or 0 when it is empty and `n_deps` is not set).
    #[serde(default, skip_serializing_if = "is_arg")]
    pub deps_ptr: Ptr,
}

/// One dependency of a [`Prim`] (`struct lightos_dependency`), resolved when the call runs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dep {
    /// The queue: an index into the program's queues, resolved to its id (to a garbage id when
    /// there is none); `None` writes `queue_id` 0, as `DEP_RELATIVE` requires.
    pub queue: Option<u16>,
    /// `DEP_*` flags as written (unknown bits included).
    pub flags: u32,
    /// With `DEP_RELATIVE`, how many primitives back (as written). Otherwise, with `back`, how far
    /// before the queue's last submitted sequence number (0: that job); without, the sequence
    /// number itself.
    pub seq: u64,
    /// Whether `seq` counts back from the queue's last submitted sequence number.
    pub back: bool,
}

/// One completion of a [`Call::JobBatch`].
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Done {
    /// Below [`Done::STALE`]: an index into the jobs the calling slot fetched and has not
    /// completed yet, oldest first (an entry past their number is left out). From `STALE` up: the
    /// low bits index every job the program fetched (completed ones and other executors' included),
    /// or name an id no executor runs when there is none.
    pub job: u16,
    /// The `STATUS_*` reported.
    pub status: u32,
    /// Events staged (`OP_SPIKE_ENCODE`).
    pub produced: u32,
}

impl Done {
    /// The bit of [`Done::job`] that asks for a stale or foreign job.
    pub const STALE: u16 = 0x8000;
}

/// Every call the fuzzer makes. `fd` is a context slot (0-15) that [`Call::Open`] filled; `buf`,
/// `queue`, `sq`, `dmabuf`, `spike_fd`, `map`, `job` and `backend` index the resources of that kind
/// created so far (modulo their number; none yet gives a stale or garbage value, on purpose).
///
/// Variants are saved by name, and fields added to an existing variant or struct carry serde
/// defaults: programs saved by older versions (`tests/fuzz/regressions/`) must still load.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub enum Call {
    Open {
        slot: u8,
    },
    Close {
        fd: u8,
    },
    Dup {
        fd: u8,
        slot: u8,
    },
    GetInfo {
        fd: u8,
        size: u16,
        ptr: Ptr,
    },
    Query {
        fd: u8,
        ty: u32,
        size: u32,
        ptr: Ptr,
    },
    BufCreate {
        fd: u8,
        size: u64,
        flags: u32,
        placement: u32,
    },
    BufInfo {
        fd: u8,
        buf: u16,
    },
    BufDestroy {
        fd: u8,
        buf: u16,
    },
    MapBuf {
        fd: u8,
        buf: u16,
        len: u64,
        prot: i32,
        private: bool,
    },
    MapCompletion {
        fd: u8,
        queue: u16,
        write: bool,
    },
    MapSpike {
        fd: u8,
        sq: u16,
    },
    MapRaw {
        fd: u8,
        offset: u64,
        len: u64,
    },
    MapDmabuf {
        dmabuf: u16,
        len: u64,
    },
    Unmap {
        map: u16,
    },
    Touch {
        map: u16,
        at: u64,
        write: bool,
    },
    Export {
        fd: u8,
        buf: u16,
        flags: u32,
    },
    Import {
        fd: u8,
        dmabuf: u16,
    },
    CloseDmabuf {
        dmabuf: u16,
    },
    QueueCreate {
        fd: u8,
        flags: u32,
        priority: u32,
        timeout_ms: u32,
    },
    QueueDestroy {
        fd: u8,
        queue: u16,
    },
    Submit {
        fd: u8,
        queue: u16,
        prims: Vec<Prim>,
        count: Option<u32>,
        flags: u32,
        ptr: Ptr,
    },
    /// WAIT for the queue's last submitted sequence number plus `delta`.
    Wait {
        fd: u8,
        queue: u16,
        delta: i64,
        timeout_ns: u64,
        flags: u32,
    },
    ExecRegister {
        fd: u8,
        name: u8,
        ops: u64,
        det_ops: u64,
        dtypes: u32,
        flags: u32,
    },
    JobFetch {
        fd: u8,
        flags: u32,
        timeout_ns: u64,
    },
    /// JOB_COMPLETE of a job this slot fetched; `write_output` first fills its output operand.
    JobComplete {
        fd: u8,
        job: u16,
        status: u32,
        produced: u32,
        flags: u32,
        write_output: bool,
    },
    RouteSet {
        fd: u8,
        flags: u32,
        backend: u16,
        op: u16,
        dtype: u8,
        det: u8,
        min: u64,
        max: u64,
    },
    EventWait {
        fd: u8,
        after: u64,
        capacity: u32,
        timeout_ns: u64,
        flags: u32,
        ptr: Ptr,
    },
    SpikeCreate {
        fd: u8,
        entries: u32,
        flags: u32,
    },
    SpikeDestroy {
        fd: u8,
        sq: u16,
    },
    SpikeWait {
        fd: u8,
        sq: u16,
        min_events: u32,
        timeout_ns: u64,
    },
    SpikeNotify {
        fd: u8,
        sq: u16,
    },
    SpikeExport {
        fd: u8,
        sq: u16,
        flags: u32,
    },
    SpikeImport {
        fd: u8,
        spike_fd: u16,
    },
    /// Produces `n` events into a mapped spike ring (`map` must be a spike-ring mapping).
    SpikePush {
        map: u16,
        n: u16,
    },
    PowerSet {
        fd: u8,
        backend: u16,
        flags: u32,
        laser: u32,
        tec: u32,
    },
    /// RING_SETUP (ABI 1.10): gives the queue a submission ring of `sq_entries` and a completion
    /// ring of `cq_entries` (mostly powers of two in range, sometimes garbage).
    RingSetup {
        fd: u8,
        queue: u16,
        sq_entries: u32,
        cq_entries: u32,
        flags: u32,
    },
    /// `mmap` of the queue's rings (`queue_id << MMAP_HANDLE_SHIFT | MMAP_RINGS`), read-write, with
    /// the size RING_SETUP returned (`len` overrides it: a wrong size). The mapping joins the
    /// program's maps, so [`Call::Touch`] can write garbage indices and entries into it.
    MapRings {
        fd: u8,
        queue: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        len: Option<u64>,
    },
    /// ENTER (ABI 1.10). When the queue's rings are mapped, `prims` are first written into the
    /// submission ring (as many as it has room for) and `sq_tail` is published past them, moved by
    /// `tail_skew` (non-zero: a garbage tail). `to_submit` `None` takes everything the ring holds
    /// (what was written, without a mapping). `timeout_ns` is relative, as for [`Call::Wait`].
    Enter {
        fd: u8,
        queue: u16,
        prims: Vec<Prim>,
        #[serde(default, skip_serializing_if = "is_zero_i32")]
        tail_skew: i32,
        to_submit: Option<u32>,
        min_complete: u32,
        flags: u32,
        timeout_ns: u64,
    },
    /// JOB_BATCH (ABI 1.10): completes `done` (jobs fetched before, see [`Done`]), reports at most
    /// `max_revoked` revoked handles and fetches at most `max_fetch` jobs (they join the program's
    /// jobs). `n_complete` overrides the count; `ptr` is where `completions` points and `out_ptr`
    /// where `jobs` and `revoked` point; `write_output` first fills the outputs of the first four
    /// jobs it completes.
    JobBatch {
        fd: u8,
        flags: u32,
        done: Vec<Done>,
        n_complete: Option<u32>,
        max_fetch: u32,
        max_revoked: u32,
        timeout_ns: u64,
        ptr: Ptr,
        out_ptr: Ptr,
        write_output: bool,
    },
    /// Any ioctl number with any bytes as its argument.
    Raw {
        fd: u8,
        cmd: u32,
        bytes: Vec<u8>,
        ptr: Ptr,
    },
    /// A fault-injection command to NPU `npu`'s emulator (qemu/photonic-emu, over /dev/ttyS<npu+1>).
    Inject {
        npu: u8,
        cmd: String,
    },
    /// Runs `steps` in a thread alongside the rest of the program (joined at its end).
    Thread {
        steps: Vec<Step>,
    },
    /// Runs `steps` in a child process that exits without cleaning up.
    Fork {
        steps: Vec<Step>,
    },
    Sleep {
        us: u32,
    },
}

impl Call {
    /// The call's kind, as its variant is named.
    pub fn name(&self) -> &'static str {
        match self {
            Call::Open { .. } => "Open",
            Call::Close { .. } => "Close",
            Call::Dup { .. } => "Dup",
            Call::GetInfo { .. } => "GetInfo",
            Call::Query { .. } => "Query",
            Call::BufCreate { .. } => "BufCreate",
            Call::BufInfo { .. } => "BufInfo",
            Call::BufDestroy { .. } => "BufDestroy",
            Call::MapBuf { .. } => "MapBuf",
            Call::MapCompletion { .. } => "MapCompletion",
            Call::MapSpike { .. } => "MapSpike",
            Call::MapRaw { .. } => "MapRaw",
            Call::MapDmabuf { .. } => "MapDmabuf",
            Call::Unmap { .. } => "Unmap",
            Call::Touch { .. } => "Touch",
            Call::Export { .. } => "Export",
            Call::Import { .. } => "Import",
            Call::CloseDmabuf { .. } => "CloseDmabuf",
            Call::QueueCreate { .. } => "QueueCreate",
            Call::QueueDestroy { .. } => "QueueDestroy",
            Call::Submit { .. } => "Submit",
            Call::Wait { .. } => "Wait",
            Call::ExecRegister { .. } => "ExecRegister",
            Call::JobFetch { .. } => "JobFetch",
            Call::JobComplete { .. } => "JobComplete",
            Call::RouteSet { .. } => "RouteSet",
            Call::EventWait { .. } => "EventWait",
            Call::SpikeCreate { .. } => "SpikeCreate",
            Call::SpikeDestroy { .. } => "SpikeDestroy",
            Call::SpikeWait { .. } => "SpikeWait",
            Call::SpikeNotify { .. } => "SpikeNotify",
            Call::SpikeExport { .. } => "SpikeExport",
            Call::SpikeImport { .. } => "SpikeImport",
            Call::SpikePush { .. } => "SpikePush",
            Call::PowerSet { .. } => "PowerSet",
            Call::RingSetup { .. } => "RingSetup",
            Call::MapRings { .. } => "MapRings",
            Call::Enter { .. } => "Enter",
            Call::JobBatch { .. } => "JobBatch",
            Call::Raw { .. } => "Raw",
            Call::Inject { .. } => "Inject",
            Call::Thread { .. } => "Thread",
            Call::Fork { .. } => "Fork",
            Call::Sleep { .. } => "Sleep",
        }
    }

    /// The ioctl number (`_IOC_NR`) the call issues, if it is an ioctl.
    pub fn ioctl_nr(&self) -> Option<u32> {
        use lightos_uapi as u;
        Some(match self {
            Call::GetInfo { .. } => u::IOC_NR_GET_INFO,
            Call::Query { .. } => u::IOC_NR_QUERY,
            Call::BufCreate { .. } => u::IOC_NR_BUFFER_CREATE,
            Call::BufInfo { .. } => u::IOC_NR_BUFFER_INFO,
            Call::BufDestroy { .. } => u::IOC_NR_BUFFER_DESTROY,
            Call::Export { .. } => u::IOC_NR_BUFFER_EXPORT,
            Call::Import { .. } => u::IOC_NR_BUFFER_IMPORT,
            Call::QueueCreate { .. } => u::IOC_NR_QUEUE_CREATE,
            Call::QueueDestroy { .. } => u::IOC_NR_QUEUE_DESTROY,
            Call::Submit { .. } => u::IOC_NR_SUBMIT,
            Call::Wait { .. } => u::IOC_NR_WAIT,
            Call::ExecRegister { .. } => u::IOC_NR_EXECUTOR_REGISTER,
            Call::JobFetch { .. } => u::IOC_NR_JOB_FETCH,
            Call::JobComplete { .. } => u::IOC_NR_JOB_COMPLETE,
            Call::RouteSet { .. } => u::IOC_NR_ROUTE_SET,
            Call::EventWait { .. } => u::IOC_NR_EVENT_WAIT,
            Call::SpikeCreate { .. } => u::IOC_NR_SPIKE_QUEUE_CREATE,
            Call::SpikeDestroy { .. } => u::IOC_NR_SPIKE_QUEUE_DESTROY,
            Call::SpikeWait { .. } => u::IOC_NR_SPIKE_WAIT,
            Call::SpikeNotify { .. } => u::IOC_NR_SPIKE_NOTIFY,
            Call::SpikeExport { .. } => u::IOC_NR_SPIKE_QUEUE_EXPORT,
            Call::SpikeImport { .. } => u::IOC_NR_SPIKE_QUEUE_IMPORT,
            Call::PowerSet { .. } => u::IOC_NR_POWER_SET,
            Call::RingSetup { .. } => u::IOC_NR_RING_SETUP,
            Call::Enter { .. } => u::IOC_NR_ENTER,
            Call::JobBatch { .. } => u::IOC_NR_JOB_BATCH,
            Call::Raw { cmd, .. } => cmd & 0xff,
            _ => return None,
        })
    }
}

impl Program {
    /// Every step, nested ones included, in program order.
    pub fn all_steps(&self) -> Vec<&Step> {
        fn walk<'a>(steps: &'a [Step], out: &mut Vec<&'a Step>) {
            for s in steps {
                out.push(s);
                if let Call::Thread { steps } | Call::Fork { steps } = &s.call {
                    walk(steps, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.steps, &mut out);
        out
    }
}
