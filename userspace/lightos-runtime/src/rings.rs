//! The fast path: a queue's submission and completion rings (`RING_SETUP`, `ENTER`) and batches of
//! primitives with dependencies between them.
//!
//! A [`Rings`] is io_uring for LightOS: [`Rings::push`] writes submission entries into shared
//! memory, one [`Rings::enter`] submits them all and may wait for completions, and
//! [`Rings::reap`] reads completion entries ([`Cqe`]: `user_data`, status, device time) without a
//! system call. A [`Batch`] carries primitives whose dependencies ([`Dep`]) the kernel resolves:
//! a chain submitted at once runs without waking its client between steps. [`Rings::submit`]
//! returns an [`Event`] per job, polled from the completion ring without a system call
//! ([`Rings::poll`]) or waited for ([`Rings::wait`]), and usable as a later job's dependency.

use crate::{queue::Submitted, sys, Error, JobStatus, Primitive, Result};
use lightos_uapi as uapi;
use memmap2::{MmapOptions, MmapRaw};
use nix::errno::Errno;
use std::{
    collections::BTreeMap,
    mem::offset_of,
    os::fd::{AsRawFd, OwnedFd},
    sync::{
        atomic::{AtomicU32, AtomicU64, Ordering},
        Arc,
    },
};

/// A job a primitive of a [`Batch`] waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dep {
    /// A job already submitted: its queue (of the same context) and sequence number.
    Job {
        /// The queue's identifier.
        queue: u32,
        /// Its sequence number there.
        seq: u64,
    },
    /// An earlier primitive of the same batch, by its index in the batch.
    Earlier(usize),
}

/// Primitives submitted together, with the dependencies between them and on earlier jobs. The
/// kernel starts each one when its dependencies ended OK, and ends it
/// [`JobStatus::DependencyFailed`] without running it when one did not.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    prims: Vec<uapi::Primitive>,
    deps: Vec<Vec<uapi::Dependency>>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `prim` without dependencies; returns its index.
    pub fn push(&mut self, prim: Primitive) -> usize {
        self.push_after(prim, &[]).unwrap_or_default()
    }

    /// Appends `prim`, to start once `deps` ended OK; returns its index. `EINVAL` for more than
    /// [`uapi::MAX_DEPS`] dependencies or a [`Dep::Earlier`] that is not earlier (a cycle).
    pub fn push_after(&mut self, prim: Primitive, deps: &[Dep]) -> Result<usize> {
        let index = self.prims.len();
        if deps.len() > uapi::MAX_DEPS as usize {
            return Err(invalid(format!(
                "{} dependencies: at most {}",
                deps.len(),
                uapi::MAX_DEPS
            )));
        }
        let mut list = Vec::with_capacity(deps.len());
        for dep in deps {
            list.push(match *dep {
                Dep::Job { queue, seq } => uapi::Dependency {
                    queue_id: queue,
                    flags: 0,
                    seq,
                },
                Dep::Earlier(i) if i < index => uapi::Dependency {
                    queue_id: 0,
                    flags: uapi::DEP_RELATIVE,
                    seq: (index - i) as u64,
                },
                Dep::Earlier(i) => {
                    return Err(invalid(format!(
                        "primitive {index} cannot depend on primitive {i}: not earlier (a cycle)"
                    )))
                }
            });
        }
        let mut raw = *prim.abi();
        raw.n_deps = list.len() as u32;
        self.prims.push(raw);
        self.deps.push(list);
        Ok(index)
    }

    /// How many primitives it holds.
    pub fn len(&self) -> usize {
        self.prims.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.prims.is_empty()
    }

    /// The primitives with their dependency lists' addresses filled in; valid while `self` is
    /// borrowed and unchanged.
    fn linked(&mut self) -> &[uapi::Primitive] {
        for (prim, deps) in self.prims.iter_mut().zip(&self.deps) {
            prim.deps = if deps.is_empty() {
                0
            } else {
                deps.as_ptr() as u64
            };
        }
        &self.prims
    }
}

/// A batch refused before it reaches the kernel, as the kernel would refuse it.
fn invalid(reason: String) -> Error {
    Error::Ioctl {
        op: "SUBMIT",
        errno: Errno::EINVAL,
        reason: Some(reason),
    }
}

impl crate::Queue {
    /// Submits `batch` (all or nothing) with `SUBMIT`; its dependencies are resolved in the kernel.
    pub fn submit_batch(&self, batch: &mut Batch) -> Result<Submitted> {
        let prims = batch.linked();
        // SAFETY: `Primitive` is a transparent `uapi::Primitive`; the dependency lists the
        // primitives point to live in `batch`, borrowed for the whole call.
        let prims =
            unsafe { std::slice::from_raw_parts(prims.as_ptr().cast::<Primitive>(), prims.len()) };
        self.submit(prims)
    }

