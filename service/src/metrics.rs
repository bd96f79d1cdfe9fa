//! Prometheus metrics. The recorder is process-wide (metrics' design), installed by
//! [`install`] when a server starts, before its workers record anything; each server serves
//! [`render`] from `/metrics` on a listener that is not public.
//!
//! Histograms are Prometheus histograms with fixed buckets ([`LATENCY_BUCKETS`]), so they can
//! be summed across instances. The exporter keeps each raw sample until its upkeep folds it
//! into the buckets; without upkeep, memory grows with every request until `/metrics` is
//! scraped (and forever on a server nobody scrapes). Upkeep runs every [`UPKEEP_EVERY`]
//! samples on the recording thread, and once a second on a thread of its own, so memory stays
//! flat under any load, scraped or not.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::HttpResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Bucket bounds of every histogram, in seconds: from a cache hit to a Horizon timeout.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Samples recorded between two upkeeps on the recording thread.
pub const UPKEEP_EVERY: u64 = 16_384;
/// How often the upkeep thread folds samples into buckets.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static SAMPLES: AtomicU64 = AtomicU64::new(0);

/// Installs the process's recorder (once) and starts its upkeep thread; every server calls it
/// first thing when it starts.
pub fn install() {
    handle();
}

/// The process's Prometheus handle, installing the recorder the first time.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(LATENCY_BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may exist when we are embedded; ours still renders its own data.
        let _ = metrics::set_global_recorder(recorder);
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    upkeep.run_upkeep();
                }
            });
        handle
    })
}

/// Records a histogram sample, keeping the exporter's raw samples bounded.
pub fn observe(histogram: &metrics::Histogram, value: f64) {
    histogram.record(value);
    if SAMPLES.fetch_add(1, Ordering::Relaxed) % UPKEEP_EVERY == UPKEEP_EVERY - 1 {
        handle().run_upkeep();
    }
}

/// Counts a handled request and its latency.
pub fn record_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    handle();
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    observe(
        &metrics::histogram!("http_request_duration_seconds", &labels),
        elapsed.as_secs_f64(),
    );
}

/// `GET /metrics` in the Prometheus text format.
pub async fn render() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle().render())
}
