//! The Clements decomposition: any N×N unitary as a rectangular mesh of N(N−1)/2 MZIs in N columns
//! followed by a column of N phase shifters, in the heater phases of [`crate::mzi`].
//!
//! The target is nulled below its anti-diagonals, alternately by elements applied from the right
//! (`U ← U·Φ⁻¹`) and from the left (`U ← Ψ⁻¹·U`), which leaves a diagonal `D`; then
//! `U = Ψ₁Ψ₂⋯Ψₖ · D · Φₘ⋯Φ₂Φ₁`. The null each element must make fixes its splitting angle and
//! external phase (Clements et al., Optica 3, 1460 (2016)); the element is the *physical* block
//! with those heater phases, common phase included, so nothing is dropped. Last, `D` is moved to the
//! output through the output-side elements (`Ψ·D = D'·Φ'`, eq. 5 of the paper), which makes every
//! element a Forward one: the mesh is the paper's rectangle, each element in the column it would
//! occupy on the chip, and the phase column at the output.

use crate::mzi::{self, Block, CMatrix, Mzi, Orientation};
use nalgebra::Complex;

/// A programmed mesh: `U = diag(phases) · E_last ⋯ E_1` for `E` = `elements`.
#[derive(Clone, Debug, PartialEq)]
pub struct Mesh {
    /// Number of modes.
    pub n: usize,
    /// Forward elements in the light's direction (the input-most first).
    pub elements: Vec<Mzi>,
    /// The output phase column's heater phases (rad, in `[0, 2π)`).
    pub phases: Vec<f64>,
}

/// Clements' angles `(θ, φ)` of the element that, applied as `U·Φ⁻¹` on columns `(n, n+1)`, nulls
/// `u[(m, n)]`.
fn null_from_right(u: &CMatrix, m: usize, n: usize) -> (f64, f64) {
    ratio_angles(u[(m, n)], u[(m, n + 1)])
}

/// `(atan|a/b|, arg(a/b))`, in polar form: a complex division would square `|b|`, which
/// underflows to zero for the 1e-160-sized entries nulling leaves in rank-deficient targets.
fn ratio_angles(a: Complex<f64>, b: Complex<f64>) -> (f64, f64) {
    let (na, nb) = (a.norm(), b.norm());
    if nb == 0.0 {
        return (
            std::f64::consts::FRAC_PI_2,
            if na == 0.0 { 0.0 } else { a.arg() },
        );
    }
    (
        (na / nb).atan(),
        if na == 0.0 { 0.0 } else { a.arg() - b.arg() },
    )
}

/// The angles of the element that, applied as `Ψ⁻¹·U` on rows `(m−1, m)`, nulls `u[(m, n)]`.
fn null_from_left(u: &CMatrix, m: usize, n: usize) -> (f64, f64) {
    ratio_angles(-u[(m, n)], u[(m - 1, n)])
}

/// A 2×2 unitary `m` as `diag(d₀, d₁) · F` with `F` the ideal Forward element on `mode`:
/// `(F, d₀, d₁)`. `|m₀₀|` fixes the internal heater, the phases of `m₀₀` and `m₀₁` the external
/// heater and `d₀`, and `m₁₁` gives `d₁`.
pub fn forward_with_output_phases(m: &Block, mode: usize) -> (Mzi, Complex<f64>, Complex<f64>) {
    // The ideal core is e^{ia/2}·[[sin(a/2), −cos(a/2)], [cos(a/2), sin(a/2)]].
    let theta = 2.0 * m[0][0].norm().clamp(0.0, 1.0).asin();
    let mut f = Mzi {
        mode,
        theta: mzi::wrap(theta),
        phi: 0.0,
        orientation: Orientation::Forward,
    };
    let core = f.block();
    let tiny = 1e-12;
    let (d0, d1) = if core[0][1].norm() > tiny && core[0][0].norm() > tiny {
        let d0 = m[0][1] / core[0][1];
        f.phi = mzi::wrap((m[0][0] / (d0 * core[0][0])).arg());
        (d0, m[1][1] / core[1][1])
    } else if core[0][1].norm() > tiny {
        // Full cross: the external phase is free.
        (m[0][1] / core[0][1], m[1][0] / core[1][0])
    } else {
        // Full bar.
        (m[0][0] / core[0][0], m[1][1] / core[1][1])
    };
    let unit = |z: Complex<f64>| Complex::from_polar(1.0, z.arg());
    (f, unit(d0), unit(d1))
}

