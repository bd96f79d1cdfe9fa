//! The co-signer's memory: every decision, what it signed per payment id, the day's totals,
//! and the nonces it has seen. A signing decision reads and writes them in one transaction
//! that first takes the turn row, so two decisions never both spend the same day's room and a
//! payment id never gets two live transactions, whatever the number of requests or instances.

use diesel::prelude::*;
use serde::Serialize;
use service::{Database, DbError};

use crate::policy::{Policy, Refusal, Reviewed, amount_text};
use crate::protocol::Rule;
use crate::schema::{
    cosigner_day_total, cosigner_decision, cosigner_nonce, cosigner_signed, cosigner_turn,
};

/// After an earlier transaction's upper time bound, how long it is still treated as possibly
/// applied (the network's close time may run a little ahead of ours).
pub const EXPIRY_GRACE_SECONDS: i64 = 30;
/// The longest message kept in the decision log.
const MAX_MESSAGE_CHARS: usize = 1_000;

/// One decision, as listed by `GET /decisions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Queryable, Selectable)]
#[diesel(table_name = cosigner_decision)]
pub struct Decision {
    /// Increasing.
    pub id: i64,
    /// Unix milliseconds.
    pub decided_at: i64,
    /// The client's name; for an unknown client, the key it presented.
    pub client: Option<String>,
    /// The payment id asked for.
    pub payment_id: Option<String>,
    /// The transaction hash, once the envelope could be decoded.
    pub tx_hash: Option<String>,
    /// `signed` or `refused`.
    pub outcome: String,
    /// The rule that refused it.
    pub rule: Option<String>,
    /// What exactly.
    pub message: String,
}

#[derive(Insertable)]
#[diesel(table_name = cosigner_decision)]
struct NewDecision {
    decided_at: i64,
    client: Option<String>,
    payment_id: Option<String>,
    tx_hash: Option<String>,
    outcome: &'static str,
    rule: Option<String>,
    message: String,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = cosigner_signed)]
struct SignedRow {
    tx_hash: String,
    payment_id: String,
    payment_digest: String,
    source: String,
    sequence: i64,
    max_time: i64,
    signed_at: i64,
}

/// A refusal taken before the request could be decided: the client unknown or its signature
/// wrong, the request stale or unreadable.
#[derive(Debug, Clone)]
pub struct Early {
    /// The key or name presented, if any.
    pub client: Option<String>,
    /// The payment id, if the body could be read.
    pub payment_id: Option<String>,
    /// Why.
    pub refusal: Refusal,
}

/// An authenticated request to sign, reviewed by the policy.
#[derive(Debug, Clone)]
pub struct Ask {
    /// The client's configured name.
    pub client: String,
    /// The client's key (nonces are per key).
    pub client_key: String,
    /// The request's nonce.
    pub nonce: String,
    /// The payment id.
    pub payment_id: String,
    /// The transaction, or the rule it broke.
    pub reviewed: Result<Reviewed, Refusal>,
    /// The transaction's hash when the envelope could be decoded, signed or not.
    pub tx_hash: Option<String>,
    /// Now, Unix milliseconds.
    pub now_ms: i64,
    /// The UTC day the payment counts against, `YYYY-MM-DD`.
    pub day: String,
    /// How long a nonce must be remembered, in milliseconds.
    pub nonce_ttl_ms: i64,
}

/// What the co-signer does with an [`Ask`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Sign it (its amounts are counted).
    Sign,
    /// Refuse it; with `retry_after` seconds when asking later may succeed.
    Refuse {
        /// The rule and message.
        refusal: Refusal,
        /// When to ask again, for [`Rule::EarlierTransaction`].
        retry_after: Option<u64>,
    },
}

/// The day's signed total and limit for one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayTotal {
    /// `native` or `CODE:ISSUER`.
    pub asset: String,
    /// Signed so far today.
    pub signed: String,
    /// `per_day`.
    pub per_day: String,
}

