// SPDX-License-Identifier: GPL-2.0

//! `OP_SPIKE_ENCODE`'s parameters: the structural checks the kernel makes before a backend runs
//! it (floats are the backend's to check: the kernel does no floating point), and how many events
//! it can produce at most, which the staging output must hold.

use crate::{
    reason::{ensure, reject, Rejection},
    uapi,
};
use kernel::prelude::*;

/// Bits of `params[1]` below the step count that are defined.
const ENCODING_MASK: u64 = 0xff;

/// Checks `p`'s encoding parameters against its input `x` (dims already checked, `numel`
/// elements) and staging output `out`; returns the operation count (neurons × steps). `EINVAL`:
/// an unknown encoding or a flag it does not take, set undefined bits, steps outside
/// 1..=[`uapi::SPIKE_ENCODE_MAX_STEPS`], a delta input that is not `[steps, neurons]`, an output
/// that is not 1-D or cannot hold the most events the encoding may produce. `EOVERFLOW`: neurons ×
/// steps overflows.
pub(crate) fn check(
    p: &uapi::Primitive,
    x: &[u64],
    numel: u64,
    out: &[u64],
) -> Result<u64, Rejection> {
    let word = p.params[1];
    let encoding = word & ENCODING_MASK;
    let flags = word & 0xff00;
    let steps = word >> 32;
    let allowed = match encoding {
        uapi::SPIKE_ENCODE_RATE => 0,
        uapi::SPIKE_ENCODE_LATENCY => {
            uapi::SPIKE_ENCODE_F_LINEAR | uapi::SPIKE_ENCODE_F_NORMALIZE | uapi::SPIKE_ENCODE_F_CLIP
        }
        uapi::SPIKE_ENCODE_DELTA => uapi::SPIKE_ENCODE_F_OFF_SPIKE | uapi::SPIKE_ENCODE_F_PADDING,
        _ => return Err(reject!(EINVAL, "params[1]: unknown encoding {encoding}")),
    };
    let unknown = flags & !allowed;
    ensure!(
        unknown == 0,
        EINVAL,
        "params[1]: flag bit {} is not one encoding {encoding} takes",
        unknown.trailing_zeros()
    );
    ensure!(word & 0xffff_0000 == 0, EINVAL, "params[1]: bits 16 to 31 must be zero");
    let max = uapi::SPIKE_ENCODE_MAX_STEPS;
    ensure!((1..=max).contains(&steps), EINVAL, "params[1]: steps {steps}: 1 to {max}");
    ensure!(
        p.params[0] != 0 && p.params[0] <= u64::from(u32::MAX),
        EINVAL,
        "params[0]: spike queue id {} out of range",
        p.params[0]
    );
    ensure!(p.params[3] & 0xffff_0000 == 0, EINVAL, "params[3]: bits 16 to 63 must be zero");
    let neurons = if encoding == uapi::SPIKE_ENCODE_DELTA {
        ensure!(
            x.len() == 2 && x[0] == steps,
            EINVAL,
            "shapes: a delta encoding's input must be [steps {steps}, neurons], not {x:?}"
        );
        x[1]
    } else {
        numel
    };
    ensure!(neurons <= u64::from(u32::MAX), EINVAL, "shapes: {neurons} neurons > 2^32 - 1");
    let most = match encoding {
        uapi::SPIKE_ENCODE_LATENCY => neurons,
        _ => neurons
            .checked_mul(steps)
            .ok_or_else(|| reject!(EOVERFLOW, "shapes: {neurons} neurons x {steps} steps overflows"))?,
    };
    ensure!(
        out.len() == 1 && out[0] >= most,
        EINVAL,
        "shapes: the output must be 1-D with room for {most} events, not {out:?}"
    );
    Ok(neurons.saturating_mul(steps))
}