impl Mesh {
    /// Decomposes the unitary `u` (N×N, N ≥ 1).
    pub fn decompose(u: &CMatrix) -> Mesh {
        let n = u.nrows();
        let mut v = u.clone();
        let (mut left, mut right) = (Vec::new(), Vec::new());
        for i in 0..n.saturating_sub(1) {
            if i % 2 == 0 {
                for j in 0..=i {
                    let mode = i - j;
                    let (theta, phi) = null_from_right(&v, n - 1 - j, mode);
                    let t = Mzi::forward(mode, theta, phi);
                    mzi::apply_right(&mzi::adjoint(&t.block()), mode, &mut v);
                    right.push(t);
                }
            } else {
                for j in 0..=i {
                    let mode = n + j - i - 2;
                    let (theta, phi) = null_from_left(&v, mode + 1, j);
                    let t = Mzi::inverse(mode, theta, phi);
                    mzi::apply_left(&mzi::adjoint(&t.block()), mode, &mut v);
                    left.push(t);
                }
            }
        }
        // U = Ψ₁⋯Ψₖ·D·(right, in the light's direction). Move D out through Ψₖ, …, Ψ₁.
        let mut d: Vec<Complex<f64>> = (0..n)
            .map(|k| Complex::from_polar(1.0, v[(k, k)].arg()))
            .collect();
        let mut elements = right;
        for psi in left.iter().rev() {
            let m = psi.mode;
            let b = psi.block();
            let z = Complex::from(0.0);
            let moved = mzi::mul(&b, &[[d[m], z], [z, d[m + 1]]]);
            let (f, d0, d1) = forward_with_output_phases(&moved, m);
            d[m] = d0;
            d[m + 1] = d1;
            elements.push(f);
        }
        Mesh {
            n,
            elements,
            phases: d.iter().map(|z| mzi::wrap(z.arg())).collect(),
        }
    }

    /// The unitary the mesh implements with its phases exactly as stored (ideal hardware).
    pub fn matrix(&self) -> CMatrix {
        let mut m = CMatrix::identity(self.n, self.n);
        for t in &self.elements {
            mzi::apply_left(&t.block(), t.mode, &mut m);
        }
        for (row, &p) in self.phases.iter().enumerate() {
            let f = Complex::from_polar(1.0, p);
            for col in 0..self.n {
                m[(row, col)] *= f;
            }
        }
        m
    }

    /// Number of MZIs (N(N−1)/2 for N modes).
    pub fn mzi_count(&self) -> usize {
        self.elements.len()
    }

    /// Each element's column, layering in the light's direction (N columns for N modes ≥ 2).
    pub fn columns(&self) -> Vec<usize> {
        let mut depth = vec![0usize; self.n];
        self.elements
            .iter()
            .map(|e| {
                let c = depth[e.mode].max(depth[e.mode + 1]);
                depth[e.mode] = c + 1;
                depth[e.mode + 1] = c + 1;
                c
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A random unitary: the Q of a QR decomposition of a random complex matrix.
    fn random_unitary(n: usize, seed: u64) -> CMatrix {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let a = CMatrix::from_fn(n, n, |_, _| {
            Complex::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0))
        });
        a.qr().q()
    }

    fn max_diff(a: &CMatrix, b: &CMatrix) -> f64 {
        (a - b).iter().map(|z| z.norm()).fold(0.0, f64::max)
    }

    #[test]
    fn the_mesh_reproduces_the_unitary_it_was_programmed_with() {
        for (n, seed) in [(2, 1), (3, 2), (4, 3), (7, 4), (16, 5), (64, 6)] {
            let u = random_unitary(n, seed);
            let mesh = Mesh::decompose(&u);
            assert_eq!(mesh.mzi_count(), n * (n - 1) / 2, "N = {n}");
            let columns = mesh.columns();
            let want = if n > 2 { n } else { 1 };
            assert_eq!(
                columns.iter().max().map_or(0, |c| c + 1),
                want,
                "N = {n}: a rectangle of N columns"
            );
            let err = max_diff(&mesh.matrix(), &u);
            assert!(err < 1e-9, "N = {n}: max |U_mesh − U| = {err:e}");
        }
    }

    #[test]
    fn the_mesh_is_unitary_for_any_phases() {
        let mut mesh = Mesh::decompose(&random_unitary(8, 9));
        for (k, t) in mesh.elements.iter_mut().enumerate() {
            t.theta = crate::mzi::wrap(t.theta + 0.01 * k as f64);
            t.phi = crate::mzi::wrap(t.phi - 0.02 * k as f64);
        }
        let m = mesh.matrix();
        let id = CMatrix::identity(8, 8);
        assert!(max_diff(&(m.adjoint() * &m), &id) < 1e-12);
    }

    #[test]
    fn a_wrong_phase_changes_the_result() {
        let u = random_unitary(6, 11);
        let mut mesh = Mesh::decompose(&u);
        mesh.elements[3].theta += 0.2;
        assert!(
            max_diff(&mesh.matrix(), &u) > 1e-3,
            "the check must be able to fail"
        );
    }
}
