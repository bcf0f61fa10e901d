//! Prints, as JSON, the Clements mesh of a seeded random unitary: every element's mode, column and
//! heater phases, the output phase column, and the unitary the mesh implements. It is the input of
//! `qemu/photonic-emu/tests/neurophox_mesh.py`, which rebuilds the same circuit with neurophox.
//!
//!     cargo run --release -p photonic-emu --example dump_mesh -- N SEED
//!
//! Numbers are printed with Rust's shortest round-trip formatting, so the reader gets the exact
//! `f64`s the mesh holds.

use nalgebra::Complex;
use photonic_emu::clements::Mesh;
use photonic_emu::mzi::{CMatrix, Orientation};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A random unitary: the Q of a QR decomposition of a random complex matrix (as the crate's tests).
fn random_unitary(n: usize, seed: u64) -> CMatrix {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let a = CMatrix::from_fn(n, n, |_, _| {
        Complex::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0))
    });
    a.qr().q()
}

/// A finite `f64` as a JSON number: `Debug` prints the shortest form that round-trips (`1.0`,
/// `1e-20`), which JSON accepts as it stands.
fn num(x: f64) -> String {
    assert!(x.is_finite(), "non-finite number {x}");
    format!("{x:?}")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: dump_mesh N SEED (N ≥ 2)";
    let [n, seed] = args.as_slice() else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let (Ok(n), Ok(seed)) = (n.parse::<usize>(), seed.parse::<u64>()) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    if n < 2 {
        eprintln!("{usage}");
        std::process::exit(2);
    }

    let u = random_unitary(n, seed);
    let mesh = Mesh::decompose(&u);
    let m = mesh.matrix();
    let columns = mesh.columns();

    let elements: Vec<String> = mesh
        .elements
        .iter()
        .zip(&columns)
        .map(|(e, c)| {
            let orientation = match e.orientation {
                Orientation::Forward => "forward",
                Orientation::Inverse => "inverse",
            };
            format!(
                "    {{\"mode\": {}, \"column\": {}, \"theta\": {}, \"phi\": {}, \"orientation\": \"{}\"}}",
                e.mode,
                c,
                num(e.theta),
                num(e.phi),
                orientation
            )
        })
        .collect();
    let phases: Vec<String> = mesh.phases.iter().map(|&p| num(p)).collect();
    let rows: Vec<String> = (0..n)
        .map(|r| {
            let row: Vec<String> = (0..n)
                .map(|c| format!("[{}, {}]", num(m[(r, c)].re), num(m[(r, c)].im)))
                .collect();
            format!("    [{}]", row.join(", "))
        })
        .collect();
    let target_err = (&m - &u).iter().map(|z| z.norm()).fold(0.0, f64::max);

    println!("{{");
    println!("  \"n\": {n},");
    println!("  \"seed\": {seed},");
    println!("  \"convention\": \"U = diag(exp(i*phases)) * E_last ... E_1; E = core(theta) * diag(exp(i*phi), 1), core(a) = exp(i*a/2) * R(pi/2 - a/2), R(t) = [[cos t, -sin t], [sin t, cos t]]; y = U x\",");
    println!("  \"elements\": [\n{}\n  ],", elements.join(",\n"));
    println!("  \"phases\": [{}],", phases.join(", "));
    println!("  \"max_abs_mesh_minus_target\": {},", num(target_err));
    println!("  \"matrix\": [\n{}\n  ]", rows.join(",\n"));
    println!("}}");
}
