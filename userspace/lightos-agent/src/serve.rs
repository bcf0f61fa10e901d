//! What the HTTP and gRPC front ends share: the agent's state, finding a model, and one
//! inference from named input tensors to the model's reply, with its metrics. Each front end
//! decodes its own wire format and maps [`InferError`] to its own status codes.

use crate::{
    activity::Activity,
    batch::Tensor,
    metrics::Metrics,
    model::{Model, Reply, RunError},
    repository::Repository,
    telemetry::Telemetry,
};
use lightos_graph::ir::DType;
use std::{
    path::PathBuf,
    sync::{atomic::AtomicBool, Arc},
    time::{Duration, Instant},
};

/// What the front ends share.
pub struct App {
    /// The models.
    pub repository: Arc<Repository>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// The bearer token state-changing calls need (`None`: they are refused).
    pub token: Option<String>,
    /// Cleared while the agent starts and once it is shutting down.
    pub ready: AtomicBool,
    /// The device samples and thermal events.
    pub telemetry: Arc<Telemetry>,
    /// The kernel's device node.
    pub node: PathBuf,
    /// Recent requests and placements, for the dashboard.
    pub activity: Arc<Activity>,
    /// Set once the agent is shutting down (long-lived streams end).
    pub stopping: AtomicBool,
}

/// Why a state-changing call is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No token is configured: such calls are disabled (HTTP 403, gRPC PERMISSION_DENIED).
    NoToken,
    /// The call carries no token, or the wrong one (HTTP 401, gRPC UNAUTHENTICATED).
    Unauthenticated,
}

/// The message for a refusal with no token configured.
pub const NO_TOKEN: &str =
    "no token is configured ([auth] in the agent's config): state-changing calls are disabled";

/// Checks an `authorization` value ("Bearer <token>", from an HTTP header or gRPC metadata)
/// against the configured token, comparing in constant time.
pub fn check_token(app: &App, authorization: Option<&str>) -> Result<(), Refusal> {
    let token = app.token.as_ref().ok_or(Refusal::NoToken)?;
    let given = authorization.and_then(|h| h.strip_prefix("Bearer "));
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
        Ok(())
    } else {
        Err(Refusal::Unauthenticated)
    }
}

/// Compares without stopping at the first difference (the time says nothing about a token).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Why an inference did not happen.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// The request does not fit the model (HTTP 400, gRPC INVALID_ARGUMENT).
    #[error("{0}")]
    BadRequest(String),
    /// No such model or version (HTTP 404, gRPC NOT_FOUND).
    #[error("{0}")]
    NotFound(String),
    /// Queued and failed, or refused by the queue.
    #[error("{0}")]
    Run(#[from] RunError),
}

/// The protocol's name of an element type.
pub fn datatype(d: DType) -> &'static str {
    match d {
        DType::F32 => "FP32",
        DType::I64 => "INT64",
        _ => "BYTES",
    }
}

/// Bytes per element of a protocol datatype the agent takes (FP32, INT64).
pub fn datatype_size(name: &str) -> Option<usize> {
    match name {
        "FP32" => Some(4),
        "INT64" => Some(8),
        _ => None,
    }
}

/// The loaded model `m`, at version `v` if given (empty: any).
pub fn find(app: &App, m: &str, v: Option<&str>) -> Result<Arc<Model>, InferError> {
    let model = app
        .repository
        .get(m)
        .ok_or_else(|| InferError::NotFound(format!("unknown model '{m}' (not loaded)")))?;
    if let Some(v) = v.filter(|v| !v.is_empty() && *v != model.version) {
        return Err(InferError::NotFound(format!(
            "model '{m}' has no version {v} loaded (version {} is)",
            model.version
        )));
    }
    Ok(model)
}

/// An input as a request names it.
pub struct Named {
    /// The input's name.
    pub name: String,
    /// Its protocol datatype.
    pub datatype: String,
    /// Its dimensions and bytes.
    pub tensor: Tensor,
}

/// Runs `inputs` through `model`, returning the indices of the outputs asked for (`outputs`;
/// empty: all) and the reply. Counts the request in the metrics either way; `arrived` starts its
/// end-to-end time.
pub async fn infer(
    app: &App,
    model: &Model,
    inputs: Vec<Named>,
    outputs: &[String],
    arrived: Instant,
) -> Result<(Vec<usize>, Reply), InferError> {
    let result = run(model, inputs, outputs, arrived).await;
    let total = arrived.elapsed();
    match &result {
        Ok((_, r)) => {
            app.metrics
                .success(&model.name, r.queued, r.compute, r.batch_rows, total);
            app.activity.request(&model.name, Some(total), r.batch_rows);
        }
        Err(_) => {
            app.metrics.failure(&model.name);
            app.activity.request(&model.name, None, 0);
        }
    }
    result
}

async fn run(
    model: &Model,
    inputs: Vec<Named>,
    outputs: &[String],
    arrived: Instant,
) -> Result<(Vec<usize>, Reply), InferError> {
    let m = &model.name;
    let mut ordered: Vec<Option<Tensor>> = vec![None; model.inputs.len()];
    for n in inputs {
        let Some(k) = model.inputs.iter().position(|s| s.name == n.name) else {
            let names: Vec<&str> = model.inputs.iter().map(|s| s.name.as_str()).collect();
            return Err(InferError::BadRequest(format!(
                "model '{m}' has no input {} (its inputs: {})",
                n.name,
                names.join(", ")
            )));
        };
        let want = datatype(model.inputs[k].dtype);
        if n.datatype != want {
            return Err(InferError::BadRequest(format!(
                "input {} is {}, the model takes {want}",
                n.name, n.datatype
            )));
        }
        ordered[k] = Some(n.tensor);
    }
    let Some(ordered) = ordered.into_iter().collect::<Option<Vec<Tensor>>>() else {
        return Err(InferError::BadRequest(format!(
            "missing inputs: model '{m}' takes {}",
            model.inputs.len()
        )));
    };
    let wanted: Vec<usize> = if outputs.is_empty() {
        (0..model.outputs.len()).collect()
    } else {
        outputs
            .iter()
            .map(|o| {
                model
                    .outputs
                    .iter()
                    .position(|s| &s.name == o)
                    .ok_or_else(|| InferError::BadRequest(format!("model '{m}' has no output {o}")))
            })
            .collect::<Result<_, _>>()?
    };
    let deadline = (model.config.timeout_ms > 0)
        .then(|| arrived + Duration::from_millis(model.config.timeout_ms));
    let rx = model.submit(ordered, deadline)?;
    let reply = rx
        .await
        .map_err(|_| RunError::Run(format!("model '{m}' stopped before answering")))??;
    Ok((wanted, reply))
}
