//! The consoles in headless Chromium and Firefox (Debian's `chromium`, `chromium-driver` and
//! `firefox-esr`, and `geckodriver` from crates.io, which `scripts/test.sh` installs), as their
//! users click through them: sign in, find the payment whose delivery failed with the back
//! office's answer, Reprocess it, approve a batch as the approver after being refused as a
//! viewer, add and remove an allow-list entry, and a form stripped of its CSRF token refused.
//! A screenshot of every page goes to `$CARGO_TARGET_TMPDIR/console-screenshots/<browser>/`.
//!
//! Without a browser its test fails saying what to install; `TEST_BROWSER=0` skips them.
//!
//! It speaks W3C WebDriver to the driver itself (a dozen JSON calls): the client crates turn
//! on serde_json's `preserve_order` for the whole workspace's test build, which would test the
//! servers with a JSON map order they do not have in production.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use service::console::testing::{PASSWORD, console_settings};
use service::database::Backend;
use service::testing::{TestDatabase, free_port};
use stellar_base::KeyPair;

use crate::common::banks::compliance_config;
use crate::common::{API_KEY, BackOffice, TestBridge, receiving_config};

/// A browser and its WebDriver server.
#[derive(Debug, Clone, Copy)]
enum Browser {
    Chromium,
    Firefox,
}

impl Browser {
    fn name(self) -> &'static str {
        match self {
            Self::Chromium => "chromium",
            Self::Firefox => "firefox",
        }
    }

    /// The browser binary and its driver (`geckodriver` from `cargo install`, on `PATH` or in
    /// `~/.cargo/bin`).
    fn binaries(self) -> (PathBuf, PathBuf) {
        match self {
            Self::Chromium => ("/usr/bin/chromium".into(), "/usr/bin/chromedriver".into()),
            Self::Firefox => {
                let on_path = std::env::var_os("PATH")
                    .map(|paths| {
                        std::env::split_paths(&paths)
                            .map(|p| p.join("geckodriver"))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                let cargo_bin = std::env::var_os("HOME")
                    .map(|home| PathBuf::from(home).join(".cargo/bin/geckodriver"));
                let driver = on_path
                    .into_iter()
                    .chain(cargo_bin)
                    .find(|p| p.exists())
                    .unwrap_or_else(|| "geckodriver".into());
                ("/usr/bin/firefox-esr".into(), driver)
            }
        }
    }

    fn capabilities(self, binary: &std::path::Path, profile: &std::path::Path) -> Value {
        match self {
            Self::Chromium => json!({
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": binary, "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--window-size=1280,900", format!("--user-data-dir={}", profile.display()),
                ]},
            }),
            Self::Firefox => json!({
                "browserName": "firefox",
                "moz:firefoxOptions": {"binary": binary, "args": ["-headless", "-width=1280", "-height=900"]},
            }),
        }
    }
}

