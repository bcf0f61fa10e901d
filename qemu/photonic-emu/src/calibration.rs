//! Calibration through the detectors, as a chip learns its own state. Every heater is swept over
//! `points` drives while a detector watches the fringe it makes, each point averaged over `shots`
//! readings with the detector's noise at the light that reaches it, and a least-squares sinusoid
//! gives the fringe's phase:
//! - an element's internal heater, light into its upper input, its monitor tap at the upper output:
//!   the bar power `A − B·cos(a)`; its phase is the heater's offset, its extinction `(A−B)/(A+B)`
//!   gives the size of the couplers' split error (`sin²(ε₁+ε₂)`);
//! - its external heater, light into both inputs, the internal heater set to a = π/2: the fringe's
//!   phase is the offset plus `arg(c₀₀/c₀₁) + π` of the element's core (zero for 50:50 couplers);
//! - an output-column heater, against the coherent receiver's reference;
//! - each crosstalk coefficient: the shift of a heater's fringe when its neighbour is driven by π.
//!
//! Nothing here reads the hardware's offsets or splits: readings are drawn from the fringe the
//! hardware makes, and only the fits see them. [`drives`] then subtracts each heater's offset and
//! the crosstalk its neighbours' drives give it.
//!
//! What this does not correct: the couplers' splits. Phases cannot restore an element's split
//! beyond its reach (elements near full cross, common in Clements meshes, cannot be reached by an
//! unbalanced one), and the local correction that re-solves each element for its split and passes
//! the phase it cannot set downstream (Hamerly et al., PR Applied 18, 024019 (2022)) was tried and
//! measured: with the couplers known exactly it cut the complex field error about 7-fold but not
//! the in-phase error the coherent receiver reads (docs/PHYSICS.md), so the chip does not apply it.
//! The internal fringe's extinction gives one effective split size per element (as if both
//! couplers were equal), which the report gives as its RMS; [`crate::chip::CalibrationReport::residual`] measures what remains.

use crate::{
    clements::Mesh,
    mzi::{self, Block},
    physics::{Heater, MeshHardware},
};
use nalgebra::Complex;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::f64::consts::{FRAC_PI_2, PI, TAU};

/// How a calibration measures.
#[derive(Clone, Copy, Debug)]
pub struct CalibrationSpec {
    /// Drives per fringe (equally spaced over 2π).
    pub points: usize,
    /// Readings averaged per drive.
    pub shots: usize,
    /// Time for a heater to settle after a new drive (s).
    pub settle_s: f64,
    /// Time of one detector reading (s).
    pub read_s: f64,
    /// Standard deviation of one reading relative to the full-scale power of lossless light at the
    /// nominal laser power.
    pub detector_noise: f64,
    /// Laser power relative to nominal.
    pub optical_power: f64,
    /// Loss of one element (dB), for the light that reaches each monitor.
    pub loss_db_per_mzi: f64,
}

impl CalibrationSpec {
    /// Device time of one fringe (s).
    pub fn fringe_time_s(&self) -> f64 {
        self.points as f64 * (self.settle_s + self.shots as f64 * self.read_s)
    }

    /// Standard deviation of one averaged reading.
    fn sigma(&self) -> f64 {
        self.detector_noise / (self.optical_power * self.shots as f64).sqrt()
    }
}

/// What a calibration learned about one mesh.
#[derive(Clone, Debug, Default)]
pub struct MeshCalibration {
    /// Per heater: its measured offset (rad).
    pub offsets: Vec<f64>,
    /// Per heater: `(neighbour, measured fraction of the neighbour's phase it receives)`.
    pub crosstalk: Vec<Vec<(usize, f64)>>,
    /// Per element: the size of its effective coupler split error `|ε|` (rad), as if both couplers
    /// were equal (the extinction does not give the sign).
    pub couplers: Vec<f64>,
    /// Fringes measured.
    pub fringes: usize,
    /// Root mean square of the fitted offsets' predicted error (rad).
    pub offset_rms_error: f64,
}

/// `x` in `(−π, π]`.
fn centred(x: f64) -> f64 {
    let w = x.rem_euclid(TAU);
    if w > PI {
        w - TAU
    } else {
        w
    }
}

