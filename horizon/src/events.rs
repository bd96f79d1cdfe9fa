//! Server-sent events read straight from the wire: each event is split in place and its `data`
//! handed out as bytes borrowed from the read buffer.
//!
//! A payments stream with `join=transactions` carries each record's whole transaction (the
//! envelope alone is about 10 KB for a 100-operation transaction), so a reader that builds a
//! `serde_json::Value` per record spends most of its time copying what nobody reads. Callers
//! here decode each event's bytes into just the fields they need.
//!
//! One connection's life: `Accept: text/event-stream`, the answer's headers within the
//! timeout, an error status (read as Horizon's problem document) or another content type is an
//! error; the stream ends on the first transport error, when nothing (not even a keep-alive)
//! comes for the idle timeout, or on an event larger than [`MAX_EVENT_BYTES`]. Reconnecting,
//! and remembering where to resume, are the caller's job.

use std::borrow::Cow;
use std::time::Duration;

use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use url::Url;

use crate::Error;
use crate::response::{read_error, read_response};

/// Largest single event (everything between two blank lines) accepted: 1 MiB.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// One event of the stream.
#[derive(Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// The `id:` field (Horizon: the record's paging token).
    pub id: Option<&'a str>,
    /// The `event:` field; `message` when absent.
    pub name: &'a str,
    /// The `data:` lines, joined by `\n`.
    pub data: Cow<'a, [u8]>,
}

/// An open stream.
#[derive(Debug)]
pub struct EventReader {
    response: reqwest::Response,
    idle: Duration,
    buf: Vec<u8>,
    /// Bytes at the front of `buf` that belong to events already handed out.
    consumed: usize,
    /// Bytes of `buf` already searched for the end of the next event.
    scanned: usize,
}

/// Opens `url` as an event stream; the answer's headers must come within `timeout`.
///
/// # Errors
/// [`Error::Timeout`], a transport error, the error Horizon answered instead of a stream, or
/// [`Error::Decode`] for another content type.
pub async fn open(
    http: &reqwest::Client,
    url: Url,
    timeout: Duration,
    idle: Duration,
) -> Result<EventReader, Error> {
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
    Ok(EventReader {
        response,
        idle,
        buf: Vec::with_capacity(64 * 1024),
        consumed: 0,
        scanned: 0,
    })
}

/// Where the event starting at `buf[0]` ends (just after its blank line), searching from
/// `from`; `None` while incomplete.
fn event_end(buf: &[u8], from: usize) -> Option<usize> {
    for newline in memchr::memchr_iter(b'\n', &buf[from..]).map(|offset| from + offset) {
        // A blank line: the previous line ended right before (`\n\n` or `\n\r\n`), or the
        // event is empty.
        let blank = newline == 0
            || buf[newline - 1] == b'\n'
            || (buf[newline - 1] == b'\r' && (newline == 1 || buf[newline - 2] == b'\n'));
        if blank {
            return Some(newline + 1);
        }
    }
    None
}

/// Ranges of one event's fields within `buf[..end]`.
#[derive(Default)]
struct Fields {
    id: Option<(usize, usize)>,
    name: Option<(usize, usize)>,
    data: Vec<(usize, usize)>,
}

fn fields(buf: &[u8], end: usize) -> Fields {
    let mut fields = Fields::default();
    let mut start = 0;
    while start < end {
        let newline = memchr::memchr(b'\n', &buf[start..end]).map_or(end, |o| start + o);
        let mut line_end = newline;
        if line_end > start && buf[line_end - 1] == b'\r' {
            line_end -= 1;
        }
        let line = &buf[start..line_end];
        if !line.is_empty() && line[0] != b':' {
            let colon = memchr::memchr(b':', line).unwrap_or(line.len());
            let mut value = (start + colon + 1).min(line_end);
            if value < line_end && buf[value] == b' ' {
                value += 1;
            }
            let range = (value, line_end);
            match &line[..colon] {
                b"id" => fields.id = Some(range),
                b"event" => fields.name = Some(range),
                b"data" => fields.data.push(range),
                _ => {}
            }
        }
        start = newline + 1;
    }
    fields
}

