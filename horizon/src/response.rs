//! Reading Horizon's answers, for the client and the event streams alike: the body of a 2xx
//! (capped), or the [`Error`] another status stands for, and how transport failures are
//! classified for reads (retryable) and submissions (outcome unknown).

use std::time::Duration;

use reqwest::header::RETRY_AFTER;
use stellar_toml::http::{BodyError, read_capped};

use crate::Error;
use crate::error::from_status;

/// Largest response body read into memory (5 MiB); a larger one is [`Error::Decode`].
pub const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;

/// A failed attempt, with the server's `Retry-After` for the retry loop.
pub(crate) struct Failure {
    pub(crate) error: Error,
    pub(crate) retry_after: Option<Duration>,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

pub(crate) use stellar_toml::http::error_chain;

/// A read's transport failure: all retryable.
pub(crate) fn read_error(error: &reqwest::Error) -> Error {
    if error.is_timeout() {
        Error::Timeout
    } else {
        Error::Transport(error_chain(error))
    }
}

/// A submission's transport failure: unknown outcome unless the connection was never made.
pub(crate) fn submit_error(error: &reqwest::Error) -> Error {
    if error.is_connect() || error.is_builder() {
        Error::Transport(error_chain(error))
    } else {
        Error::Timeout
    }
}

/// The body of a 2xx answer, or the error an other answer stands for.
pub(crate) async fn read_response(
    response: reqwest::Response,
    on_error: fn(&reqwest::Error) -> Error,
) -> Result<Vec<u8>, Failure> {
    let status = response.status();
    let retry_after = retry_after(&response);
    if status.is_success() {
        return Ok(read_body(response, on_error).await?);
    }
    // The status decides; an unreadable error body only loses the detail.
    let body = read_body(response, on_error).await.unwrap_or_default();
    Err(Failure {
        error: from_status(status.as_u16(), retry_after, &body),
        retry_after,
    })
}

/// An answer whatever its status: the status, its `Retry-After` and the body (capped). For
/// endpoints whose error answers carry data, like `POST /transactions_async`.
pub(crate) async fn read_any(
    response: reqwest::Response,
    on_error: fn(&reqwest::Error) -> Error,
) -> Result<(u16, Option<Duration>, Vec<u8>), Error> {
    let status = response.status().as_u16();
    let retry_after = retry_after(&response);
    let body = read_body(response, on_error).await?;
    Ok((status, retry_after, body))
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// The whole body, at most [`MAX_BODY_BYTES`].
async fn read_body(
    response: reqwest::Response,
    on_error: fn(&reqwest::Error) -> Error,
) -> Result<Vec<u8>, Error> {
    read_capped(response, MAX_BODY_BYTES)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge(too_large) => Error::Decode(format!("response body {too_large}")),
            BodyError::Transport(e) => on_error(&e),
        })
}
