//! The operations console's scaffold, free of any protocol: sign-in (argon2 password hashes or
//! an admin token from the config), sessions in the server's database, CSRF tokens on every
//! form, roles, the audit table, the security headers, and the page layout. Each server adds
//! its own pages ([`app`]'s `pages`), built with [`page`]'s pieces.
//!
//! The console is its own listener, off unless `[console] port` is set and on loopback by
//! default, with its own app: its errors are HTML pages, not the API's JSON, and its cookies
//! never reach the API's port.
//!
//! What a browser may do is fixed by the headers on every answer: no script at all
//! (`script-src 'none'`: the pages are plain HTML forms), styles only from the embedded
//! stylesheet, no framing, no referrer to other sites, nothing cached. Cookies are `HttpOnly` and
//! `SameSite=Strict`; every POST carries the session's CSRF token, compared in constant time,
//! and a POST whose `Origin` is another site is refused before that.

pub mod page;
mod settings;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use maud::{Markup, html};
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use settings::{ConsoleSettings, ConsoleUser, Role};
pub use store::{AuditEntry, ConsoleStore, Session};

use crate::http::BodyLimits;
use crate::rate_limit::{RateLimitSettings, RateLimiter};
use crate::{Database, DbError};

/// The session cookie.
const SESSION_COOKIE: &str = "console_session";
/// The sign-in form's CSRF cookie (double submit: there is no session yet).
const SIGN_IN_COOKIE: &str = "console_sign_in";
/// Who the admin token signs in as.
pub const TOKEN_USER: &str = "admin-token";

/// The Content-Security-Policy of every answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'none'; \
     style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The console of one server: its settings, its store, and what its pages are called.
#[derive(Debug)]
pub struct Console {
    settings: ConsoleSettings,
    store: ConsoleStore,
    title: &'static str,
    nav: Vec<(&'static str, &'static str)>,
    sign_ins: RateLimiter,
    /// Verified against when the user is unknown, so that a wrong name takes as long as a
    /// wrong password.
    decoy_hash: String,
}

impl Console {
    /// The console titled `title` (the server's name) with `nav` links (`(path, label)`).
    ///
    /// # Panics
    /// Never: hashing the decoy cannot fail with the default parameters.
    pub fn new(
        settings: ConsoleSettings,
        db: Database,
        title: &'static str,
        nav: Vec<(&'static str, &'static str)>,
    ) -> web::Data<Self> {
        let decoy_hash =
            hash_password(&store::random_token()).expect("argon2 with default parameters");
        for warning in settings.warnings() {
            tracing::warn!("console: {warning}");
        }
        web::Data::new(Self {
            settings,
            store: ConsoleStore::new(db),
            title,
            nav,
            // Ten sign-ins at once, then one a second, per address: argon2 makes each one
            // cost the server a little, and guessing a password costs the guesser forever.
            sign_ins: RateLimiter::new(&RateLimitSettings {
                per_second: 1,
                burst: 10,
                ..RateLimitSettings::default()
            }),
            decoy_hash,
        })
    }

    /// The tables.
    pub fn store(&self) -> &ConsoleStore {
        &self.store
    }

    fn lifetime_ms(&self) -> i64 {
        i64::from(self.settings.session_minutes) * 60_000
    }

    /// Writes an audit row; a failure to write it is logged (the action itself has happened).
    pub async fn audit(&self, session: &Session, action: &str, target: &str, outcome: &str) {
        if let Err(e) = self
            .store
            .audit(&session.user, action, target, outcome)
            .await
        {
            tracing::error!(error = %e, action, target, "console: could not write the audit row");
        }
    }

