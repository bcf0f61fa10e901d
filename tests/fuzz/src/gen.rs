//! Builds programs from a seeded generator: mostly valid calls whose resources exist (so deep paths
//! are reached), some nearly valid (one or two fields of the built struct changed to a boundary
//! value), some hostile (bad pointers, any ioctl number, any bytes), plus threads, forks, executors
//! that complete with random statuses or die mid-job (one job at a time or in JOB_BATCHes),
//! submission rings written and entered, dependencies between jobs, and emulator faults. Also
//! mutates programs from the coverage corpus.

use crate::prog::{Call, Dep, Done, Field, Operand, Prim, Program, Ptr, Step};
use lightos_uapi as u;
use rand::{seq::SliceRandom, Rng};
use rand_chacha::ChaCha8Rng;

/// What the program being built has planned so far, so later calls name existing resources.
#[derive(Default, Clone)]
struct Plan {
    open: Vec<u8>,
    bufs: Vec<u64>,
    queues: u16,
    /// The slot each planned queue was created on (ring calls go there).
    queue_fds: Vec<u8>,
    /// Queues RING_SETUP was planned for (MapRings and Enter name them).
    ring_queues: Vec<u16>,
    dmabufs: u16,
    sqs: u16,
    spike_fds: u16,
    maps: u16,
    jobs: u16,
    backends: u16,
}

/// Values at the edges of fields: zero, one, all ones, sign bits, just past the ABI's limits.
const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    7,
    0x7f,
    0x80,
    0xff,
    0x100,
    0xfff,
    0x1000,
    0x7fff,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    u::MAX_BUFFER_SIZE,
    u::MAX_BUFFER_SIZE + 1,
    u::MAX_DIM_SIZE,
    u::MMAP_COMPLETION_PAGE,
    u::MMAP_SPIKE_RING,
    u::MMAP_RINGS,
    (1 << u::MMAP_HANDLE_SHIFT) | u::MMAP_RINGS,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
];

/// The generator of one program.
pub struct Gen<'a> {
    rng: &'a mut ChaCha8Rng,
    plan: Plan,
    /// Whether allocation-failure injection is armed on some steps.
    inject: bool,
    npus: u8,
    /// Calls the program's next steps make first (a queue's rings set up, then mapped and
    /// entered), so that deep paths are reached often; only at the top level.
    follow: std::collections::VecDeque<Call>,
}

impl<'a> Gen<'a> {
    pub fn new(rng: &'a mut ChaCha8Rng, inject: bool, npus: u8) -> Self {
        Gen {
            rng,
            plan: Plan::default(),
            inject,
            npus,
            follow: Default::default(),
        }
    }

    fn interesting(&mut self) -> u64 {
        if self.rng.gen_bool(0.8) {
            *INTERESTING.choose(self.rng).unwrap()
        } else {
            self.rng.gen()
        }
    }

    /// A fresh program of 5 to 80 steps.
    pub fn program(&mut self) -> Program {
        let mut steps = vec![Step::from(Call::Open { slot: 0 })];
        self.plan.open.push(0);
        let n = self.rng.gen_range(4..80);
        for _ in 0..n {
            let s = self.step(0);
            steps.push(s);
        }
        Program { steps }
    }

    /// A changed copy of `p`: calls replaced, inserted, removed, or their mutations changed.
    pub fn mutate(&mut self, p: &Program) -> Program {
        let mut steps = p.steps.clone();
        self.replan(&steps);
        for _ in 0..self.rng.gen_range(1..4) {
            let i = self.rng.gen_range(0..steps.len().max(1));
            match self.rng.gen_range(0..4) {
                0 if steps.len() > 2 => {
                    steps.remove(i.max(1).min(steps.len() - 1));
                }
                1 => {
                    let at = i.max(1).min(steps.len());
                    let new = self.steps_with_follow();
                    steps.splice(at..at, new);
                }
                2 if i < steps.len() => self.perturb(&mut steps[i]),
                _ => {
                    let new = self.steps_with_follow();
                    steps.extend(new);
                }
            }
        }
        Program { steps }
    }

    /// A top-level step and the calls it asked to be followed by, in order.
    fn steps_with_follow(&mut self) -> Vec<Step> {
        let mut v = vec![self.step(0)];
        while !self.follow.is_empty() {
            v.push(self.step(0));
        }
        v
    }

    /// Re-counts the resources `steps` create, so mutations refer to them.
    fn replan(&mut self, steps: &[Step]) {
        self.plan = Plan::default();
        for s in steps {
            match &s.call {
                Call::Open { slot } | Call::Dup { slot, .. } => self.plan.open.push(*slot),
                Call::BufCreate { size, .. } => self.plan.bufs.push(*size),
                Call::Import { .. } => self.plan.bufs.push(4096),
                Call::QueueCreate { fd, .. } => {
                    self.plan.queues += 1;
                    self.plan.queue_fds.push(*fd);
                }
                Call::RingSetup { queue, .. } => self.plan.ring_queues.push(*queue),
                Call::Export { .. } => self.plan.dmabufs += 1,
                Call::SpikeCreate { .. } | Call::SpikeImport { .. } => self.plan.sqs += 1,
                Call::SpikeExport { .. } => self.plan.spike_fds += 1,
                Call::MapBuf { .. }
                | Call::MapCompletion { .. }
                | Call::MapSpike { .. }
                | Call::MapRings { .. } => self.plan.maps += 1,
                Call::JobFetch { .. } => self.plan.jobs += 1,
                Call::JobBatch { max_fetch, .. } => {
                    self.plan.jobs = self.plan.jobs.saturating_add((*max_fetch).min(8) as u16)
                }
                Call::ExecRegister { .. } => self.plan.backends += 1,
                _ => {}
            }
        }
        if self.plan.open.is_empty() {
            self.plan.open.push(0);
        }
    }

