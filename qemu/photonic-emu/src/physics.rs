//! The hardware of one mesh as fabricated and as it sits at a temperature: the phase, thermo-optic
//! coefficient and loss of every waveguide section, the split of every coupler, and the thermal
//! crosstalk between heaters. [`MeshHardware::realise`] gives the matrix the light sees for given
//! heater drives; [`MeshHardware::offsets`] gives what each heater's fringe would show as its
//! offset (what a calibration measures, [`crate::calibration`]).
//!
//! Geometry. The elements of each half of a [`Mesh`] are laid out in columns (greedy layering in
//! the light's direction). Every mode crosses every column of its half, through an element's two
//! arm sections (external, internal) or through two straight **pass-through** sections of the same
//! length, so with equal coefficients a uniform temperature change adds the same phase to every path
//! (a global phase) and uniform loss the same attenuation (a scalar): the mesh is balanced. The
//! phase screen between the halves is one heated section per mode.
//!
//! Each heated section (an element's upper external or internal section, a screen section) carries
//! its heater's phase; heaters of adjacent elements in the same column (two modes apart) and adjacent
//! screen heaters heat each other's sections by a fraction of their phase (crosstalk), a quarter of
//! that at twice the distance.

use crate::{
    clements::Mesh,
    mzi::{self, Arms, CMatrix},
};
use nalgebra::Complex;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::f64::consts::TAU;

/// How the sections and couplers of a chip are drawn.
#[derive(Clone, Copy, Debug)]
pub struct HardwareSpec {
    /// Thermo-optic phase per kelvin of one section (rad/K).
    pub thermo_optic_rad_per_k: f64,
    /// Relative standard deviation of each section's thermo-optic coefficient.
    pub thermo_optic_spread: f64,
    /// Fraction of a heater's phase that reaches the heated section of an adjacent heater.
    pub crosstalk: f64,
    /// Standard deviation of each coupler's `ε` (rad; a split of `50 ± 100·ε %`).
    pub coupler_sigma: f64,
    /// Insertion loss of one element (dB): half of it in each of the two sections a path crosses.
    pub loss_db_per_mzi: f64,
    /// Standard deviation of each section's loss (dB).
    pub loss_spread_db: f64,
}

/// One waveguide section: fabrication phase, thermo-optic coefficient, amplitude transmission.
#[derive(Clone, Copy, Debug)]
pub struct Section {
    /// Phase from fabrication at the reference temperature (rad).
    pub fab: f64,
    /// Thermo-optic coefficient (rad/K).
    pub coef: f64,
    /// Field amplitude transmission.
    pub amp: f64,
}

impl Section {
    /// Its phase error `dt` kelvin from the reference temperature, with `extra` (heater, crosstalk).
    pub fn phase(&self, dt: f64, extra: f64) -> f64 {
        self.fab + self.coef * dt + extra
    }

    fn field(&self, dt: f64, extra: f64) -> Complex<f64> {
        Complex::from_polar(self.amp, self.phase(dt, extra))
    }
}

/// The sections and couplers of one element: external and internal, upper (heated) and lower.
#[derive(Clone, Copy, Debug)]
pub struct ElementHardware {
    /// External sections, upper (heated) then lower.
    pub external: [Section; 2],
    /// Internal sections, upper (heated) then lower.
    pub internal: [Section; 2],
    /// `ε` of the first and second coupler in the light's direction.
    pub couplers: [f64; 2],
}

/// Where the elements of a mesh sit: each element's column and the pass-through sections a mode
/// crosses where it has no element.
#[derive(Clone, Debug, Default)]
struct Layout {
    /// Per element: its column, counted in the light's direction.
    column: Vec<usize>,
    /// Per element: indices into `pass[mode]` of the pass-through sections between the previous
    /// element on each of its two modes (or the input) and it.
    pass_in: Vec<[Vec<usize>; 2]>,
    /// Per mode: indices of the pass-through sections after its last element.
    pass_tail: Vec<Vec<usize>>,
    /// Per mode: its pass-through sections in the light's direction.
    pass: Vec<Vec<Section>>,
    /// Number of columns.
    columns: usize,
}

/// Which heater an index of [`MeshHardware`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heater {
    /// External heater of element `k` (`mesh.elements[k]`).
    External(usize),
    /// Internal heater of element `k`.
    Internal(usize),
    /// Output phase-column heater of mode `m`.
    Screen(usize),
}

