//! Prometheus metrics (`GET /metrics`, OpenMetrics text): per model, requests by outcome and
//! histograms of queue time, compute time, batch size and end-to-end latency (from the request's
//! arrival, queueing included); per device, the telemetry sampler's latest readings. Names follow
//! Prometheus conventions with units; docs/AGENT.md maps them to DCGM's.

use crate::telemetry::Telemetry;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric},
    metrics::{
        counter::{ConstCounter, Counter},
        family::Family,
        gauge::ConstGauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::{Registry, Unit},
};
use std::{sync::Arc, time::Duration};

/// A model's label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabel {
    /// The model's name.
    pub model: String,
}

/// How a request ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    /// Answered.
    success,
    /// Refused or failed.
    failure,
}

/// A model's label and a request's outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The model's name.
    pub model: String,
    /// How it ended.
    pub outcome: Outcome,
}

fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 18))
}

fn batch_sizes() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 8))
}

/// The agent's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    queue: Family<ModelLabel, Histogram, fn() -> Histogram>,
    compute: Family<ModelLabel, Histogram, fn() -> Histogram>,
    latency: Family<ModelLabel, Histogram, fn() -> Histogram>,
    batch: Family<ModelLabel, Histogram, fn() -> Histogram>,
}

impl Metrics {
    /// The registry, with the device collector reading `telemetry`.
    pub fn new(telemetry: Arc<Telemetry>) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let queue = Family::<ModelLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            seconds as fn() -> Histogram,
        );
        let compute = Family::<ModelLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            seconds as fn() -> Histogram,
        );
        let latency = Family::<ModelLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            seconds as fn() -> Histogram,
        );
        let batch = Family::<ModelLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            batch_sizes as fn() -> Histogram,
        );
        registry.register(
            "lightos_inference_requests",
            "Inference requests by model and outcome",
            requests.clone(),
        );
        registry.register_with_unit(
            "lightos_inference_queue_duration",
            "Time from a request's arrival to the start of its run",
            Unit::Seconds,
            queue.clone(),
        );
        registry.register_with_unit(
            "lightos_inference_compute_duration",
            "Time of the run (the batch) a request was part of",
            Unit::Seconds,
            compute.clone(),
        );
        registry.register_with_unit(
            "lightos_inference_request_duration",
            "End-to-end latency: from a request's arrival (queueing included) to its reply",
            Unit::Seconds,
            latency.clone(),
        );
        registry.register(
            "lightos_inference_batch_size",
            "Rows of the run each request was part of (dynamic batching)",
            batch.clone(),
        );
        registry.register_collector(Box::new(Devices(telemetry)));
        Metrics {
            registry,
            requests,
            queue,
            compute,
            latency,
            batch,
        }
    }

    /// Counts a request of `model` that succeeded after `queued` waiting and `compute` running
    /// in a run of `rows` rows, `total` after it arrived.
    pub fn success(
        &self,
        model: &str,
        queued: Duration,
        compute: Duration,
        rows: u64,
        total: Duration,
    ) {
        let m = ModelLabel {
            model: model.to_string(),
        };
        self.requests
            .get_or_create(&RequestLabels {
                model: m.model.clone(),
                outcome: Outcome::success,
            })
            .inc();
        self.queue.get_or_create(&m).observe(queued.as_secs_f64());
        self.compute
            .get_or_create(&m)
            .observe(compute.as_secs_f64());
        self.batch.get_or_create(&m).observe(rows as f64);
        self.latency.get_or_create(&m).observe(total.as_secs_f64());
    }

    /// Counts a request of `model` that failed or was refused.
    pub fn failure(&self, model: &str) {
        self.requests
            .get_or_create(&RequestLabels {
                model: model.to_string(),
                outcome: Outcome::failure,
            })
            .inc();
    }

    /// The exposition, OpenMetrics text.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// OpenMetrics text as Prometheus's text format 0.0.4, for scrapers that do not ask for
