// SPDX-License-Identifier: GPL-2.0

//! Spike-event queues: the mmap'd rings ([`ring`]), their ioctls and `read` ([`ioctl`]), and the
//! kernel's checks of `OP_SPIKE_ENCODE`, whose jobs produce into a ring ([`encode`]).

pub(crate) mod encode;
pub(crate) mod ioctl;
pub(crate) mod ring;
