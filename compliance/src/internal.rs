//! The internal port, called by our own bridge: `/send` asks another bank to approve a payment,
//! `/receive` returns the attachment of a payment we approved, and the allow lists.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{HttpResponse, web};
use federation::client::Destination;
use stellar_base::address::is_dns_name;
use stellar_base::transaction::{Operation, to_base64};
use stellar_base::{
    AccountAddress, Amount, Asset, FederationAddress, Memo, PublicKey, TransactionBuilder,
};

use crate::error::Error;
use crate::form::{Fields, asset, field, forward_fields, path, request_digest};
use crate::protocol::{
    Attachment, AttachmentTransaction, AuthData, AuthResponse, ReceiveResponse, SendResponse,
    attachment_hash,
};
use crate::store::Sent;
use crate::{State, sep31};

/// The largest answer we read from another bank's AUTH_SERVER.
const MAX_AUTH_RESPONSE_BYTES: usize = 100 * 1024;

fn required<'a>(fields: &'a Fields, name: &'static str) -> Result<&'a str, Error> {
    field(fields, name).ok_or(Error::MissingParameter(name))
}

/// The longest value of a field stored in a `VARCHAR(255)` column (ids, names, user ids).
const MAX_STORED_CHARS: usize = 255;

/// `value` of field `name`, refused beyond [`MAX_STORED_CHARS`] before anything is done with
/// it: every backend then answers the same 400 (MariaDB and PostgreSQL would refuse the row
/// where SQLite stores it).
fn storable<'a>(value: &'a str, name: &'static str) -> Result<&'a str, Error> {
    if value.chars().count() > MAX_STORED_CHARS {
        return Err(Error::invalid(name, "at most 255 characters"));
    }
    Ok(value)
}

/// Where the payment goes: a federation address, or a forward request to a domain.
enum Target {
    /// The address parsed (its domain lower-cased, for the stellar.toml) and as typed (sent
    /// to the federation server as is, as the legacy server did).
    Address {
        address: FederationAddress,
        typed: String,
    },
    Forward {
        domain: String,
        fields: Vec<(String, String)>,
    },
}

fn target(fields: &Fields) -> Result<Target, Error> {
    if let Some(destination) = field(fields, "destination") {
        let address = destination
            .parse()
            .map_err(|e: stellar_base::address::AddressError| {
                Error::invalid("destination", e.to_string())
            })?;
        return Ok(Target::Address {
            address,
            typed: destination.to_owned(),
        });
    }
    let domain = field(fields, "forward_destination[domain]")
        .ok_or(Error::MissingParameter("destination"))?;
    if !is_dns_name(domain) {
        return Err(Error::invalid(
            "forward_destination[domain]",
            "not a domain",
        ));
    }
    let forward = forward_fields(fields)?;
    if forward.is_empty() {
        return Err(Error::MissingParameter("forward_destination[fields]"));
    }
    Ok(Target::Forward {
        domain: domain.to_ascii_lowercase(),
        fields: forward,
    })
}

/// `POST /send`: a payment id seen before is sent again as it was stored; a new one is read,
/// its destination resolved, its transaction and AuthData built, stored, then sent to the
/// receiver's AUTH_SERVER.
pub async fn send(state: web::Data<State>, form: web::Form<Fields>) -> Result<HttpResponse, Error> {
    let fields = form.into_inner();
    let id = storable(required(&fields, "id")?, "id")?.to_owned();
    let digest = request_digest(&fields);
    if let Some(sent) = state.store.sent(&id).await? {
        return resend(&state, same_request(sent, &digest)?).await;
    }
    if let Some(outgoing) = state.sep31.store.outgoing(&id).await? {
        if outgoing.request_digest != digest {
            return Err(Error::PaymentIdConflict);
        }
        return sep31::send::proceed(&state.sep31, &state.callbacks, outgoing).await;
    }
    let request = SendRequest::read(&fields)?;
    if let Target::Address { address, typed } = &request.target
        && sep31::send::chosen(&state.resolver, state.sep31.prefer, address.domain()).await?
    {
        let outgoing = request.sep31(id, digest, address.domain(), typed)?;
        let outgoing = state.sep31.store.create_outgoing(outgoing).await?;
        return sep31::send::proceed(&state.sep31, &state.callbacks, outgoing).await;
    }
    let (domain, destination) = resolve(&state, &request.target).await?;
    // Checked before anything is stored: a receiver without AUTH_SERVER is a 400 now, not a
    // stored request that can never be sent.
    auth_server(&state, &domain).await?;
    let operation = request.operation(destination.account)?;
    let attachment = attachment(&state, &request, &destination).await?;
    let data = auth_data(&state, &request, operation, attachment)?;
    // Stored before it is sent: a retry after `pending` sends these exact bytes (same nonce).
    let sent = Sent {
        domain,
        data,
        request_digest: Some(digest.clone()),
    };
    // Another request with this id may have been stored first: it wins, if it is this one.
    let sent = state.store.save_sent(id, sent).await?;
    resend(&state, same_request(sent, &digest)?).await
}

