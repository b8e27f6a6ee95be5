//! Prometheus metrics in the text exposition format (version 0.0.4).
//!
//! Counters and histograms are kept in memory from what runs report and
//! what requests take; gauges (queue sizes, ledger rows, customers per
//! tier) are read from the store when `/metrics` is scraped, so they are
//! right even after a restart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use crate::pipeline::RunReport;

/// Histogram bucket upper bounds, in seconds: from a fast request to a
/// long pipeline run.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Every metric: name, type and help, in the order they are written.
const FAMILIES: &[(&str, &str, &str)] = &[
    (
        "tierlink_connector_records_total",
        "counter",
        "Records read from a source, by outcome (new, changed, unchanged, rejected).",
    ),
    (
        "tierlink_connector_failures_total",
        "counter",
        "Syncs of a connector that failed.",
    ),
    (
        "tierlink_connector_sync_seconds",
        "histogram",
        "How long one connector's sync took.",
    ),
    (
        "tierlink_rate_limited_total",
        "counter",
        "Times a system said slow down (429, Retry-After or a throttling answer), by credential.",
    ),
    (
        "tierlink_sink_changes_total",
        "counter",
        "Label changes pushed, by outcome (sent, acknowledged, failed, dead_lettered).",
    ),
    (
        "tierlink_sink_throttled_total",
        "counter",
        "Throttling answers met while pushing.",
    ),
    (
        "tierlink_tier_events_total",
        "counter",
        "Tier change events sent to the [events] URL, by outcome (delivered, failed: a relay pass that stopped).",
    ),
    (
        "tierlink_runs_total",
        "counter",
        "Jobs run by the scheduler or on demand, by job and status.",
    ),
    ("tierlink_run_seconds", "histogram", "How long a job took."),
    (
        "tierlink_stage_seconds",
        "histogram",
        "How long a pipeline stage took.",
    ),
    (
        "tierlink_http_requests_total",
        "counter",
        "API and UI requests, by route and status.",
    ),
    (
        "tierlink_http_request_seconds",
        "histogram",
        "How long a request took, by route.",
    ),
    ("tierlink_job_running", "gauge", "1 while the job runs."),
    (
        "tierlink_golden_customers",
        "gauge",
        "Active golden customers.",
    ),
    (
        "tierlink_customers_by_tier",
        "gauge",
        "Golden customers per tier.",
    ),
    (
        "tierlink_review_queue_open",
        "gauge",
        "Review items waiting for a steward.",
    ),
    (
        "tierlink_rejected_records",
        "gauge",
        "Rejected (quarantined) records, by connector.",
    ),
    (
        "tierlink_push_ledger_rows",
        "gauge",
        "Push ledger rows per system and status.",
    ),
    (
        "tierlink_dead_letters_open",
        "gauge",
        "Dead letters neither delivered nor dropped, per system.",
    ),
];

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Observations at or under each bound of [`BUCKETS`].
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Registry {
    counters: BTreeMap<(&'static str, Labels), f64>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
}

/// The process's counters and histograms.
#[derive(Debug, Default)]
pub struct Metrics {
    registry: Mutex<Registry>,
}

/// A value read at scrape time.
pub struct Gauge {
    pub name: &'static str,
    pub labels: Labels,
    pub value: f64,
}

impl Metrics {
    pub fn add(&self, name: &'static str, labels: Labels, by: f64) {
        *self.lock().counters.entry((name, labels)).or_default() += by;
    }

    /// Sets a counter that another part of the process counts (rate
    /// limiters): the value is its running total.
    pub fn set_total(&self, name: &'static str, labels: Labels, total: f64) {
        self.lock().counters.insert((name, labels), total);
    }

    pub fn observe(&self, name: &'static str, labels: Labels, seconds: f64) {
        let mut registry = self.lock();
        let histogram = registry.histograms.entry((name, labels)).or_default();
        for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    /// Counts what one job did: its outcome and duration, each stage's and
    /// connector's time, records per connector, changes per sink.
    pub fn record_run(&self, job: &str, status: &str, seconds: f64, report: Option<&RunReport>) {
        self.add(
            "tierlink_runs_total",
            vec![("job", job.to_string()), ("status", status.to_string())],
            1.0,
        );
        self.observe(
            "tierlink_run_seconds",
            vec![("job", job.to_string())],
            seconds,
        );
        let Some(report) = report else {
            return;
        };
        for (stage, seconds) in &report.stage_seconds {
            self.observe(
                "tierlink_stage_seconds",
                vec![("stage", stage.clone())],
                *seconds,
            );
        }
        for (connector, seconds) in &report.sync_seconds {
            self.observe(
                "tierlink_connector_sync_seconds",
                vec![("connector", connector.clone())],
                *seconds,
            );
        }
        for (connector, streams) in &report.sync {
            for (stream, counts) in streams {
                for (outcome, count) in [
                    ("new", counts.new),
                    ("changed", counts.changed),
                    ("unchanged", counts.unchanged),
                    ("rejected", counts.rejected),
                ] {
                    self.add(
                        "tierlink_connector_records_total",
                        vec![
                            ("connector", connector.clone()),
                            ("stream", stream.clone()),
                            ("outcome", outcome.to_string()),
                        ],
                        count as f64,
                    );
                }
            }
        }
        for connector in report.failed_connectors.keys() {
            self.add(
                "tierlink_connector_failures_total",
                vec![("connector", connector.clone())],
                1.0,
            );
        }
        for sink in &report.push {
            let labels = || {
                vec![
                    ("connector", sink.connector.clone()),
                    ("sink", sink.sink.clone()),
                ]
            };
            for (outcome, count) in [
                ("sent", sink.sent),
                ("acknowledged", sink.acknowledged),
                ("failed", sink.failed),
                ("dead_lettered", sink.dead_lettered),
            ] {
                let mut labels = labels();
                labels.push(("outcome", outcome.to_string()));
                self.add("tierlink_sink_changes_total", labels, count as f64);
            }
            self.add(
                "tierlink_sink_throttled_total",
                labels(),
                sink.throttled as f64,
            );
        }
        if let Some(events) = &report.events {
            self.add(
                "tierlink_tier_events_total",
                vec![("outcome", "delivered".to_string())],
                events.delivered as f64,
            );
            if events.error.is_some() {
                self.add(
                    "tierlink_tier_events_total",
                    vec![("outcome", "failed".to_string())],
                    1.0,
                );
            }
        }
    }

    /// The exposition text: every family with its help and type, the kept
    /// counters and histograms, and `gauges`.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let registry = self.lock();
        let mut text = String::new();
        for (family, kind, help) in FAMILIES {
            let _ = writeln!(text, "# HELP {family} {help}\n# TYPE {family} {kind}");
            for ((name, labels), value) in &registry.counters {
                if name == family {
                    write_sample(&mut text, name, labels, None, *value);
                }
            }
            for ((name, labels), histogram) in &registry.histograms {
                if name != family {
                    continue;
                }
                let bucket = format!("{name}_bucket");
                for (bound, count) in BUCKETS.iter().zip(histogram.counts) {
                    write_sample(
                        &mut text,
                        &bucket,
                        labels,
                        Some(&bound.to_string()),
                        count as f64,
                    );
                }
                write_sample(
                    &mut text,
                    &bucket,
                    labels,
                    Some("+Inf"),
                    histogram.count as f64,
                );
                write_sample(
                    &mut text,
                    &format!("{name}_sum"),
                    labels,
                    None,
                    histogram.sum,
                );
                write_sample(
                    &mut text,
                    &format!("{name}_count"),
                    labels,
                    None,
                    histogram.count as f64,
                );
            }
            for gauge in gauges.iter().filter(|gauge| gauge.name == *family) {
                write_sample(&mut text, gauge.name, &gauge.labels, None, gauge.value);
            }
        }
        text
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn write_sample(text: &mut String, name: &str, labels: &Labels, le: Option<&str>, value: f64) {
    let mut pairs: Vec<String> = labels
        .iter()
        .map(|(key, value)| format!("{key}=\"{}\"", escape_label(value)))
        .collect();
    if let Some(le) = le {
        pairs.push(format!("le=\"{le}\""));
    }
    if pairs.is_empty() {
        let _ = writeln!(text, "{name} {value}");
    } else {
        let _ = writeln!(text, "{name}{{{}}} {value}", pairs.join(","));
    }
}

/// A label value as the format needs it: backslash, quote and newline escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StageCounts;

    #[test]
    fn a_run_becomes_counters_and_histograms() {
        let metrics = Metrics::default();
        let mut report = RunReport::default();
        report.sync.entry("crm".into()).or_default().insert(
            "customers".into(),
            StageCounts {
                fetched: 5,
                new: 3,
                changed: 1,
                unchanged: 1,
                rejected: 0,
            },
        );
        report.stage_seconds.insert("sync".into(), 0.2);
        metrics.record_run("full", "succeeded", 0.3, Some(&report));
        metrics.record_run("full", "succeeded", 12.0, None);
        let text = metrics.render(&[Gauge {
            name: "tierlink_review_queue_open",
            labels: vec![],
            value: 7.0,
        }]);
        assert!(text.contains("tierlink_runs_total{job=\"full\",status=\"succeeded\"} 2\n"));
        assert!(text.contains(
            "tierlink_connector_records_total{connector=\"crm\",stream=\"customers\",outcome=\"new\"} 3\n"
        ));
        assert!(text.contains("tierlink_run_seconds_bucket{job=\"full\",le=\"0.5\"} 1\n"));
        assert!(text.contains("tierlink_run_seconds_bucket{job=\"full\",le=\"+Inf\"} 2\n"));
        assert!(text.contains("tierlink_run_seconds_sum{job=\"full\"} 12.3\n"));
        assert!(text.contains("tierlink_stage_seconds_count{stage=\"sync\"} 1\n"));
        assert!(text
            .contains("# TYPE tierlink_review_queue_open gauge\ntierlink_review_queue_open 7\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::default();
        metrics.add(
            "tierlink_connector_failures_total",
            vec![("connector", "a\"b\\c\nd".into())],
            1.0,
        );
        assert!(metrics
            .render(&[])
            .contains("tierlink_connector_failures_total{connector=\"a\\\"b\\\\c\\nd\"} 1\n"));
    }
}
