//! Power limits of a guarded device (`POWER_SET`: a laser cap and a TEC floor), by the device's
//! name: what the control plane's `SetPowerLimit` and the config's `[power.DEVICE]` tables apply.

use lightos_runtime::{thermal::PowerControls, Context};
use std::path::Path;

/// Why a limit was not applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PowerError {
    /// The kernel could not be asked (no module, …).
    #[error("{0}")]
    Kernel(String),
    /// No backend has that name.
    #[error("no device '{device}' (devices: {known})")]
    UnknownDevice {
        /// The name asked for.
        device: String,
        /// The names there are, comma-separated.
        known: String,
    },
    /// The kernel refused the limit (out of range, not a guarded device, no permission).
    #[error("{0}")]
    Refused(String),
}

/// Applies `controls` to the device named `device` through `node`.
pub fn set_limit(node: &Path, device: &str, controls: PowerControls) -> Result<(), PowerError> {
    let ctx = Context::open_path(node).map_err(|e| PowerError::Kernel(e.to_string()))?;
    let backends = ctx
        .backends()
        .map_err(|e| PowerError::Kernel(e.to_string()))?;
    let b =
        backends
            .iter()
            .find(|b| b.name == device)
            .ok_or_else(|| PowerError::UnknownDevice {
                device: device.to_string(),
                known: backends
                    .iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
    ctx.set_power(b.id, controls)
        .map_err(|e| PowerError::Refused(e.to_string()))
}