/// The fabricated hardware of one mesh of N modes.
#[derive(Clone, Debug)]
pub struct MeshHardware {
    n: usize,
    elements: Vec<ElementHardware>,
    screen: Vec<Section>,
    layout: Layout,
    /// Per heater: `(other heater, fraction of the other's phase it receives)`.
    crosstalk: Vec<Vec<(usize, f64)>>,
}

/// Lays out `elements` (in the light's direction) in columns and draws the pass-through sections.
fn lay_out(n: usize, mesh: &Mesh, mut draw: impl FnMut() -> Section) -> Layout {
    let column = mesh.columns();
    let columns = column.iter().max().map_or(0, |c| c + 1);
    let mut pass: Vec<Vec<Section>> = vec![Vec::new(); n];
    let mut next = vec![0usize; n];
    let mut take = |mode: usize, count: usize, pass: &mut Vec<Vec<Section>>| -> Vec<usize> {
        (0..2 * count)
            .map(|_| {
                pass[mode].push(draw());
                pass[mode].len() - 1
            })
            .collect()
    };
    let mut pass_in = vec![[Vec::new(), Vec::new()]; mesh.elements.len()];
    for (k, e) in mesh.elements.iter().enumerate() {
        for (i, mode) in [e.mode, e.mode + 1].into_iter().enumerate() {
            pass_in[k][i] = take(mode, column[k] - next[mode], &mut pass);
            next[mode] = column[k] + 1;
        }
    }
    let pass_tail = (0..n)
        .map(|mode| take(mode, columns - next[mode], &mut pass))
        .collect();
    Layout {
        column,
        pass_in,
        pass_tail,
        pass,
        columns,
    }
}

impl MeshHardware {
    /// Draws the hardware for meshes shaped like `mesh` (every mesh of N modes has the same
    /// elements in the same places).
    pub fn draw(mesh: &Mesh, spec: &HardwareSpec, rng: &mut ChaCha8Rng) -> MeshHardware {
        let n = mesh.n;
        let coef = Normal::new(
            spec.thermo_optic_rad_per_k,
            (spec.thermo_optic_rad_per_k * spec.thermo_optic_spread).abs(),
        )
        .expect("a finite spread");
        let coupler = Normal::new(0.0, spec.coupler_sigma.abs()).expect("a finite sigma");
        let loss = Normal::new(spec.loss_db_per_mzi / 2.0, spec.loss_spread_db.abs())
            .expect("a finite spread");
        let section = |rng: &mut ChaCha8Rng, fab: bool| Section {
            fab: if fab { rng.gen_range(0.0..TAU) } else { 0.0 },
            coef: coef.sample(rng),
            amp: 10f64.powf(-loss.sample(rng).max(0.0) / 20.0),
        };
        let elements = mesh
            .elements
            .iter()
            .map(|_| ElementHardware {
                external: [section(rng, true), section(rng, true)],
                internal: [section(rng, true), section(rng, true)],
                couplers: [coupler.sample(rng), coupler.sample(rng)],
            })
            .collect();
        let screen = (0..n).map(|_| section(rng, true)).collect();
        // Pass-through sections: straight waveguide, no fabrication phase of their own (any would
        // be indistinguishable from the next element's external sections' and is folded into them).
        let layout = lay_out(n, mesh, || section(rng, false));
        let mut hw = MeshHardware {
            n,
            elements,
            screen,
            layout,
            crosstalk: Vec::new(),
        };
        hw.crosstalk = hw.neighbours(mesh, spec.crosstalk);
        hw
    }

    /// Number of heaters: two per element and one per mode.
    pub fn heaters(&self) -> usize {
        2 * self.elements.len() + self.n
    }

    /// The heater at `index`: element `k`'s external heater is `2k`, its internal one `2k + 1`;
    /// then the output phase column.
    pub fn heater(&self, index: usize) -> Heater {
        let e = 2 * self.elements.len();
        if index >= e {
            Heater::Screen(index - e)
        } else if index.is_multiple_of(2) {
            Heater::External(index / 2)
        } else {
            Heater::Internal(index / 2)
        }
    }