/// A WebDriver server on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
    browser: Browser,
    binary: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// `None` when the browser is missing and `TEST_BROWSER=0` says to skip.
    async fn start(browser: Browser) -> Option<Self> {
        let (binary, driver) = browser.binaries();
        let missing = [&binary, &driver]
            .into_iter()
            .filter(|p| !p.exists())
            .collect::<Vec<_>>();
        if !missing.is_empty() {
            if std::env::var("TEST_BROWSER").as_deref() == Ok("0") {
                eprintln!("console browser test skipped (TEST_BROWSER=0): {missing:?} missing");
                return None;
            }
            panic!(
                "{missing:?} not found: install Debian's chromium, chromium-driver and \
                 firefox-esr and `cargo install geckodriver` (scripts/test.sh does), or set \
                 TEST_BROWSER=0 to skip the browser tests"
            );
        }
        let port = free_port();
        // Killed and waited for by `Drop`, whatever happens next.
        let driver = Self {
            child: Command::new(driver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("the WebDriver server starts"),
            url: format!("http://127.0.0.1:{port}"),
            browser,
            binary,
        };
        for _ in 0..200 {
            if reqwest::get(format!("{}/status", driver.url)).await.is_ok() {
                return Some(driver);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} did not answer on {}", browser.name(), driver.url);
    }

    async fn browser(&self, profile: &std::path::Path) -> WebDriver {
        let capabilities = json!({"capabilities": {"alwaysMatch":
            self.browser.capabilities(&self.binary, profile)}});
        let http = reqwest::Client::new();
        let answer: Value = http
            .post(format!("{}/session", self.url))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no {} session: {answer}", self.browser.name()));
        WebDriver {
            http,
            base: format!("{}/session/{session}", self.url),
            shots: screenshots(self.browser),
        }
    }
}

/// A WebDriver session: the W3C calls this test makes, each answering its `value` or the
/// browser's error.
struct WebDriver {
    http: reqwest::Client,
    base: String,
    /// Where its screenshots go.
    shots: PathBuf,
}

/// How an element is found.
enum By<'a> {
    Id(&'a str),
    Css(&'a str),
    Tag(&'a str),
    LinkText(&'a str),
    XPath(&'a str),
}

type WebDriverResult<T> = Result<T, String>;

impl WebDriver {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> WebDriverResult<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        match answer["value"].get("error") {
            Some(error) => Err(format!("{error}: {}", answer["value"]["message"])),
            None => Ok(answer["value"].clone()),
        }
    }

    async fn post(&self, path: &str, body: Value) -> WebDriverResult<Value> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> WebDriverResult<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn goto(&self, url: impl AsRef<str>) -> WebDriverResult<()> {
        self.post("/url", json!({"url": url.as_ref()}))
            .await
            .map(drop)
    }

    async fn refresh(&self) -> WebDriverResult<()> {
        self.post("/refresh", json!({})).await.map(drop)
    }

    async fn current_url(&self) -> WebDriverResult<url::Url> {
        let url = self.get("/url").await?;
        url::Url::parse(url.as_str().unwrap_or_default()).map_err(|e| e.to_string())
    }

    async fn find(&self, by: By<'_>) -> WebDriverResult<Element<'_>> {
        let (using, value) = match by {
            By::Id(id) => ("css selector", format!("#{id}")),
            By::Css(css) => ("css selector", css.to_owned()),
            By::Tag(tag) => ("css selector", tag.to_owned()),
            By::LinkText(text) => ("link text", text.to_owned()),
            By::XPath(path) => ("xpath", path.to_owned()),
        };
        let found = self
            .post("/element", json!({"using": using, "value": value}))
            .await?;
        let id = found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .ok_or_else(|| format!("no element id in {found}"))?;
        Ok(Element {
            driver: self,
            id: id.to_owned(),
        })
    }

    async fn execute(&self, script: &str) -> WebDriverResult<Value> {
        self.post("/execute/sync", json!({"script": script, "args": []}))
            .await
    }

    async fn screenshot(&self, path: &std::path::Path) -> WebDriverResult<()> {
        let png = self.get("/screenshot").await?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .map_err(|e| e.to_string())?;
        std::fs::write(path, bytes).map_err(|e| e.to_string())
    }

    async fn quit(&self) -> WebDriverResult<()> {
        self.call(reqwest::Method::DELETE, "", None).await.map(drop)
    }
}

/// An element of the current page.
struct Element<'a> {
    driver: &'a WebDriver,
    id: String,
}

impl Element<'_> {
    async fn click(&self) -> WebDriverResult<()> {
        self.driver
            .post(&format!("/element/{}/click", self.id), json!({}))
            .await
            .map(drop)
    }

    async fn send_keys(&self, text: &str) -> WebDriverResult<()> {
        self.driver
            .post(
                &format!("/element/{}/value", self.id),
                json!({"text": text}),
            )
            .await
            .map(drop)
    }

    async fn text(&self) -> WebDriverResult<String> {
        let text = self
            .driver
            .get(&format!("/element/{}/text", self.id))
            .await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }
}

/// Where one browser's screenshots go.
fn screenshots(browser: Browser) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("console-screenshots")
        .join(browser.name());
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(driver: &WebDriver, name: &str) {
    driver
        .screenshot(&driver.shots.join(format!("{name}.png")))
        .await
        .unwrap();
}

async fn sign_in(driver: &WebDriver, base: &str, user: &str) {
    driver.goto(format!("{base}/login")).await.unwrap();
    driver
        .find(By::Id("user"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    driver
        .find(By::Id("password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    driver
        .find(By::Css("main button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Signed in once the browser has left the form.
    for _ in 0..100 {
        if !driver
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/login")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{user} could not sign in: {}", main_text(driver).await);
}

async fn sign_out(driver: &WebDriver) {
    driver
        .find(By::XPath("//button[text()='Sign out']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The page's `<main>` text, once the page has settled (a page still loading replaces the
/// element being read).
async fn main_text(driver: &WebDriver) -> String {
    let mut last = None;
    for _ in 0..50 {
        match driver.find(By::Tag("main")).await {
            Ok(main) => match main.text().await {
                Ok(text) => return text,
                Err(e) => last = Some(e),
            },
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no <main> to read: {last:?}");
}

/// Waits for `<main>` to show `needle` (a click's page may still be loading); its text.
async fn expect_text(driver: &WebDriver, needle: &str) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        text = main_text(driver).await;
        if text.contains(needle) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the page never showed {needle:?}:\n{text}");
}

async fn click_button(driver: &WebDriver, label: &str) {
    driver
        .find(By::XPath(&format!(
            "//button[starts-with(normalize-space(.), '{label}')]"
        )))
        .await
        .unwrap_or_else(|e| panic!("a {label:?} button: {e}"))
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consoles_in_chromium() {
    the_consoles_in(Browser::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consoles_in_firefox() {
    the_consoles_in(Browser::Firefox).await;
}

async fn the_consoles_in(browser: Browser) {
    let Some(webdriver) = Driver::start(browser).await else {
        return;
    };
    let office = BackOffice::start().await;
    office.answer(503);
    office.answer_error(200);
    let receiver = KeyPair::random();
    let port = free_port();
    let (bridge, _receiving) = TestBridge::start_receiving(Backend::Sqlite, |c| {
        receiving_config(c, &receiver.public_key(), &office);
        c.receiving.max_attempts = 2;
        c.batches.require_approval = true;
        c.batches.approver_key = Some(service::Secret::new("approver-key-0123456789".into()));
        c.console = console_settings(port);
    })
    .await;
    office
        .wait_for(10, "the error callback", |calls| {
            calls.iter().any(|c| c.path == "/error")
        })
        .await;
    let operation = office.calls_to("/error")[0].form["id"].clone();
    let payee = KeyPair::random();
    bridge.sandbox.fund(payee.public_key()).await.unwrap();
    let batch = serde_json::json!({"id": "payroll-december", "payments": [
        {"id": "1", "destination": payee.public_key().to_string(), "amount": "12.5"},
        {"id": "2", "destination": payee.public_key().to_string(), "amount": "7"},
    ]});
    let res = reqwest::Client::new()
        .post(format!("{}/batches", bridge.url))
        .header("x-api-key", API_KEY)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // A compliance server with its console, for the allow lists.
    let compliance_db = TestDatabase::new(Backend::Sqlite);
    let compliance_port = free_port();
    let mut settings = compliance_config(
        &compliance_db,
        &KeyPair::random(),
        bridge.sandbox.passphrase(),
        &office.url,
        false,
    );
    settings.console = console_settings(compliance_port);
    compliance::Application::build(settings)
        .await
        .unwrap()
        .spawn();

    let profile = tempfile::tempdir().unwrap();
    let driver = webdriver.browser(profile.path()).await;
    let result = click_through(&driver, port, compliance_port, &office, &operation).await;
    let _ = driver.quit().await;
    result.unwrap();
    assert_eq!(bridge.payments_to(&payee.public_key()).await.len(), 2);
}

async fn click_through(
    driver: &WebDriver,
    port: u16,
    compliance_port: u16,
    office: &BackOffice,
    operation: &str,
) -> WebDriverResult<()> {
    let base = format!("http://127.0.0.1:{port}");

    // Signed out, every page leads to the sign-in form.
    driver.goto(format!("{base}/received")).await?;
    assert!(driver.current_url().await?.path().ends_with("/login"));
    shot(driver, "sign-in").await;

    // The operator finds the failed delivery and the back office's answer.
    sign_in(driver, &base, "olga").await;
    driver
        .goto(format!("{base}/received?status=failed"))
        .await?;
    let list = main_text(driver).await;
    assert!(list.contains(operation), "{list}");
    shot(driver, "received-payments").await;
    driver.find(By::LinkText(operation)).await?.click().await?;
    expect_text(driver, "receive callback answered 503").await;
    shot(driver, "received-payment-failed").await;
    // The back office is back: Reprocess delivers it.
    office.answer(200);
    click_button(driver, "Reprocess").await;
    let page = expect_text(driver, "Delivered again").await;
    assert!(page.contains("success"), "{page}");
    shot(driver, "received-payment-reprocessed").await;

    // A viewer is refused the batch; the approver approves it.
    sign_out(driver).await;
    sign_in(driver, &base, "vera").await;
    driver.goto(format!("{base}/batches")).await?;
    shot(driver, "batches").await;
    driver
        .find(By::LinkText("payroll-december"))
        .await?
        .click()
        .await?;
    let batch_page = driver.current_url().await?;
    expect_text(driver, "needs the approver role").await;
    assert!(
        driver
            .find(By::XPath("//button[text()='Approve']"))
            .await
            .is_err()
    );
    shot(driver, "batch-viewer").await;
    sign_out(driver).await;
    sign_in(driver, &base, "abel").await;
    driver.goto(batch_page.as_str()).await?;
    // A form stripped of its CSRF token is refused.
    driver
        .execute("document.querySelectorAll('form[action$=\"/approve\"] input[name=csrf]').forEach(e => e.remove())")
        .await?;
    click_button(driver, "Approve").await;
    expect_text(driver, "out of date or came from another site").await;
    shot(driver, "csrf-refused").await;
    driver.goto(batch_page.as_str()).await?;
    click_button(driver, "Approve").await;
    expect_text(driver, "Approved").await;
    for _ in 0..200 {
        if main_text(driver).await.contains("finished") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        driver.refresh().await?;
    }
    assert!(main_text(driver).await.contains("finished"));
    shot(driver, "batch-finished").await;
    for (path, name) in [
        ("/sent", "sent-payments"),
        ("/status", "health"),
        ("/audit", "audit"),
    ] {
        driver.goto(format!("{base}{path}")).await?;
        shot(driver, name).await;
    }
    let audit = main_text(driver).await;
    assert!(
        audit.contains("approve_batch") && audit.contains("reprocess"),
        "{audit}"
    );

    // The compliance officer adds and removes an allow-list entry.
    let compliance = format!("http://127.0.0.1:{compliance_port}");
    sign_in(driver, &compliance, "cora").await;
    driver.goto(format!("{compliance}/allowed")).await?;
    let key = KeyPair::random().public_key().to_string();
    for (id, value) in [
        ("name", "Bank B"),
        ("domain", "bank-b.test"),
        ("public_key", &key),
    ] {
        driver.find(By::Id(id)).await?.send_keys(value).await?;
    }
    click_button(driver, "Allow").await;
    let page = expect_text(driver, "Added to the allow list.").await;
    assert!(page.contains(&key), "{page}");
    shot(driver, "allow-lists").await;
    click_button(driver, "Remove").await;
    let page = expect_text(driver, "Removed from the allow list.").await;
    assert!(!page.contains(&key), "{page}");
    Ok(())
}
