//! Prints the table of docs/PHYSICS.md: the relative error of `W·X` on the modelled chip for each
//! imperfection alone (every other one off) and for the default chip, before and after a
//! calibration, and after the chip drifts from the temperature it was calibrated at.
//!
//! Then the errors the published tolerances (`lightos_runtime::tolerance`) are derived from.
//!
//!     cargo run --release -p photonic-emu --example physics_table [-- N [SEEDS]]

use nalgebra::DMatrix;
use photonic_emu::chip::{Chip, ChipConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A chip of `n` modes with no imperfection; `f` turns some on.
fn ideal(n: usize, seed: u64, f: &dyn Fn(&mut ChipConfig)) -> ChipConfig {
    let mut cfg = ChipConfig {
        seed,
        ..ChipConfig::ideal(n)
    };
    f(&mut cfg);
    cfg
}

/// Relative Frobenius error of the chip's `W·X`: uncalibrated at 25 °C, calibrated at 25 °C, and
/// at each of `drifts` kelvin above the calibration; the calibration's report residual and time.
fn errors(cfg: ChipConfig, drifts: &[f64]) -> (f64, f64, Vec<f64>, f64, f64) {
    let n = cfg.n;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed);
    let w: Vec<f64> = (0..n * n).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let x = DMatrix::from_fn(n, 16, |_, _| rng.gen_range(-1.0..1.0));
    let exact = DMatrix::from_row_slice(n, n, &w) * &x;
    let mut chip = Chip::new(cfg);
    chip.program(&w).expect("finite weights");
    let err = |chip: &mut Chip, t: f64| {
        let y = chip.matmul(&x, t, 1.0).expect("programmed");
        (y - &exact).norm() / exact.norm()
    };
    let raw = err(&mut chip, 25.0);
    let report = chip.calibrate(25.0, 1.0);
    let cal = err(&mut chip, 25.0);
    let drifted = drifts.iter().map(|d| err(&mut chip, 25.0 + d)).collect();
    (
        raw,
        cal,
        drifted,
        report.residual.unwrap_or(f64::NAN),
        report.device_time_s,
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let seeds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let d = ChipConfig::default();
    let drifts = [0.1, 1.0, 5.0];
    type Row = (String, Box<dyn Fn(&mut ChipConfig)>);
    let rows: Vec<Row> = vec![
        ("ideal (every effect off)".into(), Box::new(|_| {})),
        (
            format!("heater DACs, {} bits", d.dac_bits),
            Box::new(move |c| c.dac_bits = d.dac_bits),
        ),
        ("heater DACs, 10 bits".into(), Box::new(|c| c.dac_bits = 10)),
        (
            format!("ADCs, {} bits", d.adc_bits),
            Box::new(move |c| c.adc_bits = d.adc_bits),
        ),
        (
            format!("thermo-optic spread {} %", d.thermo_optic_spread * 100.0),
            Box::new(move |c| c.thermo_optic_spread = d.thermo_optic_spread),
        ),
        (
            format!(
                "crosstalk {} % to the adjacent element",
                d.crosstalk * 100.0
            ),
            Box::new(move |c| c.crosstalk = d.crosstalk),
        ),
        (
            format!(
                "coupler split σ {} % (ε σ {} rad)",
                d.coupler_sigma * 100.0,
                d.coupler_sigma
            ),
            Box::new(move |c| c.coupler_sigma = d.coupler_sigma),
        ),
        (
            "coupler split σ 2 %".into(),
            Box::new(|c| c.coupler_sigma = 0.02),
        ),
        (
            format!(
                "loss {} dB/MZI ± {} dB/section, no noise",
                d.loss_db_per_mzi, d.loss_spread_db
            ),
            Box::new(move |c| {
                c.loss_db_per_mzi = d.loss_db_per_mzi;
                c.loss_spread_db = d.loss_spread_db
            }),
        ),
        (
            format!("detector noise {:e}, lossless", d.detector_noise),
            Box::new(move |c| c.detector_noise = d.detector_noise),
        ),
        (
            format!(
                "detector noise {:e} and loss {} dB/MZI",
                d.detector_noise, d.loss_db_per_mzi
            ),
            Box::new(move |c| {
                c.detector_noise = d.detector_noise;
                c.loss_db_per_mzi = d.loss_db_per_mzi
            }),
        ),
        (
            format!("reference lock σ {} rad", d.reference_lock_sigma),
            Box::new(move |c| c.reference_lock_sigma = d.reference_lock_sigma),
        ),
        (
            "**default chip** (all of the above at their defaults)".into(),
            Box::new(move |c| {
                *c = ChipConfig {
                    n: c.n,
                    seed: c.seed,
                    ..ChipConfig::default()
                }
            }),
        ),
    ];
    println!("N = {n}, mean of {seeds} chips (seeds 1..={seeds}); relative Frobenius error of W·X, 16 random inputs");
    println!();
    println!("| effect | uncalibrated | calibrated | +0.1 K | +1 K | +5 K | calibration's reported residual | calibration time (device s) |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (name, f) in &rows {
        let mut sum = (0.0, 0.0, vec![0.0; drifts.len()], 0.0, 0.0);
        for seed in 1..=seeds {
            let (raw, cal, drifted, residual, time) = errors(ideal(n, seed, f.as_ref()), &drifts);
            sum.0 += raw;
            sum.1 += cal;
            for (s, v) in sum.2.iter_mut().zip(drifted) {
                *s += v;
            }
            sum.3 += residual;
            sum.4 += time;
        }
        let k = seeds as f64;
        let drift: Vec<String> = sum.2.iter().map(|v| format!("{:.1e}", v / k)).collect();
        println!(
            "| {name} | {:.1e} | {:.1e} | {} | {:.1e} | {:.2} |",
            sum.0 / k,
            sum.1 / k,
            drift.join(" | "),
            sum.3 / k,
            sum.4 / k
        );
    }

    println!();
    println!(
        "Tolerance derivation (default chip, N = {n}, calibrated at 25 °C, read {} K above it):",
        photonic_emu::tolerance::DRIFT_K
    );
    use photonic_emu::tolerance::{model_error, Weights, MARGIN};
    for (name, kinds) in [
        ("whole full-rank tiles", vec![Weights::FullRank]),
        (
            "any tile: whole, 8×8, 16×16, 3×64, 64×3 blocks, rank 1",
            photonic_emu::tolerance::ANY_TILE.to_vec(),
        ),
    ] {
        let errs: Vec<f64> = (1..=seeds)
            .flat_map(|seed| kinds.iter().map(move |&k| model_error(n, seed, k)))
            .collect();
        let worst = errs.iter().copied().fold(0.0, f64::max);
        let shown: Vec<String> = errs.iter().map(|e| format!("{e:.2e}")).collect();
        println!(
            "- {name}: {} (worst {worst:.2e}; x{MARGIN} = {:.2e})",
            shown.join(", "),
            worst * MARGIN
        );
    }
    for sizes in [vec![32, 64, 10], vec![256, 512, 512, 10]] {
        let errs: Vec<f64> = (1..=seeds)
            .map(|seed| photonic_emu::tolerance::mlp_error(&sizes, seed))
            .collect();
        let worst = errs.iter().copied().fold(0.0, f64::max);
        let shown: Vec<String> = errs.iter().map(|e| format!("{e:.2e}")).collect();
        println!(
            "- MLP {sizes:?}, max-norm error: {} (worst {worst:.2e}; x{MARGIN} = {:.2e})",
            shown.join(", "),
            worst * MARGIN
        );
    }
}
