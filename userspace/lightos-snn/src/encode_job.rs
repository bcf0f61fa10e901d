//! `OP_SPIKE_ENCODE`: encoder parameters as the ABI packs them into a primitive, the primitive a
//! submitter builds, and the executor's half, which encodes a job's input into its staging output
//! (the kernel then produces those events into the job's kernel-produced spike queue).
//!
//! The encoders are those of [`crate::encode`] (snnTorch's definitions); rate coding draws from
//! ChaCha8 seeded with the primitive's `seed` (`rand_chacha`'s `seed_from_u64`), so a job's events
//! can be reproduced on the host.

use crate::{encode, SpikeError, SpikeEvent};
use lightos_runtime::{spike::queue::SpikeQueue, Buffer, DType, Op, Primitive, PrimitiveBuilder};
use lightos_uapi as uapi;
use rand::SeedableRng;

/// Which encoder runs, with its parameters (see [`encode`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Encoding {
    /// Rate coding: each step, spike with probability `clamp(x·gain + offset, 0, 1)`.
    Rate {
        /// Input scale.
        gain: f32,
        /// Input shift.
        offset: f32,
    },
    /// Latency coding: one spike per input, earlier for larger inputs.
    Latency {
        /// Inputs below it fire last (or not, with `clip`); in (0, 1).
        threshold: f32,
        /// RC time constant; > 0.
        tau: f32,
        /// Linear instead of logarithmic code.
        linear: bool,
        /// Stretch the code over the whole window.
        normalize: bool,
        /// No spike for inputs below the threshold.
        clip: bool,
    },
    /// Delta modulation of a `[steps, neurons]` series.
    Delta {
        /// Smallest change that spikes.
        threshold: f32,
        /// Also emit −1 for falls.
        off_spike: bool,
        /// Compare the first step with itself rather than with zeros.
        padding: bool,
    },
}

/// One encode request: the encoder, its window and how its events are stamped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EncodeSpec {
    /// The encoder.
    pub encoding: Encoding,
    /// Time steps (for delta: the input's rows).
    pub steps: u32,
    /// The events' channel.
    pub channel: u16,
    /// Step `s` is stamped `s · step_ns`.
    pub step_ns: u32,
    /// Seed of rate coding's generator.
    pub seed: u64,
}

fn bit(on: bool, flag: u64) -> u64 {
    if on {
        flag
    } else {
        0
    }
}

impl EncodeSpec {
    /// Its `params` for a primitive producing into queue `queue_id`.
    pub fn params(&self, queue_id: u32) -> [u64; 4] {
        let pair = |lo: f32, hi: f32| u64::from(lo.to_bits()) | (u64::from(hi.to_bits()) << 32);
        let (code, flags, floats) = match self.encoding {
            Encoding::Rate { gain, offset } => (uapi::SPIKE_ENCODE_RATE, 0, pair(gain, offset)),
            Encoding::Latency {
                threshold,
                tau,
                linear,
                normalize,
                clip,
            } => (
                uapi::SPIKE_ENCODE_LATENCY,
                bit(linear, uapi::SPIKE_ENCODE_F_LINEAR)
                    | bit(normalize, uapi::SPIKE_ENCODE_F_NORMALIZE)
                    | bit(clip, uapi::SPIKE_ENCODE_F_CLIP),
                pair(threshold, tau),
            ),
            Encoding::Delta {
                threshold,
                off_spike,
                padding,
            } => (
                uapi::SPIKE_ENCODE_DELTA,
                bit(off_spike, uapi::SPIKE_ENCODE_F_OFF_SPIKE)
                    | bit(padding, uapi::SPIKE_ENCODE_F_PADDING),
                pair(threshold, 0.0),
            ),
        };
        [
            u64::from(queue_id),
            code | flags | (u64::from(self.steps) << 32),
            floats,
            u64::from(self.channel) | (u64::from(self.step_ns) << 32),
        ]
    }

    /// The request a primitive carries (`None` if its parameters are not an encode request).
    pub fn from_primitive(p: &uapi::Primitive) -> Option<EncodeSpec> {
        let word = p.params[1];
        let has = |flag: u64| word & flag != 0;
        let lo = f32::from_bits(p.params[2] as u32);
        let hi = f32::from_bits((p.params[2] >> 32) as u32);
        let encoding = match word & 0xff {
            uapi::SPIKE_ENCODE_RATE => Encoding::Rate {
                gain: lo,
                offset: hi,
            },
            uapi::SPIKE_ENCODE_LATENCY => Encoding::Latency {
                threshold: lo,
                tau: hi,
                linear: has(uapi::SPIKE_ENCODE_F_LINEAR),
                normalize: has(uapi::SPIKE_ENCODE_F_NORMALIZE),
                clip: has(uapi::SPIKE_ENCODE_F_CLIP),
            },
            uapi::SPIKE_ENCODE_DELTA => Encoding::Delta {
                threshold: lo,
                off_spike: has(uapi::SPIKE_ENCODE_F_OFF_SPIKE),
                padding: has(uapi::SPIKE_ENCODE_F_PADDING),
            },
            _ => return None,
        };
        Some(EncodeSpec {
            encoding,
            steps: (word >> 32) as u32,
            channel: p.params[3] as u16,
            step_ns: (p.params[3] >> 32) as u32,
            seed: p.seed,
        })
    }

