//! Server-sent events the way Horizon streams collections.
//!
//! A stream opens with `retry: 1000` and a `"hello"` message, sends each record after the
//! cursor as `id: <paging token>` + `data: <json>`, then waits for the next ledger to close,
//! sending `: keepalive` comments while idle. The fault handle can end or stall streams.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::web::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::collection::{Collection, Params, fetch};
use crate::history::Order;
use crate::node::Shared;

/// Records fetched per read of the ledger.
const BATCH: usize = 200;

struct State {
    shared: Arc<Shared>,
    base: String,
    collection: Collection,
    params: Params,
    queue: VecDeque<Bytes>,
    closed: watch::Receiver<u32>,
    epoch: watch::Receiver<u64>,
    stalled: watch::Receiver<bool>,
    last_sent: Instant,
}

/// The streaming response for `collection`, starting after `params.cursor`.
pub(crate) fn respond(
    shared: Arc<Shared>,
    base: String,
    collection: Collection,
    params: Params,
) -> HttpResponse {
    let mut epoch = shared.faults.stream_epoch();
    epoch.borrow_and_update();
    let mut queue = VecDeque::new();
    queue.push_back(Bytes::from_static(
        b"retry: 1000\nevent: open\ndata: \"hello\"\n\n",
    ));
    let state = State {
        closed: shared.ledger_closed(),
        stalled: shared.faults.streams_stalled(),
        epoch,
        last_sent: Instant::now(),
        shared,
        base,
        collection,
        params: Params {
            order: Order::Asc,
            limit: BATCH,
            ..params
        },
        queue,
    };
    let body = futures_util::stream::unfold(state, |mut state| async move {
        next_chunk(&mut state)
            .await
            .map(|chunk| (Ok::<_, Infallible>(chunk), state))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

/// The next piece of the stream, `None` to end it.
async fn next_chunk(state: &mut State) -> Option<Bytes> {
    let keepalive = state.shared.config.keepalive_interval;
    loop {
        if state.epoch.has_changed().unwrap_or(true) {
            return None;
        }
        if *state.stalled.borrow_and_update() {
            tokio::select! {
                changed = state.stalled.changed() => changed.ok()?,
                _ = state.epoch.changed() => return None,
            }
            continue;
        }
        if let Some(chunk) = state.queue.pop_front() {
            state.last_sent = Instant::now();
            return Some(chunk);
        }
        // Marked before reading, so that a ledger closing meanwhile wakes the wait below.
        state.closed.borrow_and_update();
        let records = {
            let ledger = state.shared.ledger();
            fetch(&ledger, &state.base, &state.collection, &state.params).unwrap_or_default()
        };
        if let Some((token, _)) = records.last() {
            state.params.cursor = Some(*token);
            for (token, record) in records {
                state
                    .queue
                    .push_back(Bytes::from(format!("id: {token}\ndata: {record}\n\n")));
            }
            continue;
        }
        tokio::select! {
            changed = state.closed.changed() => changed.ok()?,
            _ = tokio::time::sleep_until(state.last_sent + keepalive) => state.queue.push_back(Bytes::from_static(b": keepalive\n\n")),
            _ = state.epoch.changed() => return None,
            _ = state.stalled.changed() => {}
        }
    }
}
