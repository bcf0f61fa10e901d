//! A two-layer spiking network run event by event: input spike events → synapses (`w1`) → a
//! hidden [`LifLayer`] → synapses (`w2`) → an output [`LifLayer`], decoded by output spike count.
//!
//! Each input or hidden spike adds its weight column to the next layer's currents for that step,
//! so the work follows the events (times the fan-out), not neurons × steps. The readout `w2` is
//! fitted from the hidden layer's spike counts by class prototypes (mean count per class, centred),
//! so the example needs no gradient training.

use crate::{
    decode,
    lif::{LifLayer, LifParams},
    synapse::{EngineError, Synapses},
    SpikeError, SpikeEvent,
};

/// What one sample's run produced.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Spikes per output neuron.
    pub output_counts: Vec<u32>,
    /// Spikes per hidden neuron.
    pub hidden_counts: Vec<u32>,
    /// The decoded class (most output spikes), if any output spiked.
    pub class: Option<usize>,
    /// Events processed: input events plus hidden and output spikes.
    pub events: u64,
    /// Mean over steps of the share of hidden neurons that stayed silent.
    pub hidden_sparsity: f64,
}

/// The network's weights and neuron parameters.
#[derive(Clone, Debug)]
pub struct TwoLayerNetwork {
    inputs: usize,
    hidden: usize,
    outputs: usize,
    /// `hidden × inputs`, column `j` = the currents input `j` drives (stored column-major).
    w1: Vec<f32>,
    /// `outputs × hidden`, column-major likewise.
    w2: Vec<f32>,
    hidden_params: LifParams,
    output_params: LifParams,
}

impl TwoLayerNetwork {
    /// A network with input weights `w1` (column-major `hidden × inputs`) and a zero readout.
    pub fn new(
        inputs: usize,
        hidden: usize,
        outputs: usize,
        w1: Vec<f32>,
        hidden_params: LifParams,
        output_params: LifParams,
    ) -> Result<TwoLayerNetwork, SpikeError> {
        if w1.len() != inputs * hidden {
            return Err(SpikeError::Invalid("w1 must hold hidden × inputs weights"));
        }
        LifLayer::new(hidden, hidden_params)?;
        LifLayer::new(outputs, output_params)?;
        Ok(TwoLayerNetwork {
            inputs,
            hidden,
            outputs,
            w1,
            w2: vec![0.0; outputs * hidden],
            hidden_params,
            output_params,
        })
    }

    /// Runs one sample: `events` (time-ordered, `neuron` < inputs) over `steps` steps of `step_ns`.
    pub fn run(
        &self,
        events: &[SpikeEvent],
        steps: u32,
        step_ns: u64,
    ) -> Result<Outcome, SpikeError> {
        if events.iter().any(|e| e.neuron as usize >= self.inputs) {
            return Err(SpikeError::Invalid(
                "input event for a neuron the network does not have",
            ));
        }
        let mut hidden = LifLayer::new(self.hidden, self.hidden_params)?;
        let mut output = LifLayer::new(self.outputs, self.output_params)?;
        let mut out = Outcome {
            output_counts: vec![0; self.outputs],
            hidden_counts: vec![0; self.hidden],
            events: events.len() as u64,
            ..Default::default()
        };
        let (mut h_in, mut o_in, mut h_spk, mut o_spk) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut next = 0;
        let mut silent = 0f64;
        for t in 0..steps {
            h_in.clear();
            while next < events.len() && events[next].timestamp_ns / step_ns.max(1) <= u64::from(t)
            {
                let j = events[next].neuron as usize;
                let col = &self.w1[j * self.hidden..(j + 1) * self.hidden];
                h_in.extend(
                    col.iter()
                        .enumerate()
                        .map(|(i, &w)| (i as u32, w * f32::from(events[next].value))),
                );
                next += 1;
            }
            h_spk.clear();
            hidden.step(t, &h_in, &mut h_spk)?;
            silent += 1.0 - h_spk.len() as f64 / self.hidden.max(1) as f64;
            o_in.clear();
            for &h in &h_spk {
                out.hidden_counts[h as usize] += 1;
                let col = &self.w2[h as usize * self.outputs..(h as usize + 1) * self.outputs];
                o_in.extend(col.iter().enumerate().map(|(i, &w)| (i as u32, w)));
            }
            o_spk.clear();
            output.step(t, &o_in, &mut o_spk)?;
            o_spk
                .iter()
                .for_each(|&o| out.output_counts[o as usize] += 1);
            out.events += (h_spk.len() + o_spk.len()) as u64;
        }
        out.hidden_sparsity = silent / f64::from(steps.max(1));
        out.class = decode::by_count(&out.output_counts);
        Ok(out)
    }

