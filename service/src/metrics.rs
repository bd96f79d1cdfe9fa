//! Prometheus metrics. The recorder is process-wide (metrics' design), installed on first use;
//! each server serves [`render`] from `/metrics` on a listener that is not public.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::HttpResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus handle, installing the recorder the first time.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Another recorder may exist when we are embedded; ours still renders its own data.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
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
    metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
}

/// `GET /metrics` in the Prometheus text format.
pub async fn render() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle().render())
}