    /// Adds field changes to a step, or arms an allocation failure.
    fn perturb(&mut self, s: &mut Step) {
        if self.inject && self.rng.gen_bool(0.3) {
            s.fail_nth = self.rng.gen_range(1..10);
        } else {
            let f = self.field(struct_size(&s.call));
            s.mutate.push(f);
        }
    }

    /// A field change inside a struct of `size` bytes, aligned to its width.
    fn field(&mut self, size: usize) -> Field {
        let width = *[1u8, 2, 4, 4, 8, 8].choose(self.rng).unwrap();
        let slots = (size / width as usize).max(1);
        let off = (self.rng.gen_range(0..slots) * width as usize) as u16;
        let val = self.interesting();
        Field { off, width, val }
    }

    fn fd(&mut self) -> u8 {
        if self.rng.gen_bool(0.03) {
            self.rng.gen_range(0..16)
        } else {
            *self.plan.open.choose(self.rng).unwrap_or(&0)
        }
    }

    fn idx(&mut self, n: u16) -> u16 {
        if n == 0 || self.rng.gen_bool(0.05) {
            self.rng.gen()
        } else {
            self.rng.gen_range(0..n)
        }
    }

    fn ptr(&mut self) -> Ptr {
        if self.rng.gen_bool(0.93) {
            Ptr::Arg
        } else {
            *[Ptr::Null, Ptr::Unmapped, Ptr::Kernel, Ptr::ReadOnly]
                .choose(self.rng)
                .unwrap()
        }
    }

    /// A relative timeout: mostly a poll or a short wait, rarely long enough for a job to finish.
    fn timeout(&mut self) -> u64 {
        *[0u64, 0, 1, 1, 1_000, 100_000, 1_000_000, 10_000_000]
            .choose(self.rng)
            .unwrap()
    }

    /// One step; `depth` > 0 inside a thread or a fork (no further nesting there).
    fn step(&mut self, depth: u32) -> Step {
        let queued = if depth == 0 {
            self.follow.pop_front()
        } else {
            None
        };
        let call = match queued {
            Some(c) => c,
            None => self.call(depth),
        };
        let mut s = Step::from(call);
        if s.call.ioctl_nr().is_some() && self.rng.gen_bool(0.15) {
            self.perturb(&mut s);
            if self.rng.gen_bool(0.3) {
                self.perturb(&mut s);
            }
        }
        s
    }

