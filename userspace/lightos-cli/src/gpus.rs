//! The GPU telemetry `lightos governor` and `lightos top` hand the live governor: NVML, when
//! any governed backend is a GPU executor (`cudaN`) and NVML loads here.

use lightos_governor::gpu::{gpu_of, GpuTelemetry};

/// NVML for the `cudaN` names in `names`; `None` (with a note on stderr) when there are none or
/// NVML is unavailable, in which case those backends are governed as executors without sensors.
pub fn telemetry_for(names: &[&str]) -> Option<Box<dyn GpuTelemetry>> {
    let gpus: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| gpu_of(n).is_some())
        .collect();
    if gpus.is_empty() {
        return None;
    }
    match lightos_cuda::nvml::Telemetry::open() {
        Ok(t) => Some(Box::new(t)),
        Err(e) => {
            eprintln!(
                "lightos: {}: no GPU telemetry ({e}); governed without temperature or power",
                gpus.join(", ")
            );
            None
        }
    }
}
