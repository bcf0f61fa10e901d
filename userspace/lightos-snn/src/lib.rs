//! `lightos_snn`: the spiking engine over `/dev/lightos`: encoders that turn values into spikes
//! (and `OP_SPIKE_ENCODE`, the same encoders as a kernel job), an event-driven leaky
//! integrate-and-fire layer, synapses multiplied locally or on a kernel backend, a two-layer
//! network, decoders that turn spikes back into answers, and a synthetic dataset (Gaussian blobs).
//!
//! Spikes are address events ([`SpikeEvent`]: time, neuron, value, channel), the record the
//! kernel's spike queues carry ([`lightos_runtime::spike::queue::SpikeQueue`]). Encoders produce dense `[step][neuron]` trains (the shape
//! snnTorch's `spikegen` returns, so they can be checked against its definitions) and convert them
//! to events; the LIF layer consumes events and does work proportional to them.

pub mod blobs;
pub mod decode;
pub mod encode;
pub mod encode_job;
pub mod input;
pub mod lif;
pub mod network;
pub mod synapse;

/// One address event (16 bytes: time, neuron, value, channel): the kernel spike ring's entry.
pub use lightos_runtime::spike::SpikeEvent;

/// Why an encoder or layer refused its parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpikeError {
    /// A parameter is outside its range; the message names it.
    #[error("invalid spike parameter: {0}")]
    Invalid(&'static str),
}

/// A dense spike train: `steps` rows of `neurons` values (0, or ±1 for delta's off-spikes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpikeTrain {
    /// Time steps.
    pub steps: usize,
    /// Neurons per step.
    pub neurons: usize,
    /// Row-major `[step][neuron]`.
    pub data: Vec<i8>,
}

impl SpikeTrain {
    /// An all-zero train.
    pub fn zeros(steps: usize, neurons: usize) -> SpikeTrain {
        SpikeTrain {
            steps,
            neurons,
            data: vec![0; steps * neurons],
        }
    }

    /// The value at (`step`, `neuron`).
    pub fn at(&self, step: usize, neuron: usize) -> i8 {
        self.data[step * self.neurons + neuron]
    }

    /// Row `step`.
    pub fn row(&self, step: usize) -> &[i8] {
        &self.data[step * self.neurons..(step + 1) * self.neurons]
    }

    /// The non-zero entries as events, in time order, step `s` at `s · step_ns`.
    pub fn events(&self, step_ns: u64, channel: u16) -> Vec<SpikeEvent> {
        let mut out = Vec::new();
        for s in 0..self.steps {
            for (n, &v) in self.row(s).iter().enumerate() {
                if v != 0 {
                    out.push(SpikeEvent {
                        timestamp_ns: s as u64 * step_ns,
                        neuron: n as u32,
                        value: i16::from(v),
                        channel,
                    });
                }
            }
        }
        out
    }

    /// Share of (step, neuron) entries that are silent.
    pub fn sparsity(&self) -> f64 {
        let silent = self.data.iter().filter(|&&v| v == 0).count();
        silent as f64 / self.data.len().max(1) as f64
    }
}
