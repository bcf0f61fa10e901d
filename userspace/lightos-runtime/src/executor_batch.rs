//! [`Executor::serve`] at ring speed (ABI 1.10): one `JOB_BATCH` call reports the last batch's
//! outcomes and fetches the next batch, and operand buffers stay mapped across jobs. The kernel
//! keeps one handle per buffer in the executor's context while a client holds the buffer, and
//! reports the handles it revokes; this side keeps one read-only and one writable mapping per
//! handle and drops them when told. Handles are never reused within a context, so a mapping found
//! under a handle is always that buffer's.

use crate::{
    buffer::handle_info,
    executor::{Executor, FetchedJob, JobHandler, Outcome, ServeUntil},
    sys, Error, Primitive, Result,
};
use lightos_uapi as uapi;
use memmap2::{MmapOptions, MmapRaw};
use nix::errno::Errno;
use std::{collections::HashMap, os::fd::AsRawFd, sync::atomic::Ordering, time::Duration};

/// Jobs fetched, and outcomes reported, per call.
const BATCH: usize = uapi::MAX_JOB_BATCH as usize;

/// How long a wait for jobs lasts before `stop` is looked at again.
const POLL: Duration = Duration::from_millis(100);

/// The executor's mappings of cached handles: `(handle, writable)` → the whole buffer.
#[derive(Default)]
struct Mappings {
    maps: HashMap<(u32, bool), MmapRaw>,
}

impl Mappings {
    /// The mapping of `handle`, made on first use: read-only for inputs, writable for outputs.
    fn get(&mut self, exec: &Executor, handle: u32, writable: bool) -> Result<&MmapRaw> {
        use std::collections::hash_map::Entry;
        match self.maps.entry((handle, writable)) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => {
                let info = handle_info(exec.fd(), handle)?;
                let mut opts = MmapOptions::new();
                opts.offset(info.mmap_offset).len(info.size as usize);
                let fd = exec.fd().as_raw_fd();
                let map = if writable {
                    opts.map_raw(fd)
                } else {
                    opts.map_raw_read_only(fd)
                };
                let map = map.map_err(|err| Error::Map {
                    handle,
                    errno: Errno::from_raw(err.raw_os_error().unwrap_or(0)),
                })?;
                Ok(e.insert(map))
            }
        }
    }

    /// Drops both mappings of a revoked handle.
    fn revoke(&mut self, handle: u32) {
        self.maps.remove(&(handle, false));
        self.maps.remove(&(handle, true));
    }
}

/// What one `JOB_BATCH` call did.
struct Batched {
    fetched: usize,
    revoked: usize,
}

impl Executor {
    /// One `JOB_BATCH`: reports `done`, fills `revoked` and `jobs`. An error carries how many of
    /// `done` were applied (a refused completion is the one at that index).
    fn job_batch(
        &self,
        done: &[uapi::JobDone],
        jobs: &mut [uapi::BatchJob],
        revoked: &mut [u32],
        timeout: Option<Duration>,
    ) -> std::result::Result<Batched, (usize, Error)> {
        let mut req = uapi::JobBatch {
            n_complete: done.len() as u32,
            completions: done.as_ptr() as u64,
            max_fetch: jobs.len() as u32,
            jobs: jobs.as_mut_ptr() as u64,
            timeout_ns: crate::queue::deadline_ns(timeout),
            revoked: revoked.as_mut_ptr() as u64,
            max_revoked: revoked.len() as u32,
            ..Default::default()
        };
        let fd = self.fd().as_raw_fd();
        // SAFETY: `req` is a valid, writable `JobBatch`; `completions`, `jobs` and `revoked` point
        // to `n_complete`, `max_fetch` and `max_revoked` entries that outlive the call (`jobs` and
        // `revoked` writable); the fd is open.
        match unsafe { sys::job_batch(fd, &mut req) } {
            Ok(_) => Ok(Batched {
                fetched: req.n_fetched as usize,
                revoked: req.n_revoked as usize,
            }),
            Err(errno) => Err((
                req.error_index as usize,
                sys::rejected(fd, "JOB_BATCH", errno),
            )),
        }
    }

    /// Reports `done`: a completion the kernel refuses as malformed (`EINVAL`: more events than
    /// the job can take) is reported `INVALID` instead, so the job ends rather than times out.
    fn report(&self, done: &mut Vec<uapi::JobDone>, mappings: &mut Mappings) -> Result<()> {
        let mut revoked = [0u32; BATCH];
        while !done.is_empty() {
            match self.job_batch(done, &mut [], &mut revoked, None) {
                Ok(b) => {
                    forget(mappings, &revoked[..b.revoked]);
                    done.clear();
                }
                Err((applied, e)) => {
                    done.drain(..applied.min(done.len()));
                    refused(done, e)?;
                }
            }
        }
        Ok(())
    }