/// The core of an element with couplers `couplers` at internal phase `a` (lossless arms).
fn core(a: f64, couplers: [f64; 2]) -> Block {
    mzi::core([Complex::from_polar(1.0, a), Complex::from(1.0)], couplers)
}

/// The phase the external fringe shows at internal phase `a` with zero external offset:
/// `½·|c₀₀·e^{id} + c₀₁|² = A − B·cos(d + arg(c₀₀/c₀₁) + π)`.
fn external_shift(a: f64, couplers: [f64; 2]) -> f64 {
    let c = core(a, couplers);
    centred((c[0][0] / c[0][1]).arg() + PI)
}

/// Readings `t²·power(d) + noise` at `points` equally spaced drives.
fn readings(
    power: impl Fn(f64) -> f64,
    t2: f64,
    spec: &CalibrationSpec,
    rng: &mut ChaCha8Rng,
) -> Vec<(f64, f64)> {
    (0..spec.points)
        .map(|s| {
            let d = TAU * s as f64 / spec.points as f64;
            let z: f64 = StandardNormal.sample(rng);
            (d, t2 * power(d) + spec.sigma() * z)
        })
        .collect()
}

/// The offset a least-squares fit of `r = A − B·cos(d + o)` to `readings` gives, with `A` and `B`
/// (equally spaced drives over 2π make the fit the first Fourier coefficients).
pub fn fit(readings: &[(f64, f64)]) -> (f64, f64, f64) {
    let k = readings.len() as f64;
    let (c, s, m) = readings.iter().fold((0.0, 0.0, 0.0), |(c, s, m), &(d, r)| {
        (c + r * d.cos(), s + r * d.sin(), m + r)
    });
    // r·cos d averages to −B·cos(o)/2, r·sin d to B·sin(o)/2.
    let (bc, bs) = (-2.0 * c / k, 2.0 * s / k);
    (bs.atan2(bc), bc.hypot(bs), m / k)
}

/// The fringes one heater makes, drawn from the hardware: `extra` is added to its true offset (a
/// neighbour's crosstalk during a crosstalk measurement); `int_offset` is the element's measured
/// internal offset (to set a = π/2 for an external fringe).
struct Bench<'a> {
    hw: &'a MeshHardware,
    truth: Vec<f64>,
    spec: &'a CalibrationSpec,
}

impl Bench<'_> {
    /// Light a monitor after heater `h`'s element sees, as a power fraction.
    fn t2(&self, h: usize) -> f64 {
        self.hw
            .transmission_to(h, self.spec.loss_db_per_mzi)
            .powi(2)
    }

    /// The internal fringe of the element of internal heater `h`: `(offset, A, B)`.
    fn internal(&self, h: usize, extra: f64, rng: &mut ChaCha8Rng) -> (f64, f64, f64) {
        let (o, eps) = (self.truth[h] + extra, self.hw.couplers(h));
        let (off, b, a) = fit(&readings(
            |d| core(d + o, eps)[0][0].norm_sqr(),
            self.t2(h),
            self.spec,
            rng,
        ));
        (off, a, b)
    }

    /// The external fringe of external heater `h` with the internal heater driven to `a` by the
    /// measured internal offset `int_offset`: its phase.
    fn external(&self, h: usize, a: f64, int_offset: f64, extra: f64, rng: &mut ChaCha8Rng) -> f64 {
        let (o, eps) = (self.truth[h] + extra, self.hw.couplers(h));
        let a_true = a - int_offset + self.truth[h + 1];
        let c = core(a_true, eps);
        let half = std::f64::consts::FRAC_1_SQRT_2;
        fit(&readings(
            |d| (c[0][0] * Complex::from_polar(half, d + o) + c[0][1] * half).norm_sqr(),
            self.t2(h),
            self.spec,
            rng,
        ))
        .0
    }

    /// An output-column heater's fringe against the reference: its phase.
    fn screen(&self, h: usize, extra: f64, rng: &mut ChaCha8Rng) -> f64 {
        let o = self.truth[h] + extra;
        fit(&readings(
            |d| (1.0 - (d + o).cos()) / 2.0,
            self.t2(h),
            self.spec,
            rng,
        ))
        .0
    }
}

