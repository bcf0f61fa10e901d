//! The optical core of the emulated NPU: an N×N weight matrix programmed by SVD (`W = U·Σ·Vᵀ`) into
//! two Clements meshes ([`crate::clements`]) and a column of attenuators, realised by hardware with
//! the imperfections of a real chip ([`crate::physics`]): heater drives quantised by DACs, random
//! fabrication phases, thermo-optic coefficients with a spread, thermal crosstalk between heaters,
//! unbalanced couplers, loss on every section; read by coherent detection with detector noise at
//! the light that survives the loss, and ADCs. [`Chip::calibrate`] learns the chip's offsets and
//! crosstalk through its detectors ([`crate::calibration`]) and costs device time.
//!
//! Detection: each output is mixed with a reference taken from the same laser and phase-locked to
//! the mesh's global phase (a pilot through the mesh); the receiver reads the in-phase quadrature,
//! so a reading has a sign and signed weights need no offset. The lock leaves a small phase error
//! ([`ChipConfig::reference_lock_sigma`]); whatever is not global (every other phase error) reaches
//! the reading.

use crate::{
    calibration::{self, CalibrationSpec, MeshCalibration},
    clements::Mesh,
    mzi::CMatrix,
    noise::DetectorNoise,
    physics::{HardwareSpec, MeshHardware},
};
use nalgebra::{Complex, DMatrix, DVector};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Parameters of the modelled chip (docs/PHYSICS.md gives the sources of the defaults).
#[derive(Clone, Debug)]
pub struct ChipConfig {
    /// Modes per mesh (the matrix size N).
    pub n: usize,
    /// Resolution of the heater DACs, in bits over 2π of phase (heater power ∝ phase).
    pub dac_bits: u32,
    /// Resolution of the output ADCs, in bits over ±full scale.
    pub adc_bits: u32,
    /// Thermo-optic phase per kelvin of one waveguide section (rad/K).
    pub thermo_optic_rad_per_k: f64,
    /// Relative standard deviation of the sections' thermo-optic coefficients.
    pub thermo_optic_spread: f64,
    /// Fraction of a heater's phase reaching the heated section of an adjacent element.
    pub crosstalk: f64,
    /// Standard deviation of each coupler's split from 50:50 (rad; `50 ± 100·σ %`).
    pub coupler_sigma: f64,
    /// Insertion loss per MZI (dB).
    pub loss_db_per_mzi: f64,
    /// Standard deviation of each section's loss (dB): loss that differs between paths.
    pub loss_spread_db: f64,
    /// Detector noise, standard deviation relative to the full scale of lossless light at the
    /// nominal laser power.
    pub detector_noise: f64,
    /// Drives per fringe during calibration.
    pub calibration_points: usize,
    /// Readings averaged per drive during calibration.
    pub calibration_shots: usize,
    /// Settling time of a heater (s).
    pub heater_settle_s: f64,
    /// Time of one detector reading (s).
    pub detector_read_s: f64,
    /// Standard deviation of the reference's phase lock (rad).
    pub reference_lock_sigma: f64,
    /// Seed of every random quantity of this chip.
    pub seed: u64,
}

impl Default for ChipConfig {
    fn default() -> Self {
        Self {
            n: 64,
            dac_bits: 16,
            adc_bits: 12,
            thermo_optic_rad_per_k: 0.073,
            thermo_optic_spread: 0.02,
            crosstalk: 0.04,
            coupler_sigma: 0.01,
            loss_db_per_mzi: 0.2,
            loss_spread_db: 0.01,
            detector_noise: 3e-5,
            calibration_points: 8,
            calibration_shots: 16,
            heater_settle_s: 10e-6,
            detector_read_s: 1e-6,
            reference_lock_sigma: 1e-3,
            seed: 1,
        }
    }
}

impl ChipConfig {
    /// A chip of `n` modes with every imperfection off (24-bit DACs and ADCs, no spread,
    /// crosstalk, split error, loss or noise; random fabrication phases stay, calibration removes
    /// them): the baseline each effect is measured against.
    pub fn ideal(n: usize) -> ChipConfig {
        ChipConfig {
            n,
            dac_bits: 24,
            adc_bits: 24,
            thermo_optic_spread: 0.0,
            crosstalk: 0.0,
            coupler_sigma: 0.0,
            loss_db_per_mzi: 0.0,
            loss_spread_db: 0.0,
            detector_noise: 0.0,
            reference_lock_sigma: 0.0,
            ..ChipConfig::default()
        }
    }

