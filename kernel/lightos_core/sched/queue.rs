// SPDX-License-Identifier: GPL-2.0

//! Submission queues: what a context names by queue identifier, a priority and a [`Timeline`]
//! (sequence numbers, job statuses, `WAIT`, timeouts and the read-only completion page).

use crate::{quota::Charge, sched::timeline::Timeline, uapi};
use kernel::{page::Page, prelude::*, sync::Arc};

/// A submission queue.
pub(crate) struct Queue {
    id: u32,
    priority: u32,
    timeline: Arc<Timeline>,
    /// Its creator's queue quota, given back when the queue dies.
    _quota: Charge,
}

impl Queue {
    /// Creates queue `id`. `EINVAL` for an unknown priority or a timeout above the maximum.
    pub(crate) fn new(id: u32, priority: u32, timeout_ms: u32, quota: Charge) -> Result<Arc<Self>> {
        if priority > uapi::QUEUE_PRIORITY_MAX || timeout_ms > uapi::MAX_JOB_TIMEOUT_MS {
            return Err(EINVAL);
        }
        let timeout_ms = if timeout_ms == 0 { uapi::DEFAULT_JOB_TIMEOUT_MS } else { timeout_ms };
        let timeline = Timeline::new(u64::from(timeout_ms) * 1_000_000)?;
        Ok(Arc::new(Self { id, priority, timeline, _quota: quota }, GFP_KERNEL)?)
    }

    /// The queue's identifier in its context.
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// Its priority (0 lowest).
    pub(crate) fn priority(&self) -> u32 {
        self.priority
    }

    /// Its timeline.
    pub(crate) fn timeline(&self) -> &Arc<Timeline> {
        &self.timeline
    }

    /// The completion page.
    pub(crate) fn page(&self) -> &Page {
        self.timeline.page()
    }

    /// Refuses further submissions and aborts every job not yet completed (queue destroyed, file
    /// closed); see [`Timeline::close`].
    pub(crate) fn close(&self) {
        self.timeline.close();
    }
}