    fn call(&mut self, depth: u32) -> Call {
        let r = self.rng.gen_range(0..1100);
        let fd = self.fd();
        match r {
            0..=29 => {
                let slot = self.rng.gen_range(0..16);
                self.plan.open.push(slot);
                Call::Open { slot }
            }
            30..=39 => Call::Close { fd },
            40..=49 => {
                let slot = self.rng.gen_range(0..16);
                self.plan.open.push(slot);
                Call::Dup { fd, slot }
            }
            50..=69 => {
                let size = if self.rng.gen_bool(0.8) {
                    136
                } else {
                    self.rng.gen_range(0..5000) as u16
                };
                Call::GetInfo {
                    fd,
                    size,
                    ptr: self.ptr(),
                }
            }
            70..=119 => {
                let ty = if self.rng.gen_bool(0.9) {
                    self.rng.gen_range(1..=u::QUERY_MAX)
                } else {
                    self.interesting() as u32
                };
                let size = *[0u32, 64, 4096, 16384, 65536, 8].choose(self.rng).unwrap();
                Call::Query {
                    fd,
                    ty,
                    size,
                    ptr: self.ptr(),
                }
            }
            120..=219 => {
                // Small buffers mostly (creating and zeroing big ones under TCG is slow), the
                // edges of the size rules, and rarely the largest allowed.
                let size = match self.rng.gen_range(0..100) {
                    0..=59 => 4096 * self.rng.gen_range(1..4),
                    60..=79 => self.rng.gen_range(1..70_000),
                    80..=84 => 1 << self.rng.gen_range(16..21),
                    85..=98 => *[0, 1, 4095, 4097, u::MAX_BUFFER_SIZE + 1, 1 << 40, u64::MAX]
                        .choose(self.rng)
                        .unwrap(),
                    _ => u::MAX_BUFFER_SIZE,
                };
                self.plan.bufs.push(size);
                let flags = if self.rng.gen_bool(0.85) {
                    0
                } else {
                    self.rng.gen_range(0..4)
                };
                let placement = if self.rng.gen_bool(0.8) {
                    0
                } else {
                    self.rng.gen_range(0..4)
                };
                Call::BufCreate {
                    fd,
                    size,
                    flags,
                    placement,
                }
            }
            220..=239 => Call::BufInfo {
                fd,
                buf: self.idx(self.plan.bufs.len() as u16),
            },
            240..=269 => Call::BufDestroy {
                fd,
                buf: self.idx(self.plan.bufs.len() as u16),
            },
            270..=309 => {
                self.plan.maps += 1;
                let buf = self.idx(self.plan.bufs.len() as u16);
                let size = self.plan.bufs.get(buf as usize).copied().unwrap_or(4096);
                let len = if self.rng.gen_bool(0.85) {
                    size.clamp(1, 1 << 22).div_ceil(4096) * 4096
                } else {
                    self.interesting()
                };
                let prot = if self.rng.gen_bool(0.7) {
                    3
                } else {
                    self.rng.gen_range(0..4)
                };
                Call::MapBuf {
                    fd,
                    buf,
                    len,
                    prot,
                    private: self.rng.gen_bool(0.1),
                }
            }
            310..=324 => {
                self.plan.maps += 1;
                Call::MapCompletion {
                    fd,
                    queue: self.idx(self.plan.queues),
                    write: self.rng.gen_bool(0.1),
                }
            }
            325..=334 => {
                self.plan.maps += 1;
                Call::MapSpike {
                    fd,
                    sq: self.idx(self.plan.sqs),
                }
            }
            335..=339 => Call::MapRaw {
                fd,
                offset: self.interesting(),
                len: *[4096u64, 8192, 0, 1 << 30].choose(self.rng).unwrap(),
            },
            340..=344 => Call::MapDmabuf {
                dmabuf: self.idx(self.plan.dmabufs),
                len: *[4096u64, 8192, 1 << 20].choose(self.rng).unwrap(),
            },
            345..=359 => Call::Unmap {
                map: self.idx(self.plan.maps),
            },
            360..=389 => Call::Touch {
                map: self.idx(self.plan.maps),
                at: self.rng.gen(),
                write: self.rng.gen_bool(0.5),
            },
            390..=409 => {
                self.plan.dmabufs += 1;
                let flags = if self.rng.gen_bool(0.9) {
                    u::EXPORT_CLOEXEC
                } else {
                    self.interesting() as u32
                };
                Call::Export {
                    fd,
                    buf: self.idx(self.plan.bufs.len() as u16),
                    flags,
                }
            }
            410..=424 => {
                self.plan.bufs.push(4096);
                Call::Import {
                    fd,
                    dmabuf: self.idx(self.plan.dmabufs),
                }
            }
            425..=434 => Call::CloseDmabuf {
                dmabuf: self.idx(self.plan.dmabufs),
            },
            435..=474 => {
                self.plan.queues += 1;
                self.plan.queue_fds.push(fd);
                if depth == 0 && self.rng.gen_bool(0.15) {
                    let setup = self.ring_setup(fd, depth);
                    self.follow.push_front(setup);
                }
                let timeout_ms = *[0u32, 1, 5, 20, 100].choose(self.rng).unwrap();
                let priority = if self.rng.gen_bool(0.9) {
                    self.rng.gen_range(0..=u::QUEUE_PRIORITY_MAX)
                } else {
                    self.interesting() as u32
                };
                Call::QueueCreate {
                    fd,
                    flags: 0,
                    priority,
                    timeout_ms: timeout_ms.max(1),
                }
            }
            475..=489 => Call::QueueDestroy {
                fd,
                queue: self.idx(self.plan.queues),
            },
            490..=589 => {
                let n = if self.rng.gen_bool(0.9) {
                    self.rng.gen_range(1..4)
                } else {
                    self.rng.gen_range(0..20)
                };
                let prims = self.prims(n);
                let count = if self.rng.gen_bool(0.95) {
                    None
                } else {
                    Some(self.interesting() as u32)
                };
                let flags = if self.rng.gen_bool(0.95) {
                    0
                } else {
                    self.interesting() as u32
                };
                Call::Submit {
                    fd,
                    queue: self.idx(self.plan.queues),
                    prims,
                    count,
                    flags,
                    ptr: self.ptr(),
                }
            }
            590..=639 => {
                let delta = if self.rng.gen_bool(0.8) {
                    0
                } else {
                    self.rng.gen_range(-3..1000)
                };
                Call::Wait {
                    fd,
                    queue: self.idx(self.plan.queues),
                    delta,
                    timeout_ns: self.timeout(),
                    flags: 0,
                }
            }
            640..=674 => self.executor(depth),
            675..=689 => {
                let flags = self.fetch_flags();
                self.plan.jobs += 1;
                Call::JobFetch {
                    fd,
                    flags,
                    timeout_ns: self.timeout(),
                }
            }
            690..=704 => Call::JobComplete {
                fd,
                job: self.idx(self.plan.jobs),
                status: self.status(),
                produced: self.rng.gen_range(0..64),
                flags: 0,
                write_output: self.rng.gen_bool(0.5),
            },
            705..=724 => {
                let flags = if self.rng.gen_bool(0.8) {
                    self.rng.gen_range(0..=u::ROUTE_FLAGS_ALL)
                } else {
                    self.interesting() as u32
                };
                Call::RouteSet {
                    fd,
                    flags,
                    backend: self.idx(self.plan.backends),
                    op: self.rng.gen_range(0..=u::OP_COUNT as u16 + 1),
                    dtype: self.rng.gen_range(0..=u::DTYPE_MAX + 1),
                    det: self.rng.gen_range(0..3),
                    min: *[0u64, 64, 4096].choose(self.rng).unwrap(),
                    max: *[0u64, 4096, u64::MAX].choose(self.rng).unwrap(),
                }
            }
            725..=744 => Call::EventWait {
                fd,
                after: *[0u64, 1, u64::MAX].choose(self.rng).unwrap(),
                capacity: *[0u32, 1, 16, 256, 100_000].choose(self.rng).unwrap(),
                timeout_ns: *[0u64, 1, 1_000_000].choose(self.rng).unwrap(),
                flags: if self.rng.gen_bool(0.95) {
                    0
                } else {
                    self.interesting() as u32
                },
                ptr: self.ptr(),
            },
            745..=774 => {
                self.plan.sqs += 1;
                let entries = if self.rng.gen_bool(0.8) {
                    1 << self.rng.gen_range(1..10)
                } else {
                    self.interesting() as u32
                };
                let flags = if self.rng.gen_bool(0.7) {
                    0
                } else {
                    self.rng.gen_range(0..4)
                };
                Call::SpikeCreate { fd, entries, flags }
            }
            775..=784 => Call::SpikeDestroy {
                fd,
                sq: self.idx(self.plan.sqs),
            },
            785..=799 => Call::SpikeWait {
                fd,
                sq: self.idx(self.plan.sqs),
                min_events: self.rng.gen_range(0..4),
                timeout_ns: self.timeout(),
            },
            800..=809 => Call::SpikeNotify {
                fd,
                sq: self.idx(self.plan.sqs),
            },
            810..=819 => {
                self.plan.spike_fds += 1;
                Call::SpikeExport {
                    fd,
                    sq: self.idx(self.plan.sqs),
                    flags: if self.rng.gen_bool(0.9) {
                        u::SPIKE_EXPORT_CLOEXEC
                    } else {
                        self.rng.gen()
                    },
                }
            }
            820..=829 => {
                self.plan.sqs += 1;
                Call::SpikeImport {
                    fd,
                    spike_fd: self.idx(self.plan.spike_fds),
                }
            }
            830..=844 => Call::SpikePush {
                map: self.idx(self.plan.maps),
                n: self.rng.gen_range(1..300),
            },
            845..=859 => Call::PowerSet {
                fd,
                backend: self.rng.gen_range(0..8),
                flags: self.rng.gen_range(0..4),
                laser: *[0u32, 50, 100, 1500, 5000, 6000].choose(self.rng).unwrap(),
                tec: *[0u32, 500, 1000, 1001].choose(self.rng).unwrap(),
            },
            860..=909 => self.raw(fd),
            910..=913 if self.npus > 0 => Call::Inject {
                npu: self.rng.gen_range(0..self.npus),
                cmd: emulator_cmd(self.rng),
            },
            925..=954 if depth == 0 => {
                let steps = (0..self.rng.gen_range(2..12))
                    .map(|_| self.step(1))
                    .collect();
                Call::Thread { steps }
            }
            955..=974 if depth == 0 => {
                let steps = (0..self.rng.gen_range(1..8))
                    .map(|_| self.step(1))
                    .collect();
                Call::Fork { steps }
            }
            1000..=1019 => self.ring_setup(fd, depth),
            1020..=1034 => {
                let (fd, queue) = self.ring_target(fd);
                self.plan.maps += 1;
                let len = if self.rng.gen_bool(0.92) {
                    None
                } else {
                    Some(*[0u64, 4096, 8192, 4097, 1 << 20].choose(self.rng).unwrap())
                };
                Call::MapRings { fd, queue, len }
            }
            1035..=1079 => {
                let (fd, queue) = self.ring_target(fd);
                self.enter(fd, queue)
            }
            1080..=1094 => {
                let done = (0..self.rng.gen_range(0..4u16))
                    .map(|j| self.done(j))
                    .collect();
                let max_fetch = if self.rng.gen_bool(0.9) {
                    self.rng.gen_range(0..=4)
                } else {
                    *[u::MAX_JOB_BATCH, u::MAX_JOB_BATCH + 1, u32::MAX]
                        .choose(self.rng)
                        .unwrap()
                };
                let flags = self.fetch_flags();
                let timeout_ns = self.timeout();
                self.job_batch(fd, done, max_fetch, flags, timeout_ns)
            }
            _ => Call::Sleep {
                us: self.rng.gen_range(0..200),
            },
        }
    }

