//! The spiking engine through the kernel with the photonic NPU bound: inputs encoded by
//! OP_SPIKE_ENCODE jobs and consumed from a kernel-produced ring give exactly the local encoder's
//! events, and the network's synaptic products run as MATMULs on photonic0 within the device's
//! error and still classify.

use lightos_runtime::Context;
use lightos_snn::{
    blobs::{population_code, run_experiment_with, sample_spec, Experiment},
    input::{InputEncoder, KernelEncoder, LocalEncoder},
    synapse::{DeviceSynapses, LocalSynapses, Synapses},
    SpikeEvent,
};
use lightos_vm_tests::ExecutorThread;

fn small() -> Experiment {
    Experiment {
        train: 60,
        test: 60,
        ..Default::default()
    }
}

#[test]
fn the_kernel_encoder_gives_the_local_encoders_events() {
    let _exec = ExecutorThread::cpu("t-snn-encode");
    let e = small();
    let dev = Context::open().unwrap();
    let mut kernel = KernelEncoder::new(&dev, 1024, 2 * e.per_axis, e.steps as usize).unwrap();
    for (i, point) in [[0.2f32, 0.3], [0.8, 0.1], [0.5, 0.5], [0.0, 1.0]]
        .iter()
        .enumerate()
    {
        let code = population_code(*point, e.per_axis);
        let spec = sample_spec(&e, i);
        let want = LocalEncoder.encode(&code, &spec).unwrap();
        assert!(!want.is_empty());
        assert_eq!(kernel.encode(&code, &spec).unwrap(), want, "sample {i}");
    }
    assert!(kernel.events > 0 && kernel.events_per_s() > 0.0);
}

#[test]
fn synapse_currents_on_photonic0_match_local_ones_within_the_devices_error() {
    lightos_vm_tests::photonic::npu_ready(0);
    let mut npu = DeviceSynapses::new(Context::open().unwrap(), "photonic0").unwrap();
    let (pre, post, steps) = (16usize, 64usize, 50u32);
    let weights: Vec<f32> = (0..pre * post)
        .map(|i| ((i * 7919) % 1000) as f32 / 1250.0 - 0.4)
        .collect();
    let events: Vec<SpikeEvent> = (0..400u32)
        .map(|i| SpikeEvent {
            timestamp_ns: u64::from(i / 8) * 1000,
            neuron: (i * 5) % pre as u32,
            value: 1,
            channel: 0,
        })
        .collect();
    let want = LocalSynapses
        .currents(&events, steps, 1000, pre, post, &weights)
        .unwrap();
    let got = npu
        .currents(&events, steps, 1000, pre, post, &weights)
        .unwrap();
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let norm =
        |v: &mut dyn Iterator<Item = f32>| v.map(|x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    let err =
        norm(&mut want.iter().zip(&got).map(|(w, g)| w - g)) / norm(&mut want.iter().copied());
    eprintln!("photonic0 synapses: relative error {err:.3e} (max |current| {scale})");
    assert!(scale > 1.0);
    // The synaptic products are MATMULs of 16×64 weight tiles: the published MATMUL tolerance.
    assert!(
        err < lightos_runtime::tolerance::PHOTONIC_MATMUL,
        "relative error {err}"
    );
    assert!(npu.name().contains("photonic0"));
}

#[test]
fn the_network_classifies_with_kernel_encoding_and_photonic_synapses() {
    lightos_vm_tests::photonic::npu_ready(0);
    let _exec = ExecutorThread::cpu("t-snn-run");
    let e = small();
    let dev = Context::open().unwrap();
    let mut encoder = KernelEncoder::new(&dev, 1024, 2 * e.per_axis, e.steps as usize).unwrap();
    let mut npu = DeviceSynapses::new(Context::open().unwrap(), "photonic0").unwrap();
    let on_npu = run_experiment_with(&e, &mut encoder, Some(&mut npu)).unwrap();
    let local = run_experiment_with(&e, &mut LocalEncoder, None).unwrap();
    eprintln!("photonic0: {on_npu:?}\nlocal: {local:?}");
    assert!(
        on_npu.accuracy >= 0.8,
        "accuracy {} (chance 0.33)",
        on_npu.accuracy
    );
    assert!(
        (on_npu.accuracy - local.accuracy).abs() <= 0.1,
        "photonic {} vs local {}",
        on_npu.accuracy,
        local.accuracy
    );
    assert_eq!(
        on_npu.input_sparsity, local.input_sparsity,
        "the same input spikes"
    );
}
