//! The optical core of the emulated NPU: an N×N weight matrix programmed by SVD (`W = U·Σ·Vᵀ`) into
//! two Clements meshes and a column of attenuators, with the imperfections of a real chip:
//! phases quantised to DAC bits, fabrication phase errors, thermal phase drift against the last
//! calibration, insertion loss, detector noise and ADC quantisation. `calibrate` measures the
//! current phase offsets (with measurement noise) and corrects them.

use crate::noise::DetectorNoise;
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
    /// The detected transfer matrix at one temperature, kept until the weights, the calibration or
    /// the temperature change (building it costs O(N³); applying it, O(N²) per input vector).
    transfer: Option<Transfer>,
    rng: ChaCha8Rng,
    noise: DetectorNoise,
}

/// `Re(U·Σ·V)` as the chip realises it at `temp`, divided by the balanced loss: for a real input
/// `x`, the homodyne reading of output `r` is `(A·x)[r]` relative to the input's power.
/// Kept in f32: the 12-bit ADC, not the arithmetic, bounds the precision of a reading.
struct Transfer {
    temp: f64,
    a: DMatrix<f32>,
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
            noise: DetectorNoise::new(cfg.seed, cfg.n),
            cfg,
            shifters,
            corrections,
            calibrated_at: None,
            reference_temp: 25.0,
            program: None,
            transfer: None,
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
        let (u, singular_values, vt) = checked_svd(&wm).ok_or("SVD failed")?;
        let scale = singular_values.max();
        let attenuation = singular_values
            .iter()
            .map(|s| if scale > 0.0 { s / scale } else { 0.0 })
            .collect();
        let complex = |m: &DMatrix<f64>| m.map(|x| Complex::new(x, 0.0));
        self.transfer = None;
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
        self.transfer = None;
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

    /// The transfer matrix at `temp`, built on first use at that temperature.
    fn transfer(&mut self, temp: f64) -> Result<&DMatrix<f32>, &'static str> {
        if self.transfer.as_ref().is_none_or(|t| t.temp != temp) {
            let n = self.cfg.n;
            let p = self.program.as_ref().ok_or("no weights programmed")?;
            let per_mesh = n * (n - 1) / 2;
            let u = self.realised(&p.u, 0, temp);
            let v = self.realised(&p.v, 2 * per_mesh, temp);
            // Attenuators are set by the same DACs: Σ/σ_max on a grid of 2^bits − 1 levels over [0, 1].
            let levels = ((1u64 << self.cfg.dac_bits) - 1) as f64;
            let sigma = DVector::from_iterator(
                n,
                p.attenuation
                    .iter()
                    .map(|a| Complex::from((a * levels).round() / levels)),
            );
            let gain = 10f64.powf(-self.cfg.loss_db_per_mzi * n as f64 / 10.0);
            let mut sv = v;
            for (r, s) in sigma.iter().enumerate() {
                sv.row_mut(r).scale_mut(s.re);
            }
            let a = (u * sv).map(|z| (z.re / gain) as f32);
            self.transfer = Some(Transfer { temp, a });
        }
        self.transfer
            .as_ref()
            .map(|t| &t.a)
            .ok_or("no weights programmed")
    }

    /// `Y = W · X` for the columns of `x` (N×B, column-major per input vector) at chip temperature
    /// `temp` with `optical_power` at the detectors relative to the nominal laser power (1.0), as
    /// the detectors read it: shot noise scales the detector noise by `1/√optical_power`. `Err`
    /// when nothing is programmed, `x` has the wrong size or there is no light.
    pub fn matmul(
        &mut self,
        x: &DMatrix<f64>,
        temp: f64,
        optical_power: f64,
    ) -> Result<DMatrix<f64>, &'static str> {
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let y = self.matmul_f32(&x32, x.nrows(), temp, optical_power)?;
        Ok(DMatrix::from_iterator(
            x.nrows(),
            x.ncols(),
            y.into_iter().map(f64::from),
        ))
    }

    /// [`Chip::matmul`] on f32 data as the device moves it: `x` holds input vectors of
    /// `rows` (= N) values one after another; so does the result.
    pub fn matmul_f32(
        &mut self,
        x: &[f32],
        rows: usize,
        temp: f64,
        optical_power: f64,
    ) -> Result<Vec<f32>, &'static str> {
        let n = self.cfg.n;
        if rows != n || !x.len().is_multiple_of(n) {
            return Err("input rows differ from N");
        }
        if !(optical_power > 0.0 && optical_power.is_finite()) {
            return Err("no light at the detectors");
        }
        let scale = self.program.as_ref().ok_or("no weights programmed")?.scale as f32;
        let steps = (1u64 << self.cfg.adc_bits) as f32 / 2.0; // ADC codes per unit of full scale
        let sigma = (self.cfg.detector_noise.max(0.0) / optical_power.sqrt()) as f32;
        let batch = x.len() / n;
        let a = self.transfer(temp)?;
        let mut y = vec![0f32; x.len()];
        // SAFETY: `a` is N×N column-major, `x` and `y` are N×batch column-major with their lengths
        // checked above; the strides passed say exactly that.
        unsafe {
            matrixmultiply::sgemm(
                n,
                n,
                batch,
                1.0,
                a.as_ptr(),
                1,
                n as isize,
                x.as_ptr(),
                1,
                n as isize,
                0.0,
                y.as_mut_ptr(),
                1,
                n as isize,
            );
        }
        // Adding and removing 1.5·2²³ rounds an f32 of magnitude below 2²² to the nearest integer
        // (ties to even) without a libm call, so the loop vectorises: the ADC code.
        const ROUND: f32 = 12_582_912.0;
        for (input, out) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)) {
            let power: f32 = input.iter().map(|v| v * v).sum();
            let full_scale = power.sqrt().max(f32::MIN_POSITIVE);
            let (to_codes, to_value) = (steps / full_scale, full_scale * scale / steps);
            let noise_codes = sigma * steps;
            for (v, z) in out.iter_mut().zip(self.noise.window()) {
                // Homodyne reading relative to full scale, plus noise, clamped and quantised.
                let code = (*v * to_codes + z * noise_codes).clamp(-steps, steps);
                *v = ((code + ROUND) - ROUND) * to_value;
            }
        }
        Ok(y)
    }
}