/// Calibrates one mesh `dt` kelvin from the reference temperature, every other heater parked at
/// zero drive.
pub fn calibrate_mesh(
    hw: &MeshHardware,
    shape: &Mesh,
    dt: f64,
    spec: &CalibrationSpec,
    rng: &mut ChaCha8Rng,
) -> MeshCalibration {
    let heaters = hw.heaters();
    let bench = Bench {
        hw,
        truth: hw.offsets(shape, dt, &vec![0.0; heaters]),
        spec,
    };
    let elements = shape.elements.len();
    let mut offsets = vec![0.0; heaters];
    let mut couplers = vec![0.0; elements];
    // What each heater's fringe showed, for the crosstalk shifts.
    let mut seen = vec![0.0; heaters];
    let mut fringes = 0;
    let mut sq_error = 0.0;
    let sigma_fit =
        |amplitude: f64| spec.sigma() * (2.0 / spec.points as f64).sqrt() / amplitude.max(1e-12);
    for (k, split) in couplers.iter_mut().enumerate() {
        let (he, hi) = (2 * k, 2 * k + 1);
        let (o_int, mean, amplitude) = bench.internal(hi, 0.0, rng);
        offsets[hi] = o_int;
        seen[hi] = o_int;
        // Extinction: sin²(2ε) for two equal couplers.
        let extinction = ((mean - amplitude) / (mean + amplitude).max(1e-300)).clamp(0.0, 1.0);
        let size = extinction.sqrt().asin() / 2.0;
        // The external fringe at a = π/2 shows its offset plus arg(c₀₀/c₀₁) + π of the element's
        // core: zero for 50:50 couplers; the couplers' share is part of what is not corrected.
        let f1 = bench.external(he, FRAC_PI_2, o_int, 0.0, rng);
        *split = size;
        offsets[he] = centred(f1 - external_shift(FRAC_PI_2, [0.0; 2]));
        seen[he] = f1;
        fringes += 2;
        sq_error += sigma_fit(amplitude).powi(2) * 2.0;
    }
    for m in 0..shape.n {
        let h = 2 * elements + m;
        offsets[h] = bench.screen(h, 0.0, rng);
        seen[h] = offsets[h];
        fringes += 1;
        sq_error += sigma_fit(bench.t2(h) / 2.0).powi(2);
    }
    let crosstalk = (0..heaters)
        .map(|h| {
            hw.crosstalk_of(h)
                .iter()
                .map(|&(j, true_fraction)| {
                    // The neighbour at π heats h's section by its fraction of π.
                    let extra = true_fraction * PI;
                    let shifted = match hw.heater(h) {
                        Heater::Internal(_) => bench.internal(h, extra, rng).0,
                        Heater::External(_) => {
                            bench.external(h, FRAC_PI_2, offsets[h + 1], extra, rng)
                        }
                        Heater::Screen(_) => bench.screen(h, extra, rng),
                    };
                    fringes += 1;
                    (j, centred(shifted - seen[h]) / PI)
                })
                .collect()
        })
        .collect();
    MeshCalibration {
        offsets,
        crosstalk,
        couplers,
        fringes,
        offset_rms_error: (sq_error / heaters.max(1) as f64).sqrt(),
    }
}

/// The heater phases of `mesh` in heater-index order (element `k`: external `2k`, internal
/// `2k + 1`; then the output column).
pub fn targets(mesh: &Mesh) -> Vec<f64> {
    let elements = mesh.elements.iter().flat_map(|e| [e.phi, e.theta]);
    elements.chain(mesh.phases.iter().copied()).collect()
}

