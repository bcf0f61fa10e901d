// SPDX-License-Identifier: GPL-2.0

//! The module clock: `CLOCK_MONOTONIC` nanoseconds, the time base of job deadlines, `WAIT`'s absolute
//! deadlines, latency accounting, event timestamps and the photonic driver's timeouts.

use kernel::time::{ClockSource, Monotonic};

/// The current `CLOCK_MONOTONIC` time in nanoseconds.
pub(crate) fn monotonic_ns() -> u64 {
    // `ktime_get` returns 0..=KTIME_MAX (the clock source's contract), so the conversion cannot fail.
    u64::try_from(Monotonic::ktime_get()).unwrap_or(0)
}