    /// Gives the queue a submission ring of `sq_entries` and a completion ring of `cq_entries`
    /// (powers of two, `sq_entries <= cq_entries`) and maps them. Once per queue (`EEXIST`).
    pub fn setup_rings(&self, sq_entries: u32, cq_entries: u32) -> Result<Rings> {
        let fd = self.fd().clone();
        let mut req = uapi::RingSetup {
            queue_id: self.id(),
            sq_entries,
            cq_entries,
            ..Default::default()
        };
        // SAFETY: `req` is a valid, writable `RingSetup`; the fd is open.
        unsafe { sys::ring_setup(fd.as_raw_fd(), &mut req) }
            .map_err(|e| sys::rejected(fd.as_raw_fd(), "RING_SETUP", e))?;
        let map = MmapOptions::new()
            .offset(req.mmap_offset)
            .len(req.mmap_size as usize)
            .map_raw(fd.as_raw_fd())
            .map_err(|e| Error::Map {
                handle: self.id(),
                errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            })?;
        Ok(Rings {
            fd,
            queue_id: self.id(),
            map,
            sq_entries,
            cq_entries,
            cqes_offset: req.cqes_offset as usize,
            sq_tail: 0,
            held: BTreeMap::new(),
        })
    }
}

/// A job submitted through a queue's rings ([`Rings::submit`]), whose completion entry tells how it
/// ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Event {
    queue: u32,
    seq: u64,
}

impl Event {
    /// Its queue's identifier.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// Its sequence number there.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// A later primitive's dependency on this job ([`Batch::push_after`]).
    pub fn dep(&self) -> Dep {
        Dep::Job {
            queue: self.queue,
            seq: self.seq,
        }
    }
}

/// One completion entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cqe {
    /// The primitive's `user_data`.
    pub user_data: u64,
    /// Its sequence number on the queue.
    pub seq: u64,
    /// How it ended.
    pub status: JobStatus,
    /// Time on its backend, start to end, in ns (0 when it never started).
    pub device_ns: u64,
}

/// What [`Rings::enter`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entered {
    /// Entries submitted.
    pub submitted: u32,
    /// The first one's sequence number (they are consecutive).
    pub first_seq: u64,
    /// Completion entries in the ring when it returned.
    pub completions: u32,
}

/// A queue's mapped rings. Use them from one thread at a time (`&mut self` for what moves an index
/// this side owns); the mapping stays valid after the queue is destroyed (`ENTER` then fails).
#[derive(Debug)]
pub struct Rings {
    fd: Arc<OwnedFd>,
    queue_id: u32,
    map: MmapRaw,
    sq_entries: u32,
    cq_entries: u32,
    cqes_offset: usize,
    /// The submission tail this side writes (published on every push).
    sq_tail: u32,
    /// Completion entries read while polling for another job, by sequence number, until their own
    /// poll, wait or reap.
    held: BTreeMap<u64, Cqe>,
}

impl Rings {
    fn word32(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: `offset` is a 4-aligned field offset of the header at the start of the mapping
        // (callers use the uapi layout); the kernel accesses these words concurrently, so they are
        // only accessed as atomics.
        unsafe { &*(self.map.as_ptr().add(offset) as *const AtomicU32) }
    }

    fn word64(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: as for `word32`, for an 8-aligned 64-bit field.
        unsafe { &*(self.map.as_ptr().add(offset) as *const AtomicU64) }
    }

    /// Free submission entries.
    pub fn sq_space(&self) -> u32 {
        let head = self
            .word32(offset_of!(uapi::RingHeader, sq_head))
            .load(Ordering::Acquire);
        self.sq_entries - self.sq_tail.wrapping_sub(head).min(self.sq_entries)
    }

    /// Writes `prim` as the next submission entry and publishes it (release); `false` when the
    /// ring is full. It is submitted by the next [`Rings::enter`] that takes it. A primitive with
    /// dependencies must keep its dependency list alive until then (use [`Rings::submit_batch`]).
    pub fn push(&mut self, prim: &Primitive) -> bool {
        self.push_raw(prim.abi())
    }

    fn push_raw(&mut self, prim: &uapi::Primitive) -> bool {
        if self.sq_space() == 0 {
            return false;
        }
        let index = (self.sq_tail & (self.sq_entries - 1)) as usize;
        let offset = uapi::RING_SQES_OFFSET as usize + index * size_of::<uapi::Primitive>();
        // SAFETY: the entry lies inside the mapping (the kernel sized it for `sq_entries`); the
        // kernel does not read entries past the published tail, so nothing reads it concurrently.
        unsafe {
            std::ptr::write_unaligned(
                self.map.as_mut_ptr().add(offset).cast::<uapi::Primitive>(),
                *prim,
            )
        };
        self.sq_tail = self.sq_tail.wrapping_add(1);
        self.word32(offset_of!(uapi::RingHeader, sq_tail))
            .store(self.sq_tail, Ordering::Release);
        true
    }