    /// Serves jobs with `handler` until `until` says so and returns how many ran: each call
    /// reports the last batch's outcomes and fetches the next batch (`JOB_BATCH`); operand
    /// buffers are mapped once and kept while the kernel keeps their handles. A job that timed out
    /// or was aborted meanwhile is not this executor's error; an outcome the kernel refuses
    /// (`EINVAL`: more events than the job can take) ends the job `INVALID` and serving goes on.
    pub fn serve(&self, handler: &mut impl JobHandler, until: ServeUntil<'_>) -> Result<u64> {
        let mut mappings = Mappings::default();
        let mut jobs = vec![uapi::BatchJob::default(); BATCH];
        let mut revoked = [0u32; BATCH];
        let mut done: Vec<uapi::JobDone> = Vec::with_capacity(BATCH);
        let mut served = 0u64;
        loop {
            let stopped = until.stop.is_some_and(|s| s.load(Ordering::Relaxed));
            let left = until
                .max_jobs
                .map_or(BATCH as u64, |m| m - served)
                .min(BATCH as u64);
            if stopped || left == 0 {
                self.report(&mut done, &mut mappings)?;
                return Ok(served);
            }
            let timeout = until.stop.map(|_| POLL);
            let fetched =
                match self.job_batch(&done, &mut jobs[..left as usize], &mut revoked, timeout) {
                    Ok(b) => {
                        forget(&mut mappings, &revoked[..b.revoked]);
                        done.clear();
                        b.fetched
                    }
                    Err((applied, e)) => {
                        done.drain(..applied.min(done.len()));
                        refused(&mut done, e)?;
                        continue;
                    }
                };
            for raw in &jobs[..fetched] {
                let job = FetchedJob {
                    job_id: raw.job_id,
                    prim: Primitive::from_abi(raw.prim),
                };
                let outcome = self.run_mapped(&job, handler, &mut mappings);
                handler.finished(&job, &outcome);
                done.push(uapi::JobDone {
                    job_id: job.job_id,
                    status: outcome.status.to_raw(),
                    produced: outcome.produced,
                });
            }
            served += fetched as u64;
        }
    }

    /// Runs `job` with `handler` on its operands' cached mappings (not completing it). A null job
    /// (every operand empty) touches no memory.
    fn run_mapped(
        &self,
        job: &FetchedJob,
        handler: &mut impl JobHandler,
        mappings: &mut Mappings,
    ) -> Outcome {
        if job.prim.is_null() {
            return Outcome::ok();
        }
        let p = job.prim.abi();
        let n = job.prim.n_inputs();
        let mut spans: Vec<(*const u8, usize)> = Vec::with_capacity(n);
        for i in 0..n {
            match mappings.get(self, p.operands[i].buffer, false) {
                Ok(m) => spans.push((m.as_ptr(), m.len())),
                Err(e) => return Outcome::refused(format!("mapping its operands: {e}")),
            }
        }
        let (out_ptr, out_len) = match mappings.get(self, p.operands[n].buffer, true) {
            Ok(m) => (m.as_mut_ptr(), m.len()),
            Err(e) => return Outcome::refused(format!("mapping its output: {e}")),
        };
        // SAFETY: each span is a live mapping in `mappings`, which is not changed until the
        // handler returns. Inputs come from read-only mappings and the output from a writable
        // one: distinct address ranges, so the shared slices never alias the mutable one (the
        // same pages seen at two addresses, as separate mappings of a buffer always are). The
        // client does not touch the operands until completion, by contract.
        let inputs: Vec<&[u8]> = spans
            .iter()
            .map(|&(ptr, len)| unsafe { std::slice::from_raw_parts(ptr, len) })
            .collect();
        // SAFETY: as above; nothing else refers to the writable mapping during the call.
        let output = unsafe { std::slice::from_raw_parts_mut(out_ptr, out_len) };
        handler.run(&job.prim, &inputs, output)
    }
}

/// After a failed `JOB_BATCH` whose applied completions were drained from `done`: a completion
/// refused as malformed (`EINVAL`: more events than the job can take) is reported `INVALID`
/// instead, so its job ends rather than times out; an interrupted wait is retried; anything else
/// is the caller's error.
fn refused(done: &mut [uapi::JobDone], e: Error) -> Result<()> {
    match e.errno() {
        Some(Errno::EINTR) => Ok(()),
        Some(Errno::EINVAL) if !done.is_empty() => {
            done[0].status = uapi::STATUS_INVALID;
            done[0].produced = 0;
            Ok(())
        }
        _ => Err(e),
    }
}

/// Drops the mappings of the handles the kernel revoked.
fn forget(mappings: &mut Mappings, revoked: &[u32]) {
    for &h in revoked {
        mappings.revoke(h);
    }
}
