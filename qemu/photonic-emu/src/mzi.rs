//! One Mach-Zehnder interferometer (MZI) between two adjacent waveguides (modes `m` and `m + 1`),
//! described by what the hardware sets: the phase each of its two thermo-optic heaters imposes.
//!
//! An element is two directional couplers with two arms between them (the **internal** heater sits
//! on the upper arm) and one **external** heater on the upper waveguide outside them: at the input
//! for a [`Orientation::Forward`] element, at the output for an [`Orientation::Inverse`] one. Each of
//! the four arm sections (external upper/lower, internal upper/lower) carries an optical phase and
//! an amplitude (loss); each coupler splits `cos²κ : sin²κ`, `κ = π/4 + ε` (`ε = 0`: 50:50).
//!
//! A coupler is written `R(κ) = [[cos κ, −sin κ], [sin κ, cos κ]]`, its port phases moved into the
//! fixed phases `diag(−i, 1)` after the element and `diag(1, i)` before it (a choice of reference
//! planes, not a device), so the ideal element with internal arm phases `(a, 0)` is
//! `core(a) = e^{ia/2}·R(π/2 − a/2)`. Two things follow that a model of the half-angle misses:
//! - the splitting angle of Clements et al. (Optica 3, 1460 (2016)), `θ`, is `π/2 − a/2`: half the
//!   heater's phase, so a heater error `δa` moves the split by `δa/2` and the bar power is the
//!   textbook `(1 − cos a)/2`;
//! - the element's common phase `e^{ia/2}` moves with its heater, so a mesh must be decomposed with
//!   the physical blocks (the diagonal screen of [`crate::clements`] absorbs it).
//!
//! In Clements' notation, `T(θ, φ) = [[e^{iφ} cos θ, −sin θ], [e^{iφ} sin θ, cos θ]]`: a Forward
//! element with heaters `(a, φ_h)` is `e^{ia/2}·T(π/2 − a/2, φ_h)`, an Inverse one is
//! `e^{ia/2}·T(a/2 − π/2, −φ_h)†`. Heaters only add phase: both are kept in `[0, 2π)`.

use nalgebra::{Complex, DMatrix};
use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI, TAU};

/// A complex matrix of the model.
pub type CMatrix = DMatrix<Complex<f64>>;

/// A 2×2 transfer block `[[a, b], [c, d]]`.
pub type Block = [[Complex<f64>; 2]; 2];

/// Which side of the element its external heater is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orientation {
    /// External heater at the input: `core · diag(ext)`.
    Forward,
    /// External heater at the output: `diag(ext) · core`.
    Inverse,
}

/// One MZI: its upper mode, the phases its heaters impose (rad, in `[0, 2π)`) and its orientation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mzi {
    /// The upper mode; the element couples `mode` and `mode + 1`.
    pub mode: usize,
    /// Phase of the internal heater (sets the splitting ratio).
    pub theta: f64,
    /// Phase of the external heater.
    pub phi: f64,
    /// Where the external heater is.
    pub orientation: Orientation,
}

/// The field factor of each arm section of one element and its couplers' deviation from 50:50,
/// as the hardware realises them: `e^{i·phase}·amplitude` per section.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arms {
    /// External sections, upper and lower waveguide.
    pub external: [Complex<f64>; 2],
    /// Internal sections (between the couplers), upper and lower arm.
    pub internal: [Complex<f64>; 2],
    /// `ε` of the first and the second coupler in the light's direction (rad).
    pub couplers: [f64; 2],
}

/// `x` wrapped into `[0, 2π)`.
pub fn wrap(x: f64) -> f64 {
    let w = x.rem_euclid(TAU);
    if w >= TAU {
        0.0
    } else {
        w
    }
}

fn rotation(kappa: f64) -> Block {
    let (s, c) = kappa.sin_cos();
    [
        [Complex::from(c), Complex::from(-s)],
        [Complex::from(s), Complex::from(c)],
    ]
}

