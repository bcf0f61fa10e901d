//! An event-driven layer of leaky integrate-and-fire neurons.
//!
//! Per step `t`, neuron `i`: `mem ← β^(t − last)·mem + I` (decay applied lazily, for the steps since
//! it was last touched), where `I` is the sum of its input events' currents at `t` (inputs that
//! arrive while it is refractory are dropped). It spikes when `mem > threshold`, then resets (by
//! subtracting the threshold, or to zero) and stays refractory for `refractory_steps` steps. Only
//! neurons that received input, or whose potential is still above the threshold (they may fire
//! again without input), are evaluated: the work per step is proportional to the events, not to
//! the layer's size. The synaptic currents come from the caller (a weight matrix applied to the
//! previous layer's spikes on any backend).

use crate::SpikeError;

/// How a neuron's potential is reset after it spikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reset {
    /// `mem ← mem − threshold`.
    Subtract,
    /// `mem ← 0`.
    Zero,
}

/// Parameters of a [`LifLayer`].
#[derive(Clone, Copy, Debug)]
pub struct LifParams {
    /// Membrane decay per step, in [0, 1].
    pub beta: f32,
    /// Firing threshold, > 0.
    pub threshold: f32,
    /// Reset mechanism.
    pub reset: Reset,
    /// Steps after a spike during which inputs are ignored.
    pub refractory_steps: u32,
}

/// A layer of LIF neurons driven by input events.
#[derive(Clone, Debug)]
pub struct LifLayer {
    params: LifParams,
    mem: Vec<f32>,
    /// Step at which `mem` was last brought up to date.
    updated: Vec<u32>,
    /// Inputs are ignored before this step.
    refractory_until: Vec<u32>,
    /// Neurons above threshold after the last step: evaluated next step even without input.
    pending: Vec<u32>,
    /// Neurons touched this step (dense current accumulator is sparse through this list).
    touched: Vec<u32>,
    current: Vec<f32>,
    /// Neuron evaluations done so far (the work done).
    pub evaluations: u64,
}

impl LifLayer {
    /// A layer of `neurons` at rest. `Invalid` for β outside [0, 1] or a threshold not above 0.
    pub fn new(neurons: usize, params: LifParams) -> Result<LifLayer, SpikeError> {
        if !(0.0..=1.0).contains(&params.beta) {
            return Err(SpikeError::Invalid("beta must be within [0, 1]"));
        }
        if params.threshold.is_nan() || params.threshold <= 0.0 {
            return Err(SpikeError::Invalid("threshold must be greater than 0"));
        }
        Ok(LifLayer {
            params,
            mem: vec![0.0; neurons],
            updated: vec![0; neurons],
            refractory_until: vec![0; neurons],
            pending: Vec::new(),
            touched: Vec::new(),
            current: vec![0.0; neurons],
            evaluations: 0,
        })
    }

    /// Number of neurons.
    pub fn len(&self) -> usize {
        self.mem.len()
    }

    /// Whether the layer has no neurons.
    pub fn is_empty(&self) -> bool {
        self.mem.is_empty()
    }

    /// Membrane potential of `neuron` as of step `t` (decay applied), without changing state.
    pub fn potential(&self, neuron: usize, t: u32) -> f32 {
        self.mem[neuron]
            * self
                .params
                .beta
                .powi((t - self.updated[neuron].min(t)) as i32)
    }

