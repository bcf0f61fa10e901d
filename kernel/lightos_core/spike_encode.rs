// SPDX-License-Identifier: GPL-2.0

//! `OP_SPIKE_ENCODE`'s parameters: the structural checks the kernel makes before a backend runs
//! it (floats are the backend's to check: the kernel does no floating point), and how many events
//! it can produce at most, which the staging output must hold.

use crate::uapi;
use kernel::prelude::*;

/// Bits of `params[1]` below the step count that are defined.
const ENCODING_MASK: u64 = 0xff;

/// Checks `p`'s encoding parameters against its input `x` (dims already checked, `numel`
/// elements) and staging output `out`; returns the operation count (neurons × steps). `EINVAL`: an unknown encoding or a
/// flag it does not take, set undefined bits, steps outside 1..=[`uapi::SPIKE_ENCODE_MAX_STEPS`],
/// a delta input that is not `[steps, neurons]`, an output that is not 1-D or cannot hold the
/// most events the encoding may produce.
pub(crate) fn check(p: &uapi::Primitive, x: &[u64], numel: u64, out: &[u64]) -> Result<u64> {
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
        _ => return Err(EINVAL),
    };
    if flags & !allowed != 0 || word & 0xffff_0000 != 0 {
        return Err(EINVAL);
    }
    if steps == 0 || steps > uapi::SPIKE_ENCODE_MAX_STEPS {
        return Err(EINVAL);
    }
    if p.params[0] == 0 || p.params[0] > u64::from(u32::MAX) || p.params[3] & 0xffff_0000 != 0 {
        return Err(EINVAL);
    }
    let neurons = if encoding == uapi::SPIKE_ENCODE_DELTA {
        if x.len() != 2 || x[0] != steps {
            return Err(EINVAL);
        }
        x[1]
    } else {
        numel
    };
    if neurons > u64::from(u32::MAX) {
        return Err(EINVAL);
    }
    let most = match encoding {
        uapi::SPIKE_ENCODE_LATENCY => neurons,
        _ => neurons.checked_mul(steps).ok_or(EOVERFLOW)?,
    };
    if out.len() != 1 || out[0] < most {
        return Err(EINVAL);
    }
    Ok(neurons.saturating_mul(steps))
}
