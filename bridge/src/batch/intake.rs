//! `POST /batches`: a JSON body or a CSV upload read into rows, every row checked and every
//! federation destination resolved (concurrently, each distinct address once) before anything
//! is stored. What comes out is either the rows to store, or every bad row with its number and
//! field.

use std::collections::{HashMap, HashSet};

use federation::FederationClient;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use stellar_base::{AccountAddress, Amount, Asset, Memo};
use stellar_toml::Resolver;

/// The columns of a row, as given (JSON members or CSV columns of the same names).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RowInput {
    /// The row's id, unique in its batch.
    pub id: String,
    /// `G…`, `M…` or `name*domain`.
    pub destination: String,
    /// Up to 7 decimals.
    pub amount: String,
    /// Empty or `XLM` (with no issuer) for lumens.
    pub asset_code: String,
    /// The credit asset's issuer.
    pub asset_issuer: String,
    /// `id`, `text`, `hash`, `return` or empty.
    pub memo_type: String,
    /// The memo's value.
    pub memo: String,
    /// Sent to the receiving bank through compliance (SEP-3); the row takes the compliance
    /// path.
    pub extra_memo: String,
}

/// A batch as uploaded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// The batch's id: the same id with the same content answers the stored batch.
    pub id: String,
    /// Store and send the good rows even when some are bad (default false: all or nothing).
    #[serde(default)]
    pub partial: bool,
    /// Who pays, as the receiving bank's compliance server is told (`sender`, a `name*domain`
    /// of ours); needed by rows on the compliance path.
    #[serde(default)]
    pub sender: Option<String>,
    /// The payments.
    pub payments: Vec<RowInput>,
}

/// The CSV columns, in the report's order.
pub const COLUMNS: [&str; 8] = [
    "id",
    "destination",
    "amount",
    "asset_code",
    "asset_issuer",
    "memo_type",
    "memo",
    "extra_memo",
];

impl Submission {
    /// A CSV upload: a header naming some of [`COLUMNS`] (`id`, `destination` and `amount`
    /// required), then one payment per line; the batch's own fields come from the query.
    ///
    /// # Errors
    /// What is wrong with the file, with its line.
    pub fn from_csv(
        id: String,
        partial: bool,
        sender: Option<String>,
        body: &[u8],
    ) -> Result<Self, String> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(body);
        let header = reader
            .headers()
            .map_err(|e| format!("the CSV header cannot be read: {e}"))?
            .clone();
        let mut positions = Vec::with_capacity(header.len());
        for name in &header {
            let name = name.trim_start_matches('\u{feff}');
            let position = COLUMNS
                .iter()
                .position(|c| c.eq_ignore_ascii_case(name))
                .ok_or_else(|| format!("unknown column {name:?}; the columns are {COLUMNS:?}"))?;
            if positions.contains(&position) {
                return Err(format!("column {name:?} appears twice"));
            }
            positions.push(position);
        }
        for required in [0, 1, 2] {
            if !positions.contains(&required) {
                return Err(format!("the CSV needs a {:?} column", COLUMNS[required]));
            }
        }
        let mut payments = Vec::new();
        for (index, record) in reader.records().enumerate() {
            let record = record.map_err(|e| format!("row {}: {e}", index + 1))?;
            let mut row = RowInput::default();
            for (value, &column) in record.iter().zip(&positions) {
                *row.column_mut(column) = value.to_owned();
            }
            payments.push(row);
        }
        Ok(Self {
            id,
            partial,
            sender,
            payments,
        })
    }

    /// sha256 of what the batch asks for, the same whether it came as JSON or CSV: a batch id
    /// reused with another digest is a different batch (409).
    pub fn digest(&self) -> String {
        let canonical = serde_json::json!({
            "partial": self.partial,
            "sender": self.sender.as_deref().unwrap_or(""),
            "payments": self.payments,
        });
        hex(&Sha256::digest(canonical.to_string().as_bytes()))
    }
}

impl RowInput {
    fn column_mut(&mut self, column: usize) -> &mut String {
        match column {
            0 => &mut self.id,
            1 => &mut self.destination,
            2 => &mut self.amount,
            3 => &mut self.asset_code,
            4 => &mut self.asset_issuer,
            5 => &mut self.memo_type,
            6 => &mut self.memo,
            _ => &mut self.extra_memo,
        }
    }

    /// The row's columns in [`COLUMNS`] order.
    pub fn columns(&self) -> [&str; 8] {
        [
            &self.id,
            &self.destination,
            &self.amount,
            &self.asset_code,
            &self.asset_issuer,
            &self.memo_type,
            &self.memo,
            &self.extra_memo,
        ]
    }
}

/// How a row is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Packed with others into transactions of payment operations.
    Direct,
    /// Alone, after the receiving bank approved it through compliance.
    Compliance,
}

impl Route {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Compliance => "compliance",
        }
    }
}

/// A row that passed every check: what its payment operation needs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The account paid (`M…` when the row named one).
    pub account: AccountAddress,
    /// The row's memo, or the one its federation answer requires.
    pub memo: Memo,
    /// Positive.
    pub amount: Amount,
    /// What is paid.
    pub asset: Asset,
    /// Direct or through compliance.
    pub route: Route,
}

