//! `/health` on the public port and `/metrics` on the loopback metrics port, on every backend.
//!
//! Run alone, in a child process of the test binary (`common::alone`): the metrics recorder is
//! process-wide, so no other test's requests may move the counters read here.

use federation::Application;
use federation::testing::{config, people, queries};
use service::database::Backend;

use crate::common;

/// The value of the sample of `metric` whose labels include all of `labels` (0 when absent).
fn sample(scrape: &str, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, rest) = series.split_once('{').unwrap_or((series, ""));
            (name == metric
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().unwrap())
        })
        .sum()
}

async fn scrape(metrics_url: &str) -> String {
    let res = reqwest::get(metrics_url).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "{:?}",
        res.headers()
    );
    res.text().await.unwrap()
}

service::backend_tests!(health_and_metrics_report_what_the_server_did);
async fn health_and_metrics_report_what_the_server_did(backend: Backend) {
    if !common::alone(&format!(
        "health_and_metrics::health_and_metrics_report_what_the_server_did::{backend}"
    )) {
        return;
    }
    let db = people(backend);
    let mut config = config(&db, queries());
    config.database.connection_timeout_seconds = 1;
    config.metrics_port = Some(0);
    let app = Application::build(config).await.unwrap();
    let url = app.url();
    let metrics_address = app.metrics_address().expect("metrics listener");
    assert!(metrics_address.ip().is_loopback(), "{metrics_address}");
    let metrics_url = format!("http://{metrics_address}/metrics");
    let _handles = app.spawn();

    // /health: 200 and its JSON while the database answers.
    let res = reqwest::get(format!("{url}/health")).await.unwrap();
    assert_eq!(res.status(), 200, "{backend}");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok"}), "{backend}");
    // /metrics is not served on the public port.
    let res = reqwest::get(format!("{url}/metrics")).await.unwrap();
    assert_eq!(res.status(), 404, "{backend}");

    // One lookup found, one not: each moves its own counter and latency series by one.
    let found = [("route", "/federation"), ("status", "200")];
    let missing = [("route", "/federation"), ("status", "404")];
    let before = scrape(&metrics_url).await;
    for (query, status) in [("q=bob*bank.test", 200), ("q=nobody*bank.test", 404)] {
        let res = reqwest::get(format!("{url}/federation?{query}&type=name"))
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{backend}: {query}");
    }
    let after = scrape(&metrics_url).await;
    for labels in [&found, &missing] {
        for metric in ["http_requests_total", "http_request_duration_seconds_count"] {
            assert_eq!(
                sample(&after, metric, labels) - sample(&before, metric, labels),
                1.0,
                "{backend}: {metric} {labels:?}\n{after}"
            );
        }
    }
    assert!(
        sample(&after, "http_request_duration_seconds_sum", &found)
            > sample(&before, "http_request_duration_seconds_sum", &found),
        "{backend}: the latency of the lookup is recorded\n{after}"
    );
    assert!(
        sample(
            &after,
            "http_requests_total",
            &[("method", "GET"), ("route", "/health"), ("status", "200")]
        ) >= 1.0,
        "{backend}\n{after}"
    );

    // PostgreSQL ends the server's connections when the database is dropped: /health says
    // so with 503 and its JSON error.
    if backend == Backend::Postgres {
        drop(db);
        let res = reqwest::get(format!("{url}/health")).await.unwrap();
        assert_eq!(res.status(), 503, "{backend}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "unhealthy", "{backend}: {body}");
    }
}
