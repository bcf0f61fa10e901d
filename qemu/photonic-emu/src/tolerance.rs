//! The errors the published tolerances of the photonic NPU are derived from
//! (`lightos_runtime::tolerance`, docs/PHYSICS.md): the relative error of `W·X` on the default
//! chip of N modes, calibrated, then read [`DRIFT_K`] above its calibration temperature (the most
//! the driver lets it drift before it recalibrates), for full-rank and rank-1 weights.

use crate::chip::{Chip, ChipConfig};
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The drift the driver allows before it recalibrates (K): `RECALIBRATE_MC` of
/// kernel/drivers/photonic/matmul.rs.
pub const DRIFT_K: f64 = 0.25;

/// A tolerance is the worst model error over chips (seeds 1 to 3) times this.
pub const MARGIN: f64 = 1.5;

/// The weight matrices the tolerances cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weights {
    /// Random in [−1, 1].
    FullRank,
    /// An outer product of two random vectors.
    Rank1,
    /// Every row the same random row (a MATMUL whose `b` has equal rows).
    RowsEqual,
    /// Random in [−1, 1] in the top-left `rows×cols` block of the tile, zero elsewhere (a product
    /// smaller than the mesh, or an edge tile); its input is zero beyond `cols` and only its
    /// first `rows` outputs are read, as the driver does.
    Block(usize, usize),
}

/// Relative Frobenius error of `W·X` (16 random inputs) on the default chip of `n` modes with
/// seed `seed`, calibrated at 25 °C and read at 25 °C + [`DRIFT_K`].
pub fn model_error(n: usize, seed: u64, weights: Weights) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7017);
    let row: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let column: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let (rows, cols) = match weights {
        Weights::Block(r, c) => (r.min(n), c.min(n)),
        _ => (n, n),
    };
    let w: Vec<f64> = (0..n * n)
        .map(|i| match weights {
            Weights::FullRank => rng.gen_range(-1.0..1.0),
            Weights::Rank1 => column[i / n] * row[i % n],
            Weights::RowsEqual => row[i % n],
            Weights::Block(..) if i / n < rows && i % n < cols => rng.gen_range(-1.0..1.0),
            Weights::Block(..) => 0.0,
        })
        .collect();
    let x = DMatrix::from_fn(n, 16, |i, _| {
        if i < cols {
            rng.gen_range(-1.0..1.0)
        } else {
            0.0
        }
    });
    let exact = (DMatrix::from_row_slice(n, n, &w) * &x)
        .rows(0, rows)
        .into_owned();
    let mut chip = Chip::new(ChipConfig {
        n,
        seed,
        ..ChipConfig::default()
    });
    if chip.program(&w).is_err() {
        return f64::INFINITY;
    }
    chip.calibrate(25.0, 1.0);
    match chip.matmul(&x, 25.0 + DRIFT_K, 1.0) {
        Ok(y) => (y.rows(0, rows) - &exact).norm() / exact.norm(),
        Err(_) => f64::INFINITY,
    }
}

/// The weights the published MATMUL tolerance covers: whole tiles, the partial tiles of the
/// products the VM suite and the demo run (8×8, 16×16, a 3-row and a 3-column edge), rank-1 tiles.
pub const ANY_TILE: [Weights; 7] = [
    Weights::FullRank,
    Weights::Block(8, 8),
    Weights::Block(16, 16),
    Weights::Block(3, 64),
    Weights::Block(64, 3),
    Weights::Rank1,
    Weights::RowsEqual,
];
/// `W·X` on the chip as the driver tiles it: `w` is `rows×cols` (row-major), `x` is `cols×batch`
/// (column-major, one input vector per column); each N×N tile of `w` (zero-padded) is programmed in
/// turn and its products summed.
fn tiled_matmul(
    chip: &mut Chip,
    w: &[f64],
    rows: usize,
    cols: usize,
    x: &DMatrix<f64>,
) -> DMatrix<f64> {
    let n = chip.config().n;
    let batch = x.ncols();
    let mut out = DMatrix::zeros(rows, batch);
    for r0 in (0..rows).step_by(n) {
        for c0 in (0..cols).step_by(n) {
            let tile: Vec<f64> = (0..n * n)
                .map(|i| {
                    let (r, c) = (r0 + i / n, c0 + i % n);
                    if r < rows && c < cols {
                        w[r * cols + c]
                    } else {
                        0.0
                    }
                })
                .collect();
            if chip.program(&tile).is_err() {
                return DMatrix::from_element(rows, batch, f64::NAN);
            }
            let xb = DMatrix::from_fn(
                n,
                batch,
                |i, b| if c0 + i < cols { x[(c0 + i, b)] } else { 0.0 },
            );
            let Ok(y) = chip.matmul(&xb, 25.0 + DRIFT_K, 1.0) else {
                return DMatrix::from_element(rows, batch, f64::NAN);
            };
            for r in r0..(r0 + n).min(rows) {
                for b in 0..batch {
                    out[(r, b)] += y[(r - r0, b)];
                }
            }
        }
    }
    out
}

/// The error `lightos run mlp` reads (largest |out − ref| over the largest |ref|) of an MLP with
/// layer `sizes` (weights uniform in ±√(6/fan-in), biases in ±0.1, ReLU between layers, 16 random
/// inputs) whose every layer runs on the default chip of N = 64 tiled as the driver tiles it,
/// calibrated at 25 °C and read [`DRIFT_K`] above it.
pub fn mlp_error(sizes: &[usize], seed: u64) -> f64 {
    let batch = 16;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x3117);
    let mut chip = Chip::new(ChipConfig {
        seed,
        ..ChipConfig::default()
    });
    chip.calibrate(25.0, 1.0);
    let mut exact = DMatrix::from_fn(sizes[0], batch, |_, _| rng.gen_range(-1.0..1.0));
    let mut got = exact.clone();
    for (l, pair) in sizes.windows(2).enumerate() {
        let (fan_in, fan_out) = (pair[0], pair[1]);
        let bound = (6.0 / fan_in as f64).sqrt();
        let w: Vec<f64> = (0..fan_out * fan_in)
            .map(|_| rng.gen_range(-bound..bound))
            .collect();
        let bias: Vec<f64> = (0..fan_out).map(|_| rng.gen_range(-0.1..0.1)).collect();
        let wm = DMatrix::from_row_slice(fan_out, fan_in, &w);
        let last = l + 2 == sizes.len();
        let layer = |y: DMatrix<f64>| {
            DMatrix::from_fn(fan_out, batch, |r, b| {
                let v = y[(r, b)] + bias[r];
                if last {
                    v
                } else {
                    v.max(0.0)
                }
            })
        };
        exact = layer(&wm * &exact);
        got = layer(tiled_matmul(&mut chip, &w, fan_out, fan_in, &got));
    }
    let scale = exact
        .iter()
        .fold(0f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    got.iter()
        .zip(exact.iter())
        .map(|(g, e)| (g - e).abs())
        .fold(0f64, f64::max)
        / scale
}