/// Database access for the co-signer; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
}

/// `text` without control characters, at most `max` characters: what a column can hold on
/// every backend, whatever a client sent.
pub fn clean(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect()
}

impl Store {
    /// A store over a migrated database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database (for health checks).
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Records a refusal taken before the request could be decided (the client unknown or its
    /// signature wrong, the request stale or unreadable): no nonce is spent.
    ///
    /// # Errors
    /// Database failures.
    pub async fn record_early(&self, refused: Early, now_ms: i64) -> Result<(), DbError> {
        let row = NewDecision {
            decided_at: now_ms,
            client: refused.client.map(|c| clean(&c, 255)),
            payment_id: refused.payment_id.map(|p| clean(&p, 255)),
            tx_hash: None,
            outcome: "refused",
            rule: Some(refused.refusal.rule.as_str().to_owned()),
            message: clean(&refused.refusal.message, MAX_MESSAGE_CHARS),
        };
        let _turn = self.db.write_turn().await;
        self.db
            .run(move |conn| {
                diesel::insert_into(cosigner_decision::table)
                    .values(&row)
                    .execute(conn)?;
                Ok(())
            })
            .await
    }

    /// Decides an authenticated request and records the decision, in one transaction: a
    /// replayed nonce, a refusal by the policy, a payment id that is already signed for
    /// another payment or whose earlier transaction can still be applied, and a day's total
    /// that would pass `per_day` are refused; otherwise the transaction is signed and its
    /// amounts counted (once per payment id).
    ///
    /// # Errors
    /// Database failures; nothing is signed then.
    pub async fn decide(&self, ask: Ask, policy: &Policy) -> Result<Verdict, DbError> {
        let policy = policy.clone();
        let _turn = self.db.write_turn().await;
        self.db
            .run(move |conn| conn.transaction(|conn| decide_in(conn, &ask, &policy)))
            .await
    }

    /// The latest decisions, newest first, before the id `before` when given.
    ///
    /// # Errors
    /// Database failures.
    pub async fn decisions(
        &self,
        limit: i64,
        before: Option<i64>,
    ) -> Result<Vec<Decision>, DbError> {
        self.db
            .run(move |conn| {
                let mut query = cosigner_decision::table
                    .select(Decision::as_select())
                    .order(cosigner_decision::id.desc())
                    .limit(limit)
                    .into_boxed();
                if let Some(before) = before {
                    query = query.filter(cosigner_decision::id.lt(before));
                }
                Ok(query.load(conn)?)
            })
            .await
    }

    /// What was signed on `day` per asset, against each configured `per_day`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn day_totals(&self, day: &str, policy: &Policy) -> Result<Vec<DayTotal>, DbError> {
        let day = day.to_owned();
        let signed: Vec<(String, i64)> = self
            .db
            .run(move |conn| {
                Ok(cosigner_day_total::table
                    .filter(cosigner_day_total::day.eq(day))
                    .select((cosigner_day_total::asset, cosigner_day_total::signed))
                    .load(conn)?)
            })
            .await?;
        let mut totals: Vec<DayTotal> = policy
            .limits()
            .map(|(asset, limit)| DayTotal {
                asset: asset.clone(),
                signed: amount_text(
                    signed
                        .iter()
                        .find(|(a, _)| a == asset)
                        .map_or(0, |(_, s)| *s),
                ),
                per_day: amount_text(limit.per_day),
            })
            .collect();
        totals.sort_by(|a, b| a.asset.cmp(&b.asset));
        Ok(totals)
    }
}

