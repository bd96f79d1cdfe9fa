//! API keys for internal endpoints, compared in constant time so response timing does not
//! reveal how much of a guess was right.

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use subtle::ConstantTimeEq;

use crate::{ErrorBody, Secret};

/// True when `given` equals `expected`. Lengths leak (unavoidable and harmless for random keys);
/// contents do not.
pub fn keys_match(expected: &str, given: &str) -> bool {
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// The key a request presents: `X-API-Key`, or `Authorization: Bearer …`.
pub fn presented_key(req: &actix_web::HttpRequest) -> Option<String> {
    let headers = req.headers();
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get(actix_web::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_owned)
        })
}

/// What [`require_key`] enforces on a server's internal API: registered as app data
/// (`web::Data<RequiredKey>`) next to the middleware.
#[derive(Debug, Clone)]
pub struct RequiredKey {
    key: Option<Secret<String>>,
    form_field: Option<&'static str>,
    refusal: StatusCode,
    message: &'static str,
}

impl RequiredKey {
    /// `key` (none: the API is open, which the config only allows on loopback or when the
    /// operator says so), refused with `refusal` and `message` under the code
    /// `unauthorized` (401) or `forbidden` (403).
    pub fn new(key: Option<Secret<String>>, refusal: StatusCode, message: &'static str) -> Self {
        Self {
            key,
            form_field: None,
            refusal,
            message,
        }
    }

    /// Also accepts the key as the form field `name` of an `x-www-form-urlencoded` body, as
    /// legacy clients send it (the bridge's `apiKey`).
    pub fn or_form_field(mut self, name: &'static str) -> Self {
        self.form_field = Some(name);
        self
    }

    fn refuse(&self) -> HttpResponse {
        let code = if self.refusal == StatusCode::UNAUTHORIZED {
            "unauthorized"
        } else {
            "forbidden"
        };
        HttpResponse::build(self.refusal).json(ErrorBody::new(code, self.message))
    }
}

/// Requires the configured key ([`RequiredKey`] in the app data) on every endpoint but
/// `/health`: from `X-API-Key`, `Authorization: Bearer` or, when allowed, a form field.
///
/// # Errors
/// Those of the wrapped service.
pub async fn require_key(
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let required = req.app_data::<web::Data<RequiredKey>>().cloned();
    let Some((required, expected)) = required
        .and_then(|r| r.key.clone().map(|k| (r, k)))
        .filter(|_| req.path() != "/health")
    else {
        return next.call(req).await;
    };
    let mut given = presented_key(req.request());
    if given.is_none()
        && let Some(field) = required.form_field
        && req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
    {
        // A body over the limit (or too slow) is answered here, as a response, so that the
        // JSON error layer around this gate shapes it like every other error.
        let body = match req.extract::<web::Bytes>().await {
            Ok(body) => body,
            Err(error) => return Ok(req.error_response(error)),
        };
        given = url::form_urlencoded::parse(&body)
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.into_owned());
        req.set_payload(actix_web::dev::Payload::from(body));
    }
    if given.is_some_and(|g| expected.matches(&g)) {
        next.call(req).await
    } else {
        Ok(req.into_response(required.refuse()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_key_matches() {
        assert!(keys_match("s3cret", "s3cret"));
        assert!(!keys_match("s3cret", "s3cre"));
        assert!(!keys_match("s3cret", "s3cret "));
        assert!(!keys_match("s3cret", ""));
    }
}
