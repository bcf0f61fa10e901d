// SPDX-License-Identifier: GPL-2.0

//! A backend's waiting jobs: one FIFO per queue priority, taken highest priority first and oldest
//! first within a priority, counted for `QUERY_BACKENDS`'s load, and closed (everything waiting
//! handed back, nothing more accepted) when the backend goes away.
//!
//! Used by every backend that queues jobs itself (userspace executors, the photonic NPU); the
//! owner keeps it under its own lock, next to whatever else that lock protects.

use crate::{sched::job::Job, uapi};
use kernel::{prelude::*, sync::Arc};

/// Queue priorities (0 to [`uapi::QUEUE_PRIORITY_MAX`]).
const LEVELS: usize = uapi::QUEUE_PRIORITY_MAX as usize + 1;

/// Taken slots at the front of a FIFO are compacted away once there are at least this many and
/// they are at least half of it (amortised O(1) per job; a FIFO that empties is reset at once).
const COMPACT_MIN: usize = 16;

/// Jobs of one priority, oldest first: a vector whose first `head` slots have been taken.
struct Fifo {
    slots: KVec<Option<Arc<Job>>>,
    head: usize,
}

impl Fifo {
    const fn new() -> Self {
        Self {
            slots: KVec::new(),
            head: 0,
        }
    }

    fn len(&self) -> usize {
        self.slots.len() - self.head
    }

    fn push(&mut self, job: Arc<Job>) -> Result {
        self.slots.push(Some(job), GFP_KERNEL)?;
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

    /// Appends `job` to the FIFO of its queue's priority. `ENODEV` once closed, `ENOMEM`.
    pub(crate) fn push(&mut self, job: Arc<Job>) -> Result {
        if self.closed {
            return Err(ENODEV);
        }
        let prio = (job.priority() as usize).min(LEVELS - 1);
        self.levels[prio].push(job)
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
