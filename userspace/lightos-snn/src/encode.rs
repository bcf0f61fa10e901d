//! Spike encoders with the exact definitions of snnTorch's `spikegen` (rate, latency, delta):
//! the same parameters, defaults, clamping, rounding (half to even, as `torch.round`) and edge
//! cases, on one sample of `neurons` values.

use crate::{SpikeError, SpikeTrain};
use rand::Rng;

/// Options of [`rate`] (snnTorch `spikegen.rate` for time-static data).
#[derive(Clone, Copy, Debug)]
pub struct RateOptions {
    /// Time steps.
    pub num_steps: usize,
    /// Inputs are scaled by this…
    pub gain: f32,
    /// …and shifted by this before being used as probabilities (clamped to [0, 1]).
    pub offset: f32,
    /// Steps before this one carry no spikes.
    pub first_spike_time: usize,
}

impl Default for RateOptions {
    fn default() -> Self {
        RateOptions {
            num_steps: 1,
            gain: 1.0,
            offset: 0.0,
            first_spike_time: 0,
        }
    }
}

/// Rate coding: at every step each neuron spikes with probability `clamp(x·gain + offset, 0, 1)`.
pub fn rate(
    data: &[f32],
    opts: &RateOptions,
    rng: &mut impl Rng,
) -> Result<SpikeTrain, SpikeError> {
    if opts.num_steps == 0 {
        return Err(SpikeError::Invalid("num_steps must be at least 1"));
    }
    if opts.first_spike_time > opts.num_steps - 1 {
        return Err(SpikeError::Invalid(
            "first_spike_time must be at most num_steps - 1",
        ));
    }
    let mut train = SpikeTrain::zeros(opts.num_steps, data.len());
    for s in 0..opts.num_steps {
        for (n, &x) in data.iter().enumerate() {
            let p = (x * opts.gain + opts.offset).clamp(0.0, 1.0);
            // Drawn for every step (as torch.bernoulli does), then zeroed before first_spike_time.
            let spike = rng.gen::<f32>() < p;
            if spike && s >= opts.first_spike_time {
                train.data[s * data.len() + n] = 1;
            }
        }
    }
    Ok(train)
}

/// Options of [`latency`] and [`latency_code`] (snnTorch `spikegen.latency`).
#[derive(Clone, Copy, Debug)]
pub struct LatencyOptions {
    /// Time steps.
    pub num_steps: usize,
    /// Inputs below this fire at the end (or not at all with `clip`); in (0, 1).
    pub threshold: f32,
    /// Keeps the logarithmic code's denominator away from zero.
    pub epsilon: f32,
    /// RC time constant of the charging neuron; > 0.
    pub tau: f32,
    /// Shift so the earliest spike is at this step.
    pub first_spike_time: usize,
    /// Remove the spikes of inputs below the threshold.
    pub clip: bool,
    /// Stretch the code so the last spike falls on the last step.
    pub normalize: bool,
    /// Linear code instead of the logarithmic one.
    pub linear: bool,
}

impl Default for LatencyOptions {
    fn default() -> Self {
        LatencyOptions {
            num_steps: 1,
            threshold: 0.01,
            epsilon: 1e-7,
            tau: 1.0,
            first_spike_time: 0,
            clip: false,
            normalize: false,
            linear: false,
        }
    }
}

