//! `lightos snn-demo`: the spiking engine end to end on a generated dataset.

use lightos_runtime::spike::blobs::{run_experiment, Experiment};

/// Runs the experiment and prints accuracy, sparsity and event throughput.
pub fn run(e: &Experiment, json: bool) -> Result<(), Box<dyn std::error::Error>> {
    let r = run_experiment(e)?;
    let events_per_s = r.events as f64 / r.seconds.max(f64::MIN_POSITIVE);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "classes": e.classes, "inputs": 2 * e.per_axis, "hidden": e.hidden, "steps": e.steps,
                "train": e.train, "test": e.test, "seed": e.seed,
                "accuracy": r.accuracy, "hidden_sparsity": r.hidden_sparsity,
                "input_sparsity": r.input_sparsity, "events": r.events, "seconds": r.seconds,
                "events_per_s": events_per_s,
            })
        );
    } else {
        println!(
            "spiking network: {} inputs (population code, rate-coded over {} steps) -> {} LIF -> {} LIF",
            2 * e.per_axis,
            e.steps,
            e.hidden,
            e.classes
        );
        println!(
            "  trained readout on {} samples, tested on {} (seed {})",
            e.train, e.test, e.seed
        );
        println!(
            "  accuracy          {:.1} % (chance {:.1} %)",
            100.0 * r.accuracy,
            100.0 / e.classes as f64
        );
        println!(
            "  silent per step   {:.1} % of hidden neurons, {:.1} % of input entries",
            100.0 * r.hidden_sparsity,
            100.0 * r.input_sparsity
        );
        println!(
            "  events            {} in {:.3} s: {:.0} events/s (CPU, event-driven, one thread)",
            r.events, r.seconds, events_per_s
        );
    }
    Ok(())
}