    /// The roles of whoever signs in with `user` and `password`, or with the admin token.
    async fn check(&self, user: &str, password: &str, token: &str) -> Option<(String, Vec<Role>)> {
        if !token.is_empty() {
            let admin = self.settings.admin_token.as_ref()?;
            return admin.matches(token).then(|| {
                (
                    TOKEN_USER.to_owned(),
                    self.settings.admin_token_roles.clone(),
                )
            });
        }
        let found = self.settings.users.iter().find(|u| u.name == user);
        let hash = found.map_or(self.decoy_hash.clone(), |u| {
            u.password_hash.expose().clone()
        });
        let password = password.to_owned();
        let verified = web::block(move || {
            PasswordHash::new(&hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false);
        let user = found.filter(|_| verified)?;
        Some((user.name.clone(), user.roles.clone()))
    }

    /// The roles `user` holds in the configuration now; `None` when nobody by that name may
    /// sign in any more.
    fn roles_of(&self, user: &str) -> Option<Vec<Role>> {
        if user == TOKEN_USER {
            return self
                .settings
                .admin_token
                .as_ref()
                .map(|_| self.settings.admin_token_roles.clone());
        }
        self.settings
            .users
            .iter()
            .find(|u| u.name == user)
            .map(|u| u.roles.clone())
    }

    /// A `Set-Cookie` value; `max_age_seconds` `None` makes a browser-session cookie (the
    /// session's lifetime is kept, and slid, on the server).
    fn cookie(&self, name: &str, value: &str, max_age_seconds: Option<i64>) -> String {
        let secure = if self.settings.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        let max_age = max_age_seconds.map_or_else(String::new, |s| format!("; Max-Age={s}"));
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{max_age}{secure}")
    }
}

/// An argon2id PHC string for `password`, for `[[console.users]] password_hash`.
///
/// # Errors
/// When hashing fails (it does not with the default parameters).
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = argon2::password_hash::SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// `<server> console hash-password`: reads one line (the password) from standard input and
/// prints its argon2id hash for `[[console.users]] password_hash`. Exit 2 on a bad command,
/// 1 when the password is empty.
pub fn command(server: &str, words: &[String]) -> std::process::ExitCode {
    use std::process::ExitCode;
    if words.first().map(String::as_str) != Some("hash-password") || words.len() > 1 {
        eprintln!(
            "usage: {server} console hash-password\n\nreads a password on stdin and prints \
             its argon2id hash for [[console.users]] password_hash"
        );
        return ExitCode::from(2);
    }
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        eprintln!("{server} console hash-password: cannot read standard input");
        return ExitCode::FAILURE;
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("{server} console hash-password: the password is empty");
        return ExitCode::FAILURE;
    }
    match hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{server} console hash-password: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What a console request can end in besides its page; each is an HTML page with its status.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No session: to the sign-in page.
    #[error("sign in first")]
    SignIn,
    /// The user lacks the role the action needs.
    #[error("this needs the {} role", .0.label())]
    Forbidden(Role),
    /// A form without this session's CSRF token, or from another site.
    #[error("this form is out of date or came from another site; reload the page and try again")]
    Csrf,
    /// Nothing at this address.
    #[error("not found")]
    NotFound,
    /// The input cannot be used; the message says why.
    #[error("{0}")]
    BadRequest(String),
    /// The database failed (logged, not shown).
    #[error("the server could not complete this; it is logged")]
    Internal(String),
}

impl From<DbError> for ConsoleError {
    fn from(e: DbError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn => StatusCode::SEE_OTHER,
            Self::Forbidden(_) | Self::Csrf => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::SignIn = self {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/login"))
                .finish();
        }
        if let Self::Internal(cause) = self {
            tracing::error!(error = %cause, "console request failed");
        }
        let status = self.status_code();
        page::bare(
            status,
            status.canonical_reason().unwrap_or("Error"),
            html! { p role="alert" { (self.to_string()) } p { a href="/" { "Back to the console" } } },
        )
    }
}

impl FromRequest for Session {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let console = req.app_data::<web::Data<Console>>().cloned();
        let token = cookie(req, SESSION_COOKIE);
        Box::pin(async move {
            let (Some(console), Some(token)) = (console, token) else {
                return Err(ConsoleError::SignIn);
            };
            let mut session = console
                .store
                .find(&token, console.lifetime_ms())
                .await?
                .ok_or(ConsoleError::SignIn)?;
            // What the configuration says now: a user removed, a role taken away or the admin
            // token unset takes effect on the next request, not when the session ends.
            session.roles = console
                .roles_of(&session.user)
                .ok_or(ConsoleError::SignIn)?;
            Ok(session)
        })
    }
}

