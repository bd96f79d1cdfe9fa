//! The small pieces every outbound HTTP call shares, whoever it talks to (a peer's
//! stellar.toml, Horizon, a back office, our own compliance server): a body reader whose cap
//! holds while streaming, one way to print an error with its causes, and one backoff.

use std::time::Duration;

/// An answer's body was larger than the caller allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("answer larger than {limit} bytes")]
pub struct TooLarge {
    /// The cap, in bytes.
    pub limit: usize,
}

/// Why a capped body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Over the cap: reading stopped there.
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    /// The connection failed or timed out mid-body.
    #[error("{}", error_chain(.0))]
    Transport(#[from] reqwest::Error),
}

/// Reads a whole body, at most `limit` bytes.
///
/// The cap is checked against `Content-Length` first and then chunk by chunk, so a chunked or
/// lying answer can never make us buffer more than `limit` bytes (plus one chunk in flight).
///
/// # Errors
/// [`BodyError::TooLarge`] over the cap; [`BodyError::Transport`] when the body fails.
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(TooLarge { limit }.into());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(TooLarge { limit }.into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An error and its causes on one line (`a: b: c`), skipping a cause whose text the line
/// already holds (reqwest repeats hyper's message, for instance).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

/// Exponential backoff: `first`, doubling per attempt, never above `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the first retry.
    pub first: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay before retry number `attempt` (0 is the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        self.first
            .saturating_mul(2u32.saturating_pow(attempt.min(31)))
            .min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunked answer has no Content-Length to check: the cap must hold while streaming,
    /// and reading must stop there (the server sees the connection close).
    #[tokio::test]
    async fn a_chunked_answer_over_the_cap_is_cut_while_streaming() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await
                .unwrap();
            let chunk = [b'x'; 16 * 1024];
            let head = format!("{:x}\r\n", chunk.len());
            let mut sent = 0usize;
            // A gibibyte, unless the reader hangs up first.
            while sent < 1 << 30 {
                let written = async {
                    socket.write_all(head.as_bytes()).await?;
                    socket.write_all(&chunk).await?;
                    socket.write_all(b"\r\n").await
                };
                if written.await.is_err() {
                    break;
                }
                sent += chunk.len();
            }
            sent
        });
        let response = reqwest::get(format!("http://{addr}/")).await.unwrap();
        let error = read_capped(response, 100 * 1024).await.unwrap_err();
        assert!(
            matches!(error, BodyError::TooLarge(TooLarge { limit: 102_400 })),
            "{error}"
        );
        let sent = server.await.unwrap();
        assert!(
            sent < 32 << 20,
            "reading went on past the cap: {sent} bytes sent"
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let backoff = Backoff {
            first: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        let delays: Vec<u128> = (0..7).map(|a| backoff.delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(2));
    }

    #[test]
    fn error_chains_skip_repeated_causes() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer: inner")]
        struct Outer(#[source] Inner);
        #[derive(Debug, thiserror::Error)]
        #[error("inner")]
        struct Inner(#[source] std::io::Error);
        let error = Outer(Inner(std::io::Error::other("root")));
        assert_eq!(error_chain(&error), "outer: inner: root");
    }
}
