//! The kernel engine: every step a job of `/dev/lightos`, submitted through the queue's rings (the
//! fast path) in batches of up to [`BATCH`] with their dependencies, so a batch runs without waking
//! this process between steps; each job's completion entry says how it ended.

use super::{read_outputs, step_error, write_feeds, Engine};
use crate::{
    compile::{Program, SpaceKind},
    GraphError, Result,
};
use lightos_runtime::{
    deadline_ns, Batch, Buffer, BufferFlags, Context, Dep, JobStatus, MappedBuffer, Placement,
    Primitive, Queue, Rings,
};
use lightos_uapi as uapi;
use nix::errno::Errno;
use std::time::Duration;

/// Steps per batch (the submission ring's size).
pub const BATCH: usize = 256;
/// Steps per batch of a run that may be stopped ([`Engine::run_until`]): a stop takes effect
/// once the batch in flight has ended.
pub const STOPPABLE_BATCH: usize = 16;
/// How often a stoppable run asks whether to stop while it waits.
const STOP_POLL: Duration = Duration::from_millis(50);
/// Completion entries: room for four batches, so none is lost while this side reaps.
const CQ_ENTRIES: u32 = 4 * BATCH as u32;

/// Runs a program through `/dev/lightos`.
pub struct Device {
    program: Program,
    /// The queue's rings (declared before the queue: dropped first).
    rings: Rings,
    _queue: Queue,
    /// One buffer per space (weights written once), kept: their handles are the operands.
    _buffers: Vec<Buffer>,
    /// Their mappings, by space.
    maps: Vec<MappedBuffer>,
    /// Each step's primitive with the spaces replaced by buffer handles.
    prims: Vec<Primitive>,
    /// How long one job may take from its submission (the ABI's longest).
    timeout: Duration,
    /// Each step's device time in the last run (its completion entry's `device_ns`).
    step_ns: Vec<u64>,
}

fn runtime(what: &str) -> impl Fn(lightos_runtime::Error) -> GraphError + '_ {
    move |e| GraphError::Run {
        what: what.into(),
        reason: e.to_string(),
    }
}

impl Device {
    /// An engine for `program` in `ctx` (whose routes choose the backends): creates one buffer
    /// per space and writes the weights.
    pub fn new(ctx: &Context, mut program: Program) -> Result<Self> {
        let mut buffers = Vec::with_capacity(program.spaces.len());
        let mut maps = Vec::with_capacity(program.spaces.len());
        for (i, space) in program.spaces.iter_mut().enumerate() {
            let flags = match space.kind {
                SpaceKind::Weights | SpaceKind::Feed(_) => BufferFlags::DEVICE_READ_ONLY,
                SpaceKind::Arena | SpaceKind::Scratch => BufferFlags::empty(),
            };
            let what = format!("space {i} ({:?}, {} bytes)", space.kind, space.size);
            let buffer = ctx
                .create_buffer(space.size as usize, flags, Placement::Any)
                .map_err(runtime(&what))?;
            let mut map = buffer.map().map_err(runtime(&what))?;
            if space.kind == SpaceKind::Weights {
                map[..space.data.len()].copy_from_slice(&space.data);
                space.data = Vec::new();
            }
            buffers.push(buffer);
            maps.push(map);
        }
        let prims = program
            .steps
            .iter()
            .map(|s| {
                let mut p = s.prim;
                let n = usize::from(p.n_inputs);
                for t in &mut p.operands[..=n] {
                    t.buffer = buffers[t.buffer as usize].handle();
                }
                Primitive::from_abi(p)
            })
            .collect();
        // A job's timeout counts from its submission, so a long batch needs the longest.
        let timeout = Duration::from_millis(uapi::MAX_JOB_TIMEOUT_MS.into());
        let queue = ctx.create_queue(0, timeout).map_err(runtime("the queue"))?;
        let rings = queue
            .setup_rings(BATCH as u32, CQ_ENTRIES)
            .map_err(runtime("the queue's rings"))?;
        let step_ns = vec![0; program.steps.len()];
        Ok(Self {
            program,
            rings,
            _queue: queue,
            _buffers: buffers,
            maps,
            prims,
            timeout,
            step_ns,
        })
    }

    /// Submits steps `range` as one batch (dependencies on earlier batches are met: those
    /// completed) and waits for all of them, asking `stop` every [`STOP_POLL`] while it waits;
    /// returns whether `stop` said to stop.
    fn batch(&mut self, range: std::ops::Range<usize>, stop: &dyn Fn() -> bool) -> Result<bool> {
        let mut batch = Batch::new();
        for i in range.clone() {
            let deps: Vec<Dep> = self.program.steps[i]
                .deps
                .iter()
                .filter(|&&d| d >= range.start)
                .map(|&d| Dep::Earlier(d - range.start))
                .collect();
            batch
                .push_after(self.prims[i], &deps)
                .map_err(|e| step_error(&self.program, i, e))?;
        }
        let events = self.rings.submit(&mut batch).map_err(|e| match e {
            lightos_runtime::Error::Submit { index, .. } => {
                step_error(&self.program, range.start + index as usize, e)
            }
            e => runtime("ENTER")(e),
        })?;
        let deadline = deadline_ns(Some(self.timeout));
        let mut failed: Option<(usize, JobStatus)> = None;
        let mut stopped = false;
        for (i, event) in range.clone().zip(&events) {
            let cqe = loop {
                let slice = deadline_ns(Some(STOP_POLL)).min(deadline);
                match self.rings.wait(event, slice) {
                    Ok(cqe) => break cqe,
                    Err(e) if e.errno() == Some(Errno::ETIMEDOUT) && slice < deadline => {
                        // The jobs run on; only whether to start more is the caller's.
                        stopped = stopped || stop();
                    }
                    Err(e) => return Err(step_error(&self.program, i, e)),
                }
            };
            let status = cqe.status;
            self.step_ns[i] = cqe.device_ns;
            if status != JobStatus::Ok
                && failed.is_none_or(|(_, s)| s == JobStatus::DependencyFailed)
            {
                failed = Some((i, status));
            }
        }
        match failed {
            Some((i, status)) => Err(step_error(
                &self.program,
                i,
                format!("the job ended {status:?}"),
            )),
            None => Ok(stopped),
        }
    }

    /// Runs every step in batches of `size`, asking `stop` while it waits and between batches.
    fn run_batches(
        &mut self,
        feeds: &[&[u8]],
        size: usize,
        stop: &dyn Fn() -> bool,
    ) -> Result<Vec<Vec<u8>>> {
        write_feeds(&self.program, feeds, &mut self.maps)?;
        let total = self.program.steps.len();
        let mut start = 0;
        while start < total {
            let end = (start + size).min(total);
            if self.batch(start..end, stop)? || (end < total && stop()) {
                return Err(GraphError::Interrupted { done: end, total });
            }
            start = end;
        }
        Ok(read_outputs(&self.program, &self.maps))
    }
}

impl Engine for Device {
    fn run(&mut self, feeds: &[&[u8]]) -> Result<Vec<Vec<u8>>> {
        self.run_batches(feeds, BATCH, &|| false)
    }

    fn run_until(&mut self, feeds: &[&[u8]], stop: &dyn Fn() -> bool) -> Result<Vec<Vec<u8>>> {
        self.run_batches(feeds, STOPPABLE_BATCH, stop)
    }

    fn program(&self) -> &Program {
        &self.program
    }

    fn step_ns(&self) -> &[u64] {
        &self.step_ns
    }
}