    /// A thread that registers an executor on a fresh context and serves a few jobs, completing
    /// each with a random status, leaving some unfinished (timeouts) or closing mid-job (death).
    fn executor(&mut self, depth: u32) -> Call {
        if depth > 0 {
            // Already in a thread or a fork: no nesting.
            return Call::Sleep { us: 0 };
        }
        let slot = self.rng.gen_range(8..16);
        let mut steps = vec![
            Step::from(Call::Open { slot }),
            Step::from(Call::ExecRegister {
                fd: slot,
                name: self.rng.gen_range(0..8),
                ops: if self.rng.gen_bool(0.9) {
                    u64::MAX >> (63 - u::OP_COUNT) & !1
                } else {
                    self.interesting()
                },
                det_ops: 0,
                dtypes: if self.rng.gen_bool(0.9) {
                    0x7e
                } else {
                    self.interesting() as u32
                },
                flags: 0,
            }),
        ];
        self.plan.open.push(slot);
        self.plan.backends += 1;
        if self.rng.gen_bool(0.4) {
            self.batch_executor(slot, &mut steps);
        } else {
            self.fetch_executor(slot, &mut steps);
        }
        if self.rng.gen_bool(0.3) {
            steps.push(Step::from(Call::Close { fd: slot }));
        }
        Call::Thread { steps }
    }

    /// An executor's jobs one at a time: JOB_FETCH, then (mostly) JOB_COMPLETE.
    fn fetch_executor(&mut self, slot: u8, steps: &mut Vec<Step>) {
        for j in 0..self.rng.gen_range(1..4u16) {
            self.plan.jobs += 1;
            steps.push(Step::from(Call::JobFetch {
                fd: slot,
                flags: 0,
                timeout_ns: 1_000_000,
            }));
            if self.rng.gen_bool(0.85) {
                steps.push(Step::from(Call::JobComplete {
                    fd: slot,
                    job: j,
                    status: self.status(),
                    produced: 0,
                    flags: 0,
                    write_output: self.rng.gen_bool(0.7),
                }));
            }
        }
    }

    /// An executor at ring speed: JOB_BATCHes that complete what the one before fetched (mostly
    /// all of it) and fetch the next jobs, and mostly a last one that only completes.
    fn batch_executor(&mut self, slot: u8, steps: &mut Vec<Step>) {
        let mut outstanding = 0u16;
        for _ in 0..self.rng.gen_range(1..4) {
            let max_fetch = *[1u32, 2, 4, 8, u::MAX_JOB_BATCH].choose(self.rng).unwrap();
            let c = if self.rng.gen_bool(0.85) {
                outstanding
            } else {
                self.rng.gen_range(0..=outstanding)
            };
            let done = (0..c).map(|j| self.done(j)).collect();
            steps.push(Step::from(
                self.job_batch(slot, done, max_fetch, 0, 1_000_000),
            ));
            outstanding = (outstanding - c + max_fetch as u16).min(u::MAX_JOB_BATCH as u16);
        }
        if self.rng.gen_bool(0.85) {
            let done = (0..outstanding).map(|j| self.done(j)).collect();
            steps.push(Step::from(self.job_batch(slot, done, 0, 0, 0)));
        }
    }