/// OpenMetrics (and `promtool check metrics`): a counter's HELP and TYPE name its `_total`
/// samples, and the UNIT and EOF lines go.
pub fn prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some((p, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let total = if counters.contains(name) {
                    "_total"
                } else {
                    ""
                };
                out.push_str(&format!("{p}{name}{total} {tail}\n"));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_counters_become_prometheus_text_counters() {
        let om = "# HELP a_requests Requests.\n# TYPE a_requests counter\na_requests_total{m=\"x\"} 3\n\
                  # HELP t_celsius T.\n# TYPE t_celsius gauge\n# UNIT t_celsius celsius\nt_celsius 40.5\n# EOF\n";
        assert_eq!(
            prometheus_text(om),
            "# HELP a_requests_total Requests.\n# TYPE a_requests_total counter\na_requests_total{m=\"x\"} 3\n\
             # HELP t_celsius T.\n# TYPE t_celsius gauge\nt_celsius 40.5\n"
        );
    }
}

/// The per-device metrics, from the telemetry sampler at each scrape.
#[derive(Debug)]
struct Devices(Arc<Telemetry>);

type Reading = fn(&crate::telemetry::DeviceSample) -> Option<f64>;

impl Collector for Devices {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snap = self.0.snapshot();
        let gauges: [(&str, &str, Option<Unit>, Reading); 4] = [
            (
                "lightos_device_temperature",
                "Chip temperature the thermal guard read",
                Some(Unit::Celsius),
                |d| d.temperature_c,
            ),
            (
                "lightos_device_power_watts",
                "Electrical power the thermal guard read",
                None,
                |d| d.power_w,
            ),
            (
                "lightos_device_load",
                "Jobs queued or running on the backend",
                None,
                |d| Some(d.load as f64),
            ),
            (
                "lightos_device_guard_worst_lateness",
                "Worst lateness of a thermal guard tick",
                Some(Unit::Seconds),
                |d| d.temperature_c.map(|_| d.worst_late_s),
            ),
        ];
        for (name, help, unit, read) in gauges {
            let mut m = encoder.encode_descriptor(
                name,
                help,
                unit.as_ref(),
                ConstGauge::new(0.0).metric_type(),
            )?;
            for d in snap.devices.values() {
                if let Some(v) = read(d) {
                    ConstGauge::new(v).encode(m.encode_family(&[("device", d.name.as_str())])?)?;
                }
            }
        }
        let counters: [(&str, &str, Option<Unit>, Reading); 6] = [
            (
                "lightos_device_energy",
                "Energy, integrated by the agent from the guard's power readings",
                Some(Unit::Joules),
                |d| d.power_w.map(|_| d.energy_j),
            ),
            (
                "lightos_device_jobs",
                "Jobs the backend completed",
                None,
                |d| Some(d.jobs as f64),
            ),
            (
                "lightos_device_job_errors",
                "Jobs that failed on the backend",
                None,
                |d| Some(d.errors as f64),
            ),
            (
                "lightos_device_throttle_events",
                "Times the thermal guard started throttling",
                None,
                |d| d.temperature_c.map(|_| d.throttles as f64),
            ),
            (
                "lightos_device_shutdown_events",
                "Emergency thermal shutdowns",
                None,
                |d| d.temperature_c.map(|_| d.shutdowns as f64),
            ),
            (
                "lightos_device_guard_missed_ticks",
                "Thermal guard ticks missed (a period or more late)",
                None,
                |d| d.temperature_c.map(|_| d.missed_ticks as f64),
            ),
        ];
        for (name, help, unit, read) in counters {
            let mut m = encoder.encode_descriptor(
                name,
                help,
                unit.as_ref(),
                ConstCounter::new(0.0).metric_type(),
            )?;
            for d in snap.devices.values() {
                if let Some(v) = read(d) {
                    ConstCounter::new(v)
                        .encode(m.encode_family(&[("device", d.name.as_str())])?)?;
                }
            }
        }
        encode_ops(&snap.ops, &mut encoder)
    }
}

/// The kernel's per-op counters (`QUERY_OPS`): primitives, failures, operations, and the
/// submit-to-completion latency histogram. The kernel keeps log2 µs buckets and no sum: the sum is
/// estimated at each bucket's midpoint (the help text says so).
fn encode_ops(
    ops: &[(String, lightos_runtime::OpStats)],
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    type Count = fn(&lightos_runtime::OpStats) -> u64;
    let counters: [(&str, &str, Count); 3] = [
        (
            "lightos_kernel_primitives",
            "Primitives of the op the kernel accepted",
            |s| s.count,
        ),
        (
            "lightos_kernel_primitive_errors",
            "Primitives of the op rejected or failed",
            |s| s.errors,
        ),
        (
            "lightos_kernel_operations",
            "Floating-point (or integer) operations of the op's primitives",
            |s| s.flops,
        ),
    ];
    for (name, help, read) in counters {
        let mut m =
            encoder.encode_descriptor(name, help, None, ConstCounter::new(0u64).metric_type())?;
        for (op, s) in ops {
            ConstCounter::new(read(s)).encode(m.encode_family(&[("op", op.as_str())])?)?;
        }
    }
    let mut m = encoder.encode_descriptor(
        "lightos_kernel_primitive_latency",
        "Submit-to-completion latency of the op's primitives (kernel log2 buckets; sum estimated at bucket midpoints)",
        Some(&Unit::Seconds),
        Histogram::new([1.0]).metric_type(),
    )?;
    for (op, s) in ops {
        let n = s.latency_us_log2.len();
        let buckets: Vec<(f64, u64)> = s
            .latency_us_log2
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let upper = if i + 1 == n {
                    f64::MAX
                } else {
                    (1u64 << i) as f64 * 1e-6
                };
                (upper, c)
            })
            .collect();
        let sum: f64 = s
            .latency_us_log2
            .iter()
            .enumerate()
            .map(|(i, &c)| c as f64 * 0.75 * (1u64 << i) as f64 * 1e-6)
            .sum();
        let count = s.latency_us_log2.iter().sum();
        m.encode_family(&[("op", op.as_str())])?
            .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                sum, count, &buckets, None,
            )?;
    }
    Ok(())
}