/// A bad row: its number (from 1, in the order given; a CSV's header is not counted), id,
/// field and why.
#[derive(Debug, Clone, Serialize)]
pub struct RowError {
    /// From 1.
    pub row: usize,
    /// As given (may be empty).
    pub id: String,
    /// The column at fault.
    pub field: &'static str,
    /// Why.
    pub message: String,
}

/// A checked row: its plan, or why it cannot be paid.
#[derive(Debug)]
pub struct Checked {
    /// From 1.
    pub row: usize,
    /// As given.
    pub input: RowInput,
    /// What to pay, or the error.
    pub plan: Result<Plan, RowError>,
}

/// What [`check`] needs of the bridge.
#[derive(Debug, Clone, Copy)]
pub struct Checks<'a> {
    /// Federation lookups.
    pub federation: &'a FederationClient,
    /// stellar.toml files (whether a bank has an AUTH_SERVER).
    pub resolver: &'a Resolver,
    /// Whether the bridge has a compliance server to send through.
    pub has_compliance: bool,
    /// Federation lookups in flight at once.
    pub concurrency: usize,
}

/// Checks every row and resolves every federation destination; rows come back in order.
pub async fn check(submission: &Submission, checks: Checks<'_>) -> Vec<Checked> {
    let mut seen = HashSet::new();
    let mut rows: Vec<Checked> = submission
        .payments
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let row = index + 1;
            let error = |field: &'static str, message: String| RowError {
                row,
                id: input.id.clone(),
                field,
                message,
            };
            let plan = read(input, submission.sender.is_some())
                .map_err(|(field, message)| error(field, message))
                .and_then(|plan| {
                    if seen.insert(input.id.clone()) {
                        Ok(plan)
                    } else {
                        Err(error("id", "appears twice in the batch".to_owned()))
                    }
                });
            Checked {
                row,
                input: input.clone(),
                plan,
            }
        })
        .collect();
    let names: HashSet<String> = rows
        .iter()
        .filter(|r| r.plan.is_ok())
        .filter_map(|r| federation_name(&r.input.destination))
        .collect();
    let resolved: HashMap<String, Result<Resolved, String>> = futures_util::stream::iter(names)
        .map(|name| async move {
            let answer = resolve(&name, checks).await;
            (name, answer)
        })
        .buffer_unordered(checks.concurrency.max(1))
        .collect()
        .await;
    for row in &mut rows {
        let Ok(plan) = &mut row.plan else { continue };
        let Some(name) = federation_name(&row.input.destination) else {
            continue;
        };
        let outcome = match &resolved[&name] {
            Err(message) => Err(("destination", message.clone())),
            Ok(found) => adopt(plan, found, checks.has_compliance),
        };
        if let Err((field, message)) = outcome {
            row.plan = Err(RowError {
                row: row.row,
                id: row.input.id.clone(),
                field,
                message,
            });
        }
    }
    rows
}

/// A federation answer, and whether the bank behind it asks for compliance (SEP-3's
/// `AUTH_SERVER` or SEP-31's `DIRECT_PAYMENT_SERVER`: either is paid through our compliance
/// server, never straight to its federation account).
#[derive(Debug, Clone)]
struct Resolved {
    account: AccountAddress,
    memo: Memo,
    needs_compliance: bool,
}

async fn resolve(name: &str, checks: Checks<'_>) -> Result<Resolved, String> {
    let found = checks
        .federation
        .resolve(name)
        .await
        .map_err(|e| format!("cannot resolve {name}: {e}"))?;
    let domain = name.rsplit_once('*').map_or("", |(_, d)| d);
    let needs_compliance = checks
        .resolver
        .stellar_toml(domain)
        .await
        .is_ok_and(|toml| toml.auth_server.is_some() || toml.direct_payment_server.is_some());
    Ok(Resolved {
        account: found.account.into(),
        memo: found.memo,
        needs_compliance,
    })
}

/// The resolved account and memo into the plan: the row's memo or the federation memo, not
/// two different ones; a bank with an AUTH_SERVER or a DIRECT_PAYMENT_SERVER is paid through
/// compliance.
fn adopt(
    plan: &mut Plan,
    found: &Resolved,
    has_compliance: bool,
) -> Result<(), (&'static str, String)> {
    plan.memo = match (&found.memo, &plan.memo) {
        (Memo::None, memo) => memo.clone(),
        (memo, Memo::None) => memo.clone(),
        (a, b) if a == b => a.clone(),
        _ => {
            return Err((
                "memo",
                "the destination's federation answer requires its own memo".to_owned(),
            ));
        }
    };
    plan.account = found.account;
    if found.needs_compliance {
        if !has_compliance {
            return Err((
                "destination",
                "the receiving bank requires compliance (AUTH_SERVER or DIRECT_PAYMENT_SERVER) \
                 and this bridge has no compliance server configured"
                    .to_owned(),
            ));
        }
        plan.route = Route::Compliance;
    }
    Ok(())
}

