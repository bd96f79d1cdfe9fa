//! The HTTP client: endpoints, timeouts, bounded retries of reads, capped bodies.
//!
//! This module owns every request this crate sends. Reads are retried on retryable errors
//! with exponential backoff (honouring `Retry-After` up to a cap); a submission is sent once
//! and its failure classified so that the caller can tell "not applied" from "unknown".

use std::time::Duration;

use reqwest::header::ACCEPT;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use stellar_base::PublicKey;
use stellar_toml::http::Backoff;
use url::Url;

use crate::error::from_status;
use crate::response::{Failure, error_chain, read_any, read_error, read_response, submit_error};
use crate::{
    Account, AsyncStatus, AsyncSubmitResponse, Error, FeeStats, HorizonSettings, Page,
    PaymentRecord, PaymentsQuery, Root, SubmitResponse, TransactionRecord,
};

/// Longest wait between two read attempts, whatever `Retry-After` says.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

const JSON: &str = "application/hal+json, application/json, application/problem+json";

/// A Horizon client. Cheap to clone (the connection pool is shared).
#[derive(Clone, Debug)]
pub struct HorizonClient {
    http: reqwest::Client,
    base: Url,
    settings: HorizonSettings,
}

/// A collection page as Horizon sends it; only the records are read.
#[derive(Deserialize)]
struct Collection {
    #[serde(rename = "_embedded")]
    embedded: Embedded,
}

#[derive(Deserialize)]
struct Embedded {
    records: Vec<Value>,
}

