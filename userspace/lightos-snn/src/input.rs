//! Input encoders for a spiking run: in this process ([`LocalEncoder`]), or through the kernel
//! ([`KernelEncoder`]): an `OP_SPIKE_ENCODE` job per sample on a backend the kernel routes to, its
//! events produced by the kernel into a kernel-produced spike ring that this process consumes.
//! Both give the same events for the same [`EncodeSpec`] (the same encoder, the same seed).

use crate::{encode_job::EncodeSpec, synapse::EngineError, SpikeEvent};
use lightos_runtime::{
    spike::queue::SpikeQueue, Buffer, BufferFlags, Context, JobStatus, Placement, Queue,
};
use std::time::{Duration, Instant};

/// Turns one sample's values into time-ordered input events.
pub trait InputEncoder {
    /// Encodes `values` (one per input neuron) as `spec` says.
    fn encode(&mut self, values: &[f32], spec: &EncodeSpec)
        -> Result<Vec<SpikeEvent>, EngineError>;
    /// Where it runs, for reports.
    fn name(&self) -> String;
}

/// Encodes in this process.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalEncoder;

impl InputEncoder for LocalEncoder {
    fn encode(
        &mut self,
        values: &[f32],
        spec: &EncodeSpec,
    ) -> Result<Vec<SpikeEvent>, EngineError> {
        Ok(spec.encode(values, values.len())?)
    }

    fn name(&self) -> String {
        "local (this process)".into()
    }
}

/// Encodes with `OP_SPIKE_ENCODE` jobs whose events arrive through a kernel-produced ring.
pub struct KernelEncoder {
    ring: SpikeQueue,
    jobs: Queue,
    input: Buffer,
    staging: Buffer,
    /// Events consumed from the ring so far.
    pub events: u64,
    /// Time spent from submitting each job to holding its events (s).
    pub seconds: f64,
}

impl KernelEncoder {
    /// A ring of `ring_entries` events and room for `max_inputs` values × `max_steps` steps.
    pub fn new(
        dev: &Context,
        ring_entries: u32,
        max_inputs: usize,
        max_steps: usize,
    ) -> Result<KernelEncoder, EngineError> {
        let ring = dev.create_kernel_spike_queue(ring_entries)?;
        let jobs = dev.create_queue(0, Duration::ZERO)?;
        let buffer =
            |size: usize| dev.create_buffer(size.max(1), BufferFlags::empty(), Placement::Any);
        let input = buffer(4 * max_inputs)?;
        let staging = buffer(16 * max_inputs * max_steps)?;
        Ok(KernelEncoder {
            ring,
            jobs,
            input,
            staging,
            events: 0,
            seconds: 0.0,
        })
    }

    /// Events per second through the ring, submission to consumption.
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }
}

impl InputEncoder for KernelEncoder {
    fn encode(
        &mut self,
        values: &[f32],
        spec: &EncodeSpec,
    ) -> Result<Vec<SpikeEvent>, EngineError> {
        if spec.max_events(values.len()) * 16 > self.staging.size()
            || values.len() * 4 > self.input.size()
        {
            return Err(
                crate::SpikeError::Invalid("sample larger than the encoder was made for").into(),
            );
        }
        {
            let mut m = self.input.map()?;
            for (c, v) in m.chunks_exact_mut(4).zip(values) {
                c.copy_from_slice(&v.to_le_bytes());
            }
        }
        let start = Instant::now();
        let prim = spec.primitive(
            &self.ring,
            &self.input,
            0,
            &[values.len() as u64],
            &self.staging,
            0,
        );
        let submitted = self.jobs.submit(&[prim])?;
        let done = self
            .jobs
            .wait(submitted.last_seq, Some(Duration::from_secs(60)))?;
        if done.status != JobStatus::Ok {
            return Err(EngineError::Job {
                backend: "SPIKE_ENCODE".into(),
                status: done.status,
            });
        }
        // The job's events are in the ring once it is seen done.
        let mut events = Vec::with_capacity(self.ring.len() as usize);
        events.extend(self.ring.drain());
        self.seconds += start.elapsed().as_secs_f64();
        self.events += events.len() as u64;
        let overflow = self.ring.overflow();
        if overflow > 0 {
            return Err(
                crate::SpikeError::Invalid("the input ring overflowed: make it larger").into(),
            );
        }
        Ok(events)
    }

    fn name(&self) -> String {
        format!(
            "kernel (OP_SPIKE_ENCODE into a {}-event ring)",
            self.ring.entries()
        )
    }
}
