//! `lightos._lightos`: the extension module behind `import lightos`. [`devices`] lists what runs
//! primitives (the kernel's backends, or this process's CPU backend without `/dev/lightos`);
//! [`session::InferenceSession`] is an onnxruntime-style session over the graph engine
//! (lightos-graph): every primitive a job of `/dev/lightos` when the module is loaded, the CPU
//! backend's kernels in this process otherwise. Errors are `lightos.LightOSError` with `errno`,
//! `reason` and `hint` attributes.

mod devices;
mod error;
mod session;

use pyo3::prelude::*;

/// The module: `lightos._lightos`, re-exported by `lightos`.
#[pymodule]
fn _lightos(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("LightOSError", m.py().get_type::<error::LightOSError>())?;
    m.add_function(wrap_pyfunction!(devices::devices, m)?)?;
    m.add_class::<session::InferenceSession>()?;
    m.add_class::<session::NodeArg>()?;
    Ok(())
}
