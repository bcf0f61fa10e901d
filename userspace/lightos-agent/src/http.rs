//! The HTTP server: the Open Inference Protocol (KServe v2) REST API with Triton's binary tensor
//! extension and model repository extension, `/metrics` and the dashboard.
//!
//! | route | |
//! |---|---|
//! | `GET /v2/health/live`, `/v2/health/ready` | 200 when live / ready |
//! | `GET /v2` | server metadata |
//! | `GET /v2/models/{m}[/versions/{v}]` | model metadata |
//! | `GET /v2/models/{m}[/versions/{v}]/ready` | 200 when loaded |
//! | `POST /v2/models/{m}[/versions/{v}]/infer` | inference (JSON, or JSON + binary tensors) |
//! | `POST /v2/repository/index` | the repository's models and their state |
//! | `POST /v2/repository/models/{m}/load`, `/unload` | bearer token required |
//! | `GET /metrics` | Prometheus / OpenMetrics |
//! | `GET /`, `/api/v1/dashboard[/stream]` | the live dashboard (`dashboard.rs`) |
//!
//! Errors are `{"error": "…"}` with 400 (bad request), 401/403 (authentication), 404 (unknown
//! model or version), 413 (body over `max_request_bytes`), 429 (queue full), 503 (the model or
//! its device failed, or unloading) and 504 (not run before its deadline).

use crate::{
    batch::Tensor,
    metrics::prometheus_text,
    model::{RunError, TensorSpec},
    serve::{self, datatype, datatype_size, App, InferError, Named, Refusal},
};
use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::{
    sync::{atomic::Ordering, Arc},
    time::Instant,
};

/// The router, with bodies limited to `max_request_bytes`.
pub fn router(app: Arc<App>, max_request_bytes: usize) -> Router {
    Router::new()
        .route("/v2/health/live", get(|| async { StatusCode::OK }))
        .route("/v2/health/ready", get(ready))
        .route("/v2", get(server_metadata))
        .route("/v2/models/{m}", get(model_metadata))
        .route("/v2/models/{m}/versions/{v}", get(model_metadata_v))
        .route("/v2/models/{m}/ready", get(model_ready))
        .route("/v2/models/{m}/versions/{v}/ready", get(model_ready_v))
        .route("/v2/models/{m}/infer", post(infer))
        .route("/v2/models/{m}/versions/{v}/infer", post(infer_v))
        .route("/v2/repository/index", post(index))
        .route("/v2/repository/models/{m}/load", post(load))
        .route("/v2/repository/models/{m}/unload", post(unload))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(max_request_bytes))
        .with_state(Arc::clone(&app))
        .merge(crate::dashboard::router(app))
}