    /// A JOB_BATCH on `fd` completing `done` and fetching up to `max_fetch`: mostly valid counts,
    /// room and pointers, sometimes a bad count or pointer.
    fn job_batch(
        &mut self,
        fd: u8,
        done: Vec<Done>,
        max_fetch: u32,
        flags: u32,
        timeout_ns: u64,
    ) -> Call {
        self.plan.jobs = self.plan.jobs.saturating_add(max_fetch.min(8) as u16);
        let n_complete = if self.rng.gen_bool(0.95) {
            None
        } else {
            Some(
                *[
                    0,
                    done.len() as u32 + 1,
                    u::MAX_JOB_BATCH,
                    u::MAX_JOB_BATCH + 1,
                    u32::MAX,
                ]
                .choose(self.rng)
                .unwrap(),
            )
        };
        let max_revoked = if self.rng.gen_bool(0.9) {
            *[0u32, 1, 16, 256].choose(self.rng).unwrap()
        } else {
            self.interesting() as u32
        };
        Call::JobBatch {
            fd,
            flags,
            done,
            n_complete,
            max_fetch,
            max_revoked,
            timeout_ns,
            ptr: self.ptr(),
            out_ptr: self.ptr(),
            write_output: self.rng.gen_bool(0.5),
        }
    }

    /// One completion of a JOB_BATCH: mostly the `j`-th job the slot has not completed yet with
    /// a status an executor may report, sometimes a stale or foreign job or any status.
    fn done(&mut self, j: u16) -> Done {
        let status = if self.rng.gen_bool(0.85) {
            *[
                u::STATUS_OK,
                u::STATUS_OK,
                u::STATUS_INVALID,
                u::STATUS_THERMAL_ABORT,
            ]
            .choose(self.rng)
            .unwrap()
        } else {
            self.status()
        };
        Done {
            job: if self.rng.gen_bool(0.95) {
                j
            } else {
                Done::STALE | self.rng.gen_range(0..8)
            },
            status,
            produced: if self.rng.gen_bool(0.9) {
                0
            } else {
                self.rng.gen_range(0..64)
            },
        }
    }

    /// JOB_FETCH/JOB_BATCH flags: mostly 0 or `FETCH_NONBLOCK`, rarely anything.
    fn fetch_flags(&mut self) -> u32 {
        match self.rng.gen_range(0..100) {
            0..=47 => 0,
            48..=96 => u::FETCH_NONBLOCK,
            _ => self.interesting() as u32,
        }
    }

    /// The slot and queue index of a ring call: mostly a queue RING_SETUP was planned for (else
    /// the latest queue), on the slot that created it.
    fn ring_target(&mut self, fd: u8) -> (u8, u16) {
        let queue = if !self.plan.ring_queues.is_empty() && self.rng.gen_bool(0.85) {
            *self.plan.ring_queues.choose(self.rng).unwrap()
        } else if self.plan.queues > 0 && self.rng.gen_bool(0.7) {
            self.plan.queues - 1
        } else {
            self.idx(self.plan.queues)
        };
        (self.queue_fd(queue, fd), queue)
    }

    /// The slot that created planned queue `queue` (mostly), else `fd`.
    fn queue_fd(&mut self, queue: u16, fd: u8) -> u8 {
        match self.plan.queue_fds.get(queue as usize) {
            Some(&f) if self.rng.gen_bool(0.9) => f,
            _ => fd,
        }
    }

    /// RING_SETUP of (mostly) the latest queue: small power-of-two rings mostly, the largest
    /// sometimes, and entries that are not powers of two, out of range or a completion ring smaller
    /// than the submission ring. At the top level it is often followed by the rings' mapping and a
    /// few ENTERs on them.
    fn ring_setup(&mut self, fd: u8, depth: u32) -> Call {
        let queue = if self.plan.queues > 0 && self.rng.gen_bool(0.7) {
            self.plan.queues - 1
        } else {
            self.idx(self.plan.queues)
        };
        let fd = self.queue_fd(queue, fd);
        self.plan.ring_queues.push(queue);
        let sq_entries = match self.rng.gen_range(0..100) {
            0..=84 => 1 << self.rng.gen_range(0..=6),
            85..=89 => u::RING_MAX_SQ_ENTRIES,
            90..=94 => *[
                0u32,
                3,
                100,
                u::RING_MAX_SQ_ENTRIES * 2,
                0x8000_0000,
                u32::MAX,
            ]
            .choose(self.rng)
            .unwrap(),
            _ => self.interesting() as u32,
        };
        let cq_entries = if self.rng.gen_bool(0.85) {
            sq_entries.wrapping_shl(self.rng.gen_range(0..=2))
        } else {
            *[
                0,
                1,
                sq_entries / 2,
                sq_entries.wrapping_add(1),
                u::RING_MAX_CQ_ENTRIES,
                u::RING_MAX_CQ_ENTRIES * 2,
                u32::MAX,
            ]
            .choose(self.rng)
            .unwrap()
        };
        let flags = if self.rng.gen_bool(0.95) {
            0
        } else {
            self.interesting() as u32
        };
        if depth == 0 && self.rng.gen_bool(0.6) {
            self.plan.maps += 1;
            self.follow.push_back(Call::MapRings {
                fd,
                queue,
                len: None,
            });
            for _ in 0..self.rng.gen_range(1..4) {
                let enter = self.enter(fd, queue);
                self.follow.push_back(enter);
            }
        }
        Call::RingSetup {
            fd,
            queue,
            sq_entries,
            cq_entries,
            flags,
        }
    }

