//! The compliance console: the allow lists edited by a compliance officer only, the edits
//! audited and seen by the AUTH_SERVER's decisions, and authorized transactions listed with
//! their AuthData shown to compliance officers only.

use compliance::Application;
use service::console::testing::{Browser, console_settings};
use service::database::Backend;
use service::testing::{TestDatabase, free_port};
use stellar_base::KeyPair;

use crate::common::{BackOffice, BankOptions, TomlHost, TwoBanks, config};

/// Borrowed pairs for [`Browser::post`].
fn pairs(owned: &[(String, String)]) -> Vec<(&str, &str)> {
    owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

service::backend_tests!(a_compliance_officer_edits_the_allow_lists);
async fn a_compliance_officer_edits_the_allow_lists(backend: Backend) {
    let db = TestDatabase::new(backend);
    let (host, office) = (TomlHost::start().await, BackOffice::start().await);
    let port = free_port();
    let mut settings = config(
        &db,
        &KeyPair::random(),
        &office,
        &host,
        &BankOptions::default(),
    );
    settings.console = console_settings(port);
    let app = Application::build(settings).await.unwrap();
    assert!(app.console_url().is_some());
    app.spawn();
    let mut browser = Browser::new(port);
    let peer = KeyPair::random().public_key().to_string();

    // Without a session every page and action leads to the sign-in form and does nothing.
    for path in ["/", "/allowed", "/authorized", "/authorized/1", "/audit"] {
        let page = browser.get(path).await;
        assert_eq!(
            (page.status, page.location()),
            (303, "/login"),
            "GET {path}"
        );
    }
    for path in ["/allowed/add", "/allowed/remove", "/logout"] {
        let form = [
            ("csrf", "x"),
            ("name", "B"),
            ("domain", "b.test"),
            ("public_key", peer.as_str()),
        ];
        let page = browser.post(path, &form, &[]).await;
        assert_eq!(
            (page.status, page.location()),
            (303, "/login"),
            "POST {path}"
        );
    }
    assert_eq!(db.count("allowed_fi"), 0);

    // A viewer sees the lists and no form; posting anyway is 403 and changes nothing.
    browser.switch_to("vera").await;
    let page = browser.get("/allowed").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("needs the compliance officer role"));
    assert!(!page.body.contains("action=\"/allowed/add\""));
    let add = |csrf: &str, key: &str| -> Vec<(String, String)> {
        [
            ("csrf", csrf),
            ("name", "Bank B"),
            ("domain", "Bank-B.test"),
            ("public_key", key),
            ("user_id", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let refused = browser
        .post("/allowed/add", &pairs(&add(&page.csrf(), &peer)), &[])
        .await;
    assert_eq!(refused.status, 403);
    assert!(
        browser
            .get("/allowed")
            .await
            .body
            .contains("The allow lists are empty.")
    );

    // The officer: without the form's token 403; a bad key 400 naming the field; then added.
    browser.switch_to("cora").await;
    let csrf = browser.get("/allowed").await.csrf();
    let forged = browser
        .post("/allowed/add", &pairs(&add("0000", &peer)), &[])
        .await;
    assert_eq!(forged.status, 403);
    let bad = browser
        .post("/allowed/add", &pairs(&add(&csrf, "GNOTAKEY")), &[])
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("public_key"), "{}", bad.body);
    let added = browser
        .post("/allowed/add", &pairs(&add(&csrf, &peer)), &[])
        .await;
    assert_eq!(
        (added.status, added.location()),
        (303, "/allowed?done=added"),
        "{}",
        added.body
    );
    let page = browser.get(added.location()).await;
    assert!(page.body.contains("bank-b.test"), "{}", page.body);
    assert!(page.body.contains(&peer));
    assert!(page.body.contains("Added to the allow list."));
    assert_eq!(db.count("allowed_fi"), 1, "{backend}");

    // Removed with the row's button; the audit log names the officer and both actions.
    let removed = browser
        .post(
            "/allowed/remove",
            &[("csrf", &csrf), ("domain", "bank-b.test"), ("user_id", "")],
            &[],
        )
        .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert_eq!(db.count("allowed_fi"), 0, "{backend}");
    let audit = browser.get("/audit").await;
    assert!(audit.body.contains("cora"));
    assert!(
        audit.body.contains(">allow<") && audit.body.contains("remove_allowance"),
        "{}",
        audit.body
    );
}

service::backend_tests!(authorized_transactions_show_auth_data_to_officers_only; sqlite);
async fn authorized_transactions_show_auth_data_to_officers_only(backend: Backend) {
    let banks = TwoBanks::start(backend, BankOptions::default()).await;
    banks.b.office.script("sanctions", &[(200, "")]);
    banks.b.office.script("ask_user", &[(200, "")]);
    let (status, body) = banks.send("console-1", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["auth_response"]["tx_status"], "ok", "{body}");
    // Bank B's console, on B's database.
    let port = free_port();
    let key = KeyPair::random();
    let office = BackOffice::start().await;
    let mut settings = config(
        &banks.b._db,
        &key,
        &office,
        &banks.host,
        &BankOptions::default(),
    );
    settings.console = console_settings(port);
    Application::build(settings).await.unwrap().spawn();
    let mut browser = Browser::new(port);
    browser.switch_to("vera").await;
    let list = browser.get("/authorized").await;
    assert_eq!(list.status, 200);
    let at = list
        .body
        .find("href=\"/authorized/")
        .expect("an authorized transaction");
    let rest = &list.body[at + "href=\"".len()..];
    let link = rest[..rest.find('"').unwrap()].to_owned();
    let one = browser.get(&link).await;
    assert!(one.body.contains("compliance officers only"));
    assert!(!one.body.contains("Alice"), "{}", one.body);
    browser.switch_to("cora").await;
    let one = browser.get(&link).await;
    assert!(one.body.contains("Alice"), "{}", one.body);
}

#[tokio::test]
async fn no_console_listener_unless_configured() {
    let db = TestDatabase::new(Backend::Sqlite);
    let (host, office) = (TomlHost::start().await, BackOffice::start().await);
    let settings = config(
        &db,
        &KeyPair::random(),
        &office,
        &host,
        &BankOptions::default(),
    );
    let app = Application::build(settings).await.unwrap();
    assert_eq!(app.console_url(), None);
}