/// An error response: `{"error": message}`.
fn fail(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

async fn ready(State(app): State<Arc<App>>) -> StatusCode {
    if app.ready.load(Ordering::Acquire) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn server_metadata() -> Json<Value> {
    Json(json!({
        "name": "lightos-agent",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data", "model_repository"],
    }))
}

fn tensor_metadata(specs: &[TensorSpec], outputs: bool) -> Vec<Value> {
    specs
        .iter()
        .map(|s| {
            let shape: Vec<i64> = s.dims.iter().map(|d| d.map_or(-1, |n| n as i64)).collect();
            // The engine returns float32 for every output.
            let dt = if outputs { "FP32" } else { datatype(s.dtype) };
            json!({ "name": s.name, "datatype": dt, "shape": shape })
        })
        .collect()
}

/// The loaded model `m` (at version `v`), or the error response.
fn find(app: &App, m: &str, v: Option<&str>) -> Result<Arc<crate::model::Model>, Response> {
    serve::find(app, m, v).map_err(infer_error)
}

fn metadata(app: &App, m: &str, v: Option<&str>) -> Response {
    match find(app, m, v) {
        Ok(model) => Json(json!({
            "name": model.name,
            "versions": [model.version],
            "platform": "lightos_graph",
            "inputs": tensor_metadata(&model.inputs, false),
            "outputs": tensor_metadata(&model.outputs, true),
            "parameters": {
                "device": model.device,
                "max_batch": if model.batching { model.config.max_batch } else { 1 },
            },
        }))
        .into_response(),
        Err(r) => r,
    }
}

async fn model_metadata(State(app): State<Arc<App>>, Path(m): Path<String>) -> Response {
    metadata(&app, &m, None)
}

async fn model_metadata_v(
    State(app): State<Arc<App>>,
    Path((m, v)): Path<(String, String)>,
) -> Response {
    metadata(&app, &m, Some(&v))
}

async fn model_ready(State(app): State<Arc<App>>, Path(m): Path<String>) -> Response {
    find(&app, &m, None)
        .map(|_| StatusCode::OK.into_response())
        .unwrap_or_else(|r| r)
}

async fn model_ready_v(
    State(app): State<Arc<App>>,
    Path((m, v)): Path<(String, String)>,
) -> Response {
    find(&app, &m, Some(&v))
        .map(|_| StatusCode::OK.into_response())
        .unwrap_or_else(|r| r)
}

#[derive(Deserialize)]
struct InferRequest {
    id: Option<String>,
    #[serde(default)]
    parameters: Map<String, Value>,
    inputs: Vec<InputTensor>,
    #[serde(default)]
    outputs: Vec<RequestedOutput>,
}

#[derive(Deserialize)]
struct InputTensor {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Map<String, Value>,
    data: Option<Value>,
}

#[derive(Deserialize)]
struct RequestedOutput {
    name: String,
    #[serde(default)]
    parameters: Map<String, Value>,
}

/// The numbers of `v`, nested lists flattened, in order.
fn flatten(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        other => out.push(other.clone()),
    }
}

/// Input `t` decoded by its datatype, its data from JSON or from `binary` (advanced past what it
/// takes).
fn input_bytes(t: &InputTensor, binary: &mut &[u8]) -> Result<Named, String> {
    let esize = datatype_size(&t.datatype).ok_or_else(|| {
        format!(
            "input {}: datatype {} is not served (FP32, INT64)",
            t.name, t.datatype
        )
    })?;
    let dims: Vec<u64> = t
        .shape
        .iter()
        .map(|&d| u64::try_from(d).map_err(|_| format!("input {}: negative dimension {d}", t.name)))
        .collect::<Result<_, _>>()?;
    let count = dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d));
    let count =
        count.ok_or_else(|| format!("input {}: shape {dims:?} overflows", t.name))? as usize;
    let named = |bytes| Named {
        name: t.name.clone(),
        datatype: t.datatype.clone(),
        tensor: Tensor {
            dims: dims.clone(),
            bytes,
        },
    };
    if let Some(size) = t.parameters.get("binary_data_size") {
        let size = size.as_u64().ok_or("binary_data_size is not a number")? as usize;
        if size > binary.len() {
            return Err(format!(
                "input {}: binary_data_size {size} is past the body's end",
                t.name
            ));
        }
        let (mine, rest) = binary.split_at(size);
        *binary = rest;
        return Ok(named(mine.to_vec()));
    }
    let data = t
        .data
        .as_ref()
        .ok_or_else(|| format!("input {} has neither data nor binary_data_size", t.name))?;
    // Not `with_capacity(count)`: the count comes from the request's shape, not its data.
    let mut values = Vec::new();
    flatten(data, &mut values);
    if values.len() != count {
        return Err(format!(
            "input {} holds {} values; shape {dims:?} needs {count}",
            t.name,
            values.len()
        ));
    }
    let mut bytes = Vec::with_capacity(count * esize);
    for v in &values {
        if t.datatype == "INT64" {
            let n = v
                .as_i64()
                .ok_or_else(|| format!("input {}: {v} is not an INT64", t.name))?;
            bytes.extend_from_slice(&n.to_le_bytes());
        } else {
            let x = v
                .as_f64()
                .ok_or_else(|| format!("input {}: {v} is not a number", t.name))?;
            bytes.extend_from_slice(&(x as f32).to_le_bytes());
        }
    }
    Ok(named(bytes))
}

async fn infer(
    State(app): State<Arc<App>>,
    Path(m): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_infer(&app, &m, None, &headers, &body).await
}