/// `a · b`.
pub fn mul(a: &Block, b: &Block) -> Block {
    let mut r = [[Complex::from(0.0); 2]; 2];
    for (i, row) in r.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = a[i][0] * b[0][j] + a[i][1] * b[1][j];
        }
    }
    r
}

/// `b†`.
pub fn adjoint(b: &Block) -> Block {
    [
        [b[0][0].conj(), b[1][0].conj()],
        [b[0][1].conj(), b[1][1].conj()],
    ]
}

fn diag(a: Complex<f64>, b: Complex<f64>) -> Block {
    let z = Complex::from(0.0);
    [[a, z], [z, b]]
}

/// The element between its external sections: couplers and internal arms, with the fixed port
/// phases. Light enters through `R(π/4 + couplers[0])`.
pub fn core(internal: [Complex<f64>; 2], couplers: [f64; 2]) -> Block {
    let i = Complex::i();
    let m = mul(
        &rotation(FRAC_PI_4 + couplers[1]),
        &mul(
            &diag(internal[0], internal[1]),
            &rotation(FRAC_PI_4 + couplers[0]),
        ),
    );
    mul(
        &diag(-i, Complex::from(1.0)),
        &mul(&m, &diag(Complex::from(1.0), i)),
    )
}

impl Mzi {
    /// The Forward element equal to `T(θ, φ)` of Clements' convention up to its common phase.
    pub fn forward(mode: usize, theta: f64, phi: f64) -> Mzi {
        Mzi {
            mode,
            theta: wrap(PI - 2.0 * theta),
            phi: wrap(phi),
            orientation: Orientation::Forward,
        }
    }

    /// The Inverse element equal to `T(θ, φ)†` up to its common phase.
    pub fn inverse(mode: usize, theta: f64, phi: f64) -> Mzi {
        Mzi {
            mode,
            theta: wrap(PI + 2.0 * theta),
            phi: wrap(-phi),
            orientation: Orientation::Inverse,
        }
    }

    /// Clements' splitting angle `θ = π/2 − a/2` of this element's internal heater phase `a`.
    pub fn splitting_angle(&self) -> f64 {
        FRAC_PI_2 - self.theta / 2.0
    }

    /// The ideal arms: the heaters' phases on the upper sections, lossless, 50:50 couplers.
    pub fn ideal_arms(&self) -> Arms {
        let one = Complex::from(1.0);
        Arms {
            external: [Complex::from_polar(1.0, self.phi), one],
            internal: [Complex::from_polar(1.0, self.theta), one],
            couplers: [0.0, 0.0],
        }
    }

    /// The block this element applies when its sections are `arms`.
    pub fn block_with(&self, arms: &Arms) -> Block {
        let inner = core(arms.internal, arms.couplers);
        let ext = diag(arms.external[0], arms.external[1]);
        match self.orientation {
            Orientation::Forward => mul(&inner, &ext),
            Orientation::Inverse => mul(&ext, &inner),
        }
    }

    /// The ideal block.
    pub fn block(&self) -> Block {
        self.block_with(&self.ideal_arms())
    }
}

/// `M ← B · M`, with `b` on rows `mode`, `mode + 1`.
pub fn apply_left(b: &Block, mode: usize, m: &mut CMatrix) {
    let (r0, r1) = (mode, mode + 1);
    for col in 0..m.ncols() {
        let (x, y) = (m[(r0, col)], m[(r1, col)]);
        m[(r0, col)] = b[0][0] * x + b[0][1] * y;
        m[(r1, col)] = b[1][0] * x + b[1][1] * y;
    }
}

