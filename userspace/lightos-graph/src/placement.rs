//! Placement by the PowerGovernor: which backend a network's matrix products go to, chosen by the
//! live governor among the registered backends that run `MATMUL`, from their telemetry now
//! (temperature and its model, power, load) and its policy. The caller routes `MATMUL` there
//! (and compiles for it: a photonic device gets convolutions as matrix products); every other op
//! goes where the kernel routes it. Placement by capability alone is the backend's op mask.

use lightos_governor::{
    gpu::GpuTelemetry,
    live::{LiveError, LiveGovernor},
    GovernorConfig, JobProfile,
};
use lightos_runtime::{Context, Op};

pub use lightos_governor::Policy;

/// The policy placement uses unless told otherwise (the governor's default).
pub fn default_policy() -> Policy {
    GovernorConfig::default().policy
}

/// The governor's choice for a network's matrix products.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    /// The backend chosen.
    pub backend: String,
    /// The backends it chose among (those that run `MATMUL`).
    pub candidates: Vec<String>,
    /// Why, in the governor's words.
    pub reason: String,
}

/// Where the live governor (`policy`, on `ctx`, which it keeps) places `flops` of matrix
/// products, shown to it as a dense job of 1 W above idle lasting the FLOPs at 1 GFLOP/s (an order
/// of magnitude: what it weighs is the heat a long run adds to a warm device). `gpus` reads the
/// sensors of `cudaN` backends. An error when no backend runs `MATMUL` or the governor refuses.
pub fn governed(
    ctx: Context,
    flops: u64,
    policy: Policy,
    gpus: Option<Box<dyn GpuTelemetry>>,
) -> Result<Placement, LiveError> {
    let candidates: Vec<String> = ctx
        .backends()?
        .into_iter()
        .filter(|b| b.ops & Op::Matmul.bit() != 0)
        .map(|b| b.name)
        .collect();
    if candidates.is_empty() {
        return Err(LiveError::UnknownDevice(
            "(none: no registered backend runs MATMUL)".into(),
        ));
    }
    let refs: Vec<&str> = candidates.iter().map(String::as_str).collect();
    let cfg = GovernorConfig {
        policy,
        ..GovernorConfig::default()
    };
    let mut gov = LiveGovernor::with_gpus(ctx, cfg, &refs, gpus)?;
    gov.poll()?;
    let seconds = (flops as f64 / 1e9).clamp(1e-3, 3600.0);
    let d = gov.place(&JobProfile::dense(1.0, seconds))?;
    Ok(Placement {
        backend: gov.name(d.device).to_string(),
        candidates,
        reason: d.reason,
    })
}
