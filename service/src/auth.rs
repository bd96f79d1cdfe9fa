//! API keys for internal endpoints, compared in constant time so response timing does not
//! reveal how much of a guess was right.

use subtle::ConstantTimeEq;

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
