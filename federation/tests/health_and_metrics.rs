//! `/health` on the public port and `/metrics` on the loopback metrics port, on every backend.
//!
//! Its own test binary: the metrics recorder is process-wide, so no other test's requests move
//! the counters read here.

use diesel::connection::SimpleConnection;
use federation::config::Queries;
use federation::{Application, FederationConfig};
use service::database::{Backend, Database};
use service::testing::{TestDatabase, backends};

const BOB: &str = "GD2GJPL3UOK5LX7TWXOACK2ZPWPFSLBNKL3GTGH6BLBNISK4BGWMFBBG";

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

#[tokio::test]
async fn health_and_metrics_report_what_the_server_did() {
    for backend in backends() {
        let db = TestDatabase::new(backend);
        Database::connect(&db.settings())
            .unwrap()
            .run_blocking(|conn| {
                conn.batch_execute(&format!(
                    "CREATE TABLE people (id VARCHAR(56), name VARCHAR(64), domain VARCHAR(128)); \
                     INSERT INTO people VALUES ('{BOB}', 'bob', 'bank.test');"
                ))?;
                Ok(())
            })
            .unwrap();
        let mut database = db.settings();
        database.connection_timeout_seconds = 1;
        let app = Application::build(FederationConfig {
            port: 0,
            bind_address: "127.0.0.1".into(),
            database,
            queries: Queries {
                federation: "SELECT id FROM people WHERE name = ? AND domain = ?".into(),
                reverse_federation: None,
                forward: None,
            },
            tls: None,
            log_format: Default::default(),
            metrics_port: Some(0),
            max_body_bytes: 16 * 1024,
        })
        .await
        .unwrap();
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
}
