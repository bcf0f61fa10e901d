//! The kernel's spike-event queues: mmap'd rings of [`SpikeEvent`]s with blocking waits, export and
//! import to other processes, and kernel-produced rings fed by `OP_SPIKE_ENCODE` jobs. The spiking
//! engine that fills and drains them (encoders, LIF layers, synapses) is `lightos_snn`.

pub mod queue;

/// One address event (16 bytes: time, neuron, value, channel): the kernel spike ring's entry.
pub use crate::uapi::SpikeEvent;
