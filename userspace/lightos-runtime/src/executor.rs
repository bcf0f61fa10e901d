//! The executor side of the protocol: register as a backend, fetch jobs, map their operands,
//! complete them; [`Executor::serve`] (`executor_batch`) is that loop, written once for every
//! executor, around a [`JobHandler`] that computes.

use crate::{
    buffer::{handle_info, ioctl_error},
    sys, Error, JobStatus, Primitive, Result,
};
use lightos_uapi as uapi;
use memmap2::{Mmap, MmapMut, MmapOptions};
use nix::errno::Errno;
use std::{
    os::fd::{AsRawFd, OwnedFd},
    sync::{atomic::AtomicBool, Arc},
    time::Duration,
};

/// What an executor declares when it registers.
#[derive(Clone, Debug)]
pub struct ExecutorSpec {
    /// Unique backend name (at most 31 bytes), e.g. `"cpu0"`.
    pub name: String,
    /// Ops it runs ([`crate::Op::bit`]).
    pub ops: u64,
    /// Ops it runs bit-reproducibly.
    pub deterministic_ops: u64,
    /// Dtypes it accepts ([`crate::DType::bit`]).
    pub dtypes: u32,
}

/// A context registered as an executor. Closing it (drop) fails its jobs with DEVICE_LOST.
#[derive(Debug)]
pub struct Executor {
    fd: Arc<OwnedFd>,
    backend_id: u32,
}

/// A job handed to this executor.
#[derive(Clone, Copy, Debug)]
pub struct FetchedJob {
    /// Pass back to [`Executor::complete`].
    pub job_id: u64,
    /// The primitive; operand buffers are handles in this executor's context.
    pub prim: Primitive,
}

/// An operand mapped for a job: inputs read-only, the output writable.
#[derive(Debug)]
pub enum OperandMap {
    /// An input.
    Input(Mmap),
    /// The output.
    Output(MmapMut),
}

impl OperandMap {
    /// The operand's buffer bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            OperandMap::Input(m) => m,
            OperandMap::Output(m) => m,
        }
    }
}

/// How a handler finished one job: what is reported to the kernel, and why it was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The status reported to the kernel.
    pub status: JobStatus,
    /// Events an `OP_SPIKE_ENCODE` job staged (0 for every other op).
    pub produced: u32,
    /// Why it was refused, when it was (the status is then `Invalid`).
    pub error: Option<String>,
}

impl Outcome {
    /// Completed.
    pub fn ok() -> Outcome {
        Outcome::produced(0)
    }

    /// Completed, having staged `produced` spike events.
    pub fn produced(produced: u32) -> Outcome {
        Outcome {
            status: JobStatus::Ok,
            produced,
            error: None,
        }
    }

    /// Refused as `Invalid`, for the reason `why`.
    pub fn refused(why: impl Into<String>) -> Outcome {
        Outcome {
            status: JobStatus::Invalid,
            produced: 0,
            error: Some(why.into()),
        }
    }
}

/// What computes the jobs an [`Executor`] serves.
pub trait JobHandler {
    /// Runs `prim` on its operands' mapped bytes: `inputs[i]` is input `i`'s whole buffer and
    /// `output` the output's (each tensor's offset indexes into its buffer).
    fn run(&mut self, prim: &Primitive, inputs: &[&[u8]], output: &mut [u8]) -> Outcome;

    /// Sees every job's outcome before it is reported (for a log); does nothing by default.
    fn finished(&mut self, _job: &FetchedJob, _outcome: &Outcome) {}
}

/// When [`Executor::serve`] returns: once `stop` is set (looked at every 100 ms) or `max_jobs`
/// have run; with neither, never.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServeUntil<'a> {
    /// Set by another thread to stop serving.
    pub stop: Option<&'a AtomicBool>,
    /// Return after serving this many jobs.
    pub max_jobs: Option<u64>,
}

impl Executor {
    /// Maps `job`'s operands and runs it with `handler` (not completing it). A null job (every
    /// operand empty) touches no memory: it is `Ok` without mapping or running anything; an
    /// operand that cannot be mapped refuses the job.
    pub fn run(&self, job: &FetchedJob, handler: &mut impl JobHandler) -> Outcome {
        if job.prim.is_null() {
            return Outcome::ok();
        }
        let n = job.prim.n_inputs();
        let mut maps = match (0..=n)
            .map(|i| self.map_operand(job, i))
            .collect::<Result<Vec<_>>>()
        {
            Ok(m) => m,
            Err(e) => return Outcome::refused(format!("mapping its operands: {e}")),
        };
        let (inputs, output) = maps.split_at_mut(n);
        let OperandMap::Output(out) = &mut output[0] else {
            return Outcome::refused("the output operand was mapped read-only");
        };
        let inputs: Vec<&[u8]> = inputs.iter().map(OperandMap::bytes).collect();
        handler.run(&job.prim, &inputs, out)
    }