/// A new `/send` request, read and checked: everything that can be refused before anything is
/// looked up.
struct SendRequest<'a> {
    source: PublicKey,
    /// Checked as an address, sent as typed (the legacy server did): domains are
    /// case-insensitive, but the sender's bank may match its customers' names as written.
    sender: &'a str,
    /// What arrives (payment, strict receive) or what leaves (strict send), as on the
    /// bridge's own `/payment`.
    amount: Amount,
    dest_asset: Asset,
    send_max: Option<Amount>,
    dest_min: Option<Amount>,
    send_asset: Asset,
    path: Vec<Asset>,
    target: Target,
    extra_memo: &'a str,
}

impl<'a> SendRequest<'a> {
    /// Reads the fields, refusing the first one that is missing or wrong (in the legacy
    /// server's order).
    fn read(fields: &'a Fields) -> Result<Self, Error> {
        let source: PublicKey = required(fields, "source")?
            .parse()
            .map_err(|_| Error::invalid("source", "not a G… account"))?;
        let sender = required(fields, "sender")?;
        sender
            .parse::<FederationAddress>()
            .map_err(|e: stellar_base::address::AddressError| {
                Error::invalid("sender", e.to_string())
            })?;
        let amount = positive_amount(fields, "amount")?.ok_or(Error::MissingParameter("amount"))?;
        let dest_asset = asset(fields, "asset_code", "asset_issuer")?;
        let send_max = positive_amount(fields, "send_max")?;
        let dest_min = positive_amount(fields, "dest_min")?;
        if send_max.is_some() && dest_min.is_some() {
            return Err(Error::invalid(
                "dest_min",
                "use send_max (strict receive) or dest_min (strict send), not both",
            ));
        }
        Ok(Self {
            source,
            sender,
            amount,
            dest_asset,
            send_max,
            dest_min,
            send_asset: asset(fields, "send_asset_code", "send_asset_issuer")?,
            path: path(fields)?,
            target: target(fields)?,
            extra_memo: field(fields, "extra_memo").unwrap_or(""),
        })
    }

    /// The SEP-31 payment this request is: a plain payment of a credit asset (no path, no
    /// forward destination), stored to be moved on by [`sep31::send::proceed`].
    fn sep31(
        &self,
        id: String,
        digest: String,
        domain: &str,
        destination: &str,
    ) -> Result<sep31::store::Outgoing, Error> {
        if self.send_max.is_some() || self.dest_min.is_some() || !self.path.is_empty() {
            return Err(Error::invalid(
                "send_max",
                "path payments are not sent to SEP-31 anchors: pay the asset they receive",
            ));
        }
        let (Some(asset_code), Some(asset_issuer)) =
            (self.dest_asset.code(), self.dest_asset.issuer())
        else {
            return Err(Error::invalid(
                "asset_code",
                "SEP-31 anchors receive a credit asset",
            ));
        };
        let request = sep31::send::OutgoingRequest {
            source: self.source,
            sender: self.sender.to_owned(),
            destination: destination.to_owned(),
            amount: self.amount,
            asset_code: asset_code.to_owned(),
            asset_issuer: asset_issuer.to_string(),
        };
        Ok(sep31::store::Outgoing {
            payment_id: id,
            request_digest: digest,
            domain: domain.to_owned(),
            request: serde_json::to_string(&request).map_err(Error::internal)?,
            state: "new".into(),
            sender_id: None,
            receiver_id: None,
            transaction_id: None,
            account: None,
            memo_type: None,
            memo: None,
            updated_at: 0,
        })
    }

    /// The payment to `destination`: a path payment when `send_max` (strict receive) or
    /// `dest_min` (strict send) is given, else a plain payment.
    fn operation(&self, destination: PublicKey) -> Result<Operation, Error> {
        let to = AccountAddress::Account(destination);
        match (self.send_max, self.dest_min) {
            (Some(send_max), _) => Operation::path_payment_strict_receive(
                &self.send_asset,
                send_max,
                to,
                &self.dest_asset,
                self.amount,
                &self.path,
            ),
            (None, Some(dest_min)) => Operation::path_payment_strict_send(
                &self.send_asset,
                self.amount,
                to,
                &self.dest_asset,
                dest_min,
                &self.path,
            ),
            (None, None) => Ok(Operation::payment(to, &self.dest_asset, self.amount)),
        }
        .map_err(|e| Error::invalid("path", e.to_string()))
    }
}

