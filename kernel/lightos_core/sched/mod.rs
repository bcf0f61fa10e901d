// SPDX-License-Identifier: GPL-2.0

//! Scheduling: queues and their completion timelines, `SUBMIT` through the interception chain
//! (copy once → [`validate`] → [`policy`] → [`account`] → dispatch to a [`backend`]), jobs and the
//! backends' job queues, and userspace executors as backends (registered with privilege, trusted
//! per client: [`trust`]). The fast path: a queue's submission and completion [`rings`]
//! (`RING_SETUP`, `ENTER`: [`ring_ioctl`]), dependencies between jobs resolved in the kernel
//! ([`deps`]), and the [`null`] device that measures all of it alone.
//!
//! Ownership: a [`job::Job`] contains its fence on its queue's [`timeline::Timeline`] (the single
//! owner of job statuses), which holds the job until it retires and then keeps its slot for the
//! queue's next job; backends hold jobs in a [`job_queue::JobQueue`]; nothing here holds a context.

pub(crate) mod account;
pub(crate) mod backend;
pub(crate) mod deps;
pub(crate) mod executor;
pub(crate) mod executor_ioctl;
pub(crate) mod job;
pub(crate) mod job_queue;
pub(crate) mod null;
pub(crate) mod policy;
pub(crate) mod queue;
pub(crate) mod queue_ioctl;
pub(crate) mod ring_ioctl;
pub(crate) mod rings;
pub(crate) mod submit;
pub(crate) mod timeline;
pub(crate) mod trust;
pub(crate) mod validate;
