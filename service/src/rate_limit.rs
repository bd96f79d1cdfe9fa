//! Rate limits per client address on public listeners (federation, the AUTH_SERVER): a token
//! bucket per address, `per_second` tokens a second up to `burst`; a request that finds the
//! bucket empty is answered 429 `rate_limited` with `Retry-After`, before any work.
//!
//! The client is the connection's peer, unless the peer is one of `trusted_proxies` (by default
//! loopback: nginx on the same host); then it is the address the proxy appended last to
//! `X-Forwarded-For` (nginx's `$proxy_add_x_forwarded_for`). Memory is bounded: past
//! [`MAX_CLIENTS`] addresses, buckets that have refilled are forgotten, and if that is not
//! enough the oldest go.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::HttpResponse;
use actix_web::dev::ServiceRequest;
use actix_web::http::StatusCode;
use serde::Deserialize;

use crate::http::{ErrorBody, json_error};

/// Addresses remembered at most.
pub const MAX_CLIENTS: usize = 100_000;

/// `[rate_limit]` of a server with a public listener.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Requests per second one client address may make on average (0: no limit).
    pub per_second: u32,
    /// Requests one client may make at once before the rate applies.
    pub burst: u32,
    /// Peers whose `X-Forwarded-For` names the client (default loopback: a proxy on this host).
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            per_second: 20,
            burst: 40,
            trusted_proxies: vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1]),
            ],
        }
    }
}

impl RateLimitSettings {
    /// No limit (tests, benchmarks, a listener only trusted peers reach).
    pub fn unlimited() -> Self {
        Self {
            per_second: 0,
            ..Self::default()
        }
    }
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The buckets of one listener; cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    settings: Arc<RateLimitSettings>,
    buckets: Arc<Mutex<HashMap<IpAddr, Bucket>>>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RateLimiter({:?})", self.settings)
    }
}

impl RateLimiter {
    /// A limiter with `settings`.
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self {
            settings: Arc::new(settings.clone()),
            buckets: Arc::default(),
        }
    }

    /// Takes a token for `client`: `Err(wait)` when there is none, `wait` being when the next
    /// one comes.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let settings = &self.settings;
        if settings.per_second == 0 {
            return Ok(());
        }
        let rate = f64::from(settings.per_second);
        let burst = f64::from(settings.burst.max(1));
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&client) {
            let refill = Duration::from_secs_f64(burst / rate);
            buckets.retain(|_, b| now.duration_since(b.updated) < refill);
            if buckets.len() >= MAX_CLIENTS {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }

    /// The client address of `req` (see the module documentation).
    pub fn client(&self, req: &ServiceRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.settings.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|last| last.trim().parse().ok());
        Some(forwarded.unwrap_or(peer))
    }
}

impl RateLimiter {
    /// The 429 `rate_limited` answer, with `Retry-After` (whole seconds, at least 1), when the
    /// client of `req` is past its rate; `None` lets the request go on. For a listener's gate.
    pub fn refusal(&self, req: &ServiceRequest) -> Option<HttpResponse> {
        let wait = self.check(self.client(req)?).err()?;
        metrics::counter!("http_rate_limited_total").increment(1);
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut res = json_error(
            StatusCode::TOO_MANY_REQUESTS,
            &ErrorBody::new(
                "rate_limited",
                format!("Too many requests from this address; retry after {seconds} s."),
            ),
        );
        res.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from(seconds),
        );
        Some(res)
    }
}

/// The gate of a public listener: the rate limit per client, then CORS `*`
/// ([`crate::http::public_cors`]); a 429 carries CORS too, so that browsers can read it.
///
/// # Errors
/// The inner service's.
pub async fn public_gate(
    limiter: RateLimiter,
    req: ServiceRequest,
    next: actix_web::middleware::Next<actix_web::body::BoxBody>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    if let Some(mut refusal) = limiter.refusal(&req) {
        refusal.headers_mut().insert(
            actix_web::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
            actix_web::http::header::HeaderValue::from_static("*"),
        );
        return Ok(req.into_response(refusal));
    }
    crate::http::public_cors(req, next).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_the_rate_and_others_are_apart() {
        let limiter = RateLimiter::new(&RateLimitSettings {
            per_second: 1,
            burst: 3,
            ..RateLimitSettings::default()
        });
        let (a, b) = (IpAddr::from([192, 0, 2, 1]), IpAddr::from([192, 0, 2, 2]));
        for _ in 0..3 {
            assert!(limiter.check(a).is_ok());
        }
        let wait = limiter.check(a).unwrap_err();
        assert!(
            wait <= Duration::from_secs(1) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert!(
            limiter.check(b).is_ok(),
            "another address has its own bucket"
        );
    }

    #[test]
    fn zero_means_no_limit() {
        let limiter = RateLimiter::new(&RateLimitSettings {
            per_second: 0,
            burst: 0,
            ..RateLimitSettings::default()
        });
        for _ in 0..1_000 {
            assert!(limiter.check(IpAddr::from([192, 0, 2, 1])).is_ok());
        }
    }

    #[test]
    fn memory_is_bounded_by_the_number_of_clients() {
        let limiter = RateLimiter::new(&RateLimitSettings {
            per_second: 1_000_000,
            burst: 1,
            ..RateLimitSettings::default()
        });
        for i in 0..(MAX_CLIENTS as u32 + 10) {
            let _ = limiter.check(IpAddr::from(i.to_be_bytes()));
        }
        assert!(limiter.buckets.lock().unwrap().len() <= MAX_CLIENTS);
    }
}
