//! A small multilayer perceptron as a real workload, written against the runtime's device API
//! ([`lightos_runtime::accel`]): the same code runs it on any device the kernel knows (cpu0 from `lightosd`,
//! photonic0, …): each layer is a MATMUL, a bias ADD and a ReLU (hidden layers) on the chosen
//! device, or wherever the kernel finds a backend for an op that device does not run.
//!
//! File format (`.lmlp`, little-endian): magic `b"LMLP"`, `u32` version 1, `u32` layer-size count
//! `L + 1`, `L + 1` × `u32` sizes, then per layer `i` the weights `[size_i × size_{i+1}]` row-major
//! as f32, then its bias `[size_{i+1}]`.

use lightos_runtime::accel::{AccelError, Accelerator};
use lightos_runtime::DType;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

const MAGIC: &[u8; 4] = b"LMLP";
const VERSION: u32 = 1;
/// The most neurons a layer may have (keeps a loaded file's allocation sane).
pub const MAX_WIDTH: usize = 1 << 16;

/// Why an MLP run or file failed.
#[derive(Debug, thiserror::Error)]
pub enum MlpError {
    /// The device API refused or a job failed (`AccelError::Job` for a device that failed or
    /// was killed: the caller may run again on another device).
    #[error(transparent)]
    Accel(#[from] AccelError),
    /// Input of the wrong length, or a malformed model file.
    #[error("{0}")]
    Shape(String),
    /// Reading or writing the model file.
    #[error("model file: {0}")]
    Io(#[from] std::io::Error),
}

/// Weights and biases of a fully connected ReLU network.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    sizes: Vec<usize>,
    weights: Vec<Vec<f32>>,
    biases: Vec<Vec<f32>>,
}

/// The result of a forward pass on a backend.
#[derive(Clone, Debug)]
pub struct MlpRun {
    /// Outputs `[batch × last]`.
    pub output: Vec<f32>,
    /// Submit-to-last-completion time (buffers prepared beforehand).
    pub elapsed: Duration,
}

impl Mlp {
    /// Random weights (He-uniform) and small biases from `seed`; `sizes` = input, hidden…, output.
    pub fn generate(sizes: &[usize], seed: u64) -> Result<Mlp, MlpError> {
        check_sizes(sizes)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (mut weights, mut biases) = (Vec::new(), Vec::new());
        for w in sizes.windows(2) {
            let bound = (6.0 / w[0] as f32).sqrt();
            weights.push(
                (0..w[0] * w[1])
                    .map(|_| rng.gen_range(-bound..bound))
                    .collect(),
            );
            biases.push((0..w[1]).map(|_| rng.gen_range(-0.1..0.1)).collect());
        }
        Ok(Mlp {
            sizes: sizes.to_vec(),
            weights,
            biases,
        })
    }

    /// Layer sizes.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Writes the model in the documented format.
    pub fn save(&self, path: &std::path::Path) -> Result<(), MlpError> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        for v in [VERSION, self.sizes.len() as u32]
            .into_iter()
            .chain(self.sizes.iter().map(|&s| s as u32))
        {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for (w, b) in self.weights.iter().zip(&self.biases) {
            w.iter()
                .chain(b)
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        }
        Ok(std::fs::write(path, out)?)
    }

    /// Reads a model file, checking its magic, version, sizes and length.
    pub fn load(path: &std::path::Path) -> Result<Mlp, MlpError> {
        let bytes = std::fs::read(path)?;
        let bad = |why: &str| MlpError::Shape(format!("{}: {why}", path.display()));
        let mut words = bytes
            .get(4..)
            .ok_or_else(|| bad("too short"))?
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        if &bytes[..4] != MAGIC {
            return Err(bad("not an LMLP file"));
        }
        if words.next() != Some(VERSION) {
            return Err(bad("unsupported version"));
        }
        let count = words.next().ok_or_else(|| bad("truncated"))? as usize;
        if !(2..=64).contains(&count) {
            return Err(bad("2 to 64 layer sizes"));
        }
        let sizes: Vec<usize> = (0..count)
            .map(|_| words.next().map(|v| v as usize))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("truncated"))?;
        check_sizes(&sizes)?;
        let values: usize = sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
        if bytes.len() != 12 + 4 * count + 4 * values {
            return Err(bad("length does not match its sizes"));
        }
        let mut floats = words.map(f32::from_bits);
        let (mut weights, mut biases) = (Vec::new(), Vec::new());
        for w in sizes.windows(2) {
            weights.push(floats.by_ref().take(w[0] * w[1]).collect());
            biases.push(floats.by_ref().take(w[1]).collect());
        }
        Ok(Mlp {
            sizes,
            weights,
            biases,
        })
    }