/// `W = U·Σ·Vᵀ` with `U` and `Vᵀ` orthogonal, checked: the product must give `w` back. nalgebra's
/// default `svd` returned a factorisation 100 % off for some rank-1 matrices (every row a multiple
/// of one vector, which a MATMUL whose `b` has equal rows produces), and for rank-deficient
/// matrices the singular vectors of zero singular values need not be orthonormal, while a mesh
/// realises only an orthogonal matrix. So: the default SVD, then a tighter tolerance, then the
/// transpose's SVD, each with both bases completed to orthonormal; `None` if none reproduces `w`.
fn checked_svd(w: &DMatrix<f64>) -> Option<(DMatrix<f64>, DVector<f64>, DMatrix<f64>)> {
    type Svd = nalgebra::SVD<f64, nalgebra::Dyn, nalgebra::Dyn>;
    let plain = |m: DMatrix<f64>| Some(m.svd(true, true));
    let tight = |m: DMatrix<f64>| m.try_svd(true, true, 1e-14, 10_000);
    let parts = |s: Svd| Some((s.u?, s.singular_values, s.v_t?));
    let candidates = [
        plain(w.clone()).and_then(parts),
        tight(w.clone()).and_then(parts),
        // w = (Wᵀ)ᵀ = (U'·Σ·V'ᵀ)ᵀ = V'·Σ·U'ᵀ.
        tight(w.transpose())
            .and_then(parts)
            .map(|(u, s, vt)| (vt.transpose(), s, u.transpose())),
    ];
    candidates.into_iter().flatten().find_map(|(u, s, vt)| {
        let (u, vt) = (
            orthonormal_columns(u),
            orthonormal_columns(vt.transpose()).transpose(),
        );
        let back = &u * DMatrix::from_diagonal(&s) * &vt;
        ((back - w).norm() <= 1e-9 * w.norm().max(f64::MIN_POSITIVE)).then_some((u, s, vt))
    })
}

