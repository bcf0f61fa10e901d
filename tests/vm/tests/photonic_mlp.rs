//! The same application code (an MLP forward pass, lightos_runtime::mlp) on cpu0 (lightosd's CPU
//! backend) and on photonic0, each against the f64 reference within its stated tolerance.

use lightos_runtime::{mlp::Mlp, Device};
use lightos_vm_tests::{pattern_f32, photonic, ExecutorThread};

#[test]
fn the_same_mlp_code_runs_on_cpu0_and_photonic0_within_each_tolerance() {
    photonic::npu_ready();
    let _cpu = ExecutorThread::lightosd("cpu-mlp", 2);
    let model = Mlp::generate(&[32, 64, 10], 5).unwrap();
    let batch = 16;
    let x = pattern_f32(batch * 32, 4);
    let want = model.reference(&x, batch).unwrap();
    let dev = Device::open().unwrap();
    for (backend, tol) in [("cpu-mlp", 1e-5), ("photonic0", 5e-2)] {
        let run = model
            .run_on(&dev, backend, &x, batch)
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        let err = lightos_runtime::mlp::relative_error(&run.output, &want);
        eprintln!("{backend}: max error {err:.2e} of max |ref|");
        assert!(err <= tol, "{backend}: error {err} above {tol}");
    }
    assert!(matches!(
        model.run_on(&dev, "nonesuch", &x, batch),
        Err(lightos_runtime::mlp::MlpError::NoBackend(_))
    ));
    assert!(matches!(
        model.run_on(&dev, "cpu-mlp", &x[1..], batch),
        Err(lightos_runtime::mlp::MlpError::Shape(_))
    ));
}