    /// The crosstalk neighbours of every heater: heaters of elements in the same column with upper
    /// modes 2 (full fraction) or 4 (a quarter) apart, external to external and internal to
    /// internal; output-column heaters 1 or 2 modes apart.
    fn neighbours(&self, mesh: &Mesh, fraction: f64) -> Vec<Vec<(usize, f64)>> {
        let mut out = vec![Vec::new(); self.heaters()];
        if fraction == 0.0 {
            return out;
        }
        let weight = |distance: usize| fraction / (distance * distance) as f64;
        let mut at = std::collections::HashMap::new();
        for (k, e) in mesh.elements.iter().enumerate() {
            at.insert((self.layout.column[k], e.mode), k);
        }
        for (k, e) in mesh.elements.iter().enumerate() {
            for (step, distance) in [(2usize, 1usize), (4, 2)] {
                let others = [e.mode.checked_sub(step), Some(e.mode + step)];
                for other in others.into_iter().flatten() {
                    if let Some(&j) = at.get(&(self.layout.column[k], other)) {
                        for part in 0..2 {
                            out[2 * k + part].push((2 * j + part, weight(distance)));
                        }
                    }
                }
            }
        }
        let screen = 2 * self.elements.len();
        for m in 0..self.n {
            for distance in [1usize, 2] {
                let others = [m.checked_sub(distance), Some(m + distance)];
                for other in others.into_iter().flatten().filter(|&o| o < self.n) {
                    out[screen + m].push((screen + other, weight(distance)));
                }
            }
        }
        out
    }

    /// The crosstalk phase each heater's section receives from the others at `drives`.
    pub fn crosstalk_phases(&self, drives: &[f64]) -> Vec<f64> {
        self.crosstalk
            .iter()
            .map(|list| list.iter().map(|&(j, w)| w * drives[j]).sum())
            .collect()
    }

    /// The crosstalk neighbours of heater `h` with their true coefficients.
    pub fn crosstalk_of(&self, h: usize) -> &[(usize, f64)] {
        &self.crosstalk[h]
    }

    /// `(ε₁, ε₂)` of the couplers of the element heater `h` belongs to (zero for screen heaters).
    pub fn couplers(&self, h: usize) -> [f64; 2] {
        match self.heater(h) {
            Heater::External(k) | Heater::Internal(k) => self.elements[k].couplers,
            Heater::Screen(_) => [0.0; 2],
        }
    }

    /// Number of columns of elements.
    pub fn columns(&self) -> usize {
        self.layout.columns
    }

    /// The column of heater `h` counted from the input (the output phase column is the last).
    pub fn column_of(&self, h: usize) -> usize {
        match self.heater(h) {
            Heater::External(k) | Heater::Internal(k) => self.layout.column[k],
            Heater::Screen(_) => self.layout.columns,
        }
    }

    /// The matrix the light sees with the heaters at `drives` (heater-index order, each in
    /// `[0, 2π)`), `dt` kelvin from the reference temperature: every section's phase, loss and
    /// crosstalk, every coupler's split. `mesh` gives the elements' modes.
    pub fn realise(&self, mesh: &Mesh, drives: &[f64], dt: f64) -> CMatrix {
        let n = self.n;
        let xt = self.crosstalk_phases(drives);
        let mut m = CMatrix::identity(n, n);
        let scale_row = |m: &mut CMatrix, row: usize, f: Complex<f64>| {
            for col in 0..n {
                m[(row, col)] *= f;
            }
        };
        let lay = &self.layout;
        let pass = |m: &mut CMatrix, mode: usize, idx: &[usize]| {
            for &i in idx {
                scale_row(m, mode, lay.pass[mode][i].field(dt, 0.0));
            }
        };
        for (k, e) in mesh.elements.iter().enumerate() {
            pass(&mut m, e.mode, &lay.pass_in[k][0]);
            pass(&mut m, e.mode + 1, &lay.pass_in[k][1]);
            let (he, hi) = (2 * k, 2 * k + 1);
            let h = &self.elements[k];
            let arms = Arms {
                external: [
                    h.external[0].field(dt, drives[he] + xt[he]),
                    h.external[1].field(dt, 0.0),
                ],
                internal: [
                    h.internal[0].field(dt, drives[hi] + xt[hi]),
                    h.internal[1].field(dt, 0.0),
                ],
                couplers: h.couplers,
            };
            mzi::apply_left(&e.block_with(&arms), e.mode, &mut m);
        }
        let s = 2 * self.elements.len();
        for mode in 0..n {
            pass(&mut m, mode, &lay.pass_tail[mode]);
            let h = s + mode;
            scale_row(&mut m, mode, self.screen[mode].field(dt, drives[h] + xt[h]));
        }
        m
    }