    fn hardware(&self) -> HardwareSpec {
        HardwareSpec {
            thermo_optic_rad_per_k: self.thermo_optic_rad_per_k,
            thermo_optic_spread: self.thermo_optic_spread,
            crosstalk: self.crosstalk,
            coupler_sigma: self.coupler_sigma,
            loss_db_per_mzi: self.loss_db_per_mzi,
            loss_spread_db: self.loss_spread_db,
        }
    }

    fn calibration(&self, optical_power: f64) -> CalibrationSpec {
        CalibrationSpec {
            points: self.calibration_points.max(3),
            shots: self.calibration_shots.max(1),
            settle_s: self.heater_settle_s,
            read_s: self.detector_read_s,
            detector_noise: self.detector_noise,
            optical_power,
            loss_db_per_mzi: self.loss_db_per_mzi,
        }
    }
}

/// The temperature the chip's fabrication phases are given at (°C).
const REFERENCE_TEMP: f64 = 25.0;

/// What a calibration did and what it left.
#[derive(Clone, Debug, PartialEq)]
pub struct CalibrationReport {
    /// Chip temperature (°C).
    pub temp: f64,
    /// Fringes measured (heaters and crosstalk pairs of both meshes).
    pub fringes: usize,
    /// Device time it took (s).
    pub device_time_s: f64,
    /// Predicted RMS error of the measured offsets (rad), from the detector noise at the light
    /// each monitor sees.
    pub offset_rms_error_rad: f64,
    /// RMS of the elements' measured coupler split errors (rad): what phases do not correct.
    pub coupler_split_rms_rad: f64,
    /// Relative error of the programmed weights after calibrating, measured with N probe vectors;
    /// `None` with nothing programmed. What calibration could not correct (coupler splits,
    /// measurement noise) is here.
    pub residual: Option<f64>,
}

/// What the last calibration learned.
struct Calibration {
    temp: f64,
    meshes: [MeshCalibration; 2],
    /// Amplitude transmission through both meshes, from the probe power.
    gain: f64,
}

/// The weights as programmed.
struct Program {
    u: Mesh,
    v: Mesh,
    /// Σ / σ_max, each in [0, 1].
    attenuation: Vec<f64>,
    /// σ_max, applied to the detected outputs.
    scale: f64,
    /// `W / σ_max`: what the detected transfer should be.
    normalised: DMatrix<f64>,
    /// The heaters' drives of both meshes as the last calibration says they must be.
    drives: [Vec<f64>; 2],
}

/// The optical core.
pub struct Chip {
    cfg: ChipConfig,
    /// A mesh of N modes (every mesh has its elements in the same places).
    shape: Mesh,
    /// The hardware of the U mesh and of the V mesh.
    hardware: [MeshHardware; 2],
    calibration: Option<Calibration>,
    program: Option<Program>,
    /// The detected transfer matrix at one temperature, kept until the weights, the calibration or
    /// the temperature change (building it costs O(N³); applying it, O(N²) per input vector).
    transfer: Option<Transfer>,
    rng: ChaCha8Rng,
    noise: DetectorNoise,
}

/// `Re(e^{−iψ}·U·Σ·V)/gain` as the chip realises it at `temp`: for a real input `x`, the coherent
/// reading of output `r` is `(A·x)[r]` relative to the input's power. Kept in f32: the 12-bit ADC,
/// not the arithmetic, bounds the precision of a reading.
struct Transfer {
    temp: f64,
    a: DMatrix<f32>,
}