    /// The most events it can produce from `neurons` inputs: what the staging output must hold.
    pub fn max_events(&self, neurons: usize) -> usize {
        match self.encoding {
            Encoding::Latency { .. } => neurons,
            _ => neurons * self.steps as usize,
        }
    }

    /// Encodes `x` (`neurons` values, or `[steps, neurons]` for delta) into events, in time order.
    pub fn encode(&self, x: &[f32], neurons: usize) -> Result<Vec<SpikeEvent>, SpikeError> {
        let steps = self.steps as usize;
        let train = match self.encoding {
            Encoding::Rate { gain, offset } => {
                let opts = encode::RateOptions {
                    num_steps: steps,
                    gain,
                    offset,
                    first_spike_time: 0,
                };
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
                encode::rate(x, &opts, &mut rng)?
            }
            Encoding::Latency {
                threshold,
                tau,
                linear,
                normalize,
                clip,
            } => {
                let opts = encode::LatencyOptions {
                    num_steps: steps,
                    threshold,
                    tau,
                    linear,
                    normalize,
                    clip,
                    ..Default::default()
                };
                encode::latency(x, &opts)?
            }
            Encoding::Delta {
                threshold,
                off_spike,
                padding,
            } => {
                if x.len() != steps * neurons {
                    return Err(SpikeError::Invalid("delta input must be [steps, neurons]"));
                }
                encode::delta(x, neurons, threshold, padding, off_spike)?
            }
        };
        Ok(train.events(u64::from(self.step_ns), self.channel))
    }

    /// The primitive that encodes `shape` f32 values at byte `offset` of `input` into `queue`
    /// (created with [`lightos_runtime::Context::create_kernel_spike_queue`]), staging the events in
    /// `staging` from byte `staging_offset` (room for [`EncodeSpec::max_events`] events).
    pub fn primitive(
        &self,
        queue: &SpikeQueue,
        input: &Buffer,
        offset: u64,
        shape: &[u64],
        staging: &Buffer,
        staging_offset: u64,
    ) -> Primitive {
        let neurons = match self.encoding {
            Encoding::Delta { .. } => shape.get(1).copied().unwrap_or(0),
            _ => shape.iter().product(),
        };
        let capacity = self.max_events(neurons as usize) as u64;
        let mut b = PrimitiveBuilder::new(Op::SpikeEncode, DType::F32)
            .input(input, offset, shape)
            .out_dtype(DType::SpikeEvent);
        for (i, v) in self.params(queue.id()).into_iter().enumerate() {
            b = b.param(i, v);
        }
        let mut p = b.output(staging, staging_offset, &[capacity]);
        p.set_seed(self.seed);
        p
    }
}

/// An executor's job: runs `OP_SPIKE_ENCODE` `p` on its mapped operands (`inputs[0]` the
/// input's buffer, `output` the staging output's; both tensors contiguous) and returns how many
/// events it staged, or why it refused.
pub fn execute(p: &uapi::Primitive, inputs: &[&[u8]], output: &mut [u8]) -> Result<u32, String> {
    /// Byte range of contiguous operand `t` with `esize`-byte elements.
    fn span(t: &uapi::Tensor, esize: usize) -> Option<std::ops::Range<usize>> {
        if t.strides.iter().any(|&s| s != 0) {
            return None;
        }
        let n: u64 = t.shape[..(t.ndim as usize).min(uapi::MAX_DIMS)]
            .iter()
            .product();
        let start = usize::try_from(t.offset).ok()?;
        Some(start..start.checked_add(usize::try_from(n).ok()?.checked_mul(esize)?)?)
    }
    if p.op != uapi::OP_SPIKE_ENCODE || p.n_inputs != 1 || inputs.len() != 1 {
        return Err("not a SPIKE_ENCODE job".into());
    }
    let input = span(&p.operands[0], 4)
        .and_then(|r| inputs[0].get(r))
        .ok_or("the input is strided or past its buffer")?;
    let staging = span(&p.operands[1], 16)
        .and_then(|r| output.get_mut(r))
        .ok_or("the staging output is strided or past its buffer")?;
    run(p, input, staging)
        .ok_or_else(|| "the encoder refused its parameters or the staging area is too small".into())
}

