//! The one client for our compliance server's internal API: `/send` (the sending side asks the
//! receiving bank through it) and `/receive` (the receiving side reads the AuthData of a hash
//! memo). Answers come back as `compliance::protocol` types; a refusal keeps its status and
//! body for the caller to interpret.

use compliance::protocol::{ReceiveResponse, SendResponse};
use serde::de::DeserializeOwned;
use service::Secret;
use url::Url;

/// Largest answer read from the compliance server, however it is sent.
const MAX_ANSWER: usize = 1024 * 1024;

/// Why a call to the compliance server gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum ComplianceCallError {
    /// No HTTP answer (connection, timeout).
    #[error("compliance server unreachable: {0}")]
    Unreachable(String),
    /// An answer other than 200; `body` is its text.
    #[error("compliance /{endpoint} answered {status}")]
    Refused {
        /// `send` or `receive`.
        endpoint: &'static str,
        /// The HTTP status.
        status: u16,
        /// The body as text (compliance's JSON error, usually).
        body: String,
    },
    /// A 200 whose body could not be read as the expected answer.
    #[error("compliance /{endpoint}: {why}")]
    Unreadable {
        /// `send` or `receive`.
        endpoint: &'static str,
        /// What was wrong with it.
        why: String,
    },
}

/// A client for `<compliance>/send` and `<compliance>/receive`; cheap to clone.
#[derive(Debug, Clone)]
pub struct ComplianceClient {
    base: Url,
    api_key: Option<Secret<String>>,
    http: reqwest::Client,
}

impl ComplianceClient {
    /// A client for the compliance server at `base` (its internal port), sending `api_key` as
    /// `X-API-Key` when set.
    pub fn new(base: &Url, api_key: Option<Secret<String>>, http: reqwest::Client) -> Self {
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Self {
            base,
            api_key,
            http,
        }
    }

    /// `POST /send`: asks the receiving bank to approve a payment. `fields` are the form
    /// fields as compliance names them (`id`, `source`, `destination`, `amount`, …).
    ///
    /// # Errors
    /// [`ComplianceCallError`]; a refusal carries compliance's answer.
    pub async fn send<'a>(
        &self,
        fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<SendResponse, ComplianceCallError> {
        self.post("send", fields).await
    }

    /// `POST /receive`: the AuthData stored for an approved transaction's hash memo (base64).
    ///
    /// # Errors
    /// [`ComplianceCallError`]; 404-like refusals when compliance approved no such memo.
    pub async fn receive(&self, memo: &str) -> Result<ReceiveResponse, ComplianceCallError> {
        self.post("receive", [("memo", memo)]).await
    }

    async fn post<'a, T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<T, ComplianceCallError> {
        let unreadable = |why: String| ComplianceCallError::Unreadable { endpoint, why };
        let url = self
            .base
            .join(endpoint)
            .map_err(|e| unreadable(format!("URL: {e}")))?;
        // Nothing signs these bytes: reqwest's form encoding will do.
        let fields: Vec<(&str, &str)> = fields.into_iter().collect();
        let mut request = self.http.post(url).form(&fields);
        if let Some(key) = &self.api_key {
            request = request.header("x-api-key", key.expose());
        }
        let response = request
            .send()
            .await
            .map_err(|e| ComplianceCallError::Unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let body = stellar_toml::http::read_capped(response, MAX_ANSWER)
            .await
            .map_err(|e| unreadable(e.to_string()))?;
        let text = String::from_utf8(body).map_err(|_| unreadable("not UTF-8".into()))?;
        if status != 200 {
            return Err(ComplianceCallError::Refused {
                endpoint,
                status,
                body: text,
            });
        }
        serde_json::from_str(&text).map_err(|e| unreadable(format!("unexpected answer: {e}")))
    }
}
