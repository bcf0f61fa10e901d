// SPDX-License-Identifier: GPL-2.0

//! A backend's waiting jobs: one FIFO per queue priority, taken highest priority first and oldest
//! first within a priority, counted for `QUERY_BACKENDS`'s load, and closed (everything waiting
//! handed back, nothing more accepted) when the backend goes away.
//!
//! Used by every backend that queues jobs itself (userspace executors, the photonic NPU); the
//! owner keeps it under its own lock, next to whatever else that lock protects.
//!
//! Room is reserved before jobs are admitted ([`JobQueue::reserve`]), so that a push after
//! admission never needs memory: `SUBMIT` fails with `ENOMEM` before any job exists, rather than
//! ending an admitted job because its FIFO could not grow.

use crate::{sched::job::Job, uapi};
use kernel::{prelude::*, sync::Arc};

/// Queue priorities (0 to [`uapi::QUEUE_PRIORITY_MAX`]).
const LEVELS: usize = uapi::QUEUE_PRIORITY_MAX as usize + 1;

/// Taken slots at the front of a FIFO are compacted away once there are at least this many and
/// they are at least half of it (amortised O(1) per job; a FIFO that empties is reset at once).
const COMPACT_MIN: usize = 16;

/// Jobs of one priority, oldest first: a vector whose first `head` slots have been taken.
///
/// Invariant: `slots` has capacity for `reserved` more jobs (taking, clearing and compacting keep
/// the capacity; only a reservation grows it).
struct Fifo {
    slots: KVec<Option<Arc<Job>>>,
    head: usize,
    /// Pushes promised room by [`Fifo::reserve`] and not made yet.
    reserved: usize,
}

impl Fifo {
    const fn new() -> Self {
        Self {
            slots: KVec::new(),
            head: 0,
            reserved: 0,
        }
    }

    fn len(&self) -> usize {
        self.slots.len() - self.head
    }

    fn reserve(&mut self, n: usize) -> Result {
        let total = self.reserved.checked_add(n).ok_or(ENOMEM)?;
        self.slots.reserve(total, GFP_KERNEL)?;
        self.reserved = total;
        Ok(())
    }

    fn unreserve(&mut self, n: usize) {
        self.reserved = self.reserved.saturating_sub(n);
    }

    /// Appends `job`, into one reserved slot if there is one (then it allocates nothing).
    fn push(&mut self, job: Arc<Job>) -> Result {
        if self.reserved > 0 {
            // The invariant gives the room; `ENOMEM` if it were ever broken.
            self.slots.push_within_capacity(Some(job)).map_err(|_| ENOMEM)?;
            self.reserved -= 1;
        } else {
            self.slots.push(Some(job), GFP_KERNEL)?;
        }
        Ok(())
    }

    fn pop(&mut self) -> Option<Arc<Job>> {
        let job = self.slots.get_mut(self.head)?.take();
        self.head += 1;
        if self.head == self.slots.len() {
            // Empty: start over, keeping the storage.
            self.slots.clear();
            self.head = 0;
        } else if self.head >= COMPACT_MIN && self.head * 2 >= self.slots.len() {
            self.slots.retain(|slot| slot.is_some());
            self.head = 0;
        }
        job
    }
}

/// The jobs waiting on one backend.
pub(crate) struct JobQueue {
    /// Index = priority.
    levels: [Fifo; LEVELS],
    /// The backend went away: [`JobQueue::push`] fails with `ENODEV`.
    closed: bool,
}

impl JobQueue {
    /// An empty, open queue (allocates nothing).
    pub(crate) const fn new() -> Self {
        Self {
            levels: [const { Fifo::new() }; LEVELS],
            closed: false,
        }
    }

    /// The FIFO of queue priority `priority`.
    fn level(&mut self, priority: u32) -> &mut Fifo {
        &mut self.levels[(priority as usize).min(LEVELS - 1)]
    }

    /// Makes room for `n` more jobs of queue priority `priority`, so that as many [`JobQueue::push`]
    /// calls allocate nothing. `ENODEV` once closed, `ENOMEM`.
    pub(crate) fn reserve(&mut self, priority: u32, n: usize) -> Result {
        if self.closed {
            return Err(ENODEV);
        }
        self.level(priority).reserve(n)
    }

    /// Gives back `n` slots reserved for `priority` and not pushed (nothing once closed: closing
    /// dropped every reservation).
    pub(crate) fn unreserve(&mut self, priority: u32, n: usize) {
        self.level(priority).unreserve(n);
    }

    /// Appends `job` to the FIFO of its queue's priority, into a reserved slot if there is one.
    /// `ENODEV` once closed; `ENOMEM` only without a reservation.
    pub(crate) fn push(&mut self, job: Arc<Job>) -> Result {
        if self.closed {
            return Err(ENODEV);
        }
        self.level(job.priority()).push(job)
    }

    /// Takes the oldest job of the highest non-empty priority.
    pub(crate) fn pop(&mut self) -> Option<Arc<Job>> {
        self.levels.iter_mut().rev().find_map(Fifo::pop)
    }

    /// Jobs waiting.
    pub(crate) fn len(&self) -> usize {
        self.levels.iter().map(Fifo::len).sum()
    }

    /// A backend's `(queued, running)` load as [`crate::sched::backend::Backend::load`] reports it, with
    /// `running` jobs fetched from this queue and not yet completed.
    pub(crate) fn load(&self, running: usize) -> (u32, u32) {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        (count(self.len()), count(running))
    }

    /// Whether [`JobQueue::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Stops accepting jobs and hands back every waiting one (highest priority first), for the
    /// caller to complete after releasing its lock. Allocates nothing.
    #[must_use = "every job handed back must be completed"]
    pub(crate) fn close(&mut self) -> Drain {
        self.closed = true;
        Drain(JobQueue {
            levels: core::mem::replace(&mut self.levels, [const { Fifo::new() }; LEVELS]),
            closed: true,
        })
    }
}

/// The jobs a closed [`JobQueue`] handed back.
pub(crate) struct Drain(JobQueue);

impl Iterator for Drain {
    type Item = Arc<Job>;

    fn next(&mut self) -> Option<Arc<Job>> {
        self.0.pop()
    }
}