    /// The offset each heater's fringe shows `dt` kelvin from the reference temperature with the
    /// crosstalk phases `xt` (heater-index order): the phase that, added to every heater's drive,
    /// makes [`MeshHardware::realise`] (lossless, with 50:50 couplers) equal to the ideal mesh with
    /// those drives; with unbalanced couplers, equal to the mesh of those couplers driven so.
    /// Every phase error of the mesh is one heater's offset: a phase on one waveguide is a
    /// difference at the next element (its external offset) plus a phase on both of that element's
    /// modes, which moves on to the output phase column.
    pub fn offsets(&self, mesh: &Mesh, dt: f64, xt: &[f64]) -> Vec<f64> {
        let n = self.n;
        let lay = &self.layout;
        let mut off = vec![0.0; self.heaters()];
        let sum = |mode: usize, idx: &[usize]| -> f64 {
            idx.iter().map(|&i| lay.pass[mode][i].phase(dt, 0.0)).sum()
        };
        let mut p = vec![0.0; n];
        for (k, e) in mesh.elements.iter().enumerate() {
            let m = e.mode;
            p[m] += sum(m, &lay.pass_in[k][0]);
            p[m + 1] += sum(m + 1, &lay.pass_in[k][1]);
            let (he, hi) = (2 * k, 2 * k + 1);
            let hw = &self.elements[k];
            let upper = p[m] + hw.external[0].phase(dt, xt[he]);
            let lower = p[m + 1] + hw.external[1].phase(dt, 0.0);
            off[he] = upper - lower;
            off[hi] = hw.internal[0].phase(dt, xt[hi]) - hw.internal[1].phase(dt, 0.0);
            let common = lower + hw.internal[1].phase(dt, 0.0);
            p[m] = common;
            p[m + 1] = common;
        }
        let s = 2 * self.elements.len();
        for mode in 0..n {
            off[s + mode] = p[mode]
                + sum(mode, &lay.pass_tail[mode])
                + self.screen[mode].phase(dt, xt[s + mode]);
        }
        off
    }

    /// The field amplitude a path keeps from the mesh's input to heater `h`'s element (the light a
    /// monitor there sees, relative to the input), at the nominal loss.
    pub fn transmission_to(&self, h: usize, loss_db_per_mzi: f64) -> f64 {
        let sections = 2 * (self.column_of(h) + 1);
        10f64.powf(-loss_db_per_mzi / 2.0 * sections as f64 / 20.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn random_unitary(n: usize, seed: u64) -> CMatrix {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let a = CMatrix::from_fn(n, n, |_, _| {
            Complex::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0))
        });
        a.qr().q()
    }

    fn spec() -> HardwareSpec {
        HardwareSpec {
            thermo_optic_rad_per_k: 0.073,
            thermo_optic_spread: 0.02,
            crosstalk: 0.04,
            coupler_sigma: 0.0,
            loss_db_per_mzi: 0.0,
            loss_spread_db: 0.0,
        }
    }

    fn max_diff(a: &CMatrix, b: &CMatrix) -> f64 {
        (a - b).iter().map(|z| z.norm()).fold(0.0, f64::max)
    }

    #[test]
    fn offsets_are_exactly_what_the_drives_must_correct() {
        // With every drive set to its target minus its offset (crosstalk included), the realised
        // lossless mesh is the ideal one: the offsets account for every section's phase.
        for n in [2, 5, 8] {
            let mesh = Mesh::decompose(&random_unitary(n, n as u64));
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let hw = MeshHardware::draw(&mesh, &spec(), &mut rng);
            let targets = crate::calibration::targets(&mesh);
            let dt = 7.5;
            // Fixed point: the crosstalk depends on the drives it corrects.
            let mut drives: Vec<f64> = targets.clone();
            for _ in 0..60 {
                let xt = hw.crosstalk_phases(&drives);
                let off = hw.offsets(&mesh, dt, &xt);
                drives = targets.iter().zip(&off).map(|(t, o)| t - o).collect();
            }
            let got = hw.realise(&mesh, &drives, dt);
            assert!(max_diff(&got, &mesh.matrix()) < 1e-9, "N = {n}");
        }
    }

    #[test]
    fn every_mode_crosses_every_column() {
        // Each mode crosses each column in an element or in two pass-through sections.
        let mesh = Mesh::decompose(&random_unitary(8, 1));
        let hw = MeshHardware::draw(&mesh, &spec(), &mut ChaCha8Rng::seed_from_u64(1));
        for mode in 0..8 {
            let crossed = mesh
                .elements
                .iter()
                .filter(|e| e.mode == mode || e.mode + 1 == mode)
                .count();
            assert_eq!(crossed + hw.layout.pass[mode].len() / 2, 8, "mode {mode}");
        }
        assert_eq!(hw.columns(), 8);
    }
}
