//! The executor side of the protocol: register as a backend, fetch jobs, map their operands,
//! complete them.

use crate::{
    buffer::{handle_info, ioctl_error},
    sys, Error, JobStatus, Result,
};
use lightos_uapi as uapi;
use memmap2::{Mmap, MmapMut, MmapOptions};
use nix::errno::Errno;
use std::{
    os::fd::{AsRawFd, OwnedFd},
    sync::Arc,
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
    pub prim: uapi::Primitive,
}

impl FetchedJob {
    /// Whether every operand holds no elements (the null primitive): running it touches no
    /// memory, so an executor completes it without mapping anything. A job with some empty and
    /// some non-empty operands (a MATMUL with K = 0 still zeroes its output) is not null.
    pub fn is_null(&self) -> bool {
        let n = usize::from(self.prim.n_inputs) + 1;
        self.prim.operands[..n.min(uapi::MAX_OPERANDS)]
            .iter()
            .all(|t| t.shape[..(t.ndim as usize).min(uapi::MAX_DIMS)].contains(&0))
    }
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

impl Executor {
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

    /// Takes the next job, waiting at most `timeout` (`None`: no limit). `Ok(None)` when none came.
    pub fn fetch(&self, timeout: Option<Duration>) -> Result<Option<FetchedJob>> {
        let mut req = uapi::JobFetch {
            timeout_ns: match timeout {
                None => uapi::TIMEOUT_INFINITE,
                Some(t) => crate::queue::monotonic_ns()
                    .saturating_add(t.as_nanos().min(u64::MAX as u128) as u64),
            },
            ..Default::default()
        };
        if timeout == Some(Duration::ZERO) {
            req.flags = uapi::FETCH_NONBLOCK;
        }
        // SAFETY: `req` is a valid, writable `JobFetch` that outlives the call; the fd is open.
        match unsafe { sys::job_fetch(self.fd.as_raw_fd(), &mut req) } {
            Ok(_) => Ok(Some(FetchedJob {
                job_id: req.job_id,
                prim: req.prim,
            })),
            Err(Errno::EAGAIN | Errno::ETIMEDOUT | Errno::EINTR) => Ok(None),
            Err(errno) => Err(sys::rejected(self.fd.as_raw_fd(), "JOB_FETCH", errno)),
        }
    }

    /// Maps operand `index` of `job` (the whole buffer; the tensor's offset indexes into it).
    pub fn map_operand(&self, job: &FetchedJob, index: usize) -> Result<OperandMap> {
        let p = &job.prim;
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
