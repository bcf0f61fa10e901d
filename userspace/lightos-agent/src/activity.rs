//! What the dashboard shows beside the device samples: each model's recent requests (rate,
//! latency percentiles and batch sizes over a sliding window) and the recent placements of the
//! models' engines with their reasons. `/metrics` keeps the cumulative histograms; this keeps the
//! raw recent values a live view computes percentiles from.

use serde::Serialize;
use std::{
    collections::{BTreeMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

/// How far back the per-model figures look.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Requests kept per model at most (the window's figures are of these).
const KEEP_REQUESTS: usize = 20_000;
/// Placements kept.
const KEEP_PLACEMENTS: usize = 64;

/// One finished request.
#[derive(Clone, Copy, Debug)]
struct Done {
    at: Instant,
    /// End-to-end time (s) for a success; `None` for a failure.
    latency_s: Option<f64>,
    /// Rows of the run it was part of.
    batch_rows: u64,
}

/// How an engine's device was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChosenBy {
    /// The PowerGovernor (`device = "governor"`).
    Governor,
    /// The model's config names the backend.
    Config,
    /// `device = "auto"`: the kernel routes each op (or this process runs it, without the module).
    Auto,
    /// No engine: compiling or starting it failed.
    Failed,
}

/// One engine placed: a model instance's engine for one batch shape.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Placed {
    /// Seconds since the agent started.
    pub at_s: f64,
    /// The model.
    pub model: String,
    /// The input shapes it was compiled for, e.g. `[4, 16]`.
    pub shape: String,
    /// Where it runs, in words.
    pub device: String,
    /// Who chose.
    pub by: ChosenBy,
    /// Why, in words (the governor's own for [`ChosenBy::Governor`]).
    pub reason: String,
}

/// A model's requests over the last [`WINDOW`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ModelWindow {
    /// The model.
    pub model: String,
    /// Successful requests per second.
    pub requests_per_s: f64,
    /// Failed or refused requests per second.
    pub failures_per_s: f64,
    /// End-to-end latency percentiles of the successes (ms); `None` without any.
    pub p50_ms: Option<f64>,
    /// 90th percentile (ms).
    pub p90_ms: Option<f64>,
    /// 99th percentile (ms).
    pub p99_ms: Option<f64>,
    /// Mean rows of the runs the successes were part of.
    pub mean_batch: Option<f64>,
    /// Largest such run.
    pub max_batch: u64,
    /// Successes since the agent started.
    pub successes_total: u64,
    /// Failures since the agent started.
    pub failures_total: u64,
}

impl ModelWindow {
    /// A model without a request yet.
    pub fn idle(model: &str) -> ModelWindow {
        ModelWindow {
            model: model.to_string(),
            ..ModelWindow::default()
        }
    }
}

#[derive(Debug, Default)]
struct PerModel {
    recent: VecDeque<Done>,
    successes: u64,
    failures: u64,
}

/// The recent requests and placements.
#[derive(Debug)]
pub struct Activity {
    started: Instant,
    models: Mutex<BTreeMap<String, PerModel>>,
    placements: Mutex<VecDeque<Placed>>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity::new(Instant::now())
    }
}

/// The `q` quantile (0 to 1) of `sorted` by nearest rank.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (q * n as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

impl Activity {
    /// Empty, with `started` as the time base of placements.
    pub fn new(started: Instant) -> Activity {
        Activity {
            started,
            models: Mutex::new(BTreeMap::new()),
            placements: Mutex::new(VecDeque::new()),
        }
    }

    /// Records a request of `model` that finished now: `latency` end to end for a success (in a
    /// run of `batch_rows` rows), `None` for a failure.
    pub fn request(&self, model: &str, latency: Option<Duration>, batch_rows: u64) {
        self.request_at(model, Instant::now(), latency, batch_rows);
    }

    fn request_at(&self, model: &str, at: Instant, latency: Option<Duration>, batch_rows: u64) {
        let Ok(mut models) = self.models.lock() else {
            return;
        };
        let m = models.entry(model.to_string()).or_default();
        match latency {
            Some(_) => m.successes += 1,
            None => m.failures += 1,
        }
        if m.recent.len() == KEEP_REQUESTS {
            m.recent.pop_front();
        }
        m.recent.push_back(Done {
            at,
            latency_s: latency.map(|d| d.as_secs_f64()),
            batch_rows,
        });
    }