fn decide_in(
    conn: &mut service::AnyConnection,
    ask: &Ask,
    policy: &Policy,
) -> Result<Verdict, DbError> {
    let turns = diesel::update(cosigner_turn::table.filter(cosigner_turn::id.eq(1)))
        .set(cosigner_turn::turns.eq(cosigner_turn::turns + 1))
        .execute(conn)?;
    if turns != 1 {
        // Without the row nothing would serialise the decisions: refuse to decide.
        return Err(DbError::Query(diesel::result::Error::NotFound));
    }
    let verdict = judge(conn, ask, policy)?;
    let hash = ask.tx_hash.clone();
    let (outcome, rule, message) = match &verdict {
        Verdict::Sign => ("signed", None, "signed".to_owned()),
        Verdict::Refuse { refusal, .. } => (
            "refused",
            Some(refusal.rule.as_str().to_owned()),
            refusal.message.clone(),
        ),
    };
    diesel::insert_into(cosigner_decision::table)
        .values(NewDecision {
            decided_at: ask.now_ms,
            client: Some(clean(&ask.client, 255)),
            payment_id: Some(clean(&ask.payment_id, 255)),
            tx_hash: hash,
            outcome,
            rule,
            message: clean(&message, MAX_MESSAGE_CHARS),
        })
        .execute(conn)?;
    Ok(verdict)
}

fn refuse(rule: Rule, message: impl Into<String>) -> Verdict {
    Verdict::Refuse {
        refusal: Refusal::new(rule, message),
        retry_after: None,
    }
}

/// The decision itself, under the turn.
fn judge(
    conn: &mut service::AnyConnection,
    ask: &Ask,
    policy: &Policy,
) -> Result<Verdict, DbError> {
    if !remember_nonce(conn, ask)? {
        return Ok(refuse(
            Rule::ReplayedRequest,
            "this request (its nonce) was seen before",
        ));
    }
    let reviewed = match &ask.reviewed {
        Ok(reviewed) => reviewed,
        Err(refusal) => {
            return Ok(Verdict::Refuse {
                refusal: refusal.clone(),
                retry_after: None,
            });
        }
    };
    let hash = reviewed.hash_hex();
    let earlier: Vec<SignedRow> = cosigner_signed::table
        .filter(cosigner_signed::payment_id.eq(&ask.payment_id))
        .select(SignedRow::as_select())
        .load(conn)?;
    if earlier.iter().any(|row| row.tx_hash == hash) {
        // The same transaction again (a retry): the same signature, counted once.
        return Ok(Verdict::Sign);
    }
    if let Some(verdict) = conflict_with_earlier(&earlier, reviewed, ask.now_ms / 1000) {
        return Ok(verdict);
    }
    let signed_elsewhere = cosigner_signed::table
        .filter(cosigner_signed::tx_hash.eq(&hash))
        .count()
        .get_result::<i64>(conn)?;
    if signed_elsewhere > 0 {
        return Ok(refuse(
            Rule::PaymentId,
            "this transaction was signed for another payment id",
        ));
    }
    // Counted, unless it is a rebuild on the source account and sequence number of a
    // transaction already counted: the network applies at most one transaction per sequence
    // number, so what lands never exceeds what was counted. (A rebuild after an earlier one
    // expired is counted again: the co-signer cannot see whether the earlier one landed.)
    let source = reviewed.source.to_string();
    let counted = earlier
        .iter()
        .any(|row| row.source == source && row.sequence == reviewed.sequence);
    if !counted && let Some(verdict) = spend(conn, &ask.day, reviewed, policy)? {
        return Ok(verdict);
    }
    diesel::insert_into(cosigner_signed::table)
        .values(SignedRow {
            tx_hash: hash,
            payment_id: ask.payment_id.clone(),
            payment_digest: reviewed.payment_digest.clone(),
            source: reviewed.source.to_string(),
            sequence: reviewed.sequence,
            max_time: reviewed.max_time,
            signed_at: ask.now_ms,
        })
        .execute(conn)?;
    Ok(Verdict::Sign)
}