impl Chip {
    /// A chip whose hardware is drawn from `cfg.seed`.
    pub fn new(cfg: ChipConfig) -> Chip {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let shape = Mesh::decompose(&CMatrix::identity(cfg.n, cfg.n));
        let spec = cfg.hardware();
        let hardware = [
            MeshHardware::draw(&shape, &spec, &mut rng),
            MeshHardware::draw(&shape, &spec, &mut rng),
        ];
        Chip {
            noise: DetectorNoise::new(cfg.seed, cfg.n),
            cfg,
            shape,
            hardware,
            calibration: None,
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
        let (u, v) = (
            Mesh::decompose(&complex(&u)),
            Mesh::decompose(&complex(&vt)),
        );
        let normalised = if scale > 0.0 {
            wm / scale
        } else {
            DMatrix::zeros(n, n)
        };
        self.transfer = None;
        let drives = self.drives_for(&u, &v);
        self.program = Some(Program {
            u,
            v,
            attenuation,
            scale,
            normalised,
            drives,
        });
        Ok(())
    }

    /// The drives that realise meshes `u` and `v` as the last calibration measured the chip.
    fn drives_for(&self, u: &Mesh, v: &Mesh) -> [Vec<f64>; 2] {
        let bits = self.cfg.dac_bits;
        let cal = self.calibration.as_ref();
        [(0, u), (1, v)].map(|(i, mesh)| calibration::drives(mesh, cal.map(|c| &c.meshes[i]), bits))
    }

    /// Calibrates the chip at `temp` (°C) with `optical_power` of the nominal laser power: every
    /// heater's offset and crosstalk measured through the detectors, the drives of the programmed
    /// weights recomputed, and the weights checked with N probe vectors.
    pub fn calibrate(&mut self, temp: f64, optical_power: f64) -> CalibrationReport {
        let spec = self.cfg.calibration(optical_power.max(1e-9));
        let dt = temp - REFERENCE_TEMP;
        let meshes = [0, 1].map(|i| {
            calibration::calibrate_mesh(&self.hardware[i], &self.shape, dt, &spec, &mut self.rng)
        });
        // The probe power through both meshes gives their transmission (drive-independent).
        let parked = vec![0.0; self.hardware[0].heaters()];
        let n = self.cfg.n as f64;
        let gain = self
            .hardware
            .iter()
            .map(|hw| hw.realise(&self.shape, &parked, dt).norm() / n.sqrt())
            .product();
        let fringes = meshes.iter().map(|m| m.fringes).sum::<usize>();
        let offset_rms_error_rad = (meshes
            .iter()
            .map(|m| m.offset_rms_error.powi(2))
            .sum::<f64>()
            / 2.0)
            .sqrt();
        let splits: Vec<f64> = meshes
            .iter()
            .flat_map(|m| m.couplers.iter().copied())
            .collect();
        let coupler_split_rms_rad =
            (splits.iter().map(|e| e * e).sum::<f64>() / splits.len().max(1) as f64).sqrt();
        self.calibration = Some(Calibration { temp, meshes, gain });
        if let Some(p) = self.program.as_ref() {
            let drives = self.drives_for(&p.u, &p.v);
            if let Some(p) = self.program.as_mut() {
                p.drives = drives;
            }
        }
        self.transfer = None;
        let probes = self.cfg.n;
        let residual = self.verify(temp, &spec);
        CalibrationReport {
            temp,
            fringes,
            device_time_s: fringes as f64 * spec.fringe_time_s()
                + probes as f64 * spec.shots as f64 * spec.read_s,
            offset_rms_error_rad,
            coupler_split_rms_rad,
            residual,
        }
    }

    /// The programmed weights' relative error at `temp`, as N probe vectors measure it (each
    /// reading averaged over the calibration's shots).
    fn verify(&mut self, temp: f64, spec: &CalibrationSpec) -> Option<f64> {
        let sigma = self.read_noise(spec.optical_power) / (spec.shots as f64).sqrt();
        let a = self.transfer(temp).ok()?.map(f64::from);
        let p = self.program.as_ref()?;
        let noise = Normal::new(0.0, sigma).ok()?;
        let measured = a.map(|x| x + noise.sample(&mut self.rng));
        let want = &p.normalised;
        Some((measured - want).norm() / want.norm().max(f64::MIN_POSITIVE))
    }

    /// Temperature of the last calibration.
    pub fn calibrated_at(&self) -> Option<f64> {
        self.calibration.as_ref().map(|c| c.temp)
    }

    /// Amplitude transmission through both meshes: measured by the last calibration, nominal
    /// before the first.
    fn gain(&self) -> f64 {
        self.calibration.as_ref().map_or_else(
            || {
                let sections = 2.0 * (2 * self.hardware[0].columns()) as f64;
                10f64.powf(-self.cfg.loss_db_per_mzi / 2.0 * sections / 20.0)
            },
            |c| c.gain,
        )
    }

    /// Standard deviation of one reading relative to full scale, at `optical_power`: the detector's
    /// noise against the light the loss leaves.
    fn read_noise(&self, optical_power: f64) -> f64 {
        self.cfg.detector_noise.max(0.0) / optical_power.sqrt() / self.gain()
    }

    /// The detected transfer matrix at `temp`, built on first use at that temperature.
    fn transfer(&mut self, temp: f64) -> Result<&DMatrix<f32>, &'static str> {
        if self.transfer.as_ref().is_none_or(|t| t.temp != temp) {
            let n = self.cfg.n;
            let p = self.program.as_ref().ok_or("no weights programmed")?;
            let dt = temp - REFERENCE_TEMP;
            let u = self.hardware[0].realise(&p.u, &p.drives[0], dt);
            let mut v = self.hardware[1].realise(&p.v, &p.drives[1], dt);
            // Attenuators are set by the same DACs: Σ/σ_max on a grid of 2^bits − 1 levels over [0, 1].
            let levels = ((1u64 << self.cfg.dac_bits) - 1) as f64;
            let sigma = DVector::from_iterator(
                n,
                p.attenuation.iter().map(|a| (a * levels).round() / levels),
            );
            for (r, s) in sigma.iter().enumerate() {
                v.row_mut(r).scale_mut(*s);
            }
            let field = u * v;
            // The reference locks to the global phase of the light: the phase that best aligns the
            // detected field with the programmed matrix, plus the lock's own error.
            let overlap: Complex<f64> = field
                .iter()
                .zip(p.normalised.iter())
                .map(|(z, &w)| z * w)
                .sum();
            let jitter = Normal::new(0.0, self.cfg.reference_lock_sigma.max(0.0))
                .map_or(0.0, |d| d.sample(&mut self.rng));
            let lo = Complex::from_polar(1.0, -(overlap.arg() + jitter));
            let gain = self.gain();
            let a = field.map(|z| ((z * lo).re / gain) as f32);
            self.transfer = Some(Transfer { temp, a });
        }
        self.transfer
            .as_ref()
            .map(|t| &t.a)
            .ok_or("no weights programmed")
    }

