//! The optical core of the emulated NPU: an N×N weight matrix programmed by SVD (`W = U·Σ·Vᵀ`) into
//! two Clements meshes and a column of attenuators, with the imperfections of a real chip:
//! phases quantised to DAC bits, fabrication phase errors, thermal phase drift against the last
//! calibration, insertion loss, detector noise and ADC quantisation. `calibrate` measures the
//! current phase offsets (with measurement noise) and corrects them.

use crate::{
    clements::Mesh,
    mzi::{CMatrix, Mzi},
};
use nalgebra::{Complex, DMatrix, DVector};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Parameters of the modelled chip.
#[derive(Clone, Debug)]
pub struct ChipConfig {
    /// Modes per mesh (the matrix size N).
    pub n: usize,
    /// Resolution of the phase DACs, in bits over 2π.
    pub dac_bits: u32,
    /// Resolution of the output ADCs, in bits over ±full scale.
    pub adc_bits: u32,
    /// Standard deviation of each phase shifter's fabrication error (rad).
    pub fab_phase_sigma: f64,
    /// Thermal phase drift per kelvin per arm (rad/K).
    pub drift_rad_per_k: f64,
    /// Insertion loss per MZI (dB).
    pub loss_db_per_mzi: f64,
    /// Detector noise, standard deviation relative to full scale.
    pub detector_noise: f64,
    /// Standard deviation of a calibration's phase measurement (rad).
    pub calibration_noise: f64,
    /// Seed of every random quantity of this chip.
    pub seed: u64,
}

impl Default for ChipConfig {
    fn default() -> Self {
        Self {
            n: 64,
            dac_bits: 16,
            adc_bits: 12,
            fab_phase_sigma: 0.05,
            drift_rad_per_k: 0.07,
            loss_db_per_mzi: 0.3,
            detector_noise: 1e-4,
            calibration_noise: 1e-4,
            seed: 1,
        }
    }
}

/// Per phase shifter: fabrication offset and thermal sensitivity (relative to the nominal drift).
#[derive(Clone, Copy, Debug)]
struct Shifter {
    fab: f64,
    thermal: f64,
}

/// The weights as programmed.
#[derive(Clone, Debug)]
struct Program {
    u: Mesh,
    v: Mesh,
    /// Σ / σ_max, each in [0, 1].
    attenuation: Vec<f64>,
    /// σ_max, applied to the detected outputs.
    scale: f64,
}

/// The optical core.
pub struct Chip {
    cfg: ChipConfig,
    /// Two shifters (θ, φ) per MZI of each mesh: U's first, then V's.
    shifters: Vec<Shifter>,
    /// Phase corrections measured by the last calibration, same indexing.
    corrections: Vec<f64>,
    /// Temperature of the last calibration (°C); `None` before the first.
    calibrated_at: Option<f64>,
    /// Reference temperature of the fabrication offsets (°C).
    reference_temp: f64,
    program: Option<Program>,
    rng: ChaCha8Rng,
}

/// Rounds `phase` to the DAC grid of `bits` over [0, 2π).
fn quantise_phase(phase: f64, bits: u32) -> f64 {
    let step = std::f64::consts::TAU / (1u64 << bits) as f64;
    (phase / step).round() * step
}