    /// Submits `to_submit` pushed entries (0: none) and, with `wait_for > 0`, waits until the
    /// completion ring holds that many entries or the absolute `CLOCK_MONOTONIC` `deadline_ns`.
    pub fn enter(&self, to_submit: u32, wait_for: u32, deadline_ns: u64) -> Result<Entered> {
        let mut req = uapi::Enter {
            queue_id: self.queue_id,
            flags: if wait_for > 0 {
                uapi::ENTER_GETEVENTS
            } else {
                0
            },
            to_submit,
            min_complete: wait_for,
            timeout_ns: deadline_ns,
            ..Default::default()
        };
        // SAFETY: `req` is a valid, writable `Enter`; the fd is open.
        match unsafe { sys::enter(self.fd.as_raw_fd(), &mut req) } {
            Ok(_) => Ok(Entered {
                submitted: req.submitted,
                first_seq: req.first_seq,
                completions: req.completions,
            }),
            Err(errno) if req.error_index < to_submit => Err(Error::Submit {
                index: req.error_index,
                errno,
                reason: sys::rejection_reason(self.fd.as_raw_fd(), "ENTER", errno),
            }),
            Err(errno) => Err(sys::rejected(self.fd.as_raw_fd(), "ENTER", errno)),
        }
    }

    /// Pushes `batch` and submits it with one `ENTER` (its dependency lists live in `batch`, which
    /// is borrowed until the kernel copied them); with `wait_for > 0` also waits as
    /// [`Rings::enter`] does. `EAGAIN` when the ring has no room for the whole batch.
    pub fn submit_batch(
        &mut self,
        batch: &mut Batch,
        wait_for: u32,
        deadline_ns: u64,
    ) -> Result<Entered> {
        let count = u32::try_from(batch.len()).unwrap_or(u32::MAX);
        if count > self.sq_space() {
            return Err(Error::Ioctl {
                op: "ENTER",
                errno: Errno::EAGAIN,
                reason: Some(format!(
                    "{count} entries: the submission ring has room for {}",
                    self.sq_space()
                )),
            });
        }
        for prim in batch.linked().to_vec() {
            self.push_raw(&prim);
        }
        self.enter(count, wait_for, deadline_ns)
    }

    /// Completion entries ready to reap.
    pub fn ready(&self) -> u32 {
        let tail = self
            .word32(offset_of!(uapi::RingHeader, cq_tail))
            .load(Ordering::Acquire);
        let head = self
            .word32(offset_of!(uapi::RingHeader, cq_head))
            .load(Ordering::Relaxed);
        tail.wrapping_sub(head).min(self.cq_entries)
    }

    /// Submits `batch` with one `ENTER` and returns one [`Event`] per primitive, in order. `EAGAIN`
    /// when the ring has no room for the whole batch; the chain's errors as [`Rings::enter`].
    pub fn submit(&mut self, batch: &mut Batch) -> Result<Vec<Event>> {
        let entered = self.submit_batch(batch, 0, 0)?;
        let queue = self.queue_id;
        Ok((0..u64::from(entered.submitted))
            .map(|i| Event {
                queue,
                seq: entered.first_seq + i,
            })
            .collect())
    }

    /// How `event` ended, if its completion entry has arrived; no system call. Entries of other
    /// jobs read on the way are kept for their own [`Rings::poll`], [`Rings::wait`] or
    /// [`Rings::reap`].
    pub fn poll(&mut self, event: &Event) -> Option<Cqe> {
        if let Some(cqe) = self.held.remove(&event.seq) {
            return Some(cqe);
        }
        while let Some(cqe) = self.reap_ring() {
            if cqe.seq == event.seq {
                return Some(cqe);
            }
            self.held.insert(cqe.seq, cqe);
        }
        None
    }

    /// Waits until `event` ended or the absolute `CLOCK_MONOTONIC` `deadline_ns` (`ETIMEDOUT`):
    /// polls, and sleeps in `ENTER` for the next completion entry while its own has not come.
    /// Once the completion ring has overflowed, its entry may be lost: the queue's timeline is
    /// asked instead (`WAIT`; the entry then has no `user_data` or device time).
    pub fn wait(&mut self, event: &Event, deadline_ns: u64) -> Result<Cqe> {
        loop {
            if let Some(cqe) = self.poll(event) {
                return Ok(cqe);
            }
            if self.overflow() > 0 {
                let mut req = uapi::Wait {
                    queue_id: self.queue_id,
                    seq: event.seq,
                    timeout_ns: deadline_ns,
                    ..Default::default()
                };
                // SAFETY: `req` is a valid, writable `Wait` that outlives the call; the fd is open.
                unsafe { sys::wait(self.fd.as_raw_fd(), &mut req) }
                    .map_err(|errno| sys::rejected(self.fd.as_raw_fd(), "WAIT", errno))?;
                return Ok(Cqe {
                    user_data: 0,
                    seq: event.seq,
                    status: JobStatus::from_raw(req.status),
                    device_ns: 0,
                });
            }
            self.enter(0, 1, deadline_ns)?;
        }
    }