/// A posted form of a signed-in user, its CSRF token checked (and its origin, when the browser
/// names one): the only way a console handler reads a POST body, so none can forget the check.
#[derive(Debug)]
pub struct Action<T> {
    /// Who posted it.
    pub session: Session,
    /// The form's other fields.
    pub form: T,
}

#[derive(Deserialize)]
struct WithCsrf<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    fields: T,
}

/// The value of the cookie `name` (actix's cookie parsing is a feature this workspace leaves
/// off; the console's cookies are plain tokens).
fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

/// Whether the browser says the request came from another site (`Origin` or `Sec-Fetch-Site`).
fn cross_site(req: &HttpRequest) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|site| site == "cross-site" || site == "same-site") {
        return true;
    }
    // Behind a proxy the browser's host may reach us as `X-Forwarded-Host` only.
    let hosts = [header("host"), header("x-forwarded-host")];
    match header("origin") {
        Some(origin) => origin
            .split_once("://")
            .is_none_or(|(_, authority)| !hosts.iter().flatten().any(|host| *host == authority)),
        None => false,
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Action<T> {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let refused = cross_site(req);
        let session = Session::from_request(req, payload);
        let form = web::Form::<WithCsrf<T>>::from_request(req, payload);
        Box::pin(async move {
            if refused {
                return Err(ConsoleError::Csrf);
            }
            let session = session.await?;
            let form = form
                .await
                .map_err(|e| ConsoleError::BadRequest(format!("the form could not be read: {e}")))?
                .into_inner();
            if !crate::auth::keys_match(&session.csrf, &form.csrf) {
                return Err(ConsoleError::Csrf);
            }
            Ok(Self {
                session,
                form: form.fields,
            })
        })
    }
}

/// The console's application: the security headers, request logging and metrics, body limits,
/// sign-in and sign-out, the audit page, the stylesheet, HTML errors, and the server's `pages`.
pub fn app(
    console: web::Data<Console>,
    body: BodyLimits,
    pages: impl FnOnce(&mut web::ServiceConfig),
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let headers = DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        // Not `no-referrer`: with it browsers post forms with `Origin: null`, which the
        // cross-site check must refuse; `same-origin` tells other sites nothing either.
        .add((header::REFERRER_POLICY, "same-origin"))
        .add((header::CACHE_CONTROL, "no-store"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"));
    App::new()
        .app_data(console)
        .app_data(web::PayloadConfig::new(body.max_bytes))
        .app_data(
            web::FormConfig::default()
                .limit(body.max_bytes)
                .error_handler(|e, _| ConsoleError::BadRequest(e.to_string()).into()),
        )
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| ConsoleError::BadRequest(e.to_string()).into()),
        )
        .wrap(from_fn(move |req, next| {
            crate::http::body_deadline(body.timeout, req, next)
        }))
        .wrap(headers)
        .wrap(from_fn(crate::http::request_context))
        .route("/login", web::get().to(sign_in_page))
        .route("/login", web::post().to(sign_in))
        .route("/logout", web::post().to(sign_out))
        .route("/audit", web::get().to(audit_page))
        .route("/console.css", web::get().to(stylesheet))
        .configure(pages)
        .default_service(web::to(|| async {
            ConsoleError::NotFound.error_response()
        }))
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "max-age=3600"))
        .body(include_str!("console.css"))
}