    /// ENTER on `queue` (with planned rings): a few primitives for its submission ring, mostly
    /// all of them submitted, with or without waiting for completions; sometimes a garbage tail,
    /// count, flag or completion count.
    fn enter(&mut self, fd: u8, queue: u16) -> Call {
        let n = match self.rng.gen_range(0..100) {
            0..=79 => self.rng.gen_range(1..4),
            80..=89 => 0,
            _ => self.rng.gen_range(4..40),
        };
        let prims = self.prims(n);
        let tail_skew = if self.rng.gen_bool(0.93) {
            0
        } else {
            *[
                -2,
                -1,
                1,
                2,
                1024,
                1025,
                4096,
                i32::MIN,
                i32::MAX,
                0x1234_5678,
            ]
            .choose(self.rng)
            .unwrap()
        };
        let to_submit = if self.rng.gen_bool(0.9) {
            None
        } else {
            Some(
                *[
                    0,
                    1,
                    n as u32 + 1,
                    u::MAX_SUBMIT,
                    u::MAX_SUBMIT + 1,
                    u32::MAX,
                ]
                .choose(self.rng)
                .unwrap(),
            )
        };
        let flags = match self.rng.gen_range(0..100) {
            0..=54 => 0,
            55..=96 => u::ENTER_GETEVENTS,
            _ => self.interesting() as u32,
        };
        let min_complete = if flags & u::ENTER_GETEVENTS != 0 && self.rng.gen_bool(0.9) {
            self.rng.gen_range(1..=n.max(1) as u32)
        } else if flags & u::ENTER_GETEVENTS == 0 && self.rng.gen_bool(0.95) {
            0
        } else {
            *[
                0u32,
                1,
                u::RING_MAX_CQ_ENTRIES,
                u::RING_MAX_CQ_ENTRIES + 1,
                u32::MAX,
            ]
            .choose(self.rng)
            .unwrap()
        };
        Call::Enter {
            fd,
            queue,
            prims,
            tail_skew,
            to_submit,
            min_complete,
            flags,
            timeout_ns: self.timeout(),
        }
    }

    fn status(&mut self) -> u32 {
        if self.rng.gen_bool(0.9) {
            self.rng.gen_range(0..=u::STATUS_MAX)
        } else {
            self.interesting() as u32
        }
    }

    /// The `n` primitives of one SUBMIT or ENTER, some with dependencies.
    fn prims(&mut self, n: usize) -> Vec<Prim> {
        (0..n)
            .map(|i| {
                let mut p = self.prim();
                self.deps(&mut p, i);
                p
            })
            .collect()
    }

    /// Sometimes gives primitive `index` of a call dependencies: a few (rarely up to and past
    /// `MAX_DEPS`), sometimes with a count that does not match or a bad list pointer.
    fn deps(&mut self, p: &mut Prim, index: usize) {
        if self.rng.gen_bool(0.85) {
            return;
        }
        let max = u::MAX_DEPS as usize;
        let k = match self.rng.gen_range(0..100) {
            0..=79 => self.rng.gen_range(1..4),
            80..=89 => 0,
            90..=96 => self.rng.gen_range(4..=max),
            _ => max + 1,
        };
        p.deps = (0..k).map(|_| self.dep(index)).collect();
        if self.rng.gen_bool(if k == 0 { 0.5 } else { 0.08 }) {
            p.n_deps = Some(
                *[0, 1, k as u32 + 1, u::MAX_DEPS, u::MAX_DEPS + 1, u32::MAX]
                    .choose(self.rng)
                    .unwrap(),
            );
        }
        if self.rng.gen_bool(0.06) {
            p.deps_ptr = *[Ptr::Null, Ptr::Unmapped, Ptr::Kernel, Ptr::ReadOnly]
                .choose(self.rng)
                .unwrap();
        }
    }

    /// One dependency of primitive `index` of a call: an earlier primitive of the call (or, less
    /// often, itself or one before the call), a recent job on one of the program's queues (or one
    /// not submitted yet, too old, sequence number 0, an unknown queue), or unknown flags.
    fn dep(&mut self, index: usize) -> Dep {
        match self.rng.gen_range(0..100) {
            0..=44 => {
                let seq = if index > 0 && self.rng.gen_bool(0.85) {
                    self.rng.gen_range(1..=index as u64)
                } else {
                    *[0, index as u64 + 1, u64::MAX].choose(self.rng).unwrap()
                };
                let queue = if self.rng.gen_bool(0.95) {
                    None
                } else {
                    Some(self.idx(self.plan.queues))
                };
                Dep {
                    queue,
                    flags: u::DEP_RELATIVE,
                    seq,
                    back: false,
                }
            }
            45..=91 => {
                let queue = if self.rng.gen_bool(0.95) {
                    Some(self.idx(self.plan.queues))
                } else {
                    None
                };
                let (seq, back) = match self.rng.gen_range(0..10) {
                    0..=6 => (self.rng.gen_range(0..3), true),
                    // The next sequence number (not submitted yet), or one too old to be known.
                    7 => (
                        *[u64::MAX, u::COMPLETION_RING_ENTRIES as u64 + 1, 1000]
                            .choose(self.rng)
                            .unwrap(),
                        true,
                    ),
                    _ => (
                        *[0u64, 1, 2, 1 << 32, u64::MAX].choose(self.rng).unwrap(),
                        false,
                    ),
                };
                Dep {
                    queue,
                    flags: 0,
                    seq,
                    back,
                }
            }
            _ => {
                let unknown = (self.interesting() as u32 & !u::DEP_FLAGS_ALL).max(1 << 1);
                Dep {
                    queue: Some(self.idx(self.plan.queues)),
                    flags: unknown | self.rng.gen_range(0..=u::DEP_FLAGS_ALL),
                    seq: self.rng.gen_range(0..3),
                    back: true,
                }
            }
        }
    }