/// The receiver's domain and where the payment goes, from its federation server.
async fn resolve(state: &State, target: &Target) -> Result<(String, Destination), Error> {
    let (domain, destination) = match target {
        Target::Address { address, typed } => (
            address.domain().to_owned(),
            state.federation.lookup_address(typed).await,
        ),
        Target::Forward { domain, fields } => (
            domain.clone(),
            state.federation.forward(domain, fields).await,
        ),
    };
    let destination = destination.map_err(|e| Error::CannotResolveDestination(e.to_string()))?;
    Ok((domain, destination))
}

/// The attachment (JSON) the receiver is asked to approve: our customer's KYC from the
/// `fetch_info` callback, the route the receiver's federation gave, and a fresh nonce.
async fn attachment(
    state: &State,
    request: &SendRequest<'_>,
    destination: &Destination,
) -> Result<String, Error> {
    let sender_info = state.callbacks.sender_info(request.sender).await?;
    Ok(Attachment {
        nonce: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos().to_string())
            .unwrap_or_default(),
        transaction: AttachmentTransaction {
            sender_info: Some(sender_info.unwrap_or_else(BTreeMap::new)),
            route: destination.memo.value().unwrap_or_default(),
            note: String::new(),
            extra: request.extra_memo.to_owned(),
        },
        operations: None,
    }
    .to_json())
}

/// The AuthData sent to the receiver: the transaction (its memo the attachment's hash) and
/// the attachment itself.
fn auth_data(
    state: &State,
    request: &SendRequest<'_>,
    operation: Operation,
    attachment: String,
) -> Result<String, Error> {
    // Sequence 0 and open time bounds, as the legacy server: the bridge sets both before
    // signing; the receiver approves the operations and the memo.
    let tx = TransactionBuilder::new(request.source.into(), 0)
        .memo(Memo::Hash(attachment_hash(&attachment)))
        .time_bounds(0, 0)
        .operation(operation)
        .build()
        .map_err(|e| Error::invalid("amount", e.to_string()))?;
    Ok(serde_json::to_string(&AuthData {
        sender: request.sender.to_owned(),
        need_info: state.needs_auth,
        tx: to_base64(&tx),
        attachment,
    })
    .expect("AuthData serialises"))
}

/// The stored request, when it is the one being repeated. Rows from before digests were kept
/// (legacy rows) are resent as the legacy server did.
fn same_request(sent: Sent, digest: &str) -> Result<Sent, Error> {
    match &sent.request_digest {
        Some(stored) if stored != digest => Err(Error::PaymentIdConflict),
        _ => Ok(sent),
    }
}

fn positive_amount(fields: &Fields, name: &'static str) -> Result<Option<Amount>, Error> {
    field(fields, name)
        .map(|v| match v.parse::<Amount>() {
            Ok(amount) if amount.is_positive() => Ok(amount),
            Ok(_) => Err(Error::invalid(name, "must be greater than zero")),
            Err(e) => Err(Error::invalid(name, e.to_string())),
        })
        .transpose()
}

/// The receiver's AUTH_SERVER, checked against the outbound policy.
async fn auth_server(state: &State, domain: &str) -> Result<url::Url, Error> {
    match state.resolver.auth_server(domain).await {
        Ok(url) => Ok(url),
        Err(stellar_toml::Error::MissingField(_)) => Err(Error::AuthServerNotDefined),
        Err(e) => Err(Error::CannotResolveDestination(e.to_string())),
    }
}

/// Signs and POSTs stored AuthData to the receiver's AUTH_SERVER.
async fn resend(state: &State, sent: Sent) -> Result<HttpResponse, Error> {
    let Sent { domain, data, .. } = sent;
    let domain = domain.as_str();
    let auth: AuthData = serde_json::from_str(&data).map_err(Error::internal)?;
    let auth_server = auth_server(state, domain).await?;
    use base64::Engine;
    let sig =
        base64::engine::general_purpose::STANDARD.encode(state.signing_key.sign(data.as_bytes()));
    let answer = state
        .resolver
        .post_form(
            domain,
            &auth_server,
            &[("data", &data), ("sig", &sig)],
            MAX_AUTH_RESPONSE_BYTES,
        )
        .await
        .map_err(|e| Error::internal(format!("AUTH_SERVER of {domain}: {e}")))?;
    if !matches!(answer.status, 200 | 202 | 400 | 403) {
        return Err(Error::internal(format!(
            "AUTH_SERVER of {domain} answered {}",
            answer.status
        )));
    }
    let auth_response: AuthResponse = serde_json::from_slice(&answer.body).map_err(|e| {
        Error::internal(format!(
            "AUTH_SERVER of {domain} answered {}: {e}",
            answer.status
        ))
    })?;
    tracing::info!(
        %domain,
        info = ?auth_response.info_status,
        tx = ?auth_response.tx_status,
        "auth request answered"
    );
    Ok(HttpResponse::Ok().json(SendResponse {
        auth_response,
        transaction_xdr: auth.tx,
        sep31: None,
    }))
}