    /// Records an engine placed (or failing to be).
    pub fn placed(&self, model: &str, shape: String, device: String, by: ChosenBy, reason: String) {
        let Ok(mut p) = self.placements.lock() else {
            return;
        };
        if p.len() == KEEP_PLACEMENTS {
            p.pop_front();
        }
        p.push_back(Placed {
            at_s: self.started.elapsed().as_secs_f64(),
            model: model.to_string(),
            shape,
            device,
            by,
            reason,
        });
    }

    /// The placements kept, newest last.
    pub fn placements(&self) -> Vec<Placed> {
        self.placements
            .lock()
            .map(|p| p.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every model that had a request, over the window ending now.
    pub fn models(&self) -> Vec<ModelWindow> {
        self.models_at(Instant::now())
    }

    fn models_at(&self, now: Instant) -> Vec<ModelWindow> {
        let Ok(mut models) = self.models.lock() else {
            return Vec::new();
        };
        let since = now.checked_sub(WINDOW);
        let secs = WINDOW
            .as_secs_f64()
            .min(now.duration_since(self.started).as_secs_f64())
            .max(1.0);
        models
            .iter_mut()
            .map(|(name, m)| {
                while m
                    .recent
                    .front()
                    .is_some_and(|d| since.is_some_and(|s| d.at < s))
                {
                    m.recent.pop_front();
                }
                let mut lat: Vec<f64> = m.recent.iter().filter_map(|d| d.latency_s).collect();
                lat.sort_by(f64::total_cmp);
                let ok: Vec<&Done> = m.recent.iter().filter(|d| d.latency_s.is_some()).collect();
                let ms = |q| quantile(&lat, q).map(|s| s * 1e3);
                ModelWindow {
                    model: name.clone(),
                    requests_per_s: ok.len() as f64 / secs,
                    failures_per_s: (m.recent.len() - ok.len()) as f64 / secs,
                    p50_ms: ms(0.5),
                    p90_ms: ms(0.9),
                    p99_ms: ms(0.99),
                    mean_batch: (!ok.is_empty()).then(|| {
                        ok.iter().map(|d| d.batch_rows as f64).sum::<f64>() / ok.len() as f64
                    }),
                    max_batch: ok.iter().map(|d| d.batch_rows).max().unwrap_or(0),
                    successes_total: m.successes,
                    failures_total: m.failures,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&v, 1.0), Some(100.0));
        assert_eq!(quantile(&[7.0], 0.5), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn the_window_counts_recent_requests_only() {
        let t0 = Instant::now();
        let a = Activity::new(t0);
        let ms = Duration::from_millis;
        // Old enough to fall out of the window.
        a.request_at("m", t0, Some(ms(900)), 8);
        let now = t0 + WINDOW + Duration::from_secs(5);
        for k in 1..=10 {
            a.request_at("m", now - ms(100), Some(ms(k)), 2);
        }
        a.request_at("m", now - ms(50), None, 0);
        let w = &a.models_at(now)[0];
        assert_eq!((w.successes_total, w.failures_total), (11, 1));
        assert!((w.requests_per_s - 1.0).abs() < 1e-9, "{w:?}");
        assert!((w.failures_per_s - 0.1).abs() < 1e-9, "{w:?}");
        assert_eq!(w.p50_ms, Some(5.0));
        assert_eq!(w.p99_ms, Some(10.0));
        assert_eq!((w.mean_batch, w.max_batch), (Some(2.0), 2));
    }

    #[test]
    fn placements_keep_the_newest() {
        let a = Activity::default();
        for k in 0..KEEP_PLACEMENTS + 3 {
            a.placed(
                "m",
                format!("[{k}]"),
                "cpu0".into(),
                ChosenBy::Config,
                "r".into(),
            );
        }
        let p = a.placements();
        assert_eq!(p.len(), KEEP_PLACEMENTS);
        assert_eq!(p.last().map(|p| p.shape.as_str()), Some("[66]"));
    }
}