    /// A primitive: mostly a well-formed op over planned buffers, sometimes with odd shapes.
    fn prim(&mut self) -> Prim {
        let nb = self.plan.bufs.len() as u16;
        let op = if self.rng.gen_bool(0.95) {
            self.rng.gen_range(1..=u::OP_COUNT as u16)
        } else {
            self.rng.gen()
        };
        let dtype = if self.rng.gen_bool(0.8) {
            u::DTYPE_F32
        } else {
            self.rng.gen_range(0..=u::DTYPE_MAX + 1)
        };
        let n: u64 = *[1u64, 4, 16, 64, 256].choose(self.rng).unwrap();
        let (n_inputs, shapes): (u8, Vec<Vec<u64>>) = match op {
            u::OP_MATMUL => (2, vec![vec![n, n], vec![n, n], vec![n, n]]),
            u::OP_ADD | u::OP_MUL => (2, vec![vec![n]; 3]),
            u::OP_SOFTMAX | u::OP_LAYERNORM => (1, vec![vec![4, n]; 2]),
            u::OP_ATTENTION => (3, vec![vec![n, 8]; 4]),
            u::OP_CONV2D => (
                2,
                vec![vec![1, 1, 8, 8], vec![1, 1, 3, 3], vec![1, 1, 6, 6]],
            ),
            u::OP_SPIKE_ENCODE => (1, vec![vec![n], vec![n * 4]]),
            _ => (1, vec![vec![n]; 2]),
        };
        let operands = shapes
            .iter()
            .map(|s| {
                let mut shape = [0u64; 4];
                for (d, v) in s.iter().enumerate() {
                    shape[d] = *v;
                }
                let mut o = Operand {
                    buf: self.idx(nb),
                    offset: 0,
                    ndim: s.len() as u32,
                    shape,
                    strides: [0; 4],
                };
                if self.rng.gen_bool(0.08) {
                    let d = self.rng.gen_range(0..4);
                    match self.rng.gen_range(0..4) {
                        0 => o.shape[d] = self.interesting(),
                        1 => o.strides[d] = self.interesting(),
                        2 => o.offset = self.interesting(),
                        _ => o.ndim = self.rng.gen_range(0..6),
                    }
                }
                o
            })
            .collect();
        let params = if op == u::OP_SPIKE_ENCODE {
            [u::SPIKE_ENCODE_RATE + self.rng.gen_range(0..3), 4, 0, 0]
        } else if self.rng.gen_bool(0.9) {
            [0; 4]
        } else {
            [self.interesting(), self.interesting(), 0, 0]
        };
        Prim {
            op,
            dtype,
            out_dtype: if self.rng.gen_bool(0.9) {
                0
            } else {
                self.rng.gen_range(0..8)
            },
            rounding: if self.rng.gen_bool(0.95) {
                0
            } else {
                self.rng.gen_range(0..4)
            },
            flags: if self.rng.gen_bool(0.9) {
                0
            } else {
                self.rng.gen_range(0..4)
            },
            params,
            seed: self.rng.gen(),
            operands,
            n_inputs,
            deps: Vec::new(),
            n_deps: None,
            deps_ptr: Ptr::Arg,
        }
    }

    /// Any ioctl: a LightOS number with a wrong size or direction, another type, or random bytes.
    fn raw(&mut self, fd: u8) -> Call {
        let nr = self.rng.gen_range(0..0x20u32);
        let size = *[
            0usize, 1, 8, 24, 40, 56, 64, 80, 136, 400, 440, 4096, 4097, 16383,
        ]
        .choose(self.rng)
        .unwrap();
        let dir = self.rng.gen_range(0..4u32);
        let ty = if self.rng.gen_bool(0.9) {
            u::IOC_MAGIC
        } else {
            self.rng.gen_range(0..256)
        };
        let cmd = u::ioc(dir, ty, nr, size);
        let len = size.min(4096);
        let bytes = if self.rng.gen_bool(0.5) {
            vec![0; len]
        } else {
            (0..len).map(|_| self.rng.gen()).collect()
        };
        Call::Raw {
            fd,
            cmd,
            bytes,
            ptr: self.ptr(),
        }
    }
}

fn emulator_cmd(rng: &mut ChaCha8Rng) -> String {
    crate::emulator::COMMANDS.choose(rng).unwrap().to_string()
}

