//! The one client for our compliance server's internal API: `/send` (the sending side asks the
//! receiving bank through it) and `/receive` (the receiving side reads the AuthData of a hash
//! memo). Answers come back as `compliance::protocol` types; a refusal keeps its status and
//! body for the caller to interpret.

use compliance::protocol::{ReceiveResponse, SendResponse, Sep31Status};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};
use service::Secret;
use stellar_base::PublicKey;
use stellar_toml::http::error_chain;
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
        /// The body read as compliance's JSON error; `None` when it is not one (a proxy's
        /// error page, say).
        error: Option<Refusal>,
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

/// A refusal as compliance's internal API writes it: the JSON error body every server of
/// this project sends (`{"code","message","more_info"?,"data"?}`). Read into these fields, so
/// that a caller deciding what a refusal means for its own client matches on them rather than
/// digging through untyped JSON.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Refusal {
    /// Machine-readable, stable (`missing_parameter`, `invalid_parameter`, …).
    pub code: String,
    /// For humans.
    pub message: String,
    /// Details about what exactly was wrong.
    pub more_info: Option<String>,
    /// `data`: what compliance names there.
    data: Option<RefusalData>,
}

impl Refusal {
    /// The parameter compliance refused (`data.name`), when it names one.
    pub fn parameter(&self) -> Option<&str> {
        match &self.data {
            Some(RefusalData::Parameter { name }) => Some(name),
            _ => None,
        }
    }
}

/// `data` of a refusal: compliance names the parameter at fault; anything else is kept out of
/// the way rather than making the whole body unreadable.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
enum RefusalData {
    /// `{"name": "amount"}`.
    Parameter { name: String },
    /// Any other shape.
    Other(IgnoredAny),
}

/// The form of `POST /send`: the fields the bridge fills in itself, typed, and the app's
/// `/payment` fields passed on as they came.
///
/// The app's fields stay a list of pairs, in the app's order and as many times as the app
/// gave them: compliance reads them with the same rules as the app's own `/payment` form
/// (`compliance::form`), forwards `forward_destination[fields][…]` in that order and digests
/// the whole request to recognise a repeat, so the bridge must neither reorder nor drop them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    /// `id`: the payment id, which makes a repeat of the request a resend, never a new one.
    pub id: String,
    /// `source`: our paying account, the source of the transaction compliance builds.
    pub source: PublicKey,
    /// The app's fields (`sender`, `destination`, `amount`, `path[i][…]`, …), in order.
    pub passed_on: Vec<(String, String)>,
}

/// The form is a sequence of pairs (`id`, `source`, then the app's fields), which is how
/// `application/x-www-form-urlencoded` serialisers take an ordered form.
impl Serialize for SendRequest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut form = serializer.serialize_seq(Some(2 + self.passed_on.len()))?;
        form.serialize_element(&("id", self.id.as_str()))?;
        form.serialize_element(&("source", self.source.to_string()))?;
        for (key, value) in &self.passed_on {
            form.serialize_element(&(key, value))?;
        }
        form.end()
    }
}

