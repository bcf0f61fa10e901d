//! The photonic tolerances the runtime publishes (`lightos_runtime::tolerance`) are derived from
//! this model: each must cover the worst of three modelled chips times the margin, and must not be
//! more than twice that (a tolerance loosened beyond the model fails here too).

use photonic_emu::tolerance::{model_error, Weights, ANY_TILE, MARGIN};

fn check(name: &str, published: f64, weights: &[Weights]) {
    let worst = (1..=3)
        .flat_map(|seed| weights.iter().map(move |&w| model_error(64, seed, w)))
        .fold(0.0, f64::max);
    let derived = worst * MARGIN;
    eprintln!("{name}: model worst {worst:.3e}, x{MARGIN} = {derived:.3e}, published {published}");
    assert!(
        published >= derived,
        "{name}: published {published} is below the model's {derived:.3e}"
    );
    assert!(
        published <= 2.0 * derived,
        "{name}: published {published} is more than twice the model's {derived:.3e}"
    );
}

#[test]
fn the_matmul_tolerances_are_derived_from_the_model() {
    check(
        "PHOTONIC_MATMUL",
        lightos_runtime::tolerance::PHOTONIC_MATMUL,
        &ANY_TILE,
    );
    check(
        "PHOTONIC_MATMUL_FULL_TILES",
        lightos_runtime::tolerance::PHOTONIC_MATMUL_FULL_TILES,
        &[Weights::FullRank],
    );
}

#[test]
fn the_mlp_tolerance_is_derived_from_the_model() {
    let worst = [vec![32, 64, 10], vec![256, 512, 512, 10]]
        .iter()
        .flat_map(|sizes| (1..=3).map(move |seed| photonic_emu::tolerance::mlp_error(sizes, seed)))
        .fold(0.0, f64::max);
    let (derived, published) = (worst * MARGIN, lightos_runtime::tolerance::PHOTONIC_MLP);
    eprintln!(
        "PHOTONIC_MLP: model worst {worst:.3e}, x{MARGIN} = {derived:.3e}, published {published}"
    );
    assert!(
        published >= derived,
        "published {published} is below the model's {derived:.3e}"
    );
    assert!(
        published <= 2.0 * derived,
        "published {published} is more than twice the model's {derived:.3e}"
    );
}