/// Stores the nonce; `false` when it was seen before (a replay). Nonces older than their
/// time to live go, since a request that old is refused as stale anyway.
fn remember_nonce(conn: &mut service::AnyConnection, ask: &Ask) -> Result<bool, DbError> {
    diesel::delete(
        cosigner_nonce::table.filter(cosigner_nonce::seen_at.lt(ask.now_ms - ask.nonce_ttl_ms)),
    )
    .execute(conn)?;
    let seen = cosigner_nonce::table
        .filter(cosigner_nonce::client.eq(&ask.client_key))
        .filter(cosigner_nonce::nonce.eq(&ask.nonce))
        .count()
        .get_result::<i64>(conn)?;
    if seen > 0 {
        return Ok(false);
    }
    diesel::insert_into(cosigner_nonce::table)
        .values((
            cosigner_nonce::client.eq(&ask.client_key),
            cosigner_nonce::nonce.eq(&ask.nonce),
            cosigner_nonce::seen_at.eq(ask.now_ms),
        ))
        .execute(conn)?;
    Ok(true)
}

/// A second transaction for a payment id is signed only when it makes the same payment and
/// can never be applied together with any earlier one: it uses the same source account and
/// sequence number (only one of them can ever be applied), or the earlier one's time bound has
/// passed.
fn conflict_with_earlier(earlier: &[SignedRow], reviewed: &Reviewed, now: i64) -> Option<Verdict> {
    if earlier
        .iter()
        .any(|row| row.payment_digest != reviewed.payment_digest)
    {
        return Some(refuse(
            Rule::PaymentId,
            "this payment id was signed for a transaction making another payment",
        ));
    }
    let source = reviewed.source.to_string();
    let live_until = earlier
        .iter()
        .filter(|row| !(row.source == source && row.sequence == reviewed.sequence))
        .map(|row| row.max_time + EXPIRY_GRACE_SECONDS)
        .filter(|until| *until >= now)
        .max()?;
    Some(Verdict::Refuse {
        refusal: Refusal::new(
            Rule::EarlierTransaction,
            "an earlier transaction for this payment id can still be applied; ask again once \
             its time bound has passed, or rebuild it on the same source account and sequence",
        ),
        retry_after: Some((live_until - now + 1) as u64),
    })
}

/// Counts the transaction's totals against the day's, or refuses when one would pass
/// `per_day`.
fn spend(
    conn: &mut service::AnyConnection,
    day: &str,
    reviewed: &Reviewed,
    policy: &Policy,
) -> Result<Option<Verdict>, DbError> {
    let mut updates = Vec::new();
    for (asset, amount) in &reviewed.totals {
        let limit = policy
            .limit(asset)
            .expect("the policy refused assets without a limit");
        let signed: Option<i64> = cosigner_day_total::table
            .filter(cosigner_day_total::day.eq(day))
            .filter(cosigner_day_total::asset.eq(asset))
            .select(cosigner_day_total::signed)
            .first(conn)
            .optional()?;
        let total = signed.unwrap_or(0).checked_add(*amount).unwrap_or(i64::MAX);
        if total > limit.per_day {
            return Ok(Some(refuse(
                Rule::PerDay,
                format!(
                    "{} {asset} would bring today's total to {}, above the daily limit of {} \
                     ({} signed so far)",
                    amount_text(*amount),
                    amount_text(total),
                    amount_text(limit.per_day),
                    amount_text(signed.unwrap_or(0)),
                ),
            )));
        }
        updates.push((asset, total, signed.is_some()));
    }
    for (asset, total, exists) in updates {
        if exists {
            diesel::update(
                cosigner_day_total::table
                    .filter(cosigner_day_total::day.eq(day))
                    .filter(cosigner_day_total::asset.eq(asset)),
            )
            .set(cosigner_day_total::signed.eq(total))
            .execute(conn)?;
        } else {
            diesel::insert_into(cosigner_day_total::table)
                .values((
                    cosigner_day_total::day.eq(day),
                    cosigner_day_total::asset.eq(asset),
                    cosigner_day_total::signed.eq(total),
                ))
                .execute(conn)?;
        }
    }
    Ok(None)
}