/// The size of the argument struct a call builds (for field mutations).
fn struct_size(c: &Call) -> usize {
    use std::mem::size_of;
    match c {
        Call::GetInfo { size, .. } => *size as usize,
        Call::Query { .. } => size_of::<u::Query>(),
        Call::BufCreate { .. } => size_of::<u::BufferCreate>(),
        Call::BufInfo { .. } => size_of::<u::BufferInfo>(),
        Call::BufDestroy { .. } => size_of::<u::BufferDestroy>(),
        Call::Export { .. } => size_of::<u::BufferExport>(),
        Call::Import { .. } => size_of::<u::BufferImport>(),
        Call::QueueCreate { .. } => size_of::<u::QueueCreate>(),
        Call::QueueDestroy { .. } => size_of::<u::QueueDestroy>(),
        Call::Submit { .. } => size_of::<u::Submit>(),
        Call::Wait { .. } => size_of::<u::Wait>(),
        Call::ExecRegister { .. } => size_of::<u::ExecutorRegister>(),
        Call::JobFetch { .. } => size_of::<u::JobFetch>(),
        Call::JobComplete { .. } => size_of::<u::JobComplete>(),
        Call::RouteSet { .. } => size_of::<u::RouteSet>(),
        Call::EventWait { .. } => size_of::<u::EventWait>(),
        Call::SpikeCreate { .. } => size_of::<u::SpikeQueueCreate>(),
        Call::SpikeDestroy { .. } | Call::SpikeNotify { .. } => size_of::<u::SpikeQueueId>(),
        Call::SpikeWait { .. } => size_of::<u::SpikeWait>(),
        Call::SpikeExport { .. } => size_of::<u::SpikeQueueExport>(),
        Call::SpikeImport { .. } => size_of::<u::SpikeQueueImport>(),
        Call::PowerSet { .. } => size_of::<u::PowerSet>(),
        Call::RingSetup { .. } => size_of::<u::RingSetup>(),
        Call::Enter { .. } => size_of::<u::Enter>(),
        Call::JobBatch { .. } => size_of::<u::JobBatch>(),
        Call::Raw { bytes, .. } => bytes.len(),
        _ => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn program(seed: u64) -> String {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        serde_json::to_string(&Gen::new(&mut rng, true, 2).program()).unwrap()
    }

    #[test]
    fn a_seed_gives_the_same_program_and_another_seed_a_different_one() {
        assert_eq!(program(7), program(7));
        assert_ne!(program(7), program(8));
    }

    #[test]
    fn programs_open_a_context_first_and_reach_every_ioctl_over_many_seeds() {
        let mut nrs = 0u64;
        for seed in 0..300 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let p = Gen::new(&mut rng, true, 2).program();
            assert!(matches!(p.steps[0].call, Call::Open { slot: 0 }));
            for s in p.all_steps() {
                if let (Some(nr), false) = (s.call.ioctl_nr(), matches!(s.call, Call::Raw { .. })) {
                    nrs |= 1 << nr;
                }
            }
        }
        let all = (1u64 << (u::IOC_NR_JOB_BATCH + 1)) - 1;
        assert_eq!(
            nrs & all,
            all,
            "ioctl numbers never generated: {:#x}",
            all & !nrs
        );
    }

    #[test]
    fn mutation_changes_a_program_and_keeps_it_valid_json() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let p = Gen::new(&mut rng, false, 0).program();
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let q = Gen::new(&mut rng, false, 0).mutate(&p);
        let (a, b) = (
            serde_json::to_string(&p).unwrap(),
            serde_json::to_string(&q).unwrap(),
        );
        assert_ne!(a, b);
        let back: crate::prog::Program = serde_json::from_str(&b).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), b);
    }

    #[test]
    fn field_changes_stay_inside_the_struct_and_aligned() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut g = Gen::new(&mut rng, false, 0);
        for _ in 0..1000 {
            let f = g.field(56);
            assert!(f.off as usize + f.width as usize <= 56);
            assert_eq!(f.off as usize % f.width as usize, 0);
        }
    }

    /// Every program kept in the tree (replayed by `make test`, or kept for the record) still
    /// loads, and saves back unchanged: fields added since are absent from old programs.
    #[test]
    fn saved_programs_still_load_and_save_back_unchanged() {
        let mut n = 0;
        for dir in ["regressions", "fixed-worker-heap"] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let p: Program = serde_json::from_str(text.trim())
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let saved: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
                assert_eq!(
                    serde_json::to_value(&p).unwrap(),
                    saved,
                    "{}",
                    path.display()
                );
                n += 1;
            }
        }
        assert!(n >= 3, "only {n} saved programs found");
    }

    #[test]
    fn many_programs_set_up_map_and_enter_the_rings_of_one_queue() {
        let mut chains = 0;
        for seed in 0..300 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let p = Gen::new(&mut rng, false, 0).program();
            let (mut set_up, mut mapped) = (Vec::new(), Vec::new());
            let mut entered = false;
            for s in &p.steps {
                match &s.call {
                    Call::RingSetup { fd, queue, .. } => set_up.push((*fd, *queue)),
                    Call::MapRings { fd, queue, .. } if set_up.contains(&(*fd, *queue)) => {
                        mapped.push((*fd, *queue))
                    }
                    Call::Enter {
                        fd, queue, prims, ..
                    } => entered |= !prims.is_empty() && mapped.contains(&(*fd, *queue)),
                    _ => {}
                }
            }
            chains += entered as u32;
        }
        assert!(
            chains >= 60,
            "only {chains} of 300 programs enter mapped rings"
        );
    }

    #[test]
    fn dependencies_are_mostly_plausible_and_sometimes_bad() {
        let (mut relative, mut bad_relative, mut recent, mut raw, mut bad_flags) = (0, 0, 0, 0, 0);
        let (mut bad_counts, mut bad_ptrs) = (0, 0);
        for seed in 0..300 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let p = Gen::new(&mut rng, false, 0).program();
            for s in p.all_steps() {
                let (Call::Submit { prims, .. } | Call::Enter { prims, .. }) = &s.call else {
                    continue;
                };
                for (i, prim) in prims.iter().enumerate() {
                    bad_counts += prim.n_deps.is_some() as u32;
                    bad_ptrs += (prim.deps_ptr != Ptr::Arg) as u32;
                    for d in &prim.deps {
                        match d.flags {
                            u::DEP_RELATIVE
                                if d.queue.is_none() && (1..=i as u64).contains(&d.seq) =>
                            {
                                relative += 1
                            }
                            u::DEP_RELATIVE => bad_relative += 1,
                            0 if d.back && d.seq < 3 => recent += 1,
                            0 => raw += 1,
                            _ => bad_flags += 1,
                        }
                    }
                }
            }
        }
        for (what, n) in [
            ("bad relative", bad_relative),
            ("raw sequence", raw),
            ("bad flags", bad_flags),
            ("bad count", bad_counts),
            ("bad pointer", bad_ptrs),
        ] {
            assert!(n > 0, "no {what} dependency generated");
        }
        assert!(
            relative > bad_relative,
            "{relative} good, {bad_relative} bad relative"
        );
        assert!(recent > raw, "{recent} recent, {raw} raw absolute");
    }

    #[test]
    fn batch_executors_complete_the_jobs_they_fetched_before() {
        let (mut executors, mut completions) = (0, 0);
        for seed in 0..300 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let p = Gen::new(&mut rng, false, 0).program();
            for s in &p.steps {
                let Call::Thread { steps } = &s.call else {
                    continue;
                };
                let Some(Call::ExecRegister { fd: slot, .. }) = steps.get(1).map(|s| &s.call)
                else {
                    continue;
                };
                let mut fetched = 0u32;
                for s in steps {
                    if let Call::JobBatch {
                        fd,
                        done,
                        max_fetch,
                        ..
                    } = &s.call
                    {
                        assert_eq!(fd, slot);
                        // Each completion names a job an earlier batch may have fetched.
                        for d in done.iter().filter(|d| d.job & Done::STALE == 0) {
                            assert!(u32::from(d.job) < fetched);
                            completions += 1;
                        }
                        fetched += max_fetch;
                        executors += (done.is_empty() && fetched == *max_fetch) as u32;
                    }
                }
            }
        }
        assert!(
            executors > 20 && completions > 100,
            "{executors} {completions}"
        );
    }
}