impl Chip {
    /// A chip with fabrication errors drawn from `cfg.seed`.
    pub fn new(cfg: ChipConfig) -> Chip {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let per_mesh = cfg.n * cfg.n.saturating_sub(1) / 2;
        let fab = Normal::new(0.0, cfg.fab_phase_sigma.max(0.0)).expect("a finite sigma");
        let thermal = Normal::new(1.0, 0.2).expect("a finite sigma");
        let shifters = (0..4 * per_mesh)
            .map(|_| Shifter {
                fab: fab.sample(&mut rng),
                thermal: thermal.sample(&mut rng),
            })
            .collect::<Vec<_>>();
        let corrections = vec![0.0; shifters.len()];
        Chip {
            cfg,
            shifters,
            corrections,
            calibrated_at: None,
            reference_temp: 25.0,
            program: None,
            rng,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ChipConfig {
        &self.cfg
    }

    /// Programs the N×N real weight matrix `w` (row-major): SVD, then both meshes and Σ.
    /// Returns `Err` for a wrong size or a non-finite weight.
    pub fn program(&mut self, w: &[f64]) -> Result<(), &'static str> {
        let n = self.cfg.n;
        if w.len() != n * n {
            return Err("weight matrix is not N×N");
        }
        if w.iter().any(|x| !x.is_finite()) {
            return Err("weight matrix has a non-finite value");
        }
        let wm = DMatrix::from_row_slice(n, n, w);
        let svd = wm.svd(true, true);
        let (u, vt) = (svd.u.ok_or("SVD failed")?, svd.v_t.ok_or("SVD failed")?);
        let scale = svd.singular_values.max();
        let attenuation = svd
            .singular_values
            .iter()
            .map(|s| if scale > 0.0 { s / scale } else { 0.0 })
            .collect();
        let complex = |m: &DMatrix<f64>| m.map(|x| Complex::new(x, 0.0));
        self.program = Some(Program {
            u: Mesh::decompose(&complex(&u)),
            v: Mesh::decompose(&complex(&vt)),
            attenuation,
            scale,
        });
        Ok(())
    }

    /// The phase offset of shifter `i` at `temp` (°C).
    fn offset(&self, i: usize, temp: f64) -> f64 {
        let s = self.shifters[i];
        s.fab + self.cfg.drift_rad_per_k * s.thermal * (temp - self.reference_temp)
    }

    /// Measures every shifter's offset at `temp` and stores the corrections.
    pub fn calibrate(&mut self, temp: f64) {
        let noise = Normal::new(0.0, self.cfg.calibration_noise.max(0.0)).expect("a finite sigma");
        for i in 0..self.shifters.len() {
            self.corrections[i] = self.offset(i, temp) + noise.sample(&mut self.rng);
        }
        self.calibrated_at = Some(temp);
    }

    /// Temperature of the last calibration.
    pub fn calibrated_at(&self) -> Option<f64> {
        self.calibrated_at
    }

    /// The mesh as the hardware realises it at `temp`: commanded phases minus corrections,
    /// quantised, plus the real offsets.
    fn realised(&self, mesh: &Mesh, first_shifter: usize, temp: f64) -> CMatrix {
        let bits = self.cfg.dac_bits;
        let mut actual = mesh.clone();
        let elements = actual.left.iter_mut().chain(actual.right.iter_mut());
        for (k, t) in elements.enumerate() {
            let (i_theta, i_phi) = (first_shifter + 2 * k, first_shifter + 2 * k + 1);
            let realise = |cmd: f64, i: usize| {
                quantise_phase(cmd - self.corrections[i], bits) + self.offset(i, temp)
            };
            *t = Mzi {
                theta: realise(t.theta, i_theta),
                phi: realise(t.phi, i_phi),
                ..*t
            };
        }
        let mut m = actual.matrix();
        // Balanced loss: in a rectangular mesh every path crosses N MZIs.
        let loss = 10f64.powf(-self.cfg.loss_db_per_mzi * self.cfg.n as f64 / 20.0);
        m *= Complex::from(loss);
        m
    }

    /// `Y = W · X` for the columns of `x` (N×B, column-major per input vector) at chip temperature
    /// `temp`, as the detectors read it. `Err` when nothing is programmed or `x` has the wrong size.
    pub fn matmul(&mut self, x: &DMatrix<f64>, temp: f64) -> Result<DMatrix<f64>, &'static str> {
        let n = self.cfg.n;
        let p = self.program.as_ref().ok_or("no weights programmed")?;
        if x.nrows() != n {
            return Err("input rows differ from N");
        }
        let per_mesh = n * (n - 1) / 2;
        let u = self.realised(&p.u, 0, temp);
        let v = self.realised(&p.v, 2 * per_mesh, temp);
        let step = 2.0 / (1u64 << self.cfg.adc_bits) as f64;
        // Attenuators are set by the same DACs: Σ/σ_max on a grid of 2^bits − 1 levels over [0, 1].
        let levels = ((1u64 << self.cfg.dac_bits) - 1) as f64;
        let sigma = DVector::from_iterator(
            n,
            p.attenuation
                .iter()
                .map(|a| Complex::from((a * levels).round() / levels)),
        );
        let gain = 10f64.powf(-self.cfg.loss_db_per_mzi * n as f64 / 10.0);
        let scale = p.scale;
        let noise = Normal::new(0.0, self.cfg.detector_noise.max(0.0)).expect("a finite sigma");
        let mut y = DMatrix::zeros(n, x.ncols());
        for c in 0..x.ncols() {
            let input = x.column(c).map(|v| Complex::new(v, 0.0));
            let full_scale = input.norm().max(f64::MIN_POSITIVE);
            let mid = (&v * input).component_mul(&sigma);
            let out = &u * mid;
            for r in 0..n {
                // Homodyne detection of the real part, relative to full scale, with noise and ADC.
                let reading = out[r].re / (gain * full_scale) + noise.sample(&mut self.rng);
                let digital = (reading.clamp(-1.0, 1.0) / step).round() * step;
                y[(r, c)] = digital * full_scale * scale;
            }
        }
        Ok(y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn setup(n: usize) -> (Chip, Vec<f64>, DMatrix<f64>) {
        let cfg = ChipConfig {
            n,
            ..ChipConfig::default()
        };
        let chip = Chip::new(cfg);
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let w: Vec<f64> = (0..n * n).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let x = DMatrix::from_fn(n, 8, |_, _| rng.gen_range(-1.0..1.0));
        (chip, w, x)
    }

    /// Relative Frobenius error of the chip's `W·X` against the exact product.
    fn error(chip: &mut Chip, w: &[f64], x: &DMatrix<f64>, temp: f64) -> f64 {
        let n = chip.config().n;
        let exact = DMatrix::from_row_slice(n, n, w) * x;
        let got = chip.matmul(x, temp).unwrap();
        (got - &exact).norm() / exact.norm()
    }

    #[test]
    fn a_calibrated_chip_multiplies_within_the_modelled_error() {
        let (mut chip, w, x) = setup(16);
        chip.program(&w).unwrap();
        chip.calibrate(25.0);
        let e = error(&mut chip, &w, &x, 25.0);
        assert!(e < 0.02, "relative error {e}");
    }

    #[test]
    fn error_grows_with_drift_and_falls_after_calibration() {
        let (mut chip, w, x) = setup(16);
        chip.program(&w).unwrap();
        chip.calibrate(25.0);
        let at_cal = error(&mut chip, &w, &x, 25.0);
        let warm = error(&mut chip, &w, &x, 26.0);
        let hot = error(&mut chip, &w, &x, 30.0);
        assert!(at_cal < warm && warm < hot, "{at_cal} < {warm} < {hot}");
        chip.calibrate(30.0);
        let recal = error(&mut chip, &w, &x, 30.0);
        eprintln!("relative error: calibrated {at_cal:.2e}, +1 K {warm:.2e}, +5 K {hot:.2e}, recalibrated {recal:.2e}");
        assert!(recal < hot / 10.0, "recalibrated {recal} vs drifted {hot}");
    }

    #[test]
    fn an_uncalibrated_chip_shows_its_fabrication_errors() {
        let (mut chip, w, x) = setup(8);
        chip.program(&w).unwrap();
        let raw = error(&mut chip, &w, &x, 25.0);
        chip.calibrate(25.0);
        assert!(error(&mut chip, &w, &x, 25.0) < raw / 5.0);
    }

    #[test]
    fn bad_programs_and_inputs_are_refused() {
        let (mut chip, w, x) = setup(4);
        assert!(chip.matmul(&x, 25.0).is_err(), "nothing programmed");
        assert!(chip.program(&w[..15]).is_err());
        let mut nan = w.clone();
        nan[3] = f64::NAN;
        assert!(chip.program(&nan).is_err());
        chip.program(&w).unwrap();
        assert!(chip.matmul(&DMatrix::zeros(3, 1), 25.0).is_err());
    }
}