    /// Runs step `t` (steps must not go backwards) with input currents `(neuron, current)`;
    /// appends the neurons that spiked to `spikes`, in increasing order. `Invalid` for a neuron
    /// out of range (nothing is changed then).
    pub fn step(
        &mut self,
        t: u32,
        inputs: &[(u32, f32)],
        spikes: &mut Vec<u32>,
    ) -> Result<(), SpikeError> {
        if inputs.iter().any(|&(n, _)| n as usize >= self.mem.len()) {
            return Err(SpikeError::Invalid("input neuron out of range"));
        }
        for &(n, i) in inputs {
            if t < self.refractory_until[n as usize] {
                continue;
            }
            if self.current[n as usize] == 0.0 && !self.touched.contains(&n) {
                self.touched.push(n);
            }
            self.current[n as usize] += i;
        }
        let mut todo = std::mem::take(&mut self.touched);
        todo.append(&mut self.pending);
        todo.sort_unstable();
        todo.dedup();
        let first = spikes.len();
        for &n in &todo {
            let i = n as usize;
            self.evaluations += 1;
            let mut mem = self.potential(i, t) + self.current[i];
            self.current[i] = 0.0;
            if t >= self.refractory_until[i] && mem > self.params.threshold {
                spikes.push(n);
                mem = match self.params.reset {
                    Reset::Subtract => mem - self.params.threshold,
                    Reset::Zero => 0.0,
                };
                self.refractory_until[i] = t + 1 + self.params.refractory_steps;
            }
            self.mem[i] = mem;
            self.updated[i] = t;
            if mem > self.params.threshold {
                self.pending.push(n);
            }
        }
        spikes[first..].sort_unstable();
        todo.clear();
        self.touched = todo;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The same neuron model, every neuron every step: the reference the event-driven layer must
    /// agree with.
    fn dense(neurons: usize, p: LifParams, inputs: &[Vec<(u32, f32)>]) -> Vec<Vec<u32>> {
        let (mut mem, mut refr) = (vec![0f32; neurons], vec![0u32; neurons]);
        let mut out = Vec::new();
        for (t, step) in inputs.iter().enumerate() {
            let t = t as u32;
            let mut cur = vec![0f32; neurons];
            for &(n, i) in step {
                if t >= refr[n as usize] {
                    cur[n as usize] += i;
                }
            }
            let mut spk = Vec::new();
            for n in 0..neurons {
                mem[n] = mem[n] * p.beta + cur[n];
                if t >= refr[n] && mem[n] > p.threshold {
                    spk.push(n as u32);
                    mem[n] = if p.reset == Reset::Subtract {
                        mem[n] - p.threshold
                    } else {
                        0.0
                    };
                    refr[n] = t + 1 + p.refractory_steps;
                }
            }
            out.push(spk);
        }
        out
    }

    fn sparse_inputs(
        neurons: u32,
        steps: usize,
        per_step: usize,
        seed: u64,
    ) -> Vec<Vec<(u32, f32)>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..steps)
            .map(|_| {
                (0..per_step)
                    .map(|_| (rng.gen_range(0..neurons), rng.gen_range(0.0..1.5)))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn event_driven_layer_matches_the_dense_reference_with_work_proportional_to_events() {
        for (reset, refractory) in [(Reset::Subtract, 0), (Reset::Zero, 0), (Reset::Subtract, 3)] {
            let p = LifParams {
                beta: 0.9,
                threshold: 1.0,
                reset,
                refractory_steps: refractory,
            };
            let inputs = sparse_inputs(1000, 300, 8, 5);
            let want = dense(1000, p, &inputs);
            let mut layer = LifLayer::new(1000, p).unwrap();
            let mut got = Vec::new();
            for (t, step) in inputs.iter().enumerate() {
                let mut spk = Vec::new();
                layer.step(t as u32, step, &mut spk).unwrap();
                got.push(spk);
            }
            assert_eq!(got, want, "{reset:?}, refractory {refractory}");
            assert!(
                want.iter().map(Vec::len).sum::<usize>() > 50,
                "the test drives spikes"
            );
            let events = 300 * 8;
            assert!(
                layer.evaluations <= 2 * events as u64,
                "{} evaluations for {events} events (dense: {})",
                layer.evaluations,
                300 * 1000
            );
        }
    }

    #[test]
    fn a_strong_input_fires_repeatedly_without_more_input_under_subtract_reset() {
        let p = LifParams {
            beta: 1.0,
            threshold: 1.0,
            reset: Reset::Subtract,
            refractory_steps: 0,
        };
        let mut layer = LifLayer::new(2, p).unwrap();
        let mut spikes = Vec::new();
        layer.step(0, &[(1, 3.5)], &mut spikes).unwrap();
        for t in 1..5 {
            layer.step(t, &[], &mut spikes).unwrap();
        }
        assert_eq!(
            spikes,
            vec![1, 1, 1],
            "3.5 → 2.5 → 1.5 → 0.5: three spikes, then silence"
        );
        assert!((layer.potential(1, 10) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn bad_parameters_and_inputs_are_refused() {
        let ok = LifParams {
            beta: 0.5,
            threshold: 1.0,
            reset: Reset::Zero,
            refractory_steps: 0,
        };
        assert!(LifLayer::new(4, LifParams { beta: 1.5, ..ok }).is_err());
        assert!(LifLayer::new(
            4,
            LifParams {
                threshold: 0.0,
                ..ok
            }
        )
        .is_err());
        let mut layer = LifLayer::new(4, ok).unwrap();
        let mut spikes = Vec::new();
        assert!(layer.step(0, &[(0, 2.0), (4, 1.0)], &mut spikes).is_err());
        assert!(
            spikes.is_empty() && layer.potential(0, 0) == 0.0,
            "nothing applied"
        );
    }
}
