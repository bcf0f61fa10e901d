//! One Mach-Zehnder interferometer between two adjacent waveguides (modes `m` and `m + 1`).
//!
//! Convention (Clements et al., Optica 3, 1460 (2016)): with internal phase `theta` and external
//! phase `phi`, the element acts on the two modes as
//! `T = [[e^{iφ} cos θ, −sin θ], [e^{iφ} sin θ, cos θ]]`. Elements found while nulling from the
//! left of the target are realised as `T†` (the same device with its phase shifter on the output
//! side), kept as [`Orientation::Inverse`].

use nalgebra::{Complex, DMatrix};

/// A complex matrix of the model.
pub type CMatrix = DMatrix<Complex<f64>>;

/// Which way round an element is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orientation {
    /// `T(θ, φ)`.
    Forward,
    /// `T(θ, φ)†`.
    Inverse,
}

/// One MZI: the first of its two modes, its phases and its orientation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mzi {
    /// The upper mode; the element couples `mode` and `mode + 1`.
    pub mode: usize,
    /// Internal phase θ (sets the splitting ratio).
    pub theta: f64,
    /// External phase φ.
    pub phi: f64,
    /// Forward or inverse.
    pub orientation: Orientation,
}

impl Mzi {
    /// The 2×2 block `[[a, b], [c, d]]` this element applies to its modes.
    pub fn block(&self) -> [[Complex<f64>; 2]; 2] {
        let e = Complex::from_polar(1.0, self.phi);
        let (c, s) = (
            Complex::from(self.theta.cos()),
            Complex::from(self.theta.sin()),
        );
        let t = [[e * c, -s], [e * s, c]];
        match self.orientation {
            Orientation::Forward => t,
            Orientation::Inverse => [
                [t[0][0].conj(), t[1][0].conj()],
                [t[0][1].conj(), t[1][1].conj()],
            ],
        }
    }

    /// `M ← B · M`, with this element's block `B` on rows `mode`, `mode + 1`.
    pub fn apply_left(&self, m: &mut CMatrix) {
        let b = self.block();
        let (r0, r1) = (self.mode, self.mode + 1);
        for col in 0..m.ncols() {
            let (x, y) = (m[(r0, col)], m[(r1, col)]);
            m[(r0, col)] = b[0][0] * x + b[0][1] * y;
            m[(r1, col)] = b[1][0] * x + b[1][1] * y;
        }
    }

    /// `M ← M · B`, with this element's block `B` on columns `mode`, `mode + 1`.
    pub fn apply_right(&self, m: &mut CMatrix) {
        let b = self.block();
        let (c0, c1) = (self.mode, self.mode + 1);
        for row in 0..m.nrows() {
            let (x, y) = (m[(row, c0)], m[(row, c1)]);
            m[(row, c0)] = x * b[0][0] + y * b[1][0];
            m[(row, c1)] = x * b[0][1] + y * b[1][1];
        }
    }

    /// The same element with the other orientation (its inverse).
    pub fn inverse(&self) -> Mzi {
        Mzi {
            orientation: match self.orientation {
                Orientation::Forward => Orientation::Inverse,
                Orientation::Inverse => Orientation::Forward,
            },
            ..*self
        }
    }
}