/// The executor's half: encodes a job's `input` bytes (little-endian f32, the input tensor's
/// extent) into `staging` (the output tensor's extent) and returns how many events it wrote.
/// `None` for parameters the encoders refuse or a staging area too small.
pub fn run(p: &uapi::Primitive, input: &[u8], staging: &mut [u8]) -> Option<u32> {
    let spec = EncodeSpec::from_primitive(p)?;
    let x: Vec<f32> = input
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let t = &p.operands[0];
    let neurons = match spec.encoding {
        Encoding::Delta { .. } => t.shape[1] as usize,
        _ => x.len(),
    };
    let events = spec.encode(&x, neurons).ok()?;
    if events.len() * 16 > staging.len() {
        return None;
    }
    for (slot, e) in staging.chunks_exact_mut(16).zip(&events) {
        slot[..8].copy_from_slice(&e.timestamp_ns.to_le_bytes());
        slot[8..12].copy_from_slice(&e.neuron.to_le_bytes());
        slot[12..14].copy_from_slice(&e.value.to_le_bytes());
        slot[14..16].copy_from_slice(&e.channel.to_le_bytes());
    }
    u32::try_from(events.len()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prim(spec: &EncodeSpec, shape: &[u64]) -> uapi::Primitive {
        let mut p = uapi::Primitive {
            op: uapi::OP_SPIKE_ENCODE,
            dtype: uapi::DTYPE_F32,
            out_dtype: uapi::DTYPE_SPIKE_EVENT,
            n_inputs: 1,
            seed: spec.seed,
            params: spec.params(7),
            ..Default::default()
        };
        p.operands[0].ndim = shape.len() as u32;
        p.operands[0].shape[..shape.len()].copy_from_slice(shape);
        p
    }

    fn specs() -> [EncodeSpec; 3] {
        let base = |encoding| EncodeSpec {
            encoding,
            steps: 6,
            channel: 3,
            step_ns: 1000,
            seed: 42,
        };
        [
            base(Encoding::Rate {
                gain: 0.5,
                offset: 0.25,
            }),
            base(Encoding::Latency {
                threshold: 0.05,
                tau: 2.0,
                linear: true,
                normalize: true,
                clip: true,
            }),
            base(Encoding::Delta {
                threshold: 0.1,
                off_spike: true,
                padding: false,
            }),
        ]
    }

    #[test]
    fn params_round_trip_through_a_primitive() {
        for spec in specs() {
            let p = prim(&spec, &[4]);
            assert_eq!(p.params[0], 7);
            assert_eq!(EncodeSpec::from_primitive(&p), Some(spec));
        }
    }

    #[test]
    fn run_writes_exactly_what_encode_returns() {
        let x: Vec<f32> = (0..24).map(|i| ((i * 7) % 11) as f32 / 10.0).collect();
        for spec in specs() {
            let (shape, neurons): (Vec<u64>, usize) = match spec.encoding {
                Encoding::Delta { .. } => (vec![6, 4], 4),
                _ => (vec![24], 24),
            };
            let data = if neurons == 4 { &x[..] } else { &x[..24] };
            let p = prim(&spec, &shape);
            let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
            let mut staging = vec![0u8; spec.max_events(neurons) * 16];
            let n = run(&p, &bytes, &mut staging).expect("encodes") as usize;
            let want = spec.encode(data, neurons).unwrap();
            assert_eq!(n, want.len());
            assert!(n > 0, "{spec:?} produced events");
            for (i, e) in want.iter().enumerate() {
                let s = &staging[i * 16..i * 16 + 16];
                assert_eq!(
                    u64::from_le_bytes(s[..8].try_into().unwrap()),
                    e.timestamp_ns
                );
                assert_eq!(u32::from_le_bytes(s[8..12].try_into().unwrap()), e.neuron);
                assert_eq!(i16::from_le_bytes(s[12..14].try_into().unwrap()), e.value);
                assert_eq!(u16::from_le_bytes(s[14..16].try_into().unwrap()), 3);
            }
        }
    }

    #[test]
    fn run_refuses_bad_floats_and_short_staging() {
        let mut spec = specs()[1];
        spec.encoding = Encoding::Latency {
            threshold: 1.5,
            tau: 1.0,
            linear: false,
            normalize: false,
            clip: false,
        };
        let p = prim(&spec, &[2]);
        let bytes: Vec<u8> = [0.5f32, 0.9].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(
            run(&p, &bytes, &mut [0u8; 64]),
            None,
            "threshold outside (0, 1)"
        );
        let rate = specs()[0];
        let p = prim(&rate, &[2]);
        let ones: Vec<u8> = [1.0f32, 1.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(
            run(&p, &ones, &mut [0u8; 16]),
            None,
            "12 events do not fit in 1"
        );
    }
}
