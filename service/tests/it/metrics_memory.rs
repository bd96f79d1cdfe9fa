//! Memory stays flat however many requests are recorded, with nobody scraping `/metrics`
//! (in a process of its own, so that no other test's allocations are measured, and no other
//! test's requests are counted: see `common::alone`).

use std::time::Duration;

use crate::common::alone;

/// Resident memory of this process, in bytes (Linux).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn four_million_requests_without_a_scrape_keep_memory_flat() {
    if !alone("metrics_memory::four_million_requests_without_a_scrape_keep_memory_flat") {
        return;
    }
    service::metrics::install();
    let record = |n: u64| {
        for i in 0..n {
            service::metrics::record_request(
                "GET",
                "/federation",
                200,
                Duration::from_micros(i % 5_000),
            );
        }
    };
    record(200_000);
    let before = resident_bytes();
    record(4_000_000);
    let grown = resident_bytes().saturating_sub(before);
    // Unbounded, the raw samples alone would take 4 000 000 × 8 bytes = 32 MB.
    assert!(
        grown < 4 * 1024 * 1024,
        "resident memory grew by {grown} bytes over 4 million requests"
    );
    let text = service::metrics::handle().render();
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "latency is a Prometheus histogram: {text}"
    );
    assert!(text.contains(
        "http_requests_total{method=\"GET\",route=\"/federation\",status=\"200\"} 4200000"
    ));
}