/// The form of `POST /receive`: the payment received, by its hash memo.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReceiveRequest<'a> {
    /// The hash memo of an approved transaction, base64.
    pub memo: &'a str,
    /// The amount received (a SEP-31 transaction is checked against it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<&'a str>,
    /// Its asset code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_code: Option<&'a str>,
    /// Its asset issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_issuer: Option<&'a str>,
    /// The hash of the transaction that carried it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<&'a str>,
    /// The payment operation's id (a transaction may carry several).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<&'a str>,
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

    /// `POST /send`: asks the receiving bank to approve a payment.
    ///
    /// # Errors
    /// [`ComplianceCallError`]; a refusal carries compliance's answer.
    pub async fn send(&self, request: &SendRequest) -> Result<SendResponse, ComplianceCallError> {
        self.post("send", request).await
    }

    /// `POST /receive`: the AuthData stored for an approved transaction's hash memo (base64),
    /// or the SEP-31 transaction the payment pays.
    ///
    /// # Errors
    /// [`ComplianceCallError`]; 404-like refusals when compliance approved no such memo.
    pub async fn receive(
        &self,
        request: &ReceiveRequest<'_>,
    ) -> Result<ReceiveResponse, ComplianceCallError> {
        self.post("receive", request).await
    }

    /// `POST /sep31/status`: where the SEP-31 transaction paid under payment `id` stands;
    /// with `refresh`, compliance first sends updated customer information the anchor asked
    /// for.
    ///
    /// # Errors
    /// [`ComplianceCallError`].
    pub async fn sep31_status(
        &self,
        id: &str,
        refresh: bool,
    ) -> Result<Sep31Status, ComplianceCallError> {
        let refresh = if refresh { "true" } else { "false" };
        self.post("sep31/status", &[("id", id), ("refresh", refresh)])
            .await
    }

    /// `POST /sep31/complete`: the back office took the payment of a SEP-31 transaction we
    /// received.
    ///
    /// # Errors
    /// [`ComplianceCallError`].
    pub async fn sep31_complete(&self, transaction_id: &str) -> Result<(), ComplianceCallError> {
        self.post::<serde_json::Value>("sep31/complete", &[("transaction_id", transaction_id)])
            .await
            .map(drop)
    }

    async fn post<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        form: &impl Serialize,
    ) -> Result<T, ComplianceCallError> {
        let unreadable = |why: String| ComplianceCallError::Unreadable { endpoint, why };
        let url = self
            .base
            .join(endpoint)
            .map_err(|e| unreadable(format!("URL: {e}")))?;
        // Nothing signs these bytes: reqwest's form encoding will do.
        let mut request = self.http.post(url).form(form);
        if let Some(key) = &self.api_key {
            request = request.header("x-api-key", key.expose());
        }
        let response = request
            .send()
            .await
            .map_err(|e| ComplianceCallError::Unreachable(error_chain(&e)))?;
        let status = response.status().as_u16();
        let body = stellar_toml::http::read_capped(response, MAX_ANSWER)
            .await
            .map_err(|e| unreadable(e.to_string()))?;
        let text = String::from_utf8(body).map_err(|_| unreadable("not UTF-8".into()))?;
        if status != 200 {
            return Err(ComplianceCallError::Refused {
                endpoint,
                status,
                error: serde_json::from_str(&text).ok(),
                body: text,
            });
        }
        serde_json::from_str(&text).map_err(|e| unreadable(format!("unexpected answer: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The form body reqwest sends for `form`.
    fn body(form: &impl Serialize) -> String {
        let request = reqwest::Client::new()
            .post("http://compliance.test/send")
            .form(form)
            .build()
            .unwrap();
        String::from_utf8(request.body().unwrap().as_bytes().unwrap().to_vec()).unwrap()
    }

    #[test]
    fn a_send_request_is_our_fields_then_the_apps_in_their_order() {
        let source: PublicKey = "GB6JYY7UN3CTATQYDYUF3JA7TCFYN54KB3RX36HUX2UUY36IELZAZYIC"
            .parse()
            .unwrap();
        let passed_on = [
            ("sender", "alice*bank.a"),
            ("forward_destination[fields][b]", "2 & 3"),
            ("forward_destination[fields][a]", "1"),
            ("amount", "10"),
        ];
        let request = SendRequest {
            id: "p-1".into(),
            source,
            passed_on: passed_on
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        // What the untyped pairs gave before: `id`, `source`, then the app's fields.
        let source = source.to_string();
        let mut pairs = vec![("id", "p-1"), ("source", source.as_str())];
        pairs.extend(passed_on);
        assert_eq!(body(&request), body(&pairs));
        assert!(body(&request).starts_with("id=p-1&source=GB6JYY7U"));
        assert_eq!(
            body(&ReceiveRequest {
                memo: "a+b/c=",
                ..ReceiveRequest::default()
            }),
            body(&[("memo", "a+b/c=")])
        );
    }

    #[test]
    fn a_refusal_names_its_parameter_and_tolerates_other_data() {
        let read = |text: &str| serde_json::from_str::<Refusal>(text).unwrap();
        let named = read(
            r#"{"code":"invalid_parameter","message":"Invalid parameter.","more_info":"no","data":{"name":"amount"}}"#,
        );
        assert_eq!(named.code, "invalid_parameter");
        assert_eq!(named.more_info.as_deref(), Some("no"));
        assert_eq!(named.parameter(), Some("amount"));
        for data in [r#"null"#, r#"{"name":5}"#, r#""text""#, r#"[1]"#] {
            let text = format!(r#"{{"code":"x","message":"y","data":{data}}}"#);
            assert_eq!(read(&text).parameter(), None, "{data}");
        }
        assert_eq!(read(r#"{"code":"x","message":"y"}"#).parameter(), None);
        assert!(serde_json::from_str::<Refusal>("<html>proxy</html>").is_err());
    }
}