    /// Takes a completion entry, without a system call: those [`Rings::poll`] kept first (lowest
    /// sequence number first), then the oldest in the ring.
    pub fn reap(&mut self) -> Option<Cqe> {
        if let Some((_, cqe)) = self.held.pop_first() {
            return Some(cqe);
        }
        self.reap_ring()
    }

    /// Takes the oldest completion entry from the ring.
    fn reap_ring(&mut self) -> Option<Cqe> {
        let cq_head = self.word32(offset_of!(uapi::RingHeader, cq_head));
        let head = cq_head.load(Ordering::Relaxed);
        let tail = self
            .word32(offset_of!(uapi::RingHeader, cq_tail))
            .load(Ordering::Acquire);
        if tail == head {
            return None;
        }
        let index = (head & (self.cq_entries - 1)) as usize;
        let offset = self.cqes_offset + index * size_of::<uapi::Cqe>();
        // SAFETY: the entry lies inside the mapping; the kernel wrote it before publishing the tail
        // read above (acquire) and does not overwrite it until the head moves past it.
        let raw =
            unsafe { std::ptr::read_unaligned(self.map.as_ptr().add(offset).cast::<uapi::Cqe>()) };
        cq_head.store(head.wrapping_add(1), Ordering::Release);
        Some(Cqe {
            user_data: raw.user_data,
            seq: raw.seq,
            status: JobStatus::from_raw(raw.status),
            device_ns: raw.device_ns,
        })
    }

    /// Completions that found the completion ring full (their status stays in the queue's
    /// timeline: [`crate::Queue::wait`]).
    pub fn overflow(&self) -> u64 {
        self.word64(offset_of!(uapi::RingHeader, cq_overflow))
            .load(Ordering::Acquire)
    }

    /// Entries `ENTER` took and rejected.
    pub fn rejected(&self) -> u64 {
        self.word64(offset_of!(uapi::RingHeader, sq_rejected))
            .load(Ordering::Acquire)
    }

    /// The queue's identifier.
    pub fn queue_id(&self) -> u32 {
        self.queue_id
    }

    /// The mapping's address and length (for tests that check what the kernel lets a client do).
    pub fn mapping(&self) -> (*mut u8, usize) {
        (self.map.as_mut_ptr(), self.map.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prim() -> Primitive {
        Primitive::from_abi(uapi::Primitive {
            op: uapi::OP_COPY,
            ..Default::default()
        })
    }

    #[test]
    fn earlier_primitives_become_relative_dependencies() {
        let mut b = Batch::new();
        let a = b.push(prim());
        let c = b.push(prim());
        let d = b
            .push_after(
                prim(),
                &[
                    Dep::Earlier(a),
                    Dep::Earlier(c),
                    Dep::Job { queue: 3, seq: 9 },
                ],
            )
            .unwrap();
        assert_eq!(d, 2);
        let linked = b.linked().to_vec();
        assert_eq!((linked[0].deps, linked[0].n_deps), (0, 0));
        assert_eq!(linked[2].n_deps, 3);
        // SAFETY: `deps` points to the batch's list of 3, alive while `b` is.
        let deps =
            unsafe { std::slice::from_raw_parts(linked[2].deps as *const uapi::Dependency, 3) };
        let rel = |seq| uapi::Dependency {
            queue_id: 0,
            flags: uapi::DEP_RELATIVE,
            seq,
        };
        assert_eq!(
            deps,
            &[
                rel(2),
                rel(1),
                uapi::Dependency {
                    queue_id: 3,
                    flags: 0,
                    seq: 9
                }
            ]
        );
    }

    #[test]
    fn cycles_and_long_lists_are_refused_before_the_kernel() {
        let mut b = Batch::new();
        b.push(prim());
        for bad in [Dep::Earlier(1), Dep::Earlier(7)] {
            let e = b.push_after(prim(), &[bad]).unwrap_err();
            assert_eq!(e.errno(), Some(Errno::EINVAL));
            assert!(e.reason().unwrap().contains("cycle"), "{e}");
        }
        let many = vec![Dep::Earlier(0); uapi::MAX_DEPS as usize + 1];
        assert!(b.push_after(prim(), &many).is_err());
        assert_eq!(b.len(), 1, "refused primitives are not added");
    }
}
