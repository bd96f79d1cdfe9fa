//! Health: per watched account its listener and delivery, the channel pool, and a chart of
//! payments received and delivered per minute over the last hour.

use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use service::console::page::{self, Series, chart};
use service::console::{Console, ConsoleError, Session};

use super::{Pages, layout, state};

/// A JSON object as a definition list (nested values as compact JSON; `…_at` Unix
/// milliseconds as a time and how long ago, the lag an operator looks for).
fn facts(value: &serde_json::Value, now_ms: i64) -> Markup {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "—".to_owned(),
        other => other.to_string(),
    };
    html! {
        dl.facts {
            @if let Some(object) = value.as_object() {
                @for (key, v) in object {
                    dt { (key.replace('_', " ")) }
                    @if key == "state" || key == "status" { dd { (state(&text(v))) } }
                    @else if let (true, Some(ms)) = (key.ends_with("_at"), v.as_i64()) {
                        dd { (page::time_ms(ms)) " UTC (" ((now_ms - ms).max(0) / 1000) " s ago)" }
                    }
                    @else { dd.mono { (text(v)) } }
                }
            }
        }
    }
}

/// The ledger of an account's last recorded payment, from its paging token (a TOID: the
/// ledger sequence in the high 32 bits).
fn cursor_ledger(account: &serde_json::Value) -> Option<i64> {
    let token: i64 = account["last_paging_token"].as_str()?.parse().ok()?;
    (token > 0).then_some(token >> 32)
}

pub async fn show(
    console: web::Data<Console>,
    pages: web::Data<Pages>,
    session: Session,
) -> Result<HttpResponse, ConsoleError> {
    let listeners = pages.receiving.health().await;
    let channels = pages.sending.channels_health().await;
    let channel_list = pages.sending.channels().await?;
    // Where the network is, to say how many ledgers ago each account's last payment was.
    let latest = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        pages.sending.submitter().horizon().root(),
    )
    .await
    .ok()
    .and_then(Result::ok)
    .map(|root| root.history_latest_ledger);
    let (received, delivered) = pages.receiving.store().per_minute(60).await?;
    let now_ms = crate::receive::store::now_ms();
    let summary = format!(
        "Over the last 60 minutes: {} payments received, {} delivered.",
        received.iter().sum::<u64>(),
        delivered.iter().sum::<u64>()
    );
    let body = html! {
        h1 { "Health" }
        h2 { "Payments per minute, last hour" }
        (chart("Received and delivered per minute", &summary, &[
            Series { name: "received", class: "a", values: &received },
            Series { name: "delivered", class: "b", values: &delivered },
        ]))
        p { (summary) }
        h2 { "Watched accounts" }
        @if let Some(accounts) = listeners.as_array() {
            @if accounts.is_empty() { p { "No account is watched (callbacks.receive is not set)." } }
            @for account in accounts {
                h3.mono { (account["account"].as_str().unwrap_or("?")) }
                (facts(account, now_ms))
                @if let (Some(latest), Some(cursor)) = (latest, cursor_ledger(account)) {
                    p { "Last payment recorded in ledger " (cursor) ", " (i64::from(latest) - cursor) " ledgers before Horizon's latest (" (latest) "). A quiet account grows this number without being late; the stream's own lag shows as a last error or reconnects." }
                }
            }
        }
        h2 { "Channels" }
        @if channels.is_null() { p { "No channel accounts: one transaction in flight per paying account." } } @else {
            (facts(&channels, now_ms))
            table {
                caption { "Each channel account, its state and its lumens (fees come from them)" }
                thead { tr { th scope="col" { "Channel" } th scope="col" { "State" } th scope="col" class="num" { "Balance (XLM)" } th scope="col" { "Why out of the pool" } } }
                tbody {
                    @for (channel, balance) in &channel_list {
                        tr {
                            td.mono { (channel.account) }
                            td { (state(channel.state)) }
                            td.num { (balance.clone().unwrap_or_else(|| "unknown".into())) }
                            td { (channel.reason.clone().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(&console, &session, "Health", body))
}
