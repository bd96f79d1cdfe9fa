//! A browser without JavaScript for the console's tests: it keeps cookies, follows nothing by
//! itself, and reads CSRF fields; and a `[console]` with one user per role.

use super::{ConsoleSettings, ConsoleUser, Role, hash_password};

/// The password of every test user.
pub const PASSWORD: &str = "correct horse battery staple";

/// A `[console]` on `port` with a viewer (`vera`), an operator (`olga`), an approver (`abel`)
/// and a compliance officer (`cora`), all with [`PASSWORD`].
pub fn console_settings(port: u16) -> ConsoleSettings {
    let hash = hash_password(PASSWORD).unwrap();
    let user = |name: &str, roles: Vec<Role>| ConsoleUser {
        name: name.into(),
        password_hash: crate::Secret::new(hash.clone()),
        roles,
    };
    ConsoleSettings {
        port: Some(port),
        users: vec![
            user("vera", vec![]),
            user("olga", vec![Role::Operator]),
            user("abel", vec![Role::Approver]),
            user("cora", vec![Role::ComplianceOfficer]),
        ],
        ..ConsoleSettings::default()
    }
}

/// A browser without JavaScript: follows nothing by itself, keeps the cookies it is given.
#[derive(Debug)]
pub struct Browser {
    base: String,
    http: reqwest::Client,
    /// The cookies kept, `(name, value)`.
    pub cookies: Vec<(String, String)>,
}

/// An answer: status, headers, body.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value of the first `name="csrf"` field.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF field");
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl Browser {
    pub fn new(port: u16) -> Self {
        Self {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    fn keep(&mut self, headers: &reqwest::header::HeaderMap) {
        for value in headers.get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.answer(res).await
    }

    pub async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish(),
            );
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = req.send().await.unwrap();
        self.answer(res).await
    }

    async fn answer(&mut self, res: reqwest::Response) -> Page {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        self.keep(&headers);
        Page {
            status,
            headers,
            body: res.text().await.unwrap(),
        }
    }

    /// Signs in as `user`; the answer to the form.
    pub async fn sign_in(&mut self, user: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        let csrf = form.csrf();
        self.post(
            "/login",
            &[("csrf", &csrf), ("user", user), ("password", password)],
            &[],
        )
        .await
    }

    /// Signs out and in again as `user`.
    pub async fn switch_to(&mut self, user: &str) {
        self.cookies.clear();
        let page = self.sign_in(user, PASSWORD).await;
        assert_eq!((page.status, page.location()), (303, "/"), "{}", page.body);
    }
}