async fn infer_v(
    State(app): State<Arc<App>>,
    Path((m, v)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_infer(&app, &m, Some(&v), &headers, &body).await
}

const HEADER_LENGTH: &str = "inference-header-content-length";

async fn run_infer(
    app: &App,
    m: &str,
    v: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let arrived = Instant::now();
    let model = match find(app, m, v) {
        Ok(model) => model,
        Err(r) => return r,
    };
    let request = match decode(headers, body) {
        Ok(r) => r,
        Err(e) => {
            app.metrics.failure(m);
            return fail(StatusCode::BAD_REQUEST, e);
        }
    };
    let (request, inputs) = request;
    let names: Vec<String> = request.outputs.iter().map(|o| o.name.clone()).collect();
    let (wanted, reply) = match serve::infer(app, &model, inputs, &names, arrived).await {
        Ok(r) => r,
        Err(e) => return infer_error(e),
    };
    let all_binary = request
        .parameters
        .get("binary_data_output")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut outputs = Vec::new();
    let mut tail: Vec<u8> = Vec::new();
    for k in wanted {
        let t = &reply.outputs[k];
        let spec = &model.outputs[k];
        let binary = all_binary
            || request
                .outputs
                .iter()
                .find(|o| o.name == spec.name)
                .and_then(|o| o.parameters.get("binary_data"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
        let mut o = json!({ "name": spec.name, "datatype": "FP32", "shape": t.dims });
        if binary {
            o["parameters"] = json!({ "binary_data_size": t.bytes.len() });
            tail.extend_from_slice(&t.bytes);
        } else {
            let values: Vec<f32> = t
                .bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            o["data"] = json!(values);
        }
        outputs.push(o);
    }
    let mut doc =
        json!({ "model_name": model.name, "model_version": model.version, "outputs": outputs });
    if let Some(id) = request.id {
        doc["id"] = json!(id);
    }
    let head = doc.to_string();
    if tail.is_empty() {
        return ([(header::CONTENT_TYPE, "application/json")], head).into_response();
    }
    let len = head.len();
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&tail);
    let mut r = ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response();
    r.headers_mut()
        .insert(HEADER_LENGTH, HeaderValue::from(len));
    r
}

/// The request's JSON and its inputs' tensors (Triton's binary extension: a JSON header of the
/// given length, then the tensors' bytes).
fn decode(headers: &HeaderMap, body: &[u8]) -> Result<(InferRequest, Vec<Named>), String> {
    let split = match headers.get(HEADER_LENGTH) {
        Some(h) => match h.to_str().ok().and_then(|s| s.parse::<usize>().ok()) {
            Some(n) if n <= body.len() => n,
            _ => return Err(format!("bad {HEADER_LENGTH}: {h:?}")),
        },
        None => body.len(),
    };
    let (json_part, mut binary) = body.split_at(split);
    let request: InferRequest =
        serde_json::from_slice(json_part).map_err(|e| format!("malformed request JSON: {e}"))?;
    let inputs = request
        .inputs
        .iter()
        .map(|t| input_bytes(t, &mut binary))
        .collect::<Result<_, _>>()?;
    Ok((request, inputs))
}

/// The HTTP status of an inference error.
fn infer_error(e: InferError) -> Response {
    let status = match &e {
        InferError::BadRequest(_) => StatusCode::BAD_REQUEST,
        InferError::NotFound(_) => StatusCode::NOT_FOUND,
        InferError::Run(RunError::QueueFull(..)) => StatusCode::TOO_MANY_REQUESTS,
        InferError::Run(RunError::Deadline(_)) => StatusCode::GATEWAY_TIMEOUT,
        InferError::Run(RunError::Input(_)) => StatusCode::BAD_REQUEST,
        InferError::Run(RunError::Run(_) | RunError::Unloading(_)) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    fail(status, e)
}

async fn index(State(app): State<Arc<App>>) -> Response {
    match app.repository.index() {
        Ok(entries) => {
            let list: Vec<Value> = entries
                .iter()
                .map(|e| {
                    let loaded = app.repository.get(&e.name);
                    json!({
                        "name": e.name,
                        "version": loaded.as_ref().map_or(e.version.clone(), |m| m.version.clone()),
                        "state": if loaded.is_some() { "READY" } else { "UNAVAILABLE" },
                    })
                })
                .collect();
            Json(Value::Array(list)).into_response()
        }
        Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `Ok` when `headers` carry the configured bearer token.
fn authorized(app: &App, headers: &HeaderMap) -> Result<(), Response> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    match serve::check_token(app, given) {
        Ok(()) => Ok(()),
        Err(Refusal::NoToken) => Err(fail(StatusCode::FORBIDDEN, serve::NO_TOKEN)),
        Err(Refusal::Unauthenticated) => {
            let mut r = fail(
                StatusCode::UNAUTHORIZED,
                "this call needs 'Authorization: Bearer <token>'",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            Err(r)
        }
    }
}

async fn load(State(app): State<Arc<App>>, Path(m): Path<String>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&app, &headers) {
        return r;
    }
    let repo = Arc::clone(&app.repository);
    let name = m.clone();
    match tokio::task::spawn_blocking(move || repo.load(&name)).await {
        Ok(Ok(model)) => {
            eprintln!(
                "lightos-agent: loaded {} version {} on {}",
                model.name, model.version, model.device
            );
            StatusCode::OK.into_response()
        }
        Ok(Err(e)) => fail(
            StatusCode::BAD_REQUEST,
            format!("loading '{m}' failed: {e}"),
        ),
        Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn unload(
    State(app): State<Arc<App>>,
    Path(m): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorized(&app, &headers) {
        return r;
    }
    let repo = Arc::clone(&app.repository);
    let name = m.clone();
    match tokio::task::spawn_blocking(move || repo.unload(&name)).await {
        Ok(Ok(())) => {
            eprintln!("lightos-agent: unloaded {m}");
            StatusCode::OK.into_response()
        }
        Ok(Err(e)) => fail(StatusCode::BAD_REQUEST, e),
        Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// OpenMetrics for a scraper that asks for it (Prometheus does), else the Prometheus text format.
async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let text = match app.metrics.encode() {
        Ok(text) => text,
        Err(e) => return fail(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    if openmetrics {
        let kind = "application/openmetrics-text; version=1.0.0; charset=utf-8";
        ([(header::CONTENT_TYPE, kind)], text).into_response()
    } else {
        let kind = "text/plain; version=0.0.4; charset=utf-8";
        ([(header::CONTENT_TYPE, kind)], prometheus_text(&text)).into_response()
    }
}
