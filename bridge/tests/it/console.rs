//! The operations console as a browser uses it (plain HTTP here; `console_browser` drives
//! Chromium): sign-in, sessions and their cookies, CSRF on every form, roles, the audit table,
//! the security headers, and the actions (Reprocess, Approve, Cancel) on every backend.

use std::time::Duration;

use service::console::testing::{Browser, PASSWORD, Page, console_settings};
use service::database::Backend;
use service::testing::free_port;
use stellar_base::KeyPair;

use crate::common::{API_KEY, BackOffice, TestBridge, receiving_config};

/// The first `/received/{row}` link of a page.
fn first_payment_link(body: &str) -> String {
    let at = body
        .find("href=\"/received/")
        .expect("a payment in the list");
    let rest = &body[at + "href=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// What every console answer carries, whatever it is.
fn assert_locked_down(page: &Page) {
    let header = |name: &str| {
        page.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        header("content-security-policy"),
        service::console::CONTENT_SECURITY_POLICY
    );
    assert!(header("content-security-policy").contains("script-src 'none'"));
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("cache-control"), "no-store");
}

service::backend_tests!(an_operator_reprocesses_a_failed_delivery_from_the_console);
async fn an_operator_reprocesses_a_failed_delivery_from_the_console(backend: Backend) {
    let office = BackOffice::start().await;
    office.answer(503);
    office.answer_error(200);
    let receiver = KeyPair::random();
    let port = free_port();
    let (bridge, _receiving) = TestBridge::start_receiving(backend, |c| {
        receiving_config(c, &receiver.public_key(), &office);
        c.receiving.max_attempts = 2;
        c.console = console_settings(port);
    })
    .await;
    office
        .wait_for(10, "the error callback", |calls| {
            calls.iter().any(|c| c.path == "/error")
        })
        .await;
    let operation = office.calls_to("/error")[0].form["id"].clone();
    let mut browser = Browser::new(port);

    // Nothing without signing in.
    let page = browser.get("/received").await;
    assert_eq!((page.status, page.location()), (303, "/login"));

    // A viewer sees the failed payment, why it failed, and no button; posting anyway is 403.
    browser.switch_to("vera").await;
    let list = browser.get("/received?status=failed").await;
    assert_eq!(list.status, 200, "{backend}: {}", list.body);
    assert_locked_down(&list);
    assert!(list.body.contains(&operation), "{backend}: {}", list.body);
    let link = first_payment_link(&list.body);
    let shown = browser.get(&link).await;
    // Each call of the back office, with its status and the first bytes of its answer.
    assert_eq!(
        shown.body.matches("back office answered 503").count(),
        2,
        "{backend}: {}",
        shown.body
    );
    assert!(
        shown.body.contains("back office answered 200"),
        "the error callback's"
    );
    assert!(
        shown.body.contains("receive callback answered 503"),
        "{}",
        shown.body
    );
    assert!(!shown.body.contains("/reprocess\""), "{}", shown.body);
    assert!(shown.body.contains("needs the operator role"));
    let csrf = shown.csrf(); // the sign-out form's: this session's token
    let refused = browser
        .post(&format!("{link}/reprocess"), &[("csrf", &csrf)], &[])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("operator role"));

    // Filters narrow the list: another status, another account.
    let none = browser.get("/received?status=success").await;
    assert!(!none.body.contains(&operation));
    let other = browser
        .get(&format!(
            "/received?account={}",
            KeyPair::random().public_key()
        ))
        .await;
    assert!(other.body.contains("No payment matches."));
    let by_hash = browser.get(&format!("/received?q={operation}")).await;
    assert!(by_hash.body.contains(&operation));

    // The operator reprocesses it once the back office is back: without the form's token it is
    // refused, with it the payment is delivered and the audit table says who did it.
    office.answer(200);
    browser.switch_to("olga").await;
    let shown = browser.get(&link).await;
    assert!(shown.body.contains("/reprocess\""), "{}", shown.body);
    let forged = browser
        .post(&format!("{link}/reprocess"), &[("csrf", "0000")], &[])
        .await;
    assert_eq!(forged.status, 403);
    let before = office.calls_to("/receive").len();
    assert_eq!(before, 2, "{backend}: a refused action delivers nothing");
    let done = browser
        .post(
            &format!("{link}/reprocess"),
            &[("csrf", &shown.csrf())],
            &[],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(
        done.location().ends_with("?done=reprocessed"),
        "{}",
        done.location()
    );
    assert_eq!(office.calls_to("/receive").len(), before + 1);
    let (_, one) = bridge
        .get(&format!("/admin/received-payments/{operation}"))
        .await;
    assert_eq!(one["payment"]["status"], "success", "{backend}: {one:#}");
    let after = browser.get(done.location()).await;
    assert_eq!(after.body.matches("back office answered 200").count(), 2);
    assert!(after.body.contains("Delivered again"), "{}", after.body);
    let audit = browser.get("/audit").await;
    assert!(audit.body.contains("olga"), "{}", audit.body);
    assert!(audit.body.contains("reprocess"));
    assert!(audit.body.contains(&operation));
}

service::backend_tests!(an_approver_approves_a_batch_others_cannot);
async fn an_approver_approves_a_batch_others_cannot(backend: Backend) {
    let port = free_port();
    let bridge = TestBridge::start_with(backend, |c| {
        c.batches.require_approval = true;
        c.batches.approver_key = Some(service::Secret::new("approver-key-0123456789".into()));
        c.console = console_settings(port);
    })
    .await;
    let payee = KeyPair::random();
    bridge.sandbox.fund(payee.public_key()).await.unwrap();
    let batch = serde_json::json!({"id": "payroll/11", "payments": [
        {"id": "1", "destination": payee.public_key().to_string(), "amount": "3"},
        {"id": "2", "destination": payee.public_key().to_string(), "amount": "4"},
    ]});
    let res = reqwest::Client::new()
        .post(format!("{}/batches", bridge.url))
        .header("x-api-key", API_KEY)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let mut browser = Browser::new(port);
    browser.switch_to("olga").await;
    let list = browser.get("/batches?state=awaiting_approval").await;
    assert!(list.body.contains("payroll/11"), "{}", list.body);
    let at = list.body.find("href=\"/batches/").unwrap();
    let rest = &list.body[at + "href=\"".len()..];
    let link = rest[..rest.find('"').unwrap()].to_owned();
    let page = browser.get(&link).await;
    assert!(
        page.body.contains("needs the approver role"),
        "{}",
        page.body
    );
    let refused = browser
        .post(&format!("{link}/approve"), &[("csrf", &page.csrf())], &[])
        .await;
    assert_eq!(refused.status, 403);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(bridge.payments_to(&payee.public_key()).await.is_empty());

    browser.switch_to("abel").await;
    let page = browser.get(&link).await;
    assert!(page.body.contains("Approve"), "{}", page.body);
    // A form posted from another site is refused even with the right token.
    let cross = browser
        .post(
            &format!("{link}/approve"),
            &[("csrf", &page.csrf())],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(cross.status, 403);
    let approved = browser
        .post(&format!("{link}/approve"), &[("csrf", &page.csrf())], &[])
        .await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let page = browser.get(&link).await;
        if page.body.contains("state state-finished") {
            assert!(
                page.body.contains("<progress value=\"2\" max=\"2\""),
                "{}",
                page.body
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{backend}: {}",
            page.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(bridge.payments_to(&payee.public_key()).await.len(), 2);
    // Approving twice is refused with the reason, and audited.
    let page = browser.get(&link).await;
    assert!(!page.body.contains(">Approve<"));
    let again = browser
        .post(&format!("{link}/approve"), &[("csrf", &page.csrf())], &[])
        .await;
    assert_eq!(again.status, 400, "{}", again.body);
    let audit = browser.get("/audit").await;
    assert!(audit.body.contains("approve_batch"), "{}", audit.body);
    assert!(audit.body.contains("payroll/11"));
}

service::backend_tests!(sign_in_sessions_and_errors; sqlite);
async fn sign_in_sessions_and_errors(_backend: Backend) {
    let port = free_port();
    let bridge = TestBridge::start_with(Backend::Sqlite, |c| {
        c.console = console_settings(port);
    })
    .await;
    let mut browser = Browser::new(port);

    // Without a session every page and every action leads to the sign-in form, and does
    // nothing.
    for path in [
        "/",
        "/received",
        "/received/1",
        "/sent",
        "/sent/1",
        "/batches",
        "/batches/1",
        "/status",
        "/audit",
    ] {
        let page = browser.get(path).await;
        assert_eq!(
            (page.status, page.location()),
            (303, "/login"),
            "GET {path}"
        );
    }
    for path in [
        "/received/1/reprocess",
        "/batches/1/approve",
        "/batches/1/cancel",
        "/logout",
    ] {
        let page = browser.post(path, &[("csrf", "x")], &[]).await;
        assert_eq!(
            (page.status, page.location()),
            (303, "/login"),
            "POST {path}"
        );
    }

    // The sign-in form: its CSRF cookie is HttpOnly and SameSite=Strict.
    let form = browser.get("/login").await;
    assert_eq!(form.status, 200);
    assert_locked_down(&form);
    let cookie = form.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(form.body.contains("<label for=\"user\">"));

    // A wrong password, an unknown user: 401, the same answer, audited.
    let wrong = browser.sign_in("vera", "guess").await;
    assert_eq!(wrong.status, 401);
    let unknown = browser.sign_in("mallory", "guess").await;
    assert_eq!(unknown.status, 401);
    assert_eq!(
        wrong.body.replace(&wrong.csrf(), ""),
        unknown.body.replace(&unknown.csrf(), "")
    );

    // Without the form's cookie (a form posted from elsewhere): 403.
    let mut stranger = Browser::new(port);
    let forged = stranger
        .post(
            "/login",
            &[("csrf", "x"), ("user", "vera"), ("password", PASSWORD)],
            &[],
        )
        .await;
    assert_eq!(forged.status, 403);

    // Signed in: the session cookie is HttpOnly, SameSite=Strict, and not Secure over http.
    let page = browser.sign_in("vera", PASSWORD).await;
    assert_eq!((page.status, page.location()), (303, "/"));
    let session = page
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("console_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    assert!(!session.contains("Secure"));
    // A browser-session cookie: the session's lifetime is kept, and slid, on the server.
    assert!(!session.contains("Max-Age"), "{session}");
    let home = browser.get("/").await;
    assert_eq!(home.location(), "/received");
    for path in ["/received", "/sent", "/batches", "/status", "/audit"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(page.body.contains("<h1>"), "{path}");
        assert!(!page.body.contains("<script"), "{path}");
        assert!(!page.body.contains(" style="), "{path}: no inline style");
    }
    // Refused sign-ins are audited under the name only when it is a user's: what else is
    // typed there may be a password.
    let audit = browser.get("/audit").await;
    assert!(
        audit.body.contains("refused") && audit.body.contains("vera"),
        "{}",
        audit.body
    );
    assert!(audit.body.contains("(unknown user)") && !audit.body.contains("mallory"));

    // Bad input: an HTML page with the reason and the right status.
    let bad = browser.get("/received?status=lost").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("status: one of"), "{}", bad.body);
    let bad = browser.get("/received?from=yesterday").await;
    assert_eq!(bad.status, 400);
    assert_eq!(browser.get("/received/999999").await.status, 404);
    assert_eq!(browser.get("/nowhere").await.status, 404);

    // Behind a proxy that passes the browser's host as X-Forwarded-Host, the form is accepted;
    // from another origin it is not.
    let page = browser.get("/received").await;
    let proxied = browser
        .post(
            "/logout",
            &[("csrf", &page.csrf())],
            &[
                ("origin", "https://console.bank.example"),
                ("x-forwarded-host", "console.bank.example"),
            ],
        )
        .await;
    assert_eq!(proxied.status, 303, "{}", proxied.body);
    browser.switch_to("vera").await;

    // Another instance on the same database honours the session, with the roles its own
    // configuration gives now: a user removed there is signed out there.
    let kept = browser.cookies.clone();
    let other_port = free_port();
    bridge
        .restart(|c| {
            c.console = console_settings(other_port);
            c.console.users.retain(|u| u.name != "olga");
        })
        .await;
    let mut elsewhere = Browser::new(other_port);
    elsewhere.cookies = kept.clone();
    assert_eq!(elsewhere.get("/received").await.status, 200);
    browser.switch_to("olga").await;
    elsewhere.cookies = browser.cookies.clone();
    let gone = elsewhere.get("/received").await;
    assert_eq!((gone.status, gone.location()), (303, "/login"));
    browser.cookies = kept;

    // Signing out ends the session on the server, not only in this browser.
    let kept = browser.cookies.clone();
    let page = browser.get("/received").await;
    let out = browser
        .post("/logout", &[("csrf", &page.csrf())], &[])
        .await;
    assert_eq!((out.status, out.location()), (303, "/login"));
    browser.cookies = kept;
    let after = browser.get("/received").await;
    assert_eq!((after.status, after.location()), (303, "/login"));
}

#[tokio::test]
async fn no_console_listener_unless_configured() {
    let sandbox = sandbox::Sandbox::start(sandbox::SandboxConfig::for_tests())
        .await
        .unwrap();
    let (source, issuer) = (KeyPair::random(), KeyPair::random());
    sandbox.fund(source.public_key()).await.unwrap();
    sandbox.fund(issuer.public_key()).await.unwrap();
    let db = service::testing::TestDatabase::new(Backend::Sqlite);
    let config = crate::common::config(&db, &sandbox, &source, &issuer, |_| {});
    assert!(config.console.port.is_none());
    let app = bridge::Application::build(config).await.unwrap();
    assert_eq!(app.console_url(), None);
}

// 20 000 received payments: every filter pages through index ranges and lands on the right
// rows, the last page has no "Older" link, and a search finds one payment among them. The
// time of each page is printed for `docs/PERFORMANCE.md` (run with `--nocapture`), never
// asserted.
service::backend_tests!(twenty_thousand_payments_page_and_filter; sqlite, postgres, mysql);
async fn twenty_thousand_payments_page_and_filter(backend: Backend) {
    const ROWS: usize = 20_000;
    let port = free_port();
    let bridge = TestBridge::start_with(backend, |c| c.console = console_settings(port)).await;
    let (a, b) = (
        KeyPair::random().public_key(),
        KeyPair::random().public_key(),
    );
    for chunk in (0..ROWS).collect::<Vec<_>>().chunks(1_000) {
        let values: Vec<String> = chunk
            .iter()
            .map(|i| {
                let account = if i % 2 == 0 { a } else { b };
                let status = if i % 100 < 2 { "failed" } else { "success" };
                let asset = if i % 3 == 0 { "NULL" } else { "'USD'" };
                let day = 1 + i / 1_000;
                format!(
                    "('op-{i}', '2026-11-{day:02} 10:00:00', '{i}', '{status}', '{i:064x}', \
                     '{account}', 'payment', '10', {asset}, 'text', 'memo-{i}', '{{}}')"
                )
            })
            .collect();
        bridge._db.execute(&format!(
            "INSERT INTO received_payment (operation_id, processed_at, paging_token, status, \
             transaction_id, account, kind, amount, asset_code, memo_type, memo, raw) VALUES {}",
            values.join(", ")
        ));
    }
    let mut browser = Browser::new(port);
    browser.switch_to("vera").await;
    let timed = |label: &'static str| {
        let started = std::time::Instant::now();
        move || eprintln!("{backend} {label}: {:?}", started.elapsed())
    };
    let rows = |page: &Page| page.body.matches("href=\"/received/").count();

    let done = timed("newest page");
    let first = browser.get("/received").await;
    done();
    assert_eq!(rows(&first), 50);
    assert!(first.body.contains(">op-19999<") && first.body.contains("rel=\"next\""));
    let done = timed("page 400 (the last)");
    let last = browser.get("/received?page=400").await;
    done();
    assert_eq!(rows(&last), 50, "{backend}");
    assert!(last.body.contains(">op-0<") && !last.body.contains("rel=\"next\""));

    // 400 failed payments: eight pages of 50, of both accounts; then one account's 200.
    let done = timed("failed, page 8");
    let failed = browser.get("/received?status=failed&page=8").await;
    done();
    assert_eq!(rows(&failed), 50);
    assert!(!failed.body.contains("rel=\"next\""));
    assert!(failed.body.contains("state-failed") && !failed.body.contains("state-success"));
    let done = timed("failed of one account");
    let mine = browser
        .get(&format!("/received?status=failed&account={a}&page=4"))
        .await;
    done();
    assert_eq!(rows(&mine), 50, "{backend}: 200 of account a");
    assert!(!mine.body.contains(&b.to_string()));
    assert!(!mine.body.contains("rel=\"next\""));

    // One payment among 20 000, by its memo or its transaction hash.
    let done = timed("search by memo");
    let found = browser.get("/received?q=memo-12345").await;
    done();
    assert_eq!(rows(&found), 1);
    assert!(found.body.contains(">op-12345<"));
    let done = timed("search by transaction");
    let found = browser.get(&format!("/received?q={:064x}", 777)).await;
    done();
    assert_eq!(rows(&found), 1);
    assert!(found.body.contains(">op-777<"));

    // A day: 1 000 payments on 2026-11-05, lumens only (every third).
    let done = timed("one day, lumens");
    let day = browser
        .get("/received?from=2026-11-05&to=2026-11-05&asset=XLM&page=7")
        .await;
    done();
    // Multiples of 3 in 4000..5000: 333, so page 7 holds the last 33.
    assert_eq!(rows(&day), 33, "{backend}");
    assert!(!day.body.contains("rel=\"next\""));
    let done = timed("health page");
    assert_eq!(browser.get("/status").await.status, 200);
    done();
}

service::backend_tests!(a_sent_payment_shows_its_request_without_secrets; sqlite, postgres);
async fn a_sent_payment_shows_its_request_without_secrets(backend: Backend) {
    let port = free_port();
    let bridge = TestBridge::start_with(backend, |c| c.console = console_settings(port)).await;
    let payee = KeyPair::random();
    bridge.sandbox.fund(payee.public_key()).await.unwrap();
    let seed = bridge.source.secret_seed();
    let (status, body) = bridge
        .pay(&[
            ("id", "rent-december"),
            ("source", &seed),
            ("destination", &payee.public_key().to_string()),
            ("amount", "12.5"),
            ("memo_type", "text"),
            ("memo", "rent"),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    let mut browser = Browser::new(port);
    browser.switch_to("vera").await;
    let list = browser.get("/sent?q=rent-december").await;
    let at = list.body.find("href=\"/sent/").expect("the payment");
    let rest = &list.body[at + "href=\"".len()..];
    let page = browser.get(&rest[..rest.find('"').unwrap()]).await;
    assert!(page.body.contains("state-success"), "{}", page.body);
    assert!(page.body.contains("Fee paid") && page.body.contains(" stroops"));
    // The request as the app sent it, without the API key and without the seed.
    for shown in ["destination", "12.5", "rent", "memo_type"] {
        assert!(page.body.contains(shown), "{shown}: {}", page.body);
    }
    assert!(page.body.contains(&format!(
        "(the secret seed of {})",
        bridge.source.public_key()
    )));
    assert!(!page.body.contains(&seed), "{backend}: the seed is shown");
    assert!(!page.body.contains(API_KEY) && !page.body.contains("apiKey"));
}
