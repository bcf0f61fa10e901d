// SPDX-License-Identifier: GPL-2.0

//! Accounting, the third stage of the interception chain: per-op and per-backend counters (count,
//! FLOPs, bytes, errors, a log2 latency histogram), read by `QUERY_OPS`, `QUERY_BACKENDS`, debugfs
//! and fdinfo. Counters are relaxed atomics: each is exact, a snapshot of several is not atomic.

use crate::uapi;
use kernel::{
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
    uaccess::UserSliceWriter,
};

/// The counters of one op or one backend.
pub(crate) struct Counters {
    count: Atomic<u64>,
    flops: Atomic<u64>,
    bytes: Atomic<u64>,
    errors: Atomic<u64>,
    latency: [Atomic<u64>; uapi::LATENCY_BUCKETS],
}

impl Counters {
    /// All zero.
    pub(crate) const fn new() -> Self {
        Self {
            count: Atomic::new(0),
            flops: Atomic::new(0),
            bytes: Atomic::new(0),
            errors: Atomic::new(0),
            latency: [const { Atomic::new(0) }; uapi::LATENCY_BUCKETS],
        }
    }

    fn accept(&self, bytes: u64, flops: u64) {
        self.count.add(1, Relaxed);
        self.bytes.add(bytes, Relaxed);
        self.flops.add(flops, Relaxed);
    }

    fn complete(&self, ok: bool, latency_ns: u64) {
        if !ok {
            self.errors.add(1, Relaxed);
        }
        let us = latency_ns / 1000;
        // Bucket i holds latencies below 2^i µs; the last one holds the rest.
        let bucket = (u64::BITS - us.leading_zeros()) as usize;
        self.latency[bucket.min(uapi::LATENCY_BUCKETS - 1)].add(1, Relaxed);
    }

    /// A copy of the counters.
    pub(crate) fn snapshot(&self) -> uapi::OpStats {
        let mut latency_us_log2 = [0; uapi::LATENCY_BUCKETS];
        for (out, bucket) in latency_us_log2.iter_mut().zip(&self.latency) {
            *out = bucket.load(Relaxed);
        }
        uapi::OpStats {
            count: self.count.load(Relaxed),
            flops: self.flops.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            errors: self.errors.load(Relaxed),
            latency_us_log2,
        }
    }
}

/// Module-wide counters per op, indexed by `op - 1`.
static OPS: [Counters; uapi::OP_COUNT] = [const { Counters::new() }; uapi::OP_COUNT];

/// Jobs created and not yet ended, module-wide (tests prove it returns to zero). Counted by the
/// job's fence (`timeline::Fence`: its admission, then its end or its drop), so no ordering of
/// accounting calls can make it wrap.
pub(crate) static JOBS_IN_FLIGHT: Atomic<u64> = Atomic::new(0);

/// The counters of a valid `op` (1..=`OP_COUNT`).
fn op_counters(op: u16) -> Option<&'static Counters> {
    OPS.get(usize::from(op).checked_sub(1)?)
}

/// Counts a primitive the chain accepted for `backend`.
pub(crate) fn accept(op: u16, backend: &Counters, bytes: u64, flops: u64) {
    if let Some(c) = op_counters(op) {
        c.accept(bytes, flops);
    }
    backend.accept(bytes, flops);
}

/// Counts a primitive the chain rejected (bad descriptor, no backend, policy).
pub(crate) fn reject(op: u16) {
    if let Some(c) = op_counters(op) {
        c.errors.add(1, Relaxed);
    }
}

/// Counts a job's completion with `status` after `latency_ns`.
pub(crate) fn complete(op: u16, backend: &Counters, status: u32, latency_ns: u64) {
    let ok = status == uapi::STATUS_OK;
    if let Some(c) = op_counters(op) {
        c.complete(ok, latency_ns);
    }
    backend.complete(ok, latency_ns);
}

/// Writes the first `count` ops' counters, as `QUERY_OPS` reports them (`[OpStats; count]`).
pub(crate) fn write_ops(w: &mut UserSliceWriter, count: usize) -> Result {
    for c in OPS.iter().take(count) {
        w.write(&c.snapshot())?;
    }
    Ok(())
}

/// One op's counters, for debugfs.
pub(crate) fn op_snapshot(op: usize) -> uapi::OpStats {
    OPS.get(op.wrapping_sub(1)).map(Counters::snapshot).unwrap_or_default()
}

/// The name of a valid op, for debugfs.
pub(crate) fn op_name(op: usize) -> &'static str {
    const NAMES: [&str; uapi::OP_COUNT] = [
        "matmul", "conv2d", "softmax", "layernorm", "attention", "gelu", "relu", "add", "mul",
        "quantize", "dequantize", "copy", "spike_encode", "pool2d", "lrn", "unary", "binary",
        "reduce", "gather",
    ];
    NAMES.get(op.wrapping_sub(1)).copied().unwrap_or("?")
}
