//! Server-sent event streams of collections, the way Horizon serves them.
//!
//! This module owns one connection's life: connect with `Accept: text/event-stream`, turn the
//! body into events (`eventsource-stream`), skip Horizon's `open` greeting, decode each record,
//! and end on the first transport error, on a body that goes silent for longer than the idle
//! timeout, or on an event larger than [`MAX_EVENT_BYTES`]. Reconnecting, and remembering
//! where to resume, are the caller's job.

use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use serde_json::Value;
use url::Url;

use crate::client::{read_error, read_response};
use crate::{Error, PaymentRecord};

/// Largest single event (everything between two blank lines) accepted: 1 MiB.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

type Events = Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<Error>>> + Send>>;

enum State {
    Connect {
        http: reqwest::Client,
        url: Url,
        timeout: Duration,
        idle: Duration,
    },
    Open(Events),
    Done,
}

/// The payments at `url`, streamed; see [`crate::HorizonClient::stream_payments`].
pub(crate) fn payments(
    http: reqwest::Client,
    url: Url,
    timeout: Duration,
    idle: Duration,
) -> impl Stream<Item = Result<PaymentRecord, Error>> + Send + 'static {
    let start = State::Connect {
        http,
        url,
        timeout,
        idle,
    };
    futures_util::stream::unfold(start, |state| async move {
        let mut events = match state {
            State::Done => return None,
            State::Open(events) => events,
            State::Connect {
                http,
                url,
                timeout,
                idle,
            } => match connect(&http, url, timeout, idle).await {
                Ok(events) => events,
                Err(error) => return Some((Err(error), State::Done)),
            },
        };
        loop {
            let event = match events.next().await {
                None => return None,
                Some(Ok(event)) => event,
                Some(Err(error)) => return Some((Err(stream_error(error)), State::Done)),
            };
            // Horizon greets with `event: open` / `data: "hello"`; records are plain messages.
            if event.event != "message" {
                continue;
            }
            let record = serde_json::from_str::<Value>(&event.data)
                .map_err(|e| Error::Decode(format!("event {:?}: {e}", event.id)))
                .and_then(PaymentRecord::from_json);
            return Some((record, State::Open(events)));
        }
    })
}

/// Opens the stream; the answer's headers must come within `timeout`.
async fn connect(
    http: &reqwest::Client,
    url: Url,
    timeout: Duration,
    idle: Duration,
) -> Result<Events, Error> {
    tracing::debug!(%url, "opening a Horizon stream");
    let request = http
        .get(url)
        .header(ACCEPT, "text/event-stream")
        .header(CACHE_CONTROL, "no-cache")
        .send();
    let response = tokio::time::timeout(timeout, request)
        .await
        .map_err(|_| Error::Timeout)?
        .map_err(|e| read_error(&e))?;
    if !response.status().is_success() {
        let answer = tokio::time::timeout(timeout, read_response(response, read_error)).await;
        return Err(match answer {
            Ok(Err(failure)) => failure.error,
            Ok(Ok(_)) => Error::Decode("unexpected answer".into()),
            Err(_) => Error::Timeout,
        });
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("text/event-stream") {
        return Err(Error::Decode(format!(
            "expected an event stream, got {content_type:?}"
        )));
    }
    Ok(Box::pin(
        guarded(response.bytes_stream(), idle).eventsource(),
    ))
}

fn stream_error(error: EventStreamError<Error>) -> Error {
    match error {
        EventStreamError::Transport(error) => error,
        EventStreamError::Utf8(e) => Error::Decode(format!("event stream: {e}")),
        EventStreamError::Parser(e) => Error::Decode(format!("event stream: {e}")),
    }
}

/// The body with an idle timeout per chunk and a cap on the size of one event. Ends after its
/// first error.
fn guarded<B: AsRef<[u8]> + Send + 'static>(
    body: impl Stream<Item = reqwest::Result<B>> + Send + 'static,
    idle: Duration,
) -> impl Stream<Item = Result<B, Error>> + Send + 'static {
    let body = Box::pin(body);
    futures_util::stream::unfold(
        (body, EventSize::default(), false),
        move |(mut body, mut size, failed)| async move {
            if failed {
                return None;
            }
            let item = match tokio::time::timeout(idle, body.next()).await {
                Err(_) => Err(Error::StreamIdle),
                Ok(None) => return None,
                Ok(Some(Err(e))) => Err(read_error(&e)),
                Ok(Some(Ok(chunk))) => size.add(chunk.as_ref()).map(|()| chunk),
            };
            if let Err(error) = &item {
                tracing::debug!(%error, "Horizon stream ended");
            }
            let failed = item.is_err();
            Some((item, (body, size, failed)))
        },
    )
}

/// Bytes received since the last blank line, i.e. the size of the event being received.
#[derive(Debug, Default)]
struct EventSize {
    pending: usize,
    at_line_start: bool,
}

impl EventSize {
    fn add(&mut self, chunk: &[u8]) -> Result<(), Error> {
        for &byte in chunk {
            match byte {
                b'\n' if self.at_line_start => self.pending = 0,
                b'\n' => self.at_line_start = true,
                b'\r' => {}
                _ => self.at_line_start = false,
            }
            self.pending += 1;
        }
        if self.pending > MAX_EVENT_BYTES {
            return Err(Error::Decode(format!(
                "an event is larger than {MAX_EVENT_BYTES} bytes"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_size_resets_on_blank_lines() {
        let mut size = EventSize::default();
        let event = format!("id: 1\ndata: {}\n\n", "x".repeat(MAX_EVENT_BYTES - 100));
        for _ in 0..5 {
            size.add(event.as_bytes()).unwrap();
        }
        let mut size = EventSize::default();
        size.add(b"id: 1\r\n\r\n").unwrap();
        assert!(size.pending <= 2);
        let line = "x".repeat(MAX_EVENT_BYTES / 2);
        size.add(format!("data: {line}\n").as_bytes()).unwrap();
        assert!(size.add(format!("data: {line}\n").as_bytes()).is_err());
    }
}