    /// Runs one sample a layer at a time with the synaptic products on `synapses` (a backend
    /// through the kernel, or [`crate::synapse::LocalSynapses`], which gives exactly [`Self::run`]'s
    /// result): input events → currents for every step → hidden LIF → hidden spikes as events →
    /// currents → output LIF.
    pub fn run_on(
        &self,
        events: &[SpikeEvent],
        steps: u32,
        step_ns: u64,
        synapses: &mut dyn Synapses,
    ) -> Result<Outcome, EngineError> {
        let step_ns = step_ns.max(1);
        // Column-major `hidden × inputs` is row-major `[inputs][hidden]`: `[pre][post]`.
        let h_cur =
            synapses.currents(events, steps, step_ns, self.inputs, self.hidden, &self.w1)?;
        let mut hidden = LifLayer::new(self.hidden, self.hidden_params)?;
        let mut out = Outcome {
            output_counts: vec![0; self.outputs],
            hidden_counts: vec![0; self.hidden],
            events: events.len() as u64,
            ..Default::default()
        };
        let (mut inputs, mut spikes, mut h_events) = (Vec::new(), Vec::new(), Vec::new());
        let mut silent = 0f64;
        for t in 0..steps {
            row_inputs(&h_cur, self.hidden, t, &mut inputs);
            spikes.clear();
            hidden.step(t, &inputs, &mut spikes)?;
            silent += 1.0 - spikes.len() as f64 / self.hidden.max(1) as f64;
            for &h in &spikes {
                out.hidden_counts[h as usize] += 1;
                h_events.push(SpikeEvent {
                    timestamp_ns: u64::from(t) * step_ns,
                    neuron: h,
                    value: 1,
                    channel: 1,
                });
            }
        }
        let o_cur = synapses.currents(
            &h_events,
            steps,
            step_ns,
            self.hidden,
            self.outputs,
            &self.w2,
        )?;
        let mut output = LifLayer::new(self.outputs, self.output_params)?;
        for t in 0..steps {
            row_inputs(&o_cur, self.outputs, t, &mut inputs);
            spikes.clear();
            output.step(t, &inputs, &mut spikes)?;
            spikes
                .iter()
                .for_each(|&o| out.output_counts[o as usize] += 1);
            out.events += spikes.len() as u64;
        }
        out.events += h_events.len() as u64;
        out.hidden_sparsity = silent / f64::from(steps.max(1));
        out.class = decode::by_count(&out.output_counts);
        Ok(out)
    }

    /// Fits the readout from hidden spike counts and labels: output `c`'s weights are class `c`'s
    /// mean count per hidden neuron minus the mean over all samples, scaled by `gain`.
    pub fn fit_readout(
        &mut self,
        counts: &[Vec<u32>],
        labels: &[usize],
        gain: f32,
    ) -> Result<(), SpikeError> {
        if counts.len() != labels.len() || counts.iter().any(|c| c.len() != self.hidden) {
            return Err(SpikeError::Invalid(
                "one hidden count vector per label, hidden wide",
            ));
        }
        if labels.iter().any(|&l| l >= self.outputs) {
            return Err(SpikeError::Invalid("label beyond the output layer"));
        }
        let mut mean = vec![0f32; self.hidden];
        let mut class_mean = vec![vec![0f32; self.hidden]; self.outputs];
        let mut members = vec![0usize; self.outputs];
        for (c, &l) in counts.iter().zip(labels) {
            members[l] += 1;
            for (h, &n) in c.iter().enumerate() {
                mean[h] += n as f32 / counts.len() as f32;
                class_mean[l][h] += n as f32;
            }
        }
        for (o, m) in class_mean.iter().enumerate() {
            for h in 0..self.hidden {
                let w = m[h] / members[o].max(1) as f32 - mean[h];
                self.w2[h * self.outputs + o] = gain * w;
            }
        }
        Ok(())
    }
}

/// The non-zero currents of step `t` in row-major `[steps][width]` `currents`, as a LIF layer's
/// `(neuron, current)` inputs (replacing what `inputs` held).
fn row_inputs(currents: &[f32], width: usize, t: u32, inputs: &mut Vec<(u32, f32)>) {
    let row = &currents[t as usize * width..(t as usize + 1) * width];
    inputs.clear();
    inputs.extend(
        row.iter()
            .enumerate()
            .filter(|(_, &c)| c != 0.0)
            .map(|(i, &c)| (i as u32, c)),
    );
}