impl EventReader {
    /// The next event that carries data (comments, keep-alives and `retry:` are skipped);
    /// `None` when Horizon ends the stream.
    ///
    /// # Errors
    /// A transport error, [`Error::StreamIdle`] after silence for the idle timeout, or
    /// [`Error::Decode`] for an event that is too large.
    pub async fn next(&mut self) -> Result<Option<Event<'_>>, Error> {
        loop {
            if self.consumed > 0 {
                self.buf.drain(..self.consumed);
                self.consumed = 0;
            }
            if let Some(end) = event_end(&self.buf, self.scanned.saturating_sub(2)) {
                self.consumed = end;
                self.scanned = 0;
                let fields = fields(&self.buf, end);
                if fields.data.is_empty() {
                    continue;
                }
                return Ok(Some(self.event(&fields)));
            }
            self.scanned = self.buf.len();
            if self.buf.len() > MAX_EVENT_BYTES {
                return Err(Error::Decode(format!(
                    "an event is larger than {MAX_EVENT_BYTES} bytes"
                )));
            }
            match tokio::time::timeout(self.idle, self.response.chunk()).await {
                Err(_) => return Err(Error::StreamIdle),
                Ok(Err(e)) => return Err(read_error(&e)),
                Ok(Ok(None)) => return Ok(None),
                Ok(Ok(Some(chunk))) => self.buf.extend_from_slice(&chunk),
            }
        }
    }

    fn event(&self, fields: &Fields) -> Event<'_> {
        let text = |(from, to): (usize, usize)| std::str::from_utf8(&self.buf[from..to]).ok();
        let data = match fields.data.as_slice() {
            [(from, to)] => Cow::Borrowed(&self.buf[*from..*to]),
            lines => {
                let mut joined = Vec::new();
                for (i, (from, to)) in lines.iter().enumerate() {
                    if i > 0 {
                        joined.push(b'\n');
                    }
                    joined.extend_from_slice(&self.buf[*from..*to]);
                }
                Cow::Owned(joined)
            }
        };
        Event {
            id: fields.id.and_then(text),
            name: fields.name.and_then(text).unwrap_or("message"),
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever bytes a stream sends: the reader's framing never panics, and every range it
    /// hands out lies within the event it found.
    #[test]
    fn the_framing_holds_on_mutated_streams() {
        let seeds: &[&[u8]] = &[
            b"retry: 1000\nid: 1234-1\nevent: message\ndata: {\"a\":1}\n\n",
            b": keep-alive\r\n\r\nid:5\r\ndata:x\r\ndata: y\r\n\r\n",
            b"data: \"hello\"\n\ndata\n\nevent\n\n",
        ];
        for (i, buf) in stellar_base::fuzz::cases(seeds, 5_000) {
            let mut start = 0;
            while start <= buf.len() {
                let Some(end) = event_end(&buf[start..], 0) else {
                    break;
                };
                let f = fields(&buf[start..], end);
                for (a, b) in f.data.iter().chain(f.id.iter()).chain(f.name.iter()) {
                    assert!(
                        a <= b && *b <= end,
                        "{}",
                        stellar_base::fuzz::replay_hint(i)
                    );
                }
                start += end;
            }
        }
    }

    fn events(text: &str) -> Vec<(Option<String>, String, String)> {
        let buf = text.as_bytes();
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(end) = event_end(&buf[start..], 0) {
            let f = fields(&buf[start..], end);
            if !f.data.is_empty() {
                let s = |(a, b): (usize, usize)| {
                    String::from_utf8(buf[start + a..start + b].to_vec()).unwrap()
                };
                let data: Vec<String> = f.data.iter().map(|r| s(*r)).collect();
                out.push((
                    f.id.map(s),
                    f.name.map(s).unwrap_or_else(|| "message".into()),
                    data.join("\n"),
                ));
            }
            start += end;
        }
        out
    }

    #[test]
    fn horizon_framing() {
        let text = "retry: 1000\nevent: open\ndata: \"hello\"\n\n: keepalive\n\nid: 12\ndata: {\"a\":1}\n\nid: 13\r\ndata:x\r\ndata: y\r\n\r\nid: 14\ndata: incomplete";
        assert_eq!(
            events(text),
            vec![
                (None, "open".into(), "\"hello\"".into()),
                (Some("12".into()), "message".into(), "{\"a\":1}".into()),
                (Some("13".into()), "message".into(), "x\ny".into()),
            ]
        );
    }

    #[test]
    fn event_end_resumes_where_it_stopped() {
        let text = b"id: 1\ndata: abc\n";
        assert_eq!(event_end(text, 0), None);
        let mut more = text.to_vec();
        more.extend_from_slice(b"\n");
        assert_eq!(event_end(&more, text.len() - 2), Some(more.len()));
        assert_eq!(event_end(b"\n", 0), Some(1));
    }
}
