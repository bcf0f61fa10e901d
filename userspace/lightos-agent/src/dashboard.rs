//! The live dashboard at `/`: one page whose HTML, CSS and JavaScript are embedded in the binary
//! (no CDN, nothing fetched from elsewhere), fed by
//!
//! | route | |
//! |---|---|
//! | `GET /api/v1/dashboard` | the view now, JSON ([`View`]) |
//! | `GET /api/v1/dashboard/stream` | Server-Sent Events: `snapshot` (a [`View`]) every second, `thermal` (an event) as the kernel logs it |
//!
//! The view: every device's latest sample (temperature, power, energy, load, jobs, thermal state
//! and events), every loaded model's requests over the last 10 s (rate, latency percentiles,
//! batch sizes), the newest thermal events and the newest engine placements with their reasons.

use crate::{
    activity::{ModelWindow, Placed},
    serve::App,
    telemetry::{DeviceSample, EventSample},
};
use axum::{
    extract::State,
    http::header,
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse,
    },
    routing::get,
    Json, Router,
};
use serde::Serialize;
use std::{
    convert::Infallible,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};
use tokio::sync::broadcast::error::RecvError;
use tokio_stream::{wrappers::ReceiverStream, Stream};

const PAGE: &str = include_str!("../assets/dashboard.html");
const SCRIPT: &str = include_str!("../assets/dashboard.js");
const STYLE: &str = include_str!("../assets/dashboard.css");

/// How often the stream sends a snapshot.
pub const PERIOD: Duration = Duration::from_secs(1);

/// A loaded model and its recent requests.
#[derive(Debug, Serialize)]
pub struct ModelView {
    /// Its name.
    pub name: String,
    /// The version served.
    pub version: String,
    /// Where its first engine runs, in words.
    pub device: String,
    /// The most rows a batch takes (1: no batching).
    pub batch_limit: u64,
    /// Its requests over the window.
    #[serde(flatten)]
    pub window: ModelWindow,
}

/// What the dashboard shows.
#[derive(Debug, Serialize)]
pub struct View {
    /// Seconds since the agent started (the time base of samples, events and placements).
    pub uptime_s: f64,
    /// Whether the agent is ready (the start-up loads are done).
    pub ready: bool,
    /// The kernel's device node.
    pub node: String,
    /// Why the last telemetry sample failed (no module, …), if it did.
    pub kernel_error: Option<String>,
    /// Every backend's latest sample.
    pub devices: Vec<DeviceSample>,
    /// The loaded models.
    pub models: Vec<ModelView>,
    /// The newest thermal events, oldest first.
    pub events: Vec<EventSample>,
    /// The newest engine placements, oldest first.
    pub placements: Vec<Placed>,
}

/// The view now.
pub fn view(app: &App) -> View {
    let snapshot = app.telemetry.snapshot();
    let windows = app.activity.models();
    let models = app
        .repository
        .loaded()
        .iter()
        .map(|m| ModelView {
            name: m.name.clone(),
            version: m.version.clone(),
            device: m.device.clone(),
            batch_limit: if m.batching {
                m.config.max_batch as u64
            } else {
                1
            },
            window: windows
                .iter()
                .find(|w| w.model == m.name)
                .cloned()
                .unwrap_or_else(|| ModelWindow::idle(&m.name)),
        })
        .collect();
    View {
        uptime_s: app.telemetry.started.elapsed().as_secs_f64(),
        ready: app.ready.load(Ordering::Acquire),
        node: app.node.display().to_string(),
        kernel_error: snapshot.error,
        devices: snapshot.devices.into_values().collect(),
        models,
        events: app.telemetry.recent_events(),
        placements: app.activity.placements(),
    }
}

/// The dashboard's routes.
pub fn router(app: Arc<App>) -> Router {
    let asset = |kind: &'static str, body: &'static str| {
        get(move || async move { ([(header::CONTENT_TYPE, kind)], body).into_response() })
    };
    Router::new()
        .route("/", asset("text/html; charset=utf-8", PAGE))
        .route(
            "/dashboard.js",
            asset("text/javascript; charset=utf-8", SCRIPT),
        )
        .route("/dashboard.css", asset("text/css; charset=utf-8", STYLE))
        .route("/api/v1/dashboard", get(snapshot))
        .route("/api/v1/dashboard/stream", get(stream))
        .with_state(app)
}

async fn snapshot(State(app): State<Arc<App>>) -> Json<View> {
    Json(view(&app))
}

/// The event stream: a snapshot at once and every [`PERIOD`], thermal events as they come; it
/// ends when the client goes or the agent shuts down.
async fn stream(State(app): State<Arc<App>>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let mut events = app.telemetry.subscribe();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PERIOD);
        loop {
            let event = tokio::select! {
                _ = tick.tick() => {
                    if app.stopping.load(Ordering::Acquire) {
                        break;
                    }
                    Event::default().event("snapshot").json_data(view(&app))
                }
                e = events.recv() => match e {
                    Ok(e) => Event::default().event("thermal").json_data(&e),
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                },
            };
            let Ok(event) = event else { continue };
            if tx.send(Ok(event)).await.is_err() {
                break;
            }
        }
    });
    Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::default())
}