fn sign_in_form(console: &Console, token: &str, message: Option<&str>) -> Markup {
    html! {
        h1 { "Sign in to the " (console.title) " console" }
        @if let Some(message) = message { p.alert role="alert" { (message) } }
        form method="post" action="/login" {
            input type="hidden" name="csrf" value=(token);
            @if !console.settings.users.is_empty() {
                p { label for="user" { "User" } br; input #user name="user" autocomplete="username" autofocus; }
                p { label for="password" { "Password" } br; input #password name="password" type="password" autocomplete="current-password"; }
            }
            @if console.settings.admin_token.is_some() {
                p { label for="token" { "Or the admin token" } br; input #token name="token" type="password" autocomplete="off"; }
            }
            p { button type="submit" { "Sign in" } }
        }
    }
}

fn sign_in_answer(console: &Console, status: StatusCode, message: Option<&str>) -> HttpResponse {
    let token = store::random_token();
    let mut answer = page::bare(status, "Sign in", sign_in_form(console, &token, message));
    if let Ok(cookie) =
        header::HeaderValue::from_str(&console.cookie(SIGN_IN_COOKIE, &token, Some(3600)))
    {
        answer.headers_mut().append(header::SET_COOKIE, cookie);
    }
    answer
}

async fn sign_in_page(console: web::Data<Console>) -> HttpResponse {
    sign_in_answer(&console, StatusCode::OK, None)
}

#[derive(Deserialize)]
struct SignIn {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    token: String,
}

fn client_address(req: &HttpRequest) -> Option<IpAddr> {
    req.peer_addr().map(|a| a.ip())
}

async fn sign_in(
    req: HttpRequest,
    console: web::Data<Console>,
    form: web::Form<SignIn>,
) -> Result<HttpResponse, ConsoleError> {
    let expected = cookie(&req, SIGN_IN_COOKIE);
    if cross_site(&req)
        || !expected.is_some_and(|cookie| crate::auth::keys_match(&cookie, &form.csrf))
    {
        return Ok(sign_in_answer(
            &console,
            StatusCode::FORBIDDEN,
            Some("The sign-in form was out of date; try again."),
        ));
    }
    if let Some(ip) = client_address(&req)
        && console.sign_ins.check(ip).is_err()
    {
        return Ok(sign_in_answer(
            &console,
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many sign-in attempts; wait a minute and try again."),
        ));
    }
    // Only a configured name is written: what else is typed there may be a password.
    let typed = if !form.token.is_empty() {
        TOKEN_USER.to_owned()
    } else if console.roles_of(form.user.trim()).is_some() {
        form.user.trim().to_owned()
    } else {
        "(unknown user)".to_owned()
    };
    let Some((user, roles)) = console
        .check(form.user.trim(), &form.password, &form.token)
        .await
    else {
        let _ = console.store.audit(&typed, "sign_in", "", "refused").await;
        return Ok(sign_in_answer(
            &console,
            StatusCode::UNAUTHORIZED,
            Some("Wrong user, password or token."),
        ));
    };
    let (token, session) = console
        .store
        .open(&user, &roles, console.lifetime_ms())
        .await?;
    console.audit(&session, "sign_in", "", "ok").await;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/"))
        .append_header((
            header::SET_COOKIE,
            console.cookie(SESSION_COOKIE, &token, None),
        ))
        .append_header((
            header::SET_COOKIE,
            console.cookie(SIGN_IN_COOKIE, "", Some(0)),
        ))
        .finish())
}

async fn sign_out(
    req: HttpRequest,
    console: web::Data<Console>,
    action: Action<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    if let Some(token) = cookie(&req, SESSION_COOKIE) {
        console.store.close(&token).await?;
    }
    console.audit(&action.session, "sign_out", "", "ok").await;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .insert_header((
            header::SET_COOKIE,
            console.cookie(SESSION_COOKIE, "", Some(0)),
        ))
        .finish())
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    #[serde(default)]
    page: Option<u32>,
}

async fn audit_page(
    console: web::Data<Console>,
    session: Session,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let pager = page::Pager::new(query.page, 50);
    let mut rows = console
        .store
        .audit_page(pager.offset(), pager.fetch())
        .await?;
    let more = pager.trim(&mut rows);
    let body = html! {
        h1 { "Audit log" }
        table {
            caption { "Every action taken in this console, newest first" }
            thead { tr { th scope="col" { "When (UTC)" } th scope="col" { "Who" } th scope="col" { "Action" } th scope="col" { "On" } th scope="col" { "Outcome" } } }
            tbody {
                @for row in &rows {
                    tr { td { (page::time_ms(row.at)) } td { (row.user_name) } td { (row.action) } td { (row.target) } td { (row.outcome) } }
                }
            }
        }
        (pager.links("/audit", &[], more))
    };
    Ok(page::layout(&console, &session, "Audit log", body))
}

/// The console's title and links, for [`page::layout`].
impl Console {
    fn title(&self) -> &'static str {
        self.title
    }

    fn nav(&self) -> &[(&'static str, &'static str)] {
        &self.nav
    }
}
