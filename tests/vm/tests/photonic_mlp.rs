//! The device API (lightos_runtime::accel) with photonic0 and lightosd's CPU backend: the same
//! application code (an MLP forward pass) on both, each against the f64 reference within its
//! stated tolerance; device properties; operands refused before submission.

use lightos_cli::mlp::{Mlp, MlpError};
use lightos_runtime::{
    accel::{AccelError, Accelerator, DeviceKind},
    DType, Op,
};
use lightos_vm_tests::{pattern_f32, photonic, ExecutorThread};

#[test]
fn the_same_mlp_code_runs_on_cpu0_and_photonic0_within_each_tolerance() {
    photonic::npu_ready(0);
    let _cpu = ExecutorThread::lightosd("cpu-mlp", 2);
    let model = Mlp::generate(&[32, 64, 10], 5).unwrap();
    let batch = 16;
    let x = pattern_f32(batch * 32, 4);
    let want = model.reference(&x, batch).unwrap();
    let mut acc = Accelerator::open().unwrap();
    for (device, tol) in [
        ("cpu-mlp", 1e-5),
        ("photonic0", lightos_runtime::tolerance::PHOTONIC_MLP),
    ] {
        let run = model
            .run_on(&mut acc, device, &x, batch)
            .unwrap_or_else(|e| panic!("{device}: {e}"));
        let err = lightos_cli::mlp::relative_error(&run.output, &want);
        eprintln!("{device}: max error {err:.2e} of max |ref|");
        assert!(err <= tol, "{device}: error {err} above {tol}");
    }
    assert!(matches!(
        model.run_on(&mut acc, "nonesuch", &x, batch),
        Err(MlpError::Accel(AccelError::NoDevice(_)))
    ));
    assert!(matches!(
        model.run_on(&mut acc, "cpu-mlp", &x[1..], batch),
        Err(MlpError::Shape(_))
    ));
}

#[test]
fn devices_report_their_kind_capabilities_and_temperature() {
    photonic::npu_ready(0);
    let _cpu = ExecutorThread::lightosd("cpu-props", 1);
    let acc = Accelerator::open().unwrap();
    let devices = acc.devices().unwrap();
    let cpu = devices
        .iter()
        .find(|d| d.name == "cpu-props")
        .expect("cpu-props listed");
    assert_eq!(cpu.kind, DeviceKind::Executor);
    assert!(cpu.runs(Op::Matmul, DType::F16) && cpu.runs(Op::Attention, DType::Bf16));
    assert!(cpu.deterministic(Op::Matmul));
    assert_eq!(cpu.temperature_c, None);
    let npu = devices
        .iter()
        .find(|d| d.name == "photonic0")
        .expect("photonic0 listed");
    assert_eq!(npu.kind, DeviceKind::Hardware);
    assert!(npu.runs(Op::Matmul, DType::F32) && !npu.runs(Op::Softmax, DType::F32));
    let t = npu
        .temperature_c
        .expect("photonic0 reports its temperature");
    assert!((0.0..85.0).contains(&t), "{t} °C");
    assert_eq!(npu.thermal_state, Some("normal"));
}

#[test]
fn mismatched_operands_are_refused_before_submission() {
    let _cpu = ExecutorThread::lightosd("cpu-shapes", 1);
    let mut acc = Accelerator::open().unwrap();
    acc.select("cpu-shapes").unwrap();
    let a = acc.zeros(&[2, 3], DType::F32).unwrap();
    let b = acc.zeros(&[4, 5], DType::F32).unwrap();
    let c = acc.zeros(&[2, 5], DType::F32).unwrap();
    let before = acc.context().context_stats().unwrap();
    let e = acc.matmul(&a, &b, &c).unwrap_err();
    assert!(matches!(e, AccelError::Shape { op: Op::Matmul, .. }), "{e}");
    assert!(e.to_string().contains("[2, 3] · [4, 5]"), "{e}");
    let after = acc.context().context_stats().unwrap();
    assert_eq!(
        after.ioctls,
        before.ioctls + 1,
        "no ioctl between the two QUERY_CONTEXTs: nothing reached the kernel"
    );
    // And a good one runs, timed by its event.
    let b = acc.tensor_from_f32(&[3, 5], &[1.0; 15]).unwrap();
    let mut a = a;
    a.write_f32(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    let took = acc.matmul(&a, &b, &c).unwrap().wait().unwrap();
    assert!(took.as_nanos() > 0);
    assert_eq!(c.to_f32().unwrap(), [[6.0; 5], [15.0; 5]].concat());
}
