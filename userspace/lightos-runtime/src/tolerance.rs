//! How close a backend's results must be to the exact ones (relative error
//! `‖out − ref‖ / ‖ref‖`): digital backends to f32 rounding, the photonic NPU to the error its
//! physics leaves. The photonic figures are derived from the emulator's model of the chip
//! (docs/PHYSICS.md): the worst error of three modelled chips, 64×64 tiles, calibrated and drifted
//! as far as the driver allows before it recalibrates, times 1.5. `qemu/photonic-emu/tests/
//! tolerances.rs` recomputes them and fails if a figure here is below that or more than twice it.
//! The MLP figure is the same rule applied to MLPs of the shapes the demo and the VM suite run
//! (32-64-10 and 256-512-512-10), every layer tiled on the modelled chip as the driver tiles it.

/// Digital backends (f32 arithmetic, different summation orders).
pub const DIGITAL: f64 = 1e-4;

/// A photonic MATMUL of any shape: partial tiles (products smaller than the 64-mode mesh, edge
/// tiles) and rank-1 tiles (every row of `b` equal) carry less signal per output against the same
/// detector noise and component errors than whole full-rank tiles.
pub const PHOTONIC_MATMUL: f64 = 0.2;

/// A photonic MATMUL made of whole 64×64 tiles of full-rank weights (M, K, N multiples of 64).
pub const PHOTONIC_MATMUL_FULL_TILES: f64 = 0.07;

/// A photonic MLP's forward pass (`lightos run mlp`), read as the largest |out − ref| over the
/// largest |ref|: every layer's error passes on to the next, and the largest of a few outputs' errors
/// is several times their RMS.
pub const PHOTONIC_MLP: f64 = 0.3;

/// A network whose layers run as photonic MATMULs (convolutions lowered to column copies and
/// matrix products), read as the relative L2 error of its outputs: [`PHOTONIC_MATMUL`] per layer,
/// the layers' errors independent and so adding in quadrature along the longest chain of `depth`
/// MATMULs, and never more than [`PHOTONIC_NETWORK_MAX`]. Unlike the figures above it is not
/// recomputed from the chip model by the emulator's tests; vm_photonic_graph prints the error it
/// measures beside it (SqueezeNet 0.16-0.26 at depth 18, ResNet-50 0.47 at depth 50).
pub fn photonic_network(depth: usize) -> f64 {
    (PHOTONIC_MATMUL * (depth.max(1) as f64).sqrt()).min(PHOTONIC_NETWORK_MAX)
}

/// The most a deep photonic network's relative error may be: outputs unrelated to the reference
/// (of the same norm) are √2 away; 0.8 still requires the analog outputs to point mostly the same
/// way (cosine similarity above 0.68).
pub const PHOTONIC_NETWORK_MAX: f64 = 0.8;

/// Whether backend `name` is analog (a photonic NPU).
fn analog(name: &str) -> bool {
    name.starts_with("photonic")
}

/// The tolerance of one MATMUL on backend `name`.
pub fn matmul(name: &str) -> f64 {
    if analog(name) {
        PHOTONIC_MATMUL
    } else {
        DIGITAL
    }
}

/// The tolerance of an MLP forward pass whose MATMULs run on backend `name`.
pub fn mlp(name: &str) -> f64 {
    if analog(name) {
        PHOTONIC_MLP
    } else {
        DIGITAL
    }
}
