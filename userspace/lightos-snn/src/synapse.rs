//! Synapses: the currents one layer's spikes drive into the next, for every step of a sample,
//! computed on a chosen backend.
//!
//! [`LocalSynapses`] works event by event in this process (each spike adds its weight row to its
//! step's currents: work ∝ events × fan-out). [`DeviceSynapses`] hands the same product to a backend
//! of the kernel as one MATMUL per layer and sample — the dense `[steps × pre]` spike matrix times
//! the `[pre × post]` weights — routed to a named backend such as `photonic0` (the photonic NPU,
//! whose analog result carries its noise) or `cpu0` (an executor). A feed-forward network can do
//! this a layer at a time because no layer's spikes depend on a later layer.

use crate::{SpikeError, SpikeEvent};
use lightos_runtime::{
    Buffer, BufferFlags, Context, DType, JobStatus, MappedBuffer, Op, Placement, PrimitiveBuilder,
    Queue,
};
use std::time::Duration;

/// Why a spiking run through a backend failed (encoding, synapses or the kernel).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Bad shapes or events.
    #[error(transparent)]
    Spike(#[from] SpikeError),
    /// The kernel refused or failed a call.
    #[error(transparent)]
    Device(#[from] lightos_runtime::Error),
    /// The MATMUL ended without a result.
    #[error("the synapse MATMUL on {backend} ended {status:?}")]
    Job {
        /// The backend it ran on.
        backend: String,
        /// How it ended.
        status: JobStatus,
    },
    /// No backend of that name is registered.
    #[error("no backend named '{0}' is registered with the kernel")]
    NoBackend(String),
}

/// Computes synaptic currents.
pub trait Synapses {
    /// Currents `[steps][post]` (row-major) that the time-ordered `events` of `pre` neurons drive
    /// through `weights` (row-major `[pre][post]`); event `e` belongs to step `e.timestamp_ns /
    /// step_ns` and counts `e.value` times.
    fn currents(
        &mut self,
        events: &[SpikeEvent],
        steps: u32,
        step_ns: u64,
        pre: usize,
        post: usize,
        weights: &[f32],
    ) -> Result<Vec<f32>, EngineError>;

    /// Where they run, for reports.
    fn name(&self) -> String;
}

fn check(
    events: &[SpikeEvent],
    steps: u32,
    step_ns: u64,
    pre: usize,
    post: usize,
    weights: &[f32],
) -> Result<(), SpikeError> {
    if weights.len() != pre * post {
        return Err(SpikeError::Invalid("weights must be pre × post"));
    }
    let step = |e: &SpikeEvent| e.timestamp_ns / step_ns.max(1);
    if events
        .iter()
        .any(|e| e.neuron as usize >= pre || step(e) >= u64::from(steps))
    {
        return Err(SpikeError::Invalid("event outside the layer or the window"));
    }
    Ok(())
}

/// Event-driven currents in this process.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalSynapses;

impl Synapses for LocalSynapses {
    fn currents(
        &mut self,
        events: &[SpikeEvent],
        steps: u32,
        step_ns: u64,
        pre: usize,
        post: usize,
        weights: &[f32],
    ) -> Result<Vec<f32>, EngineError> {
        check(events, steps, step_ns, pre, post, weights)?;
        let mut out = vec![0f32; steps as usize * post];
        for e in events {
            let t = (e.timestamp_ns / step_ns.max(1)) as usize;
            let j = e.neuron as usize;
            let row = &mut out[t * post..(t + 1) * post];
            for (o, &w) in row.iter_mut().zip(&weights[j * post..(j + 1) * post]) {
                *o += w * f32::from(e.value);
            }
        }
        Ok(out)
    }

    fn name(&self) -> String {
        "local (event-driven, this process)".into()
    }
}

/// Currents as a MATMUL through `/dev/lightos` on a named backend.
pub struct DeviceSynapses {
    dev: Context,
    queue: Queue,
    backend: String,
    /// The operands' buffer and its mapping, reused while large enough.
    scratch: Option<(Buffer, MappedBuffer)>,
}

impl DeviceSynapses {
    /// Routes this context's f32 MATMULs to the backend called `backend` (e.g. `photonic0`).
    pub fn new(dev: Context, backend: &str) -> Result<DeviceSynapses, EngineError> {
        let id = dev
            .backends()?
            .iter()
            .find(|b| b.name == backend)
            .map(|b| b.id)
            .ok_or_else(|| EngineError::NoBackend(backend.to_string()))?;
        dev.add_route(Some(Op::Matmul), Some(DType::F32), 0..=u64::MAX, id)?;
        let queue = dev.create_queue(0, Duration::ZERO)?;
        Ok(DeviceSynapses {
            dev,
            queue,
            backend: backend.to_string(),
            scratch: None,
        })
    }

    /// A mapped buffer of at least `bytes`, reused from the last call when it is large enough.
    fn scratch(&mut self, bytes: usize) -> Result<(Buffer, MappedBuffer), EngineError> {
        match self.scratch.take() {
            Some((b, m)) if b.size() >= bytes => Ok((b, m)),
            _ => {
                let b = self
                    .dev
                    .create_buffer(bytes, BufferFlags::empty(), Placement::Any)?;
                let m = b.map()?;
                Ok((b, m))
            }
        }
    }
}

fn put(bytes: &mut [u8], values: impl Iterator<Item = f32>) {
    for (c, v) in bytes.chunks_exact_mut(4).zip(values) {
        c.copy_from_slice(&v.to_le_bytes());
    }
}

impl Synapses for DeviceSynapses {
    fn currents(
        &mut self,
        events: &[SpikeEvent],
        steps: u32,
        step_ns: u64,
        pre: usize,
        post: usize,
        weights: &[f32],
    ) -> Result<Vec<f32>, EngineError> {
        check(events, steps, step_ns, pre, post, weights)?;
        let steps = steps as usize;
        let (a, b, c) = (4 * steps * pre, 4 * pre * post, 4 * steps * post);
        let (buffer, mut m) = self.scratch(a + b + c)?;
        // The dense spike matrix `[steps × pre]`, written in place, then the weights.
        m[..a].fill(0);
        for e in events {
            let t = (e.timestamp_ns / step_ns.max(1)) as usize;
            let at = 4 * (t * pre + e.neuron as usize);
            let v = f32::from_le_bytes([m[at], m[at + 1], m[at + 2], m[at + 3]]);
            m[at..at + 4].copy_from_slice(&(v + f32::from(e.value)).to_le_bytes());
        }
        put(&mut m[a..a + b], weights.iter().copied());
        let dims = |x: usize, y: usize| [x as u64, y as u64];
        let prim = PrimitiveBuilder::new(Op::Matmul, DType::F32)
            .input(&buffer, 0, &dims(steps, pre))
            .input(&buffer, a as u64, &dims(pre, post))
            .output(&buffer, (a + b) as u64, &dims(steps, post));
        let submitted = self.queue.submit(&[prim])?;
        let done = self
            .queue
            .wait(submitted.last_seq, Some(Duration::from_secs(60)))?;
        if done.status != JobStatus::Ok {
            return Err(EngineError::Job {
                backend: self.backend.clone(),
                status: done.status,
            });
        }
        let currents = m[a + b..a + b + c]
            .chunks_exact(4)
            .map(|x| f32::from_le_bytes([x[0], x[1], x[2], x[3]]))
            .collect();
        self.scratch = Some((buffer, m));
        Ok(currents)
    }

    fn name(&self) -> String {
        format!("{} (MATMUL through /dev/lightos)", self.backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: u64, neuron: u32, value: i16) -> SpikeEvent {
        SpikeEvent {
            timestamp_ns: t * 10,
            neuron,
            value,
            channel: 0,
        }
    }

    #[test]
    fn local_currents_add_each_events_weight_row_to_its_step() {
        // pre 3 × post 2 weights, rows [1, 2], [10, 20], [100, 200].
        let w = [1.0, 2.0, 10.0, 20.0, 100.0, 200.0];
        let events = [
            ev(0, 0, 1),
            ev(0, 2, 1),
            ev(2, 1, -1),
            ev(2, 1, 1),
            ev(2, 0, 1),
        ];
        let c = LocalSynapses.currents(&events, 3, 10, 3, 2, &w).unwrap();
        assert_eq!(c, vec![101.0, 202.0, 0.0, 0.0, 1.0, 2.0]);
    }

    #[test]
    fn events_outside_the_layer_or_window_and_bad_weights_are_refused() {
        let w = [0.0; 6];
        for (events, weights) in [
            (vec![ev(0, 3, 1)], &w[..]),
            (vec![ev(3, 0, 1)], &w[..]),
            (vec![], &w[..5]),
        ] {
            assert!(matches!(
                LocalSynapses.currents(&events, 3, 10, 3, 2, weights),
                Err(EngineError::Spike(_))
            ));
        }
    }
}
