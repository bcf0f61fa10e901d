//! `lightos._lightos`: the extension module behind `import lightos`. [`devices`] lists what runs
//! primitives (the kernel's backends, or this process's CPU backend without `/dev/lightos`);
//! [`session::InferenceSession`] is an onnxruntime-style session over the graph engine
//! (lightos-graph): every primitive a job of `/dev/lightos` when the module is loaded, the CPU
//! backend's kernels in this process otherwise. Errors are `lightos.LightOSError` with `errno`,
//! `reason` and `hint` attributes.

mod context;
mod devices;
mod dlpack;
mod error;
mod session;
mod tensor;
mod thermal;

use pyo3::prelude::*;

/// The module: `lightos._lightos`, re-exported by `lightos`.
#[pymodule]
fn _lightos(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("LightOSError", m.py().get_type::<error::LightOSError>())?;
    m.add_function(wrap_pyfunction!(devices::devices, m)?)?;
    m.add_class::<session::InferenceSession>()?;
    m.add_class::<session::NodeArg>()?;
    m.add_class::<context::Context>()?;
    m.add_class::<tensor::Tensor>()?;
    m.add_class::<tensor::Buffer>()?;
    m.add_class::<thermal::ThermalEvents>()?;
    m.add_function(wrap_pyfunction!(dlpack::from_dlpack, m)?)?;
    m.add_function(wrap_pyfunction!(thermal::thermal, m)?)?;
    m.add_function(wrap_pyfunction!(thermal::thermal_events, m)?)?;
    Ok(())
}