/// `M ← M · B`, with `b` on columns `mode`, `mode + 1`.
pub fn apply_right(b: &Block, mode: usize, m: &mut CMatrix) {
    let (c0, c1) = (mode, mode + 1);
    for row in 0..m.nrows() {
        let (x, y) = (m[(row, c0)], m[(row, c1)]);
        m[(row, c0)] = x * b[0][0] + y * b[1][0];
        m[(row, c1)] = x * b[0][1] + y * b[1][1];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clements' `T(θ, φ)`.
    fn clements_t(theta: f64, phi: f64) -> Block {
        let e = Complex::from_polar(1.0, phi);
        let (s, c) = theta.sin_cos();
        [[e * c, Complex::from(-s)], [e * s, Complex::from(c)]]
    }

    fn max_diff(a: &Block, b: &Block) -> f64 {
        (0..4)
            .map(|k| (a[k / 2][k % 2] - b[k / 2][k % 2]).norm())
            .fold(0.0, f64::max)
    }

    /// `b` divided by its common phase (the phase of its determinant's square root).
    fn without_common_phase(b: &Block, common: f64) -> Block {
        let f = Complex::from_polar(1.0, -common);
        [[b[0][0] * f, b[0][1] * f], [b[1][0] * f, b[1][1] * f]]
    }

    #[test]
    fn the_change_of_variables_to_clements_holds() {
        for &(theta, phi) in &[(0.3, 1.1), (1.2, -2.0), (0.0, 0.0), (1.5, 3.0)] {
            let f = Mzi::forward(0, theta, phi);
            let got = without_common_phase(&f.block(), f.theta / 2.0);
            let want = clements_t(theta, phi);
            let neg = want.map(|r| r.map(|z| -z));
            assert!(
                max_diff(&got, &want) < 1e-12 || max_diff(&got, &neg) < 1e-12,
                "forward"
            );
            let inv = Mzi::inverse(0, theta, phi);
            let got = without_common_phase(&inv.block(), inv.theta / 2.0);
            // Up to the sign a 2π wrap of the heater flips on both (the common phase absorbs it).
            let want = adjoint(&clements_t(theta, phi));
            let neg = want.map(|r| r.map(|z| -z));
            assert!(
                max_diff(&got, &want) < 1e-12 || max_diff(&got, &neg) < 1e-12,
                "inverse"
            );
        }
    }

    #[test]
    fn the_heater_gives_the_textbook_fringe() {
        // Light into the upper input: the upper output's power is (1 − cos a)/2 of the internal
        // heater phase a, so a heater error δa moves it by sin(a)/2·δa (not by sin(a)·δa, as an
        // error applied to the half-angle would).
        for k in 0..16 {
            let a = TAU * k as f64 / 16.0;
            let m = Mzi {
                mode: 0,
                theta: a,
                phi: 0.3,
                orientation: Orientation::Forward,
            };
            let bar = m.block()[0][0].norm_sqr();
            assert!((bar - (1.0 - a.cos()) / 2.0).abs() < 1e-12, "a = {a}");
        }
    }

    #[test]
    fn imbalanced_couplers_limit_the_extinction() {
        let m = Mzi {
            mode: 0,
            theta: 0.0,
            phi: 0.0,
            orientation: Orientation::Forward,
        };
        let mut arms = m.ideal_arms();
        assert!(
            m.block_with(&arms)[0][0].norm_sqr() < 1e-20,
            "ideal: full extinction"
        );
        arms.couplers = [0.02, 0.03];
        let min = m.block_with(&arms)[0][0].norm_sqr();
        // Bar power at the fringe's minimum is sin²(ε₁ + ε₂).
        assert!((min - 0.05f64.sin().powi(2)).abs() < 1e-12, "{min}");
    }

    #[test]
    fn lossless_blocks_are_unitary() {
        let m = Mzi {
            mode: 0,
            theta: 1.0,
            phi: 2.0,
            orientation: Orientation::Inverse,
        };
        let mut arms = m.ideal_arms();
        arms.couplers = [0.05, -0.02];
        let b = m.block_with(&arms);
        let id = mul(&adjoint(&b), &b);
        let one = [
            [Complex::from(1.0), Complex::from(0.0)],
            [Complex::from(0.0), Complex::from(1.0)],
        ];
        assert!(max_diff(&id, &one) < 1e-12);
    }
}