impl HorizonClient {
    /// A client for Horizon at `base_url` with its own HTTP client: no proxy (environment
    /// variables are ignored), no redirects, `settings.timeout()` to connect. Plain `http` is
    /// allowed: the URL is the operator's choice.
    ///
    /// # Errors
    /// [`Error::Config`] for a URL that is not `http(s)://…`, or when the TLS backend cannot
    /// be set up.
    pub fn new(base_url: &str, settings: &HorizonSettings) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.timeout())
            .user_agent(concat!("trio-horizon/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(error_chain(&e)))?;
        Self::with_client(base_url, settings, http)
    }

    /// A client for Horizon at `base_url` over an existing HTTP client (shared pool, custom
    /// TLS roots…). Per-request timeouts still come from `settings`.
    ///
    /// # Errors
    /// [`Error::Config`] for a URL that is not `http(s)://…`.
    pub fn with_client(
        base_url: &str,
        settings: &HorizonSettings,
        client: reqwest::Client,
    ) -> Result<Self, Error> {
        let mut base =
            Url::parse(base_url).map_err(|e| Error::Config(format!("{base_url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(Error::Config(format!(
                "{base_url:?}: the Horizon URL must be http:// or https://"
            )));
        }
        base.set_query(None);
        base.set_fragment(None);
        Ok(Self {
            http: client,
            base,
            settings: settings.clone(),
        })
    }

    /// The base URL, as configured.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The settings in force.
    pub fn settings(&self) -> &HorizonSettings {
        &self.settings
    }

    /// `GET /`: network passphrase and ingestion state.
    ///
    /// # Errors
    /// Any [`Error`]; retryable ones only after `settings.retries` further attempts.
    pub async fn root(&self) -> Result<Root, Error> {
        self.get_json(self.url(&[])).await
    }

    /// `GET /accounts/{id}`; `None` when the account does not exist.
    ///
    /// # Errors
    /// Any [`Error`] but [`Error::NotFound`]; retryable ones only after `settings.retries`
    /// further attempts.
    pub async fn account(&self, id: &PublicKey) -> Result<Option<Account>, Error> {
        let id = id.to_string();
        found(self.get_json(self.url(&["accounts", &id])).await)
    }

    /// `POST /transactions` with the form field `tx`. Sent once: never retried here.
    ///
    /// # Errors
    /// - [`Error::TransactionFailed`]: rejected or failed, with Horizon's result codes.
    /// - [`Error::Timeout`] (504, timeout, broken connection after sending),
    ///   [`Error::Unavailable`] with a status other than 503, [`Error::Decode`]: the outcome
    ///   is unknown ([`Error::outcome_unknown`]); look the hash up, resubmit the same envelope,
    ///   never build a new one.
    /// - [`Error::RateLimited`], 503, [`Error::Transport`], [`Error::BadRequest`]: not applied.
    pub async fn submit(&self, envelope_xdr_base64: &str) -> Result<SubmitResponse, Error> {
        let response = self
            .post_envelope(
                "transactions",
                envelope_xdr_base64,
                self.settings.submit_timeout(),
            )
            .await?;
        let result = match read_response(response, submit_error).await {
            Ok(body) => decode::<SubmitResponse>(&body),
            Err(failure) => Err(failure.error),
        };
        match &result {
            Ok(answer) => tracing::debug!(hash = %answer.hash, ledger = answer.ledger, "submitted"),
            Err(error) => tracing::debug!(%error, "submission failed"),
        }
        result
    }

    /// POSTs an envelope as the form field `tx` to a submission endpoint, once.
    async fn post_envelope(
        &self,
        endpoint: &str,
        envelope_xdr_base64: &str,
        timeout: Duration,
    ) -> Result<reqwest::Response, Error> {
        self.http
            .post(self.url(&[endpoint]))
            .timeout(timeout)
            .header(ACCEPT, JSON)
            .form(&[("tx", envelope_xdr_base64)])
            .send()
            .await
            .map_err(|e| submit_error(&e))
    }

    /// `POST /transactions_async` with the form field `tx` (Horizon 2.x): stellar-core's
    /// admission at once, without waiting for a ledger. Sent once: never retried here.
    ///
    /// Every `tx_status` is an answer, not an error: `PENDING` (201), `DUPLICATE` (409),
    /// `TRY_AGAIN_LATER` (503) and `ERROR` (400, with `error_result_xdr`). `PENDING` and
    /// `DUPLICATE` only mean queued: confirm inclusion with [`HorizonClient::transaction`].
    ///
    /// # Errors
    /// - [`Error::Timeout`], [`Error::Unavailable`] (a 5xx without `tx_status`),
    ///   [`Error::Decode`]: the outcome is unknown; send the same envelope again or look it
    ///   up by hash, never build a new one.
    /// - [`Error::RateLimited`], [`Error::Transport`] (never connected), [`Error::BadRequest`]
    ///   (a malformed envelope, an old Horizon without the endpoint): not admitted.
    pub async fn submit_async(
        &self,
        envelope_xdr_base64: &str,
    ) -> Result<AsyncSubmitResponse, Error> {
        let response = self
            .post_envelope(
                "transactions_async",
                envelope_xdr_base64,
                self.settings.timeout(),
            )
            .await?;
        let (status, retry_after, body) = read_any(response, submit_error).await?;
        let answer = serde_json::from_slice::<AsyncSubmitResponse>(&body);
        let result = match (status, answer) {
            (200 | 201 | 400 | 409 | 503, Ok(answer)) => Ok(answer),
            (200..=299, Err(e)) => Err(Error::Decode(e.to_string())),
            (_, _) => Err(from_status(status, retry_after, &body)),
        };
        match &result {
            Ok(answer) => {
                tracing::debug!(hash = %answer.hash, status = ?answer.tx_status, "submitted (async)")
            }
            Err(error) => tracing::debug!(%error, "async submission failed"),
        }
        if let Ok(AsyncSubmitResponse {
            tx_status: AsyncStatus::Error,
            error_result_xdr: None,
            ..
        }) = &result
        {
            return Err(Error::Decode(
                "tx_status ERROR without error_result_xdr".into(),
            ));
        }
        result
    }

    /// `GET /transactions/{hash}`; `None` when Horizon does not know it (yet).
    ///
    /// # Errors
    /// Any [`Error`] but [`Error::NotFound`]; retryable ones only after `settings.retries`
    /// further attempts.
    pub async fn transaction(&self, hash: &str) -> Result<Option<TransactionRecord>, Error> {
        found(self.get_json(self.url(&["transactions", hash])).await)
    }

    /// `GET /transactions/{hash}/operations`: the transaction's operations (at most 100) as
    /// Horizon's JSON.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown hash, or any other [`Error`].
    pub async fn transaction_operations(&self, hash: &str) -> Result<Vec<Value>, Error> {
        let mut url = self.url(&["transactions", hash, "operations"]);
        url.query_pairs_mut().append_pair("limit", "200");
        let page: Collection = self.get_json(url).await?;
        Ok(page.embedded.records)
    }

    /// One page of `/payments` or `/accounts/{id}/payments`.
    ///
    /// # Errors
    /// Any [`Error`]; [`Error::Decode`] when a record cannot be read (none is skipped).
    pub async fn payments(&self, query: &PaymentsQuery) -> Result<Page<PaymentRecord>, Error> {
        let mut url = self.payments_url(query);
        url.query_pairs_mut()
            .append_pair("limit", &query.limit.clamp(1, 200).to_string())
            .append_pair("order", query.order.as_str());
        let page: Collection = self.get_json(url).await?;
        let records = page
            .embedded
            .records
            .into_iter()
            .map(PaymentRecord::from_json)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = records.last().map(|r| r.paging_token.clone());
        Ok(Page {
            records,
            next_cursor,
        })
    }

    /// Payments streamed as Horizon sends them (server-sent events), from `query.cursor`
    /// (`"now"` for new payments only), always in ascending order.
    ///
    /// The stream does not reconnect: it ends (`None`) when Horizon closes it, and the caller
    /// resumes from the last paging token it processed. Nothing is sent before the stream is
    /// first polled.
    ///
    /// # Errors
    /// Yielded as items. The stream ends after yielding [`Error::Timeout`] (no answer within
    /// `settings.timeout()`), the error Horizon answered instead of a stream,
    /// [`Error::Transport`] (connection lost), or [`Error::StreamIdle`] (nothing, not even a
    /// keep-alive, for `settings.stream_idle_timeout()`). A record that cannot be read is
    /// yielded as [`Error::Decode`] and the stream goes on; an event larger than
    /// [`crate::MAX_EVENT_BYTES`] ends it with [`Error::Decode`].
    pub fn stream_payments(
        &self,
        query: PaymentsQuery,
    ) -> impl futures_util::Stream<Item = Result<PaymentRecord, Error>> + Send + 'static {
        crate::stream::payments(
            self.http.clone(),
            self.payments_url(&query),
            self.settings.timeout(),
            self.settings.stream_idle_timeout(),
        )
    }

    /// Opens the payments stream of `query` as raw events ([`crate::events`]), for callers
    /// that decode each record themselves; [`HorizonClient::stream_payments`] yields typed
    /// records instead.
    ///
    /// # Errors
    /// As [`crate::events::open`], with `settings.timeout()` for the answer's headers and
    /// `settings.stream_idle_timeout()` between chunks.
    pub async fn payment_events(
        &self,
        query: &PaymentsQuery,
    ) -> Result<crate::events::EventReader, Error> {
        crate::events::open(
            &self.http,
            self.payments_url(query),
            self.settings.timeout(),
            self.settings.stream_idle_timeout(),
        )
        .await
    }

    /// `GET /fee_stats`.
    ///
    /// # Errors
    /// Any [`Error`]; retryable ones only after `settings.retries` further attempts.
    pub async fn fee_stats(&self) -> Result<FeeStats, Error> {
        self.get_json(self.url(&["fee_stats"])).await
    }

    /// The base URL with `segments` appended (each percent-encoded as one segment).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// The payments collection with `cursor` and `join`, without paging parameters.
    fn payments_url(&self, query: &PaymentsQuery) -> Url {
        let mut url = match query.account {
            Some(id) => self.url(&["accounts", &id.to_string(), "payments"]),
            None => self.url(&["payments"]),
        };
        let mut pairs = url.query_pairs_mut();
        if let Some(cursor) = &query.cursor {
            pairs.append_pair("cursor", cursor);
        }
        if query.join_transactions {
            pairs.append_pair("join", "transactions");
        }
        drop(pairs);
        url
    }

    /// GETs `url` as JSON, retrying retryable failures.
    async fn get_json<T: DeserializeOwned>(&self, url: Url) -> Result<T, Error> {
        let mut attempt = 0;
        loop {
            let failure = match self.get_once(url.clone()).await {
                Ok(body) => return decode(&body),
                Err(failure) => failure,
            };
            if attempt >= self.settings.retries || !failure.error.is_retryable() {
                return Err(failure.error);
            }
            let wait = self.backoff(attempt, failure.retry_after);
            tracing::debug!(%url, error = %failure.error, attempt, ?wait, "retrying a Horizon read");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn get_once(&self, url: Url) -> Result<Vec<u8>, Failure> {
        let response = self
            .http
            .get(url)
            .timeout(self.settings.timeout())
            .header(ACCEPT, JSON)
            .send()
            .await
            .map_err(|e| read_error(&e))?;
        read_response(response, read_error).await
    }

    /// Exponential backoff from `retry_backoff`, at least `Retry-After`, at most
    /// [`MAX_RETRY_WAIT`].
    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = Backoff {
            first: self.settings.retry_backoff(),
            max: MAX_RETRY_WAIT,
        }
        .delay(attempt);
        exponential
            .max(retry_after.unwrap_or_default())
            .min(MAX_RETRY_WAIT)
    }
}

/// `Ok(None)` for [`Error::NotFound`].
fn found<T>(result: Result<T, Error>) -> Result<Option<T>, Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(Error::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::Decode(e.to_string()))
}