/// `POST /receive`: the AuthData of an approved transaction, by its memo (base64); or, when
/// we are a SEP-31 receiving anchor, the transaction the payment pays, recorded as paid (the
/// bridge sends the payment's `amount`, `asset_code`, `asset_issuer`, `transaction_id` and
/// `operation_id`).
pub async fn receive(
    state: web::Data<State>,
    anchor: Option<web::Data<sep31::Anchor>>,
    form: web::Form<Fields>,
) -> Result<HttpResponse, Error> {
    let memo = required(&form, "memo")?;
    if let Some(data) = state.store.data_by_memo(memo).await? {
        return Ok(HttpResponse::Ok().json(ReceiveResponse { data, sep31: None }));
    }
    let Some(anchor) = anchor else {
        return Err(Error::TransactionNotFound);
    };
    let payment = sep31::receive::Payment {
        memo,
        amount: field(&form, "amount"),
        asset_code: field(&form, "asset_code"),
        asset_issuer: field(&form, "asset_issuer"),
        transaction_hash: field(&form, "transaction_id"),
        operation_id: field(&form, "operation_id"),
    };
    let (matched, data) = sep31::receive::matched(&anchor, &payment)
        .await?
        .ok_or(Error::TransactionNotFound)?;
    Ok(HttpResponse::Ok().json(ReceiveResponse {
        data,
        sep31: Some(matched),
    }))
}

/// `POST /sep31/status`: where the SEP-31 transaction paid under payment `id` stands at the
/// anchor (after asking the back office again when the anchor needs updated information).
pub async fn sep31_status(
    state: web::Data<State>,
    form: web::Form<Fields>,
) -> Result<HttpResponse, Error> {
    let id = required(&form, "id")?;
    let refresh = field(&form, "refresh") != Some("false");
    let status = sep31::send::status(&state.sep31, &state.callbacks, id, refresh).await?;
    Ok(HttpResponse::Ok().json(status))
}

/// `POST /allow_access`.
pub async fn allow_access(
    state: web::Data<State>,
    form: web::Form<Fields>,
) -> Result<HttpResponse, Error> {
    let entry = AllowAccess::from_fields(&form)?;
    state
        .store
        .allow(
            entry.name,
            entry.domain,
            entry.public_key.to_string(),
            entry.user_id,
        )
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}

/// An allow-list entry as `/allow_access` takes it, every field checked against what its
/// column holds: the form of the console will make one the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AllowAccess {
    /// The other bank's name.
    pub name: String,
    /// Its domain, lowercase.
    pub domain: String,
    /// Its signing key.
    pub public_key: PublicKey,
    /// One of its users, or the whole bank when `None`.
    pub user_id: Option<String>,
}

impl AllowAccess {
    /// Reads and checks `name`, `domain`, `public_key` and `user_id`.
    pub(crate) fn from_fields(form: &Fields) -> Result<Self, Error> {
        let name = storable(required(form, "name")?, "name")?.to_owned();
        let RemoveAccess { domain, user_id } = RemoveAccess::from_fields(form)?;
        let public_key: PublicKey = required(form, "public_key")?
            .parse()
            .map_err(|_| Error::invalid("public_key", "not a G… account"))?;
        Ok(Self {
            name,
            domain,
            public_key,
            user_id,
        })
    }
}

/// What `/remove_access` takes, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoveAccess {
    /// The bank's domain, lowercase.
    pub domain: String,
    /// One of its users, or the whole bank when `None`.
    pub user_id: Option<String>,
}

impl RemoveAccess {
    /// Reads and checks `domain` and `user_id`.
    pub(crate) fn from_fields(form: &Fields) -> Result<Self, Error> {
        let domain = required(form, "domain")?;
        if !is_dns_name(domain) {
            return Err(Error::invalid("domain", "not a domain name"));
        }
        let user_id = field(form, "user_id")
            .map(|u| storable(u, "user_id").map(str::to_owned))
            .transpose()?;
        Ok(Self {
            domain: domain.to_ascii_lowercase(),
            user_id,
        })
    }
}

/// `POST /remove_access`.
pub async fn remove_access(
    state: web::Data<State>,
    form: web::Form<Fields>,
) -> Result<HttpResponse, Error> {
    let entry = RemoveAccess::from_fields(&form)?;
    state.store.remove(entry.domain, entry.user_id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}