    /// The forward pass in f64 on this CPU: the reference every backend is compared with.
    pub fn reference(&self, x: &[f32], batch: usize) -> Result<Vec<f64>, MlpError> {
        self.check_input(x, batch)?;
        let mut h: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        for (l, w) in self.sizes.windows(2).enumerate() {
            let (i, o) = (w[0], w[1]);
            let mut z = vec![0f64; batch * o];
            for r in 0..batch {
                for j in 0..o {
                    let dot: f64 = (0..i)
                        .map(|p| h[r * i + p] * f64::from(self.weights[l][p * o + j]))
                        .sum();
                    let v = dot + f64::from(self.biases[l][j]);
                    z[r * o + j] = if l + 2 < self.sizes.len() {
                        v.max(0.0)
                    } else {
                        v
                    };
                }
            }
            h = z;
        }
        Ok(h)
    }

    fn check_input(&self, x: &[f32], batch: usize) -> Result<(), MlpError> {
        if batch == 0 || x.len() != batch * self.sizes[0] {
            return Err(MlpError::Shape(format!(
                "input holds {} values; a batch of {batch} needs {}",
                x.len(),
                batch * self.sizes[0]
            )));
        }
        Ok(())
    }

    /// Runs the forward pass on `device` through the device API: the code is the same for every
    /// device; ops the device does not run (photonic0 runs only MATMUL) go where the kernel finds
    /// a backend. Weights and biases are uploaded before the clock starts.
    pub fn run_on(
        &self,
        acc: &mut Accelerator,
        device: &str,
        x: &[f32],
        batch: usize,
    ) -> Result<MlpRun, MlpError> {
        self.check_input(x, batch)?;
        acc.select(device)?;
        let b = batch as u64;
        let mut layers = Vec::new();
        for (l, w) in self.sizes.windows(2).enumerate() {
            let (i, o) = (w[0] as u64, w[1] as u64);
            let weights = acc.tensor_from_f32(&[i, o], &self.weights[l])?;
            // ADD takes equal shapes: the bias is repeated for every row of the batch.
            let bias_rows: Vec<f32> = self.biases[l]
                .iter()
                .copied()
                .cycle()
                .take(batch * w[1])
                .collect();
            let bias = acc.tensor_from_f32(&[b, o], &bias_rows)?;
            let out = acc.zeros(&[b, o], DType::F32)?;
            layers.push((weights, bias, out));
        }
        let input = acc.tensor_from_f32(&[b, self.sizes[0] as u64], x)?;
        let start = Instant::now();
        let mut h = &input;
        for (l, (weights, bias, out)) in layers.iter().enumerate() {
            // One op at a time: each reads the previous one's output.
            acc.matmul(h, weights, out)?.wait()?;
            acc.add(out, bias, out)?.wait()?;
            if l + 2 < self.sizes.len() {
                acc.relu(out, out)?.wait()?;
            }
            h = out;
        }
        let elapsed = start.elapsed();
        Ok(MlpRun {
            output: h.to_f32()?,
            elapsed,
        })
    }
}

fn check_sizes(sizes: &[usize]) -> Result<(), MlpError> {
    if sizes.len() < 2 || sizes.iter().any(|&s| s == 0 || s > MAX_WIDTH) {
        return Err(MlpError::Shape(format!(
            "layer sizes {sizes:?}: at least two, each 1..={MAX_WIDTH}"
        )));
    }
    Ok(())
}

/// The largest |got − want| over the largest |want| (0 when both are empty).
pub fn relative_error(got: &[f32], want: &[f64]) -> f64 {
    let scale = want
        .iter()
        .fold(0f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    got.iter()
        .zip(want)
        .map(|(g, w)| (f64::from(*g) - w).abs())
        .fold(0f64, f64::max)
        / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_load_round_trip_and_bad_files_are_refused() {
        let m = Mlp::generate(&[4, 8, 3], 1).unwrap();
        let dir = std::env::temp_dir().join(format!("lmlp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("m.lmlp");
        m.save(&p).unwrap();
        assert_eq!(Mlp::load(&p).unwrap(), m);
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 4]).unwrap();
        assert!(
            matches!(Mlp::load(&p), Err(MlpError::Shape(_))),
            "truncated"
        );
        std::fs::write(&p, b"NOPE\x01\0\0\0").unwrap();
        assert!(matches!(Mlp::load(&p), Err(MlpError::Shape(_))), "magic");
        std::fs::write(&p, b"LM").unwrap();
        assert!(Mlp::load(&p).is_err(), "too short");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reference_applies_relu_between_layers_only() {
        let mut m = Mlp::generate(&[1, 1, 1], 0).unwrap();
        m.weights = vec![vec![-1.0], vec![2.0]];
        m.biases = vec![vec![0.0], vec![-3.0]];
        assert_eq!(m.reference(&[5.0], 1).unwrap(), [-3.0]); // relu(-5) = 0, then 0*2 - 3
        assert!(m.reference(&[1.0, 2.0], 1).is_err());
        assert!(Mlp::generate(&[3], 0).is_err());
        assert!(Mlp::generate(&[3, 0], 0).is_err());
    }
}