fn max(v: &[f32]) -> f32 {
    v.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

fn min(v: &[f32]) -> f32 {
    v.iter().copied().fold(f32::INFINITY, f32::min)
}

/// Spike times (real-valued steps) of each input and whether it was below the threshold.
pub fn latency_code(
    data: &[f32],
    opts: &LatencyOptions,
) -> Result<(Vec<f32>, Vec<bool>), SpikeError> {
    let o = opts;
    if !(o.threshold > 0.0 && o.threshold < 1.0) {
        return Err(SpikeError::Invalid("threshold must be between 0 and 1"));
    }
    if o.tau.is_nan() || o.tau <= 0.0 {
        return Err(SpikeError::Invalid("tau must be greater than 0"));
    }
    if o.num_steps == 0 {
        return Err(SpikeError::Invalid("num_steps must be at least 1"));
    }
    if o.first_spike_time > o.num_steps - 1 {
        return Err(SpikeError::Invalid(
            "first_spike_time must be at most num_steps - 1",
        ));
    }
    if data.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    if o.first_spike_time > 0 && max(data) > 1.0 && min(data) < 0.0 {
        return Err(SpikeError::Invalid(
            "first_spike_time applies only to data between 0 and 1",
        ));
    }
    let below: Vec<bool> = data.iter().map(|&x| x < o.threshold).collect();
    let first = o.first_spike_time as f32;
    let mut t: Vec<f32>;
    if !o.linear {
        t = data
            .iter()
            .map(|&x| {
                let x = x.max(o.threshold + o.epsilon);
                o.tau * (x / (x - o.threshold)).ln()
            })
            .collect();
        if o.first_spike_time > 0 {
            let shift = first * (min(&t) / first - 1.0);
            t.iter_mut().for_each(|v| *v -= shift);
        }
        if o.normalize {
            let span: Vec<f32> = t.iter().map(|v| v - first).collect();
            let top = max(&span);
            let steps = (o.num_steps - o.first_spike_time - 1) as f32;
            t.iter_mut()
                .for_each(|v| *v = (*v - first) * steps / top + first);
        }
    } else {
        if max(data) > 1.0 && !o.normalize {
            return Err(SpikeError::Invalid(
                "linear latency needs data <= 1 unless normalize is set",
            ));
        }
        let tau = if o.normalize {
            (o.num_steps - 1 - o.first_spike_time) as f32
        } else {
            o.tau
        };
        let cap = -tau * (o.threshold - 1.0);
        t = data
            .iter()
            .map(|&x| (-tau * (x - 1.0)).min(cap) + first)
            .collect();
        if o.normalize && min(&t) < 0.0 {
            let (lo, hi) = (min(&t), max(&t));
            let steps = (o.num_steps - 1) as f32;
            t.iter_mut()
                .for_each(|v| *v = (*v - lo) * (1.0 / (hi - lo)) * steps);
        }
    }
    Ok((t, below))
}

/// Latency coding: one spike per input at its rounded [`latency_code`] time. As in snnTorch, if any
/// time falls past the last step, all times are clamped to it and the whole last step is then
/// cleared; with `clip`, inputs below the threshold do not spike.
pub fn latency(data: &[f32], opts: &LatencyOptions) -> Result<SpikeTrain, SpikeError> {
    let (times, below) = latency_code(data, opts)?;
    let last = opts.num_steps - 1;
    let steps: Vec<f32> = times.iter().map(|t| t.round_ties_even()).collect();
    let overflow = steps.iter().any(|&s| s > last as f32);
    let mut train = SpikeTrain::zeros(opts.num_steps, data.len());
    for (n, &s) in steps.iter().enumerate() {
        let s = if overflow { s.min(last as f32) } else { s };
        if s.is_nan() || s < 0.0 {
            return Err(SpikeError::Invalid(
                "a spike time is negative or not a number",
            ));
        }
        train.data[s as usize * data.len() + n] = 1;
    }
    if overflow {
        train.data[last * data.len()..]
            .iter_mut()
            .for_each(|v| *v = 0);
    }
    if opts.clip {
        for (n, &b) in below.iter().enumerate() {
            if b {
                (0..opts.num_steps).for_each(|s| train.data[s * data.len() + n] = 0);
            }
        }
    }
    Ok(train)
}

/// Delta modulation of a time series (`series` is `[step][neuron]`, `neurons` wide): an on-spike
/// where a value rose by at least `threshold` since the previous step, with `off_spike` a −1 where
/// it fell by at least as much. The step before the first is zeros, or with `padding` the first
/// step itself.
pub fn delta(
    series: &[f32],
    neurons: usize,
    threshold: f32,
    padding: bool,
    off_spike: bool,
) -> Result<SpikeTrain, SpikeError> {
    if neurons == 0 || !series.len().is_multiple_of(neurons) {
        return Err(SpikeError::Invalid(
            "series length must be a multiple of the neuron count",
        ));
    }
    let steps = series.len() / neurons;
    let mut train = SpikeTrain::zeros(steps, neurons);
    for s in 0..steps {
        for n in 0..neurons {
            let now = series[s * neurons + n];
            let before = match (s, padding) {
                (0, true) => series[n],
                (0, false) => 0.0,
                _ => series[(s - 1) * neurons + n],
            };
            let d = now - before;
            train.data[s * neurons + n] = if d >= threshold {
                1
            } else if off_spike && d <= -threshold {
                -1
            } else {
                0
            };
        }
    }
    Ok(train)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn rows(t: &SpikeTrain) -> Vec<Vec<i8>> {
        (0..t.steps).map(|s| t.row(s).to_vec()).collect()
    }

    #[test]
    fn rate_is_certain_at_zero_and_one_and_bernoulli_between() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let opts = RateOptions {
            num_steps: 4000,
            ..Default::default()
        };
        let t = rate(&[0.0, 1.0, 0.25, 2.0, -1.0], &opts, &mut rng).unwrap();
        let count = |n| (0..t.steps).filter(|&s| t.at(s, n) == 1).count();
        assert_eq!(
            (count(0), count(1), count(3), count(4)),
            (0, 4000, 4000, 0),
            "clamped to [0, 1]"
        );
        let p = count(2) as f64 / 4000.0;
        assert!((p - 0.25).abs() < 0.03, "rate {p}");
        let again = rate(
            &[0.0, 1.0, 0.25, 2.0, -1.0],
            &opts,
            &mut ChaCha8Rng::seed_from_u64(1),
        )
        .unwrap();
        assert_eq!(t, again, "same seed, same train");
    }

    #[test]
    fn rate_applies_gain_offset_and_first_spike_time() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let opts = RateOptions {
            num_steps: 5,
            gain: 2.0,
            offset: 0.5,
            first_spike_time: 2,
        };
        let t = rate(&[0.25, -0.25], &opts, &mut rng).unwrap();
        assert_eq!(
            rows(&t),
            vec![vec![0, 0], vec![0, 0], vec![1, 0], vec![1, 0], vec![1, 0]]
        );
        let bad = RateOptions {
            num_steps: 3,
            first_spike_time: 3,
            ..Default::default()
        };
        assert!(rate(&[0.5], &bad, &mut rng).is_err());
    }

    #[test]
    fn linear_normalised_latency_matches_snntorch_docstring() {
        let opts = LatencyOptions {
            num_steps: 5,
            normalize: true,
            linear: true,
            ..Default::default()
        };
        let (times, below) = latency_code(&[0.02, 0.5, 1.0], &opts).unwrap();
        assert!(
            (times[0] - 3.92).abs() < 1e-5 && times[1] == 2.0 && times[2] == 0.0,
            "{times:?}"
        );
        assert_eq!(below, vec![false, false, false]);
        let t = latency(&[0.02, 0.5, 1.0], &opts).unwrap();
        assert_eq!(
            rows(&t),
            vec![
                vec![0, 0, 1],
                vec![0, 0, 0],
                vec![0, 1, 0],
                vec![0, 0, 0],
                vec![1, 0, 0]
            ]
        );
    }

    #[test]
    fn log_latency_charges_like_an_rc_neuron() {
        let opts = LatencyOptions {
            num_steps: 10,
            tau: 5.0,
            ..Default::default()
        };
        let (times, below) = latency_code(&[0.5, 0.05, 0.001], &opts).unwrap();
        // tau · ln(x / (x − threshold)); below the threshold x is clamped to threshold + epsilon.
        assert!((times[0] - 5.0 * (0.5f32 / 0.49).ln()).abs() < 1e-5);
        assert!((times[1] - 5.0 * (0.05f32 / 0.04).ln()).abs() < 1e-5);
        let sat = 0.01f32 + 1e-7;
        assert!((times[2] - 5.0 * (sat / (sat - 0.01)).ln()).abs() < 1e-2);
        assert_eq!(below, vec![false, false, true]);
        // times[2] ≈ 58 is past step 9: all are clamped to 9 and the last step is cleared.
        let t = latency(&[0.5, 0.05, 0.001], &opts).unwrap();
        assert_eq!(t.at(0, 0), 1, "ln(0.5/0.49)·5 = 0.10 rounds to 0");
        assert_eq!(t.at(1, 1), 1, "ln(0.05/0.04)·5 = 1.12 rounds to 1");
        assert!(
            (0..10).all(|s| t.at(s, 2) == 0),
            "the saturated input lost its spike with the last step"
        );
    }

    #[test]
    fn normalised_log_latency_ends_on_the_last_step_and_clip_removes_weak_inputs() {
        let opts = LatencyOptions {
            num_steps: 8,
            normalize: true,
            ..Default::default()
        };
        let (times, _) = latency_code(&[1.0, 0.3, 0.005], &opts).unwrap();
        assert!((times[2] - 7.0).abs() < 1e-4, "{times:?}");
        let kept = latency(&[1.0, 0.3, 0.005], &opts).unwrap();
        assert_eq!(kept.at(7, 2), 1);
        let clipped = latency(&[1.0, 0.3, 0.005], &LatencyOptions { clip: true, ..opts }).unwrap();
        assert!((0..8).all(|s| clipped.at(s, 2) == 0));
        assert_eq!(clipped.at(0, 0), 1);
    }

    #[test]
    fn latency_rejects_what_snntorch_rejects() {
        let base = LatencyOptions {
            num_steps: 4,
            ..Default::default()
        };
        for bad in [
            LatencyOptions {
                threshold: 0.0,
                ..base
            },
            LatencyOptions {
                threshold: 1.0,
                ..base
            },
            LatencyOptions { tau: 0.0, ..base },
            LatencyOptions {
                first_spike_time: 4,
                ..base
            },
        ] {
            assert!(latency(&[0.5], &bad).is_err(), "{bad:?}");
        }
        assert!(
            latency(
                &[1.5],
                &LatencyOptions {
                    linear: true,
                    ..base
                }
            )
            .is_err(),
            "linear data > 1"
        );
    }

    #[test]
    fn delta_follows_the_reference_definition() {
        let a = [1.0, 2.0, 2.9, 3.0, 3.9];
        // Differences from a zero-padded start: 1, 1, 0.9, 0.1, 0.9.
        assert_eq!(
            delta(&a, 1, 1.0, false, false).unwrap().data,
            vec![1, 1, 0, 0, 0]
        );
        let b = [1.0, 2.0, 0.0, 2.0, 2.9];
        assert_eq!(
            delta(&b, 1, 1.0, false, true).unwrap().data,
            vec![1, 1, -1, 1, 0]
        );
        assert_eq!(
            delta(&b, 1, 1.0, true, true).unwrap().data,
            vec![0, 1, -1, 1, 0]
        );
        assert!(
            delta(&b, 2, 1.0, false, false).is_err(),
            "5 values are not whole steps of 2"
        );
    }

    #[test]
    fn trains_become_time_ordered_events() {
        let t = delta(&[1.0, 0.0, 1.0, 1.0], 2, 0.5, false, true).unwrap();
        let ev = t.events(1000, 3);
        let summary: Vec<_> = ev
            .iter()
            .map(|e| (e.timestamp_ns, e.neuron, e.value, e.channel))
            .collect();
        assert_eq!(summary, vec![(0, 0, 1, 3), (1000, 1, 1, 3)]);
        assert!((t.sparsity() - 0.5).abs() < 1e-12);
    }
}