    /// `Y = W · X` for the columns of `x` (N×B, column-major per input vector) at chip temperature
    /// `temp` with `optical_power` relative to the nominal laser power (1.0), as the detectors read
    /// it. `Err` when nothing is programmed, `x` has the wrong size or there is no light.
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
        let sigma = self.read_noise(optical_power) as f32;
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
        // (ties to even) without a libm call, so the loop vectorises: the ADC code. The receiver's
        // gain is set for the light that arrives, so the ADC spans the attenuated signal.
        const ROUND: f32 = 12_582_912.0;
        for (input, out) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)) {
            let power: f32 = input.iter().map(|v| v * v).sum();
            let full_scale = power.sqrt().max(f32::MIN_POSITIVE);
            let (to_codes, to_value) = (steps / full_scale, full_scale * scale / steps);
            let noise_codes = sigma * steps;
            for (v, z) in out.iter_mut().zip(self.noise.window()) {
                // Coherent reading relative to full scale, plus noise, clamped and quantised.
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

    fn config(n: usize) -> ChipConfig {
        ChipConfig {
            n,
            ..ChipConfig::default()
        }
    }

    fn setup_with(cfg: ChipConfig) -> (Chip, Vec<f64>, DMatrix<f64>) {
        let n = cfg.n;
        let chip = Chip::new(cfg);
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let w: Vec<f64> = (0..n * n).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let x = DMatrix::from_fn(n, 8, |_, _| rng.gen_range(-1.0..1.0));
        (chip, w, x)
    }

    fn setup(n: usize) -> (Chip, Vec<f64>, DMatrix<f64>) {
        setup_with(config(n))
    }

    /// Relative Frobenius error of the chip's `W·X` against the exact product.
    fn error(chip: &mut Chip, w: &[f64], x: &DMatrix<f64>, temp: f64) -> f64 {
        let n = chip.config().n;
        let exact = DMatrix::from_row_slice(n, n, w) * x;
        let got = chip.matmul(x, temp, 1.0).unwrap();
        (got - &exact).norm() / exact.norm()
    }

    /// Error of a chip built from `cfg`, programmed and calibrated at 25 °C, read at `temp`.
    fn calibrated_error(cfg: ChipConfig, temp: f64) -> f64 {
        let (mut chip, w, x) = setup_with(cfg);
        chip.program(&w).unwrap();
        chip.calibrate(25.0, 1.0);
        error(&mut chip, &w, &x, temp)
    }

    /// A chip with no imperfection but the ones named by `f`.
    fn ideal(n: usize, f: impl FnOnce(&mut ChipConfig)) -> ChipConfig {
        let mut cfg = ChipConfig::ideal(n);
        f(&mut cfg);
        cfg
    }

    #[test]
    fn rank_deficient_weights_multiply_within_the_modelled_error() {
        // Every row equal (rank 1), and a tile with zero columns (an edge tile): the SVD's
        // singular vectors for zero singular values must still make unitary meshes.
        let n = 64;
        let (mut chip, _, x) = setup(n);
        let f = |i: usize| ((i * 5 % 13) as f64 - 6.0) / 6.0;
        let rows_constant: Vec<f64> = (0..n * n).map(|i| f(i / n)).collect();
        let columns_constant: Vec<f64> = (0..n * n).map(|i| f(i % n)).collect();
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
            chip.calibrate(25.0, 1.0);
            // The rows a MATMUL reads back: those of W that are not zero.
            let rows: Vec<usize> = (0..n)
                .filter(|&r| w[r * n..(r + 1) * n].iter().any(|&v| v != 0.0))
                .collect();
            let exact = DMatrix::from_row_slice(n, n, &w) * &x;
            let got = chip.matmul(&x, 25.0, 1.0).unwrap();
            let e = (got.select_rows(&rows) - exact.select_rows(&rows)).norm()
                / exact.select_rows(&rows).norm();
            eprintln!(
                "{name}: {e:e} over {} rows; over all: {:e}",
                rows.len(),
                (&got - &exact).norm() / exact.norm()
            );
            // Rank 1: the published tolerance of any tile (derived from this model).
            let tolerance = lightos_runtime::tolerance::PHOTONIC_MATMUL;
            assert!(e < tolerance, "{name}: relative error {e}");
        }
    }

    #[test]
    fn an_ideal_chip_multiplies_exactly() {
        let e = calibrated_error(ideal(16, |_| {}), 25.0);
        assert!(e < 1e-5, "relative error {e}");
    }

    #[test]
    fn a_calibrated_chip_multiplies_within_the_modelled_error() {
        let e = calibrated_error(config(16), 25.0);
        assert!(e < 0.02, "relative error {e}");
    }

    #[test]
    fn error_grows_with_drift_and_falls_after_calibration() {
        let (mut chip, w, x) = setup(16);
        chip.program(&w).unwrap();
        chip.calibrate(25.0, 1.0);
        let at_cal = error(&mut chip, &w, &x, 25.0);
        let warm = error(&mut chip, &w, &x, 27.0);
        let hot = error(&mut chip, &w, &x, 35.0);
        assert!(at_cal < warm && warm < hot, "{at_cal} < {warm} < {hot}");
        chip.calibrate(35.0, 1.0);
        let recal = error(&mut chip, &w, &x, 35.0);
        eprintln!("relative error: calibrated {at_cal:.2e}, +2 K {warm:.2e}, +10 K {hot:.2e}, recalibrated {recal:.2e}");
        assert!(recal < hot / 3.0, "recalibrated {recal} vs drifted {hot}");
    }

    #[test]
    fn uniform_heating_without_a_coefficient_spread_changes_nothing() {
        // Every section warms alike: a global phase, which the locked reference removes.
        let cfg = ideal(16, |c| c.crosstalk = 0.04);
        let cold = calibrated_error(cfg.clone(), 25.0);
        let hot = calibrated_error(cfg, 45.0);
        assert!(
            cold < 1e-5 && (hot - cold).abs() < 1e-9,
            "{cold:e} at 25 °C, {hot:e} at 45 °C"
        );
        // With a 2 % spread the same 20 K is an error.
        let spread = calibrated_error(ideal(16, |c| c.thermo_optic_spread = 0.02), 45.0);
        assert!(spread > 1e-3, "{spread:e}");
    }

    #[test]
    fn the_heater_dac_bounds_the_error() {
        let at = |bits| calibrated_error(ideal(16, |c| c.dac_bits = bits), 25.0);
        let (fine, coarse) = (at(16), at(8));
        // One LSB of 8 bits over 2π is 0.025 rad: percent-level; 16 bits, 256 times less.
        assert!(
            coarse > 1e-3 && fine < coarse / 50.0,
            "16 bits {fine:e}, 8 bits {coarse:e}"
        );
    }

    #[test]
    fn crosstalk_is_measured_and_corrected() {
        let cfg = ideal(16, |c| c.crosstalk = 0.04);
        let calibrated = calibrated_error(cfg.clone(), 25.0);
        // Uncalibrated, the same chip suffers its crosstalk (and its fabrication phases).
        let (mut chip, w, x) = setup_with(cfg);
        chip.program(&w).unwrap();
        let raw = error(&mut chip, &w, &x, 25.0);
        assert!(
            calibrated < 1e-3 && raw > 0.3,
            "calibrated {calibrated:e}, raw {raw:e}"
        );
    }

    #[test]
    fn crosstalk_scales_with_the_neighbours_drive() {
        let mesh = Mesh::decompose(&CMatrix::identity(8, 8));
        let spec = HardwareSpec {
            thermo_optic_rad_per_k: 0.073,
            thermo_optic_spread: 0.0,
            crosstalk: 0.04,
            coupler_sigma: 0.0,
            loss_db_per_mzi: 0.0,
            loss_spread_db: 0.0,
        };
        let hw = MeshHardware::draw(&mesh, &spec, &mut ChaCha8Rng::seed_from_u64(1));
        let h = (0..hw.heaters())
            .find(|&h| !hw.crosstalk_of(h).is_empty())
            .unwrap();
        let (j, fraction) = hw.crosstalk_of(h)[0];
        let mut drives = vec![0.0; hw.heaters()];
        let shift = |drives: &[f64]| hw.crosstalk_phases(drives)[h];
        for d in [0.5, 1.0, 2.0] {
            drives[j] = d;
            assert!((shift(&drives) - fraction * d).abs() < 1e-15, "drive {d}");
        }
        assert!(fraction >= 0.04 / 4.0);
    }

    #[test]
    fn loss_lowers_the_snr() {
        let with = |loss| {
            calibrated_error(
                ideal(16, |c| {
                    c.loss_db_per_mzi = loss;
                    c.detector_noise = 1e-3;
                    c.adc_bits = 16;
                }),
                25.0,
            )
        };
        let (none, lossy) = (with(0.0), with(0.5));
        // 0.5 dB per MZI over this mesh's ~2·(2N) sections is about 16 dB of amplitude: the noise
        // against the signal grows by the same factor.
        assert!(
            lossy > 3.0 * none,
            "lossless {none:e}, 0.5 dB/MZI {lossy:e}"
        );
    }

    #[test]
    fn unequal_loss_breaks_unitarity() {
        let mesh = Mesh::decompose(&CMatrix::identity(8, 8));
        let parked = |hw: &MeshHardware| vec![0.0; hw.heaters()];
        let deviation = |loss_spread_db: f64| {
            let spec = HardwareSpec {
                thermo_optic_rad_per_k: 0.073,
                thermo_optic_spread: 0.0,
                crosstalk: 0.0,
                coupler_sigma: 0.0,
                loss_db_per_mzi: 0.3,
                loss_spread_db,
            };
            let hw = MeshHardware::draw(&mesh, &spec, &mut ChaCha8Rng::seed_from_u64(4));
            let m = hw.realise(&mesh, &parked(&hw), 0.0);
            let g = m.adjoint() * &m;
            let mean = g.trace().re / 8.0;
            (g - CMatrix::identity(8, 8) * Complex::from(mean)).norm() / mean
        };
        let (balanced, unequal) = (deviation(0.0), deviation(0.1));
        assert!(
            balanced < 1e-12,
            "equal loss on every path is a scalar: {balanced:e}"
        );
        assert!(unequal > 1e-2, "unequal loss: {unequal:e}");
    }

    #[test]
    fn coupler_imbalance_leaves_a_residual_that_calibration_reports() {
        let (mut chip, w, x) = setup_with(ideal(16, |c| c.coupler_sigma = 0.02));
        chip.program(&w).unwrap();
        let report = chip.calibrate(25.0, 1.0);
        let e = error(&mut chip, &w, &x, 25.0);
        let residual = report.residual.unwrap();
        assert!(e > 1e-2, "imbalance is not calibrated away: {e:e}");
        assert!(
            (residual / e - 1.0).abs() < 0.5,
            "the report says {residual:e}, the error is {e:e}"
        );
    }

    #[test]
    fn the_screen_drifts_too() {
        let mesh = Mesh::decompose(&CMatrix::identity(8, 8));
        let spec = HardwareSpec {
            thermo_optic_rad_per_k: 0.073,
            thermo_optic_spread: 0.02,
            crosstalk: 0.0,
            coupler_sigma: 0.0,
            loss_db_per_mzi: 0.0,
            loss_spread_db: 0.0,
        };
        let hw = MeshHardware::draw(&mesh, &spec, &mut ChaCha8Rng::seed_from_u64(8));
        let zeros = vec![0.0; hw.heaters()];
        let (a, b) = (
            hw.offsets(&mesh, 0.0, &zeros),
            hw.offsets(&mesh, 10.0, &zeros),
        );
        let screen = (0..hw.heaters())
            .filter(|&h| matches!(hw.heater(h), crate::physics::Heater::Screen(_)));
        let moved: Vec<f64> = screen.map(|h| b[h] - a[h]).collect();
        let mean = moved.iter().sum::<f64>() / moved.len() as f64;
        let spread = moved.iter().map(|d| (d - mean).abs()).fold(0.0, f64::max);
        assert!(
            spread > 1e-3,
            "screen offsets move apart with 10 K: {moved:?}"
        );
    }

    #[test]
    fn calibration_error_grows_with_detector_noise() {
        let at = |noise| calibrated_error(ideal(16, |c| c.detector_noise = noise), 25.0);
        let (quiet, loud) = (at(1e-5), at(1e-3));
        assert!(loud > 10.0 * quiet, "{quiet:e} → {loud:e}");
    }

    #[test]
    fn calibration_costs_device_time() {
        let (mut chip, w, _) = setup(16);
        chip.program(&w).unwrap();
        let r = chip.calibrate(25.0, 1.0);
        let heaters = 2 * (16 * 15 + 16);
        assert!(
            r.fringes > heaters,
            "every heater and crosstalk pair: {}",
            r.fringes
        );
        let per_fringe = 8.0 * (10e-6 + 4.0 * 1e-6);
        assert!(r.device_time_s >= r.fringes as f64 * per_fringe, "{r:?}");
    }

    #[test]
    fn less_light_means_more_detector_noise() {
        let (mut chip, w, x) = setup(16);
        chip.program(&w).unwrap();
        chip.calibrate(25.0, 1.0);
        let exact = DMatrix::from_row_slice(16, 16, &w) * &x;
        let mut err =
            |power: f64| (chip.matmul(&x, 25.0, power).unwrap() - &exact).norm() / exact.norm();
        let (bright, dim, dark) = (err(5.0), err(0.01), err(1e-4));
        eprintln!("relative error: 5x light {bright:.2e}, 1% {dim:.2e}, 0.01% {dark:.2e}");
        assert!(bright <= dim && dim < dark, "{bright} < {dim} < {dark}");
        assert!(
            dark > 3.0 * bright,
            "shot noise at 1e-4 of the light: {dark} vs {bright}"
        );
        assert!(chip.matmul(&x, 25.0, 0.0).is_err(), "no light, no result");
    }

    #[test]
    fn an_uncalibrated_chip_shows_its_fabrication_errors() {
        let (mut chip, w, x) = setup(8);
        chip.program(&w).unwrap();
        let raw = error(&mut chip, &w, &x, 25.0);
        chip.calibrate(25.0, 1.0);
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