    pub(crate) fn register(fd: Arc<OwnedFd>, spec: &ExecutorSpec) -> Result<Self> {
        let mut req = uapi::ExecutorRegister {
            name: [0; uapi::BACKEND_NAME_LEN],
            ops: spec.ops,
            deterministic_ops: spec.deterministic_ops,
            dtypes: spec.dtypes,
            flags: 0,
            backend_id: 0,
            pad: 0,
            reserved: [0; 2],
        };
        let name = spec.name.as_bytes();
        if name.is_empty() || name.len() >= uapi::BACKEND_NAME_LEN || name.contains(&0) {
            return Err(ioctl_error("EXECUTOR_REGISTER", Errno::EINVAL));
        }
        req.name[..name.len()].copy_from_slice(name);
        // SAFETY: `req` is a valid, writable `ExecutorRegister` that outlives the call.
        unsafe { sys::executor_register(fd.as_raw_fd(), &mut req) }
            .map_err(|errno| sys::rejected(fd.as_raw_fd(), "EXECUTOR_REGISTER", errno))?;
        Ok(Self {
            fd,
            backend_id: req.backend_id,
        })
    }

    /// The backend identifier routing rules name.
    pub fn backend_id(&self) -> u32 {
        self.backend_id
    }

    /// The context's file.
    pub(crate) fn fd(&self) -> &Arc<OwnedFd> {
        &self.fd
    }

    /// Takes the next job, waiting at most `timeout` (`None`: no limit). `Ok(None)` when none came.
    pub fn fetch(&self, timeout: Option<Duration>) -> Result<Option<FetchedJob>> {
        let mut req = uapi::JobFetch {
            timeout_ns: crate::queue::deadline_ns(timeout),
            ..Default::default()
        };
        if timeout == Some(Duration::ZERO) {
            req.flags = uapi::FETCH_NONBLOCK;
        }
        // SAFETY: `req` is a valid, writable `JobFetch` that outlives the call; the fd is open.
        match unsafe { sys::job_fetch(self.fd.as_raw_fd(), &mut req) } {
            Ok(_) => Ok(Some(FetchedJob {
                job_id: req.job_id,
                prim: Primitive::from_abi(req.prim),
            })),
            Err(Errno::EAGAIN | Errno::ETIMEDOUT | Errno::EINTR) => Ok(None),
            Err(errno) => Err(sys::rejected(self.fd.as_raw_fd(), "JOB_FETCH", errno)),
        }
    }

    /// Maps operand `index` of `job` (the whole buffer; the tensor's offset indexes into it).
    pub fn map_operand(&self, job: &FetchedJob, index: usize) -> Result<OperandMap> {
        let p = job.prim.abi();
        let handle = p.operands.get(index).map(|t| t.buffer).unwrap_or(0);
        if index > usize::from(p.n_inputs) || handle == 0 {
            return Err(ioctl_error("map operand", Errno::EINVAL));
        }
        let info = handle_info(&self.fd, handle)?;
        let mut opts = MmapOptions::new();
        opts.offset(info.mmap_offset).len(info.size as usize);
        let map_err = |e: std::io::Error| Error::Map {
            handle,
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        };
        // SAFETY: shared mappings of the job's buffer pages, kept alive by the mapping; the client
        // that submitted the job does not touch its operands until completion, by contract.
        if index == usize::from(p.n_inputs) {
            Ok(OperandMap::Output(
                unsafe { opts.map_mut(self.fd.as_raw_fd()) }.map_err(map_err)?,
            ))
        } else {
            Ok(OperandMap::Input(
                unsafe { opts.map(self.fd.as_raw_fd()) }.map_err(map_err)?,
            ))
        }
    }

    /// Reports `job_id` done with `status` (OK, INVALID or THERMAL_ABORT). `ECANCELED` when the
    /// job had already timed out or been aborted (not an executor fault).
    pub fn complete(&self, job_id: u64, status: JobStatus) -> Result<()> {
        self.complete_with_events(job_id, status, 0)
    }

    /// Like [`Executor::complete`] for an `OP_SPIKE_ENCODE` job that wrote `produced` events to
    /// its staging output: the kernel produces them into the job's queue before the job is seen
    /// done. `EINVAL` if the job is another op or `produced` exceeds the staging capacity.
    pub fn complete_with_events(
        &self,
        job_id: u64,
        status: JobStatus,
        produced: u32,
    ) -> Result<()> {
        let mut req = uapi::JobComplete {
            job_id,
            status: status.to_raw(),
            produced,
            ..Default::default()
        };
        // SAFETY: `req` is a valid, writable `JobComplete` that outlives the call; the fd is open.
        unsafe { sys::job_complete(self.fd.as_raw_fd(), &mut req) }
            .map_err(|errno| sys::rejected(self.fd.as_raw_fd(), "JOB_COMPLETE", errno))?;
        Ok(())
    }
}
