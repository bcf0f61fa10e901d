//! A small synthetic dataset for spiking examples and tests: points in the unit square drawn from
//! Gaussian blobs, one blob per class, and their population code (Gaussian receptive fields per
//! axis) as firing probabilities in [0, 1] for a rate encoder.

use crate::{
    encode_job::{EncodeSpec, Encoding},
    input::{InputEncoder, LocalEncoder},
    lif::{LifParams, Reset},
    network::TwoLayerNetwork,
    synapse::{EngineError, LocalSynapses, Synapses},
    SpikeEvent,
};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

fn normal(rng: &mut impl Rng) -> f32 {
    StandardNormal.sample(rng)
}

/// One labelled point.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Coordinates in [0, 1]².
    pub point: [f32; 2],
    /// Its class.
    pub class: usize,
}

/// Blob centres, one per class (at most 4 classes).
pub const CENTRES: [[f32; 2]; 4] = [[0.25, 0.25], [0.75, 0.3], [0.5, 0.75], [0.2, 0.8]];

/// `n` samples of `classes` blobs with standard deviation `spread`, classes in turn.
pub fn generate(n: usize, classes: usize, spread: f32, rng: &mut impl Rng) -> Vec<Sample> {
    let classes = classes.clamp(1, CENTRES.len());
    (0..n)
        .map(|i| {
            let class = i % classes;
            let c = CENTRES[class];
            let p = [
                (c[0] + spread * normal(rng)).clamp(0.0, 1.0),
                (c[1] + spread * normal(rng)).clamp(0.0, 1.0),
            ];
            Sample { point: p, class }
        })
        .collect()
}

/// Population code of `point`: `per_axis` neurons per coordinate with Gaussian receptive fields
/// evenly spaced over [0, 1]; each value is that neuron's firing probability.
pub fn population_code(point: [f32; 2], per_axis: usize) -> Vec<f32> {
    let width = 1.0 / per_axis.max(1) as f32;
    point
        .iter()
        .flat_map(|&x| {
            (0..per_axis).map(move |k| {
                let centre = (k as f32 + 0.5) * width;
                (-((x - centre) / width).powi(2)).exp()
            })
        })
        .collect()
}

/// The spiking classification experiment on this dataset (the `spiking_blobs` example).
#[derive(Clone, Copy, Debug)]
pub struct Experiment {
    /// Classes (blobs), 2 to 4.
    pub classes: usize,
    /// Population-code neurons per axis (inputs = 2 × this).
    pub per_axis: usize,
    /// Hidden LIF neurons.
    pub hidden: usize,
    /// Time steps per sample (rate-coded).
    pub steps: u32,
    /// Training samples (to fit the readout) and test samples.
    pub train: usize,
    /// Test samples.
    pub test: usize,
    /// Seed of everything random: data, input weights, spikes.
    pub seed: u64,
}

impl Default for Experiment {
    fn default() -> Self {
        Experiment {
            classes: 3,
            per_axis: 8,
            hidden: 64,
            steps: 50,
            train: 150,
            test: 150,
            seed: 1,
        }
    }
}

/// What the experiment measured on the test samples.
#[derive(Clone, Debug)]
pub struct Report {
    /// Share of test samples classified right.
    pub accuracy: f64,
    /// Mean share of hidden neurons silent per step.
    pub hidden_sparsity: f64,
    /// Share of input (step, neuron) entries without a spike.
    pub input_sparsity: f64,
    /// Events processed (input events, hidden and output spikes).
    pub events: u64,
    /// Wall time of the test runs (s).
    pub seconds: f64,
    /// Where the inputs were encoded.
    pub encoder: String,
    /// Where the synaptic products ran.
    pub synapses: String,
}

/// The encode request of sample `index`: rate coding over the experiment's steps, seeded per
/// sample so that any encoder (local or in the kernel) gives the same events.
pub fn sample_spec(e: &Experiment, index: usize) -> EncodeSpec {
    EncodeSpec {
        encoding: Encoding::Rate {
            gain: 1.0,
            offset: 0.0,
        },
        steps: e.steps,
        channel: 0,
        step_ns: STEP_NS as u32,
        seed: e.seed.wrapping_mul(1_000_003).wrapping_add(index as u64),
    }
}

/// Step length of the experiment's events.
pub const STEP_NS: u64 = 1_000_000;

/// Runs the experiment in this process: local encoding, event-driven synapses.
pub fn run_experiment(e: &Experiment) -> Result<Report, EngineError> {
    run_experiment_with(e, &mut LocalEncoder, None)
}

