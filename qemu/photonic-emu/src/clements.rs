//! The Clements decomposition: any N×N unitary as a rectangular mesh of N(N−1)/2 MZIs and a column
//! of N output phases.
//!
//! The target is nulled below its anti-diagonals, alternately by elements applied from the right
//! (`U ← U·T†`) and from the left (`U ← T·U`), which leaves a diagonal `D`. Then
//! `U = L⁻¹ · D · R⁻¹`, where `L` is the product of the left elements and `R` of the right ones. The
//! mesh keeps the elements in that order (the left ones inverted) with `D` in between; the layout is
//! the rectangular mesh of the paper, with `D` applied between the two halves instead of being moved
//! to the output (an equivalent, equally physical arrangement of phase shifters).

use crate::mzi::{CMatrix, Mzi, Orientation};
use nalgebra::Complex;

/// A programmed mesh: `U = left · diag(phases) · right`.
#[derive(Clone, Debug, PartialEq)]
pub struct Mesh {
    /// Number of modes.
    pub n: usize,
    /// Elements on the output side of the phase column, applied last first.
    pub left: Vec<Mzi>,
    /// The diagonal's phases (rad).
    pub phases: Vec<f64>,
    /// Elements on the input side, applied last first.
    pub right: Vec<Mzi>,
}

/// The angles `(θ, φ)` that make `T(θ, φ)†`, applied from the right on columns `(n, n+1)`, null
/// `u[(m, n)]`.
fn null_from_right(u: &CMatrix, m: usize, n: usize) -> (f64, f64) {
    let (a, b) = (u[(m, n)], u[(m, n + 1)]);
    if b.norm() < 1e-300 {
        return (std::f64::consts::FRAC_PI_2, 0.0);
    }
    let r = a / b;
    (r.norm().atan(), r.arg())
}

/// The angles that make `T(θ, φ)`, applied from the left on rows `(m−1, m)`, null `u[(m, n)]`.
fn null_from_left(u: &CMatrix, m: usize, n: usize) -> (f64, f64) {
    let (a, b) = (u[(m, n)], u[(m - 1, n)]);
    if b.norm() < 1e-300 {
        return (std::f64::consts::FRAC_PI_2, 0.0);
    }
    let r = -a / b;
    (r.norm().atan(), r.arg())
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
                    let t = Mzi {
                        mode,
                        theta,
                        phi,
                        orientation: Orientation::Inverse,
                    };
                    t.apply_right(&mut v);
                    right.push(t);
                }
            } else {
                for j in 0..=i {
                    let mode = n + j - i - 2;
                    let (theta, phi) = null_from_left(&v, mode + 1, j);
                    let t = Mzi {
                        mode,
                        theta,
                        phi,
                        orientation: Orientation::Forward,
                    };
                    t.apply_left(&mut v);
                    left.push(t);
                }
            }
        }
        let phases = (0..n).map(|k| v[(k, k)].arg()).collect();
        // U = L⁻¹ D R⁻¹: L⁻¹ = T₁⁻¹ T₂⁻¹ …, R⁻¹ = … T₂ T₁ (each right element was T†).
        Mesh {
            n,
            left: left.iter().map(Mzi::inverse).collect(),
            phases,
            right: right.iter().rev().map(Mzi::inverse).collect(),
        }
    }

    /// The unitary the mesh implements with its phases exactly as stored.
    pub fn matrix(&self) -> CMatrix {
        let mut m = CMatrix::from_diagonal(&nalgebra::DVector::from_iterator(
            self.n,
            self.phases.iter().map(|&p| Complex::from_polar(1.0, p)),
        ));
        for t in self.left.iter().rev() {
            t.apply_left(&mut m);
        }
        for t in self.right.iter() {
            t.apply_right(&mut m);
        }
        m
    }

    /// Number of MZIs (N(N−1)/2 for N modes).
    pub fn mzi_count(&self) -> usize {
        self.left.len() + self.right.len()
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
            let err = max_diff(&mesh.matrix(), &u);
            assert!(err < 1e-9, "N = {n}: max |U_mesh − U| = {err:e}");
        }
    }

    #[test]
    fn the_mesh_is_unitary_for_any_phases() {
        let mut mesh = Mesh::decompose(&random_unitary(8, 9));
        for (k, t) in mesh
            .left
            .iter_mut()
            .chain(mesh.right.iter_mut())
            .enumerate()
        {
            t.theta += 0.01 * k as f64;
            t.phi -= 0.02 * k as f64;
        }
        let m = mesh.matrix();
        let id = CMatrix::identity(8, 8);
        assert!(max_diff(&(m.adjoint() * &m), &id) < 1e-12);
    }

    #[test]
    fn a_wrong_phase_changes_the_result() {
        let u = random_unitary(6, 11);
        let mut mesh = Mesh::decompose(&u);
        mesh.right[3].theta += 0.1;
        assert!(
            max_diff(&mesh.matrix(), &u) > 1e-3,
            "the check must be able to fail"
        );
    }
}
