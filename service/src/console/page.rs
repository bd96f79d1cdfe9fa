//! The pieces every console page is built from: the layout (title, navigation, who is signed
//! in), forms that carry the CSRF token, paging that never counts the whole table, times, and
//! a small SVG chart. Markup is escaped by maud; nothing here writes raw HTML from data.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use maud::{DOCTYPE, Markup, html};

use super::{Console, Session};

/// A whole HTML document with `status`.
fn document(status: StatusCode, title: &str, header: Markup, body: Markup) -> HttpResponse {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href="/console.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                (header)
                main #main { (body) }
            }
        }
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// A page without navigation (sign-in, errors).
pub fn bare(status: StatusCode, title: &str, body: Markup) -> HttpResponse {
    document(status, title, html! {}, body)
}

/// A signed-in page: the console's navigation, who is signed in with a sign-out button, and
/// `body`.
pub fn layout(console: &Console, session: &Session, title: &str, body: Markup) -> HttpResponse {
    let header = html! {
        header {
            nav aria-label="Console" {
                span.brand { (console.title()) " console" }
                ul {
                    @for (href, label) in console.nav() {
                        li { a href=(href) { (label) } }
                    }
                    li { a href="/audit" { "Audit log" } }
                }
            }
            div.who {
                (session.user)
                @if !session.roles.is_empty() {
                    " (" (session.roles.iter().map(|r| r.label()).collect::<Vec<_>>().join(", ")) ")"
                }
                (button(session, "/logout", "Sign out", &[]))
            }
        }
    };
    document(
        StatusCode::OK,
        &format!("{title} · {} console", console.title()),
        header,
        body,
    )
}

/// The hidden CSRF field every form of `session` carries.
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A one-button form posting `fields` (hidden) and the CSRF token to `action`.
pub fn button(session: &Session, action: &str, label: &str, fields: &[(&str, &str)]) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf_field(session))
            @for (name, value) in fields { input type="hidden" name=(name) value=(value); }
            button type="submit" { (label) }
        }
    }
}

/// A status message above a page's content (what an action did).
pub fn notice(message: Option<&str>) -> Markup {
    html! { @if let Some(message) = message { p.notice role="status" { (message) } } }
}

/// Pages of `size` rows from `?page=N` (1-based). Asks the database for one row more than it
/// shows to know whether there is a next page: no `COUNT(*)` over a table of millions.
#[derive(Debug, Clone, Copy)]
pub struct Pager {
    page: u32,
    size: u32,
}

impl Pager {
    /// Page `page` (default 1) of `size` rows.
    pub fn new(page: Option<u32>, size: u32) -> Self {
        Self {
            page: page.unwrap_or(1).clamp(1, 100_000),
            size,
        }
    }

    /// The first row.
    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.size)
    }

    /// How many rows to fetch.
    pub fn fetch(&self) -> i64 {
        i64::from(self.size) + 1
    }

    /// Drops the extra row; whether there was one (a next page).
    pub fn trim<T>(&self, rows: &mut Vec<T>) -> bool {
        let more = rows.len() > self.size as usize;
        rows.truncate(self.size as usize);
        more
    }

    /// Previous and next links to `path` keeping the filter `query` (name, value) pairs.
    pub fn links(&self, path: &str, query: &[(&str, &str)], more: bool) -> Markup {
        let href = |page: u32| {
            let mut pairs = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in query.iter().filter(|(_, v)| !v.is_empty()) {
                pairs.append_pair(name, value);
            }
            pairs.append_pair("page", &page.to_string());
            format!("{path}?{}", pairs.finish())
        };
        html! {
            nav.pager aria-label="Pages" {
                @if self.page > 1 { a rel="prev" href=(href(self.page - 1)) { "← Newer" } }
                span { "Page " (self.page) }
                @if more { a rel="next" href=(href(self.page + 1)) { "Older →" } }
            }
        }
    }
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn time_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map_or_else(
        |_| ms.to_string(),
        |t| datetime(&time::PrimitiveDateTime::new(t.date(), t.time())),
    )
}

/// A UTC date and time as `YYYY-MM-DD HH:MM:SS`.
pub fn datetime(t: &time::PrimitiveDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// One series of a [`chart`]: its name, its CSS class (colour) and a value per bar.
#[derive(Debug)]
pub struct Series<'a> {
    /// Shown in the legend.
    pub name: &'a str,
    /// `a` or `b` (the stylesheet's two colours).
    pub class: &'a str,
    /// One value per slot, oldest first.
    pub values: &'a [u64],
}

/// A server-rendered bar chart of two series side by side per slot, with a text summary for
/// screen readers (`title` and `desc`).
pub fn chart(title: &str, summary: &str, series: &[Series<'_>]) -> Markup {
    const WIDTH: u64 = 720;
    const HEIGHT: u64 = 160;
    let slots = series
        .iter()
        .map(|s| s.values.len())
        .max()
        .unwrap_or(0)
        .max(1) as u64;
    let peak = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let slot_width = WIDTH / slots;
    let bar_width = (slot_width / (series.len().max(1) as u64)).max(1);
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {}", HEIGHT + 2)) role="img" aria-labelledby="chart-title chart-desc" {
                title #chart-title { (title) }
                desc #chart-desc { (summary) }
                @for (k, s) in series.iter().enumerate() {
                    @for (i, value) in s.values.iter().enumerate() {
                        @let height = value * HEIGHT / peak;
                        rect class=(s.class)
                            x=(i as u64 * slot_width + k as u64 * bar_width)
                            y=(HEIGHT - height) width=(bar_width.saturating_sub(1).max(1)) height=(height) {}
                    }
                }
                line.axis x1="0" y1=(HEIGHT) x2=(WIDTH) y2=(HEIGHT) {}
            }
            figcaption {
                (title) " (peak " (peak) " per slot): "
                @for s in series { span class=(format!("key {}", s.class)) { (s.name) } " " }
            }
        }
    }
}