/// Runs the experiment: encodes the population code of every point with `encoder`, runs the
/// two-layer network on the training samples to fit its readout, then on the test samples; the
/// synaptic products run on `synapses` (a layer at a time) or, with `None`, event by event here.
pub fn run_experiment_with(
    e: &Experiment,
    encoder: &mut dyn InputEncoder,
    mut synapses: Option<&mut dyn Synapses>,
) -> Result<Report, EngineError> {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(e.seed);
    let inputs = 2 * e.per_axis;
    let data = generate(e.train + e.test, e.classes, 0.08, &mut rng);
    let w1: Vec<f32> = (0..inputs * e.hidden)
        .map(|_| 0.4 * normal(&mut rng))
        .collect();
    let hidden = LifParams {
        beta: 0.9,
        threshold: 1.0,
        reset: Reset::Subtract,
        refractory_steps: 1,
    };
    let output = LifParams {
        beta: 1.0,
        threshold: 1.0,
        reset: Reset::Subtract,
        refractory_steps: 0,
    };
    let mut net = TwoLayerNetwork::new(inputs, e.hidden, e.classes, w1, hidden, output)?;
    let mut samples = Vec::with_capacity(data.len());
    for (i, s) in data.iter().enumerate() {
        let code = population_code(s.point, e.per_axis);
        samples.push(encoder.encode(&code, &sample_spec(e, i))?);
    }
    let mut run = |net: &TwoLayerNetwork, events: &[SpikeEvent]| match synapses.as_deref_mut() {
        Some(syn) => net.run_on(events, e.steps, STEP_NS, syn),
        None => Ok(net.run(events, e.steps, STEP_NS)?),
    };
    let (mut counts, mut labels) = (Vec::new(), Vec::new());
    for (s, ev) in data.iter().zip(&samples).take(e.train) {
        counts.push(run(&net, ev)?.hidden_counts);
        labels.push(s.class);
    }
    net.fit_readout(&counts, &labels, 0.2)?;
    let start = std::time::Instant::now();
    let (mut right, mut events, mut sparsity, mut input_events) = (0usize, 0u64, 0f64, 0usize);
    for (s, ev) in data.iter().zip(&samples).skip(e.train) {
        let o = run(&net, ev)?;
        right += usize::from(o.class == Some(s.class));
        events += o.events;
        sparsity += o.hidden_sparsity;
        input_events += ev.len();
    }
    let seconds = start.elapsed().as_secs_f64();
    let n = e.test.max(1) as f64;
    let entries = (e.test * inputs * e.steps as usize).max(1) as f64;
    Ok(Report {
        accuracy: right as f64 / n,
        hidden_sparsity: sparsity / n,
        input_sparsity: 1.0 - input_events as f64 / entries,
        events,
        seconds,
        encoder: encoder.name(),
        synapses: synapses.map_or_else(|| LocalSynapses.name(), |s| s.name()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn samples_cluster_around_their_centres_and_codes_peak_at_the_point() {
        let s = generate(300, 3, 0.05, &mut ChaCha8Rng::seed_from_u64(1));
        for (class, centre) in CENTRES.iter().enumerate().take(3) {
            let pts: Vec<_> = s.iter().filter(|x| x.class == class).collect();
            let mean_x = pts.iter().map(|p| p.point[0]).sum::<f32>() / pts.len() as f32;
            assert!((mean_x - centre[0]).abs() < 0.02, "class {class}: {mean_x}");
        }
        let code = population_code([0.1, 0.9], 5);
        assert_eq!(code.len(), 10);
        assert!(code[0] > 0.9 && code[4] < 0.01 && code[9] > 0.9, "{code:?}");
    }

    #[test]
    fn the_two_layer_network_classifies_the_blobs_event_by_event() {
        let r = run_experiment(&Experiment::default()).unwrap();
        eprintln!("{r:?}");
        assert!(r.accuracy >= 0.8, "accuracy {} (chance 0.33)", r.accuracy);
        assert!(r.hidden_sparsity > 0.5 && r.hidden_sparsity < 1.0, "{r:?}");
        assert!(r.input_sparsity > 0.5 && r.events > 0, "{r:?}");
    }

    #[test]
    fn a_layer_at_a_time_through_local_synapses_gives_the_same_run() {
        let e = Experiment {
            train: 60,
            test: 60,
            ..Default::default()
        };
        let interleaved = run_experiment(&e).unwrap();
        let layered = run_experiment_with(&e, &mut LocalEncoder, Some(&mut LocalSynapses)).unwrap();
        assert_eq!(
            (interleaved.accuracy, interleaved.events),
            (layered.accuracy, layered.events)
        );
        assert_eq!(interleaved.hidden_sparsity, layered.hidden_sparsity);
    }
}
