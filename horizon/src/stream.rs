//! The payments stream as typed records, for callers that want [`PaymentRecord`]s rather than
//! raw events (see [`crate::events`] for the raw, zero-copy reader).

use std::time::Duration;

use futures_util::Stream;
use serde_json::Value;
use url::Url;

use crate::events::{self, EventReader};
use crate::{Error, PaymentRecord};

enum State {
    Connect {
        http: reqwest::Client,
        url: Url,
        timeout: Duration,
        idle: Duration,
    },
    Open(EventReader),
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
        let mut reader = match state {
            State::Done => return None,
            State::Open(reader) => reader,
            State::Connect {
                http,
                url,
                timeout,
                idle,
            } => match events::open(&http, url, timeout, idle).await {
                Ok(reader) => reader,
                Err(error) => return Some((Err(error), State::Done)),
            },
        };
        loop {
            let record = match reader.next().await {
                Ok(None) => return None,
                Err(error) => {
                    tracing::debug!(%error, "Horizon stream ended");
                    return Some((Err(error), State::Done));
                }
                // Horizon greets with `event: open` / `data: "hello"`; records are messages.
                Ok(Some(event)) if event.name != "message" => continue,
                Ok(Some(event)) => serde_json::from_slice::<Value>(&event.data)
                    .map_err(|e| Error::Decode(format!("event {:?}: {e}", event.id)))
                    .and_then(PaymentRecord::from_json),
            };
            return Some((record, State::Open(reader)));
        }
    })
}