/// `m` with its columns made orthonormal in order (QR, signs kept), so columns that already are
/// orthonormal (those of the non-zero singular values, sorted first) stay as they are.
fn orthonormal_columns(m: DMatrix<f64>) -> DMatrix<f64> {
    let qr = m.qr();
    let (mut q, r) = (qr.q(), qr.r());
    for i in 0..q.ncols().min(r.nrows()) {
        if r[(i, i)] < 0.0 {
            q.column_mut(i).neg_mut();
        }
    }
    q
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
        let got = chip.matmul(x, temp, 1.0).unwrap();
        (got - &exact).norm() / exact.norm()
    }

    #[test]
    fn rank_deficient_weights_multiply_within_the_modelled_error() {
        // Every row equal (rank 1), and a tile with zero columns (an edge tile): the SVD's
        // singular vectors for zero singular values must still make unitary meshes.
        let n = 64;
        let (mut chip, _, x) = setup(n);
        let f = |i: usize| ((i * 5 % 13) as f64 - 6.0) / 6.0;
        // W[i][j] = f(i): each row constant (a MATMUL whose b has equal rows).
        let rows_constant: Vec<f64> = (0..n * n).map(|i| f(i / n)).collect();
        let columns_constant: Vec<f64> = (0..n * n).map(|i| f(i % n)).collect();
        // An edge tile: 2 output rows, 22 input columns, the rest zero.
        let edge: Vec<f64> = (0..n * n)
            .map(|i| {
                if i / n < 2 && i % n < 22 {
                    f(i / n)
                } else {
                    0.0
                }
            })
            .collect();
        for (name, w) in [
            ("rows constant", rows_constant),
            ("columns constant", columns_constant),
            ("edge tile", edge),
        ] {
            chip.program(&w).unwrap();
            chip.calibrate(25.0);
            let e = error(&mut chip, &w, &x, 25.0);
            assert!(e < 0.05, "{name}: relative error {e}");
        }
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
    fn less_light_means_more_detector_noise() {
        let (mut chip, w, x) = setup(16);
        chip.program(&w).unwrap();
        chip.calibrate(25.0);
        let exact = DMatrix::from_row_slice(16, 16, &w) * &x;
        let mut err =
            |power: f64| (chip.matmul(&x, 25.0, power).unwrap() - &exact).norm() / exact.norm();
        let (bright, dim, dark) = (err(5.0), err(0.01), err(1e-4));
        eprintln!("relative error: 5x light {bright:.2e}, 1% {dim:.2e}, 0.01% {dark:.2e}");
        assert!(bright < dim && dim < dark, "{bright} < {dim} < {dark}");
        assert!(
            dark > 10.0 * bright,
            "shot noise at 1e-4 of the light: {dark} vs {bright}"
        );
        assert!(chip.matmul(&x, 25.0, 0.0).is_err(), "no light, no result");
    }

    #[test]
    fn the_cached_transfer_follows_temperature_and_calibration() {
        let (mut chip, w, x) = setup(8);
        chip.program(&w).unwrap();
        chip.calibrate(25.0);
        let before = error(&mut chip, &w, &x, 25.0);
        let drifted = error(&mut chip, &w, &x, 28.0);
        assert!(
            drifted > 2.0 * before,
            "a new temperature rebuilt the transfer: {drifted} vs {before}"
        );
        chip.calibrate(28.0);
        assert!(
            error(&mut chip, &w, &x, 28.0) < drifted / 2.0,
            "calibration rebuilt the transfer"
        );
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
        assert!(chip.matmul(&x, 25.0, 1.0).is_err(), "nothing programmed");
        assert!(chip.program(&w[..15]).is_err());
        let mut nan = w.clone();
        nan[3] = f64::NAN;
        assert!(chip.program(&nan).is_err());
        chip.program(&w).unwrap();
        assert!(chip.matmul(&DMatrix::zeros(3, 1), 25.0, 1.0).is_err());
    }
}
