//! `lightos snn-demo`: the spiking engine end to end on a generated dataset, with the encoding and
//! the synaptic products in this process or through the kernel.

use lightos_runtime::Context;
use lightos_snn::{
    blobs::{run_experiment_with, Experiment},
    input::{InputEncoder, KernelEncoder, LocalEncoder},
    synapse::{DeviceSynapses, Synapses},
};
use std::path::Path;

/// Where the stages run.
#[derive(Clone, Debug, Default)]
pub struct Placement {
    /// Encode with OP_SPIKE_ENCODE through a kernel-produced ring.
    pub kernel_encoder: bool,
    /// Multiply the synapses on this kernel backend (`None`: event by event here).
    pub synapses: Option<String>,
}

/// Ring entries of the kernel encoder: one sample's events at most (inputs × steps), rounded up.
fn ring_entries(e: &Experiment) -> u32 {
    let most = (2 * e.per_axis * e.steps as usize).max(2);
    most.next_power_of_two().min(65_536) as u32
}

/// Runs the experiment and prints accuracy, sparsity and event throughput.
pub fn run(
    device: &Path,
    e: &Experiment,
    place: &Placement,
    json: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let dev = if place.kernel_encoder {
        Some(Context::open_path(device)?)
    } else {
        None
    };
    let mut kernel_encoder = None;
    let mut local_encoder = LocalEncoder;
    let encoder: &mut dyn InputEncoder = match &dev {
        Some(dev) => {
            let inputs = 2 * e.per_axis;
            if inputs * e.steps as usize > 65_536 {
                return Err("--steps too large for one kernel ring (65536 events a sample)".into());
            }
            kernel_encoder.insert(KernelEncoder::new(
                dev,
                ring_entries(e),
                inputs,
                e.steps as usize,
            )?)
        }
        _ => &mut local_encoder,
    };
    // Its own context: the MATMUL route it sets stays out of the encoder's.
    let mut device_synapses = match &place.synapses {
        Some(name) => Some(DeviceSynapses::new(Context::open_path(device)?, name)?),
        None => None,
    };
    let synapses = device_synapses.as_mut().map(|s| s as &mut dyn Synapses);
    let r = run_experiment_with(e, encoder, synapses).map_err(|err| {
        if place.kernel_encoder {
            format!("{err} (--encode kernel needs a backend that runs SPIKE_ENCODE: start `lightos executor &`)")
        } else {
            err.to_string()
        }
    })?;
    let events_per_s = r.events as f64 / r.seconds.max(f64::MIN_POSITIVE);
    let ring = kernel_encoder
        .as_ref()
        .map(|k| (k.events, k.seconds, k.events_per_s()));
    if json {
        println!(
            "{}",
            serde_json::json!({
                "classes": e.classes, "inputs": 2 * e.per_axis, "hidden": e.hidden, "steps": e.steps,
                "train": e.train, "test": e.test, "seed": e.seed,
                "encoder": r.encoder, "synapses": r.synapses,
                "accuracy": r.accuracy, "hidden_sparsity": r.hidden_sparsity,
                "input_sparsity": r.input_sparsity, "events": r.events, "seconds": r.seconds,
                "events_per_s": events_per_s,
                "ring": ring.map(|(n, s, rate)| serde_json::json!({
                    "events": n, "seconds": s, "events_per_s": rate
                })),
            })
        );
        return Ok(());
    }
    println!(
        "spiking network: {} inputs (population code, rate-coded over {} steps) -> {} LIF -> {} LIF",
        2 * e.per_axis,
        e.steps,
        e.hidden,
        e.classes
    );
    println!("  encoder           {}", r.encoder);
    println!("  synapses          {}", r.synapses);
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
        "  events            {} in {:.3} s: {:.0} events/s (network, one thread)",
        r.events, r.seconds, events_per_s
    );
    if let Some((n, s, rate)) = ring {
        println!(
            "  input ring        {n} events in {s:.3} s: {rate:.0} events/s (submit SPIKE_ENCODE → kernel produces → drained here)"
        );
    }
    Ok(())
}