/// The drives that make the hardware realise `mesh` as `cal` measured it: each heater's target
/// less its measured offset and less the crosstalk the others' drives give it (a fixed point),
/// from 0 to a little over 2π, on the DAC grid of `dac_bits` steps per 2π. Without a calibration,
/// the mesh's own phases.
pub fn drives(mesh: &Mesh, cal: Option<&MeshCalibration>, dac_bits: u32) -> Vec<f64> {
    let step = TAU / (1u64 << dac_bits) as f64;
    let quantise = |d: f64| (d.max(0.0) / step).round() * step;
    let Some(cal) = cal else {
        return targets(mesh)
            .into_iter()
            .map(|t| quantise(mzi::wrap(t)))
            .collect();
    };
    let base: Vec<f64> = targets(mesh)
        .iter()
        .zip(&cal.offsets)
        .map(|(t, o)| mzi::wrap(t - o))
        .collect();
    // d = base + 2π·k − K̂·d: a linear fixed point (Gauss-Seidel; the contraction is the summed
    // fraction, about 0.1) for given turns k, then each drive below zero takes a turn more and the
    // point is solved again. Turns only grow, so this ends; a drive may end a little above 2π (the
    // heaters' range has that margin). Wrapping inside the iteration instead would make the
    // crosstalk jump by 2π·fraction and can cycle.
    let mut turns = vec![0.0f64; base.len()];
    let mut d = base.clone();
    for _ in 0..=d.len() {
        for _ in 0..60 {
            let mut change = 0.0f64;
            for h in 0..d.len() {
                let heat: f64 = cal.crosstalk[h].iter().map(|&(j, f)| f * d[j]).sum();
                let new = base[h] + TAU * turns[h] - heat;
                change = change.max((new - d[h]).abs());
                d[h] = new;
            }
            if change < 1e-13 {
                break;
            }
        }
        let mut moved = false;
        for h in 0..d.len() {
            if d[h] < 0.0 {
                turns[h] += 1.0;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    d.into_iter().map(quantise).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_fit_recovers_a_noiseless_fringe() {
        for o in [-3.0, -1.0, 0.0, 0.5, 2.9] {
            let readings: Vec<(f64, f64)> = (0..8)
                .map(|s| {
                    let d = TAU * s as f64 / 8.0;
                    (d, 0.4 - 0.3 * (d + o).cos())
                })
                .collect();
            let (got, amplitude, _) = fit(&readings);
            assert!(centred(got - o).abs() < 1e-12, "{got} vs {o}");
            assert!((amplitude - 0.3).abs() < 1e-12);
        }
    }

    #[test]
    fn noisier_detectors_give_noisier_offsets() {
        let mesh = Mesh::decompose(&crate::mzi::CMatrix::identity(6, 6));
        let spec_hw = crate::physics::HardwareSpec {
            thermo_optic_rad_per_k: 0.073,
            thermo_optic_spread: 0.02,
            crosstalk: 0.04,
            coupler_sigma: 0.0,
            loss_db_per_mzi: 0.3,
            loss_spread_db: 0.0,
        };
        let hw = MeshHardware::draw(&mesh, &spec_hw, &mut ChaCha8Rng::seed_from_u64(2));
        let truth = hw.offsets(&mesh, 0.0, &vec![0.0; hw.heaters()]);
        let error = |noise: f64| {
            let spec = CalibrationSpec {
                points: 8,
                shots: 4,
                settle_s: 1e-5,
                read_s: 1e-6,
                detector_noise: noise,
                optical_power: 1.0,
                loss_db_per_mzi: 0.3,
            };
            let cal = calibrate_mesh(&hw, &mesh, 0.0, &spec, &mut ChaCha8Rng::seed_from_u64(5));
            let rms = (cal
                .offsets
                .iter()
                .zip(&truth)
                .map(|(m, t)| centred(m - t).powi(2))
                .sum::<f64>()
                / truth.len() as f64)
                .sqrt();
            (rms, cal.offset_rms_error)
        };
        let (quiet, quiet_pred) = error(1e-4);
        let (loud, loud_pred) = error(1e-2);
        assert!(loud > 30.0 * quiet, "rms offset error {quiet:e} → {loud:e}");
        // The predicted error agrees with the real one within a factor of 2.
        for (real, pred) in [(quiet, quiet_pred), (loud, loud_pred)] {
            assert!(
                real < 2.0 * pred && pred < 2.0 * real,
                "{real:e} vs predicted {pred:e}"
            );
        }
    }
}
