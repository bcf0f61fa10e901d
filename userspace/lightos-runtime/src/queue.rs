//! Submission queues: submit primitives, wait on the timeline, poll the completion page.

use crate::{sys, Error, JobStatus, Primitive, Result};
use lightos_uapi as uapi;
use memmap2::{Mmap, MmapOptions};
use nix::errno::Errno;
use std::{
    os::fd::{AsRawFd, OwnedFd},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

/// Sequence numbers a `SUBMIT` was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The first primitive's.
    pub first_seq: u64,
    /// The last primitive's (wait for this one).
    pub last_seq: u64,
}

/// What `WAIT` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The job's status.
    pub status: JobStatus,
    /// Every job up to here has completed.
    pub completed_seq: u64,
}

/// A submission queue of one context; destroyed on drop (unfinished jobs end ABORTED).
#[derive(Debug)]
pub struct Queue {
    fd: Arc<OwnedFd>,
    id: u32,
    page: Mmap,
}

impl Queue {
    pub(crate) fn create(fd: Arc<OwnedFd>, priority: u32, timeout: Duration) -> Result<Self> {
        let mut req = uapi::QueueCreate {
            priority,
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
            ..Default::default()
        };
        // SAFETY: `req` is a valid, writable `QueueCreate` that outlives the call; the fd is open.
        unsafe { sys::queue_create(fd.as_raw_fd(), &mut req) }
            .map_err(|errno| sys::rejected(fd.as_raw_fd(), "QUEUE_CREATE", errno))?;
        // SAFETY: a read-only shared mapping of the kernel's completion page, which lives as long
        // as the mapping; the kernel writes it concurrently, so it is only read through atomics.
        let page = unsafe {
            MmapOptions::new()
                .offset(req.completion_offset)
                .len(4096)
                .map(fd.as_raw_fd())
        };
        let queue_id = req.queue_id;
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                let mut d = uapi::QueueDestroy {
                    queue_id,
                    ..Default::default()
                };
                // SAFETY: as above; undoes the creation.
                let _ = unsafe { sys::queue_destroy(fd.as_raw_fd(), &mut d) };
                return Err(Error::Map {
                    handle: queue_id,
                    errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                });
            }
        };
        Ok(Self {
            fd,
            id: queue_id,
            page,
        })
    }

    /// The queue's identifier in its context.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The context's file.
    pub(crate) fn fd(&self) -> &Arc<OwnedFd> {
        &self.fd
    }

    /// Submits `prims` (all or nothing). A rejection names the primitive at fault.
    pub fn submit(&self, prims: &[Primitive]) -> Result<Submitted> {
        let mut req = uapi::Submit {
            queue_id: self.id,
            count: u32::try_from(prims.len()).unwrap_or(u32::MAX),
            prims: prims.as_ptr() as u64,
            ..Default::default()
        };
        // SAFETY: `req.prims` points to `count` readable primitives (`Primitive` is a transparent
        // `uapi::Primitive`) that outlive the call; `req` is
        // a valid, writable `Submit`; the fd is open.
        match unsafe { sys::submit(self.fd.as_raw_fd(), &mut req) } {
            Ok(_) => Ok(Submitted {
                first_seq: req.first_seq,
                last_seq: req.last_seq,
            }),
            Err(errno) if req.error_index < req.count => Err(Error::Submit {
                index: req.error_index,
                errno,
                reason: sys::rejection_reason(self.fd.as_raw_fd(), "SUBMIT", errno),
            }),
            Err(errno) => Err(sys::rejected(self.fd.as_raw_fd(), "SUBMIT", errno)),
        }
    }

    /// Waits until job `seq` completes, at most `timeout` (`None`: no limit). `ETIMEDOUT` on expiry.
    pub fn wait(&self, seq: u64, timeout: Option<Duration>) -> Result<Completion> {
        self.wait_until(seq, deadline_ns(timeout))
    }

    /// Waits until job `seq` completes or the absolute `CLOCK_MONOTONIC` time `deadline_ns`.
    pub fn wait_until(&self, seq: u64, deadline_ns: u64) -> Result<Completion> {
        let mut req = uapi::Wait {
            queue_id: self.id,
            seq,
            timeout_ns: deadline_ns,
            ..Default::default()
        };
        // SAFETY: `req` is a valid, writable `Wait` that outlives the call; the fd is open.
        unsafe { sys::wait(self.fd.as_raw_fd(), &mut req) }
            .map_err(|errno| sys::rejected(self.fd.as_raw_fd(), "WAIT", errno))?;
        Ok(Completion {
            status: JobStatus::from_raw(req.status),
            completed_seq: req.completed_seq,
        })
    }

    /// The timeline, read from the completion page without a syscall.
    pub fn completed_seq(&self) -> u64 {
        self.page_u64(std::mem::offset_of!(uapi::CompletionPage, completed_seq))
            .load(Ordering::Acquire)
    }

    /// The status of `seq` from the completion page, without a syscall.
    pub fn status(&self, seq: u64) -> JobStatus {
        let slot = (seq % uapi::COMPLETION_RING_ENTRIES as u64) as usize;
        let base = std::mem::offset_of!(uapi::CompletionPage, ring)
            + slot * std::mem::size_of::<uapi::CompletionEntry>();
        let entry_seq = self.page_u64(base).load(Ordering::Acquire);
        let status = self.page_u64(base + 8).load(Ordering::Acquire) as u32;
        if entry_seq == seq {
            JobStatus::from_raw(status)
        } else {
            JobStatus::Unknown
        }
    }

    fn page_u64(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: `offset` is an 8-aligned offset inside the 4096-byte page (callers use the uapi
        // layout); the kernel writes these words concurrently, so they are read as atomics only.
        unsafe { &*(self.page.as_ptr().add(offset) as *const AtomicU64) }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        let mut req = uapi::QueueDestroy {
            queue_id: self.id,
            ..Default::default()
        };
        // SAFETY: `req` is a valid `QueueDestroy`; the fd is open.
        let _ = unsafe { sys::queue_destroy(self.fd.as_raw_fd(), &mut req) };
    }
}

/// The absolute `CLOCK_MONOTONIC` deadline `timeout` from now, as the ABI's waits take it:
/// [`uapi::TIMEOUT_INFINITE`] for `None`, saturating far in the future.
pub fn deadline_ns(timeout: Option<Duration>) -> u64 {
    match timeout {
        None => uapi::TIMEOUT_INFINITE,
        Some(t) => monotonic_ns().saturating_add(u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)),
    }
}

/// The current `CLOCK_MONOTONIC` time in ns, the clock of `WAIT` and `JOB_FETCH` deadlines.
pub fn monotonic_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64);
    t.unwrap_or(0)
}
