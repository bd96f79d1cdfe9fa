//! Calls to the operator's back office: `sanctions`, `ask_user`, `fetch_info`, `tx_status`.
//!
//! A callback decides with its status code (200 ok, 202 pending, 400 error, 403 denied). Any
//! other answer, or no answer, is a failure of the whole request: guessing would either let a
//! sanctioned payment through or refuse a good one.

use std::collections::BTreeMap;

use stellar_toml::http::error_chain;
use url::Url;

use crate::config::Callbacks as Urls;
use crate::error::Error;
use crate::protocol::TxStatusResponse;

/// Seconds to wait before retrying when a pending answer names no time.
pub const DEFAULT_PENDING_SECONDS: u64 = 600;

/// Largest callback answer we read.
const MAX_CALLBACK_BYTES: usize = 1024 * 1024;

/// A back-office decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// 200.
    Ok,
    /// 202, with the seconds to wait.
    Pending(u64),
    /// 400, with the back office's `error`.
    Error(Option<String>),
    /// 403.
    Denied,
}

/// The back-office client.
#[derive(Debug, Clone)]
pub struct Callbacks {
    client: reqwest::Client,
    urls: Urls,
}

/// The callback's answer, at most [`MAX_CALLBACK_BYTES`] however it is sent.
async fn read_body(name: &str, response: reqwest::Response) -> Result<Vec<u8>, Error> {
    stellar_toml::http::read_capped(response, MAX_CALLBACK_BYTES)
        .await
        .map_err(|e| Error::internal(format!("{name} callback: {e}")))
}

impl Callbacks {
    /// A client for the configured URLs.
    pub fn new(client: reqwest::Client, urls: Urls) -> Self {
        Self { client, urls }
    }

    /// Posts `form` to the `name` callback: its status and its answer. Nothing signs these
    /// bodies (unlike the bridge's receive callbacks), so reqwest's form encoding will do.
    async fn post(
        &self,
        name: &str,
        url: &Url,
        form: &[(&str, &str)],
    ) -> Result<(u16, Vec<u8>), Error> {
        let response = self
            .client
            .post(url.clone())
            .form(form)
            .send()
            .await
            .map_err(|e| {
                Error::internal(format!("{name} callback unreachable: {}", error_chain(&e)))
            })?;
        let status = response.status().as_u16();
        Ok((status, read_body(name, response).await?))
    }

    async fn decide(
        &self,
        name: &str,
        url: &Url,
        form: &[(&str, &str)],
    ) -> Result<Decision, Error> {
        let (status, body) = self.post(name, url, form).await?;
        let json = || serde_json::from_slice::<serde_json::Value>(&body).ok();
        match status {
            200 => Ok(Decision::Ok),
            202 => Ok(Decision::Pending(
                json()
                    .and_then(|v| v.get("pending").and_then(serde_json::Value::as_u64))
                    .filter(|s| *s > 0)
                    .unwrap_or(DEFAULT_PENDING_SECONDS),
            )),
            400 => Ok(Decision::Error(json().and_then(|v| {
                v.get("error").and_then(|e| e.as_str()).map(str::to_owned)
            }))),
            403 => Ok(Decision::Denied),
            other => Err(Error::internal(format!("{name} callback answered {other}"))),
        }
    }

    /// The sanctions decision on a sender (ok when no callback is configured).
    ///
    /// # Errors
    /// 500 when the callback fails or answers an unknown status.
    pub async fn sanctions(&self, sender_info_json: &str) -> Result<Decision, Error> {
        match &self.urls.sanctions {
            None => Ok(Decision::Ok),
            Some(url) => {
                self.decide("sanctions", url, &[("sender", sender_info_json)])
                    .await
            }
        }
    }

    /// Whether an `ask_user` callback is configured (else the allow lists decide).
    pub fn has_ask_user(&self) -> bool {
        self.urls.ask_user.is_some()
    }

    /// The customer's decision to share their KYC with this sender.
    ///
    /// # Errors
    /// 500 when the callback fails; it must be configured.
    pub async fn ask_user(&self, form: &[(&str, &str)]) -> Result<Decision, Error> {
        let url = self
            .urls
            .ask_user
            .as_ref()
            .ok_or_else(|| Error::internal("ask_user is not configured"))?;
        self.decide("ask_user", url, form).await
    }

    /// The KYC JSON of a customer, verbatim; `None` when no callback is configured.
    ///
    /// # Errors
    /// 500 when the callback fails or does not answer 200.
    pub async fn fetch_info(&self, address: &str) -> Result<Option<String>, Error> {
        let Some(url) = &self.urls.fetch_info else {
            return Ok(None);
        };
        let (status, body) = self
            .post("fetch_info", url, &[("address", address)])
            .await?;
        if status != 200 {
            return Err(Error::internal(format!(
                "fetch_info callback answered {status}"
            )));
        }
        String::from_utf8(body)
            .map(Some)
            .map_err(|_| Error::internal("fetch_info answered non-UTF-8 text"))
    }

    /// KYC of our sending customer as the flat string map an attachment carries.
    ///
    /// # Errors
    /// 500 when the callback fails or does not answer a JSON object.
    pub async fn sender_info(
        &self,
        sender: &str,
    ) -> Result<Option<BTreeMap<String, serde_json::Value>>, Error> {
        match self.fetch_info(sender).await? {
            None => Ok(None),
            Some(body) => serde_json::from_str(&body)
                .map(Some)
                .map_err(|_| Error::internal("fetch_info did not answer a JSON object")),
        }
    }

    /// SEP-4: the back office's status of a transaction (`unknown` without a callback or on a
    /// non-200 answer).
    ///
    /// # Errors
    /// 500 when the callback is unreachable or answers 200 with something that is not a status.
    pub async fn tx_status(&self, id: &str) -> Result<TxStatusResponse, Error> {
        let unknown = TxStatusResponse {
            status: "unknown".into(),
            recv_code: None,
            refund_tx: None,
            msg: None,
        };
        let Some(url) = &self.urls.tx_status else {
            return Ok(unknown);
        };
        let mut url = url.clone();
        url.query_pairs_mut().append_pair("id", id);
        let response = self.client.get(url).send().await.map_err(|e| {
            Error::internal(format!(
                "tx_status callback unreachable: {}",
                error_chain(&e)
            ))
        })?;
        if response.status().as_u16() != 200 {
            return Ok(unknown);
        }
        let body = read_body("tx_status", response).await?;
        let mut status: TxStatusResponse = serde_json::from_slice(&body)
            .map_err(|e| Error::internal(format!("tx_status callback answered {e}")))?;
        if status.status.is_empty() {
            status.status = "unknown".into();
        }
        Ok(status)
    }
}