fn federation_name(destination: &str) -> Option<String> {
    let destination = destination.trim();
    (destination.parse::<AccountAddress>().is_err() && destination.contains('*'))
        .then(|| destination.to_owned())
}

/// The checks that need no network: every field alone.
fn read(input: &RowInput, has_sender: bool) -> Result<Plan, (&'static str, String)> {
    let id = input.id.trim();
    if id.is_empty() {
        return Err(("id", "is required".to_owned()));
    }
    // Stored in VARCHAR(255) columns: refused beyond, the same on every backend.
    if id.chars().count() > 255 || id.contains('\0') {
        return Err(("id", "at most 255 characters, no NUL".to_owned()));
    }
    let destination = input.destination.trim();
    if destination.is_empty() {
        return Err(("destination", "is required".to_owned()));
    }
    if destination.chars().count() > 255 {
        return Err(("destination", "at most 255 characters".to_owned()));
    }
    let account = match destination.parse::<AccountAddress>() {
        Ok(account) => account,
        Err(_) if federation_name(destination).is_some() => {
            // Replaced once resolved.
            AccountAddress::Account(stellar_base::PublicKey([0; 32]))
        }
        Err(_) => {
            return Err((
                "destination",
                "must be a G… or M… account or a name*domain address".to_owned(),
            ));
        }
    };
    let amount = input
        .amount
        .trim()
        .parse::<Amount>()
        .ok()
        .filter(|a| a.is_positive())
        .ok_or((
            "amount",
            "must be positive with up to 7 decimals".to_owned(),
        ))?;
    let code = input.asset_code.trim();
    let issuer = input.asset_issuer.trim();
    let asset = if code.eq_ignore_ascii_case("xlm") && issuer.is_empty() {
        Asset::Native
    } else {
        Asset::from_code_and_issuer(code, issuer).map_err(|e| ("asset_code", e.to_string()))?
    };
    let memo = Memo::parse(input.memo_type.trim(), input.memo.trim())
        .map_err(|e| ("memo", e.to_string()))?;
    if input.extra_memo.len() > 64 * 1024 || input.extra_memo.contains('\0') {
        return Err(("extra_memo", "at most 64 KiB, no NUL".to_owned()));
    }
    let route = if input.extra_memo.trim().is_empty() {
        Route::Direct
    } else {
        Route::Compliance
    };
    if route == Route::Compliance && !has_sender {
        return Err((
            "extra_memo",
            "a row sent through compliance needs the batch's sender".to_owned(),
        ));
    }
    Ok(Plan {
        account,
        memo,
        amount,
        asset,
        route,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "GBYJZW5XFAI6XV73H5SAIUYK6XZI4CGGVBUBO3ANA2SV7KKDAXTV6AEB";

    #[test]
    fn a_csv_reads_into_the_same_batch_as_its_json() {
        let csv = format!(
            "id,destination,amount,memo_type,memo\nr1,{ACCOUNT},1.5,id,7\n\"r,2\",alice*bank.test,2,,\n"
        );
        let from_csv = Submission::from_csv("b".into(), false, None, csv.as_bytes()).unwrap();
        let json = serde_json::json!({"id": "b", "payments": [
            {"id": "r1", "destination": ACCOUNT, "amount": "1.5", "memo_type": "id", "memo": "7"},
            {"id": "r,2", "destination": "alice*bank.test", "amount": "2"},
        ]});
        let from_json: Submission = serde_json::from_value(json).unwrap();
        assert_eq!(from_csv.payments[1].id, "r,2");
        assert_eq!(from_csv.digest(), from_json.digest());
    }

    #[test]
    fn a_csv_with_an_unknown_or_missing_column_is_refused() {
        let unknown = Submission::from_csv("b".into(), false, None, b"id,destination,amount,x\n");
        assert!(unknown.unwrap_err().contains("unknown column \"x\""));
        let missing = Submission::from_csv("b".into(), false, None, b"id,destination\n");
        assert!(missing.unwrap_err().contains("\"amount\""));
    }

    #[test]
    fn each_field_is_checked_alone() {
        let good = RowInput {
            id: "r1".into(),
            destination: ACCOUNT.into(),
            amount: "1".into(),
            ..RowInput::default()
        };
        assert!(read(&good, false).is_ok());
        let with = |edit: fn(&mut RowInput)| {
            let mut row = good.clone();
            edit(&mut row);
            read(&row, false).unwrap_err().0
        };
        assert_eq!(with(|r| r.amount = "0".into()), "amount");
        assert_eq!(with(|r| r.amount = "1.00000001".into()), "amount");
        assert_eq!(with(|r| r.destination = "nobody".into()), "destination");
        assert_eq!(with(|r| r.asset_code = "USD".into()), "asset_code");
        assert_eq!(with(|r| r.memo_type = "id".into()), "memo");
        assert_eq!(with(|r| r.id = String::new()), "id");
        assert_eq!(with(|r| r.extra_memo = "note".into()), "extra_memo");
    }
}
