//! The co-signer over HTTP, on every backend: what it signs, what it refuses and records.

mod migrations_in_step;

use base64::Engine as _;
use cosigner::protocol::{CLIENT_HEADER, SIGNATURE_HEADER, SignRequest};
use cosigner::testing::{ADMIN_KEY, TestCosigner, config};
use service::database::Backend;
use service::testing::TestDatabase;
use stellar_base::transaction::{Operation, unix_now};
use stellar_base::xdr::{self, ReadXdr};
use stellar_base::{Asset, Envelope, KeyPair, Memo, Network, PublicKey, TransactionBuilder};

const PASSPHRASE: &str = "Test SDF Network ; September 2015";

struct Setup {
    cosigner: TestCosigner,
    client: KeyPair,
    guarded: KeyPair,
    _db: TestDatabase,
}

async fn setup(backend: Backend) -> Setup {
    let db = TestDatabase::new(backend);
    let (client, guarded) = (KeyPair::random(), KeyPair::random());
    let cosigner = TestCosigner::start(config(
        &db.url(),
        PASSPHRASE,
        guarded.public_key(),
        client.public_key(),
        ("1000", "2500"),
    ))
    .await;
    Setup {
        cosigner,
        client,
        guarded,
        _db: db,
    }
}

fn xlm(units: &str) -> stellar_base::Amount {
    units.parse().unwrap()
}

/// A payment of `amount` lumens to `to` from `source` (operations from `from`), sequence `seq`.
fn payment(source: PublicKey, from: PublicKey, to: PublicKey, amount: &str, seq: i64) -> String {
    let tx = TransactionBuilder::new(source.into(), seq)
        .base_fee(100)
        .memo(Memo::Text("salary".into()))
        .time_bounds(0, unix_now() + 60)
        .operation(
            Operation::payment(to.into(), &Asset::Native, xlm(amount)).with_source(from.into()),
        )
        .build()
        .unwrap();
    Envelope::from_transaction(tx).to_base64()
}

impl Setup {
    fn pay(&self, to: PublicKey, amount: &str, seq: i64) -> String {
        let me = self.guarded.public_key();
        payment(me, me, to, amount, seq)
    }

    async fn ask(&self, payment_id: &str, envelope: &str) -> (u16, serde_json::Value) {
        self.send(&SignRequest::new(payment_id, envelope), &self.client)
            .await
    }

    async fn send(&self, request: &SignRequest, by: &KeyPair) -> (u16, serde_json::Value) {
        let (body, headers) = request.signed_by(by);
        self.post_raw(body, &headers).await
    }

    async fn post_raw(
        &self,
        body: Vec<u8>,
        headers: &[(&str, String)],
    ) -> (u16, serde_json::Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}/sign", self.cosigner.url))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let mut json: serde_json::Value = response.json().await.unwrap();
        if let Some(after) = retry_after {
            json["retry_after_header"] = after.into();
        }
        (status, json)
    }

    async fn decisions(&self) -> serde_json::Value {
        reqwest::Client::new()
            .get(format!("{}/decisions", self.cosigner.url))
            .header("x-api-key", ADMIN_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn rule(answer: &serde_json::Value) -> &str {
    answer["data"]["rule"].as_str().unwrap_or_default()
}

service::backend_tests!(multi_thread signs_within_limits_and_logs_the_decision);
/// A payment within the limits: a signature by the co-signer's key over the transaction's
/// hash, and the decision listed with the day's total (behind the admin key).
async fn signs_within_limits_and_logs_the_decision(backend: Backend) {
    let s = setup(backend).await;
    let to = KeyPair::random().public_key();
    let envelope = s.pay(to, "400", 1);
    let (status, answer) = s.ask("pay-1", &envelope).await;
    assert_eq!(status, 200, "{answer}");
    let hash = Envelope::from_base64(&envelope)
        .unwrap()
        .hash(&Network::new(PASSPHRASE));
    let signature = xdr::DecoratedSignature::from_xdr(
        base64::engine::general_purpose::STANDARD
            .decode(answer["signature"].as_str().unwrap())
            .unwrap(),
        xdr::Limits::none(),
    )
    .unwrap();
    assert!(
        s.cosigner
            .key
            .public_key()
            .verify(&hash, &signature.signature.0)
    );
    assert_eq!(
        answer["public_key"],
        s.cosigner.key.public_key().to_string()
    );
    // The same transaction again (a retry): signed again, counted once.
    let (status, _) = s.ask("pay-1", &envelope).await;
    assert_eq!(status, 200);
    let log = s.decisions().await;
    assert_eq!(log["decisions"].as_array().unwrap().len(), 2, "{log}");
    assert_eq!(log["decisions"][0]["outcome"], "signed");
    assert_eq!(log["decisions"][0]["client"], "bank-a-bridge");
    assert_eq!(log["totals"][0]["asset"], "native");
    assert_eq!(log["totals"][0]["signed"], "400.0000000");
    assert_eq!(log["totals"][0]["per_day"], "2500.0000000");
    let anonymous = reqwest::get(format!("{}/decisions", s.cosigner.url))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

service::backend_tests!(multi_thread limits_refuse_and_the_next_day_opens_again);
/// Over `per_payment`, and the payment that crosses `per_day`: 403 with the rule, recorded;
/// the next UTC day's window opens again.
async fn limits_refuse_and_the_next_day_opens_again(backend: Backend) {
    let s = setup(backend).await;
    let to = KeyPair::random().public_key();
    let (status, answer) = s.ask("big", &s.pay(to, "1000.0000001", 1)).await;
    assert_eq!((status, rule(&answer)), (403, "per_payment"), "{answer}");
    for n in 0..2 {
        let (status, answer) = s.ask(&format!("p{n}"), &s.pay(to, "1000", n + 1)).await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, answer) = s.ask("p2", &s.pay(to, "500.0000001", 3)).await;
    assert_eq!((status, rule(&answer)), (403, "per_day"), "{answer}");
    let (status, answer) = s.ask("p3", &s.pay(to, "500", 4)).await;
    assert_eq!(status, 200, "exactly up to the limit: {answer}");
    s.cosigner.clock.shift(86_400);
    let next_day = s.pay(to, "1000", 5);
    let (status, answer) = s.ask("p4", &next_day).await;
    assert_eq!(status, 200, "the next day: {answer}");
    let (status, answer) = s.ask("p5", &next_day).await;
    assert_eq!(
        (status, rule(&answer)),
        (403, "payment_id"),
        "one transaction under two payment ids: {answer}"
    );
    let log = s.decisions().await;
    let rules: Vec<_> = log["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["rule"].as_str().unwrap_or("-").to_owned())
        .collect();
    assert_eq!(
        rules,
        ["payment_id", "-", "-", "per_day", "-", "-", "per_payment"],
        "{log}"
    );
    assert_eq!(log["totals"][0]["signed"], "1000.0000000", "{log}");
}

service::backend_tests!(multi_thread a_compromised_bridge_is_refused_and_recorded);
/// What a compromised bridge (or someone on the network) might try: another destination
/// under an id already signed, a request from an unconfigured key, a bad or replayed or stale
/// request, an added operation, unbounded time: each refused with its rule and recorded.
async fn a_compromised_bridge_is_refused_and_recorded(backend: Backend) {
    let s = setup(backend).await;
    let me = s.guarded.public_key();
    let (to, thief) = (
        KeyPair::random().public_key(),
        KeyPair::random().public_key(),
    );
    let (status, _) = s.ask("salary-7", &s.pay(to, "10", 1)).await;
    assert_eq!(status, 200);
    let (status, answer) = s.ask("salary-7", &s.pay(thief, "10", 1)).await;
    assert_eq!((status, rule(&answer)), (403, "payment_id"), "{answer}");
    // The same payment on another source while the first can still land: wait (409).
    let channel = KeyPair::random().public_key();
    let (status, answer) = s.ask("salary-7", &payment(channel, me, to, "10", 99)).await;
    assert_eq!(
        (status, rule(&answer)),
        (409, "earlier_transaction"),
        "{answer}"
    );
    let wait: u64 = answer["retry_after_header"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((60..=92).contains(&wait), "{wait}");
    // The same payment on the same source and sequence can never land twice: signed.
    let tx = TransactionBuilder::new(me.into(), 1)
        .base_fee(300)
        .memo(Memo::Text("salary".into()))
        .time_bounds(0, unix_now() + 90)
        .operation(Operation::payment(to.into(), &Asset::Native, xlm("10")).with_source(me.into()))
        .build()
        .unwrap();
    let (status, answer) = s
        .ask("salary-7", &Envelope::from_transaction(tx).to_base64())
        .await;
    assert_eq!(
        status, 200,
        "a rebuilt payment on the same sequence: {answer}"
    );

    let stranger = KeyPair::random();
    let (status, answer) = s
        .send(&SignRequest::new("x-1", s.pay(to, "1", 2)), &stranger)
        .await;
    assert_eq!((status, rule(&answer)), (401, "unknown_client"), "{answer}");
    let request = SignRequest::new("x-2", s.pay(to, "1", 2));
    let (body, _) = request.signed_by(&s.client);
    let forged = [
        (CLIENT_HEADER, s.client.public_key().to_string()),
        (
            SIGNATURE_HEADER,
            cosigner::protocol::sign_body(&stranger, &body),
        ),
    ];
    let (status, answer) = s.post_raw(body, &forged).await;
    assert_eq!((status, rule(&answer)), (401, "bad_signature"), "{answer}");
    let (status, _) = s.send(&request, &s.client).await;
    assert_eq!(status, 200);
    let (status, answer) = s.send(&request, &s.client).await;
    assert_eq!(
        (status, rule(&answer)),
        (401, "replayed_request"),
        "{answer}"
    );
    let stale = SignRequest {
        timestamp: unix_now() - 120,
        ..SignRequest::new("x-3", s.pay(to, "1", 3))
    };
    let (status, answer) = s.send(&stale, &s.client).await;
    assert_eq!((status, rule(&answer)), (401, "stale_request"), "{answer}");

    let added = TransactionBuilder::new(me.into(), 4)
        .base_fee(100)
        .time_bounds(0, unix_now() + 60)
        .operation(Operation::payment(to.into(), &Asset::Native, xlm("1")))
        .operation(
            Operation::set_options(stellar_base::transaction::SetOptions {
                signer: Some((thief, 255)),
                ..Default::default()
            })
            .unwrap(),
        )
        .build()
        .unwrap();
    let (status, answer) = s
        .ask("x-4", &Envelope::from_transaction(added).to_base64())
        .await;
    assert_eq!((status, rule(&answer)), (403, "operation_type"), "{answer}");
    let forever = TransactionBuilder::new(me.into(), 5)
        .base_fee(100)
        .time_bounds(0, 0)
        .operation(Operation::payment(to.into(), &Asset::Native, xlm("1")))
        .build()
        .unwrap();
    let (status, answer) = s
        .ask("x-5", &Envelope::from_transaction(forever).to_base64())
        .await;
    assert_eq!((status, rule(&answer)), (403, "time_bounds"), "{answer}");
    let (status, answer) = s.ask("x-6", "not an envelope").await;
    assert_eq!(
        (status, rule(&answer)),
        (400, "invalid_request"),
        "{answer}"
    );

    let log = s.decisions().await;
    let refused: Vec<_> = log["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["outcome"] == "refused")
        .map(|d| d["rule"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        refused,
        [
            "invalid_request",
            "time_bounds",
            "operation_type",
            "stale_request",
            "replayed_request",
            "bad_signature",
            "unknown_client",
            "earlier_transaction",
            "payment_id",
        ],
        "{log}"
    );
    let time_bounds = log["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["rule"] == "time_bounds")
        .unwrap();
    assert_eq!(
        time_bounds["tx_hash"].as_str().unwrap().len(),
        64,
        "{time_bounds}"
    );
    let unknown = log["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["rule"] == "unknown_client")
        .unwrap();
    assert_eq!(
        unknown["client"],
        format!("unknown {}", stranger.public_key()),
        "{unknown}"
    );
}

service::backend_tests!(multi_thread concurrent_requests_never_pass_the_daily_limit);
/// Twenty requests of 1000 at once against a daily limit of 2500: exactly two signed,
/// whatever the interleaving (the turn row serialises decisions in the database).
async fn concurrent_requests_never_pass_the_daily_limit(backend: Backend) {
    let s = std::sync::Arc::new(setup(backend).await);
    let to = KeyPair::random().public_key();
    let asks: Vec<_> = (0..20)
        .map(|n| {
            let s = s.clone();
            tokio::spawn(async move { s.ask(&format!("c{n}"), &s.pay(to, "1000", n + 1)).await.0 })
        })
        .collect();
    let mut statuses = Vec::new();
    for ask in asks {
        statuses.push(ask.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 403).count(),
        18,
        "{statuses:?}"
    );
    let log = s.decisions().await;
    assert_eq!(log["totals"][0]["signed"], "2000.0000000", "{log}");
}

service::backend_tests!(a_rebuilt_payment_is_counted_unless_only_one_can_land);
/// The one-payment-per-id rule over time, at the store (its clock injected): a rebuild of a
/// payment on the same source and sequence number is signed and not counted again (only one
/// of them can land); a rebuild on another sequence is refused while the earlier transaction
/// can still land (409) and, once it cannot, signed and counted again (the co-signer cannot
/// see whether the earlier one landed), so the day's limit bounds what a compromised bridge
/// can repeat.
async fn a_rebuilt_payment_is_counted_unless_only_one_can_land(backend: Backend) {
    use cosigner::store::{Ask, Store, Verdict};
    let db = TestDatabase::new(backend);
    let (client, guarded) = (KeyPair::random(), KeyPair::random());
    let config = config(
        &db.url(),
        PASSPHRASE,
        guarded.public_key(),
        client.public_key(),
        ("100", "250"),
    );
    let policy = cosigner::policy::Policy::new(&config).unwrap();
    let (database, _) = service::Database::open(&db.settings(), Some(cosigner::migrations()))
        .await
        .unwrap();
    let store = Store::new(database);
    let me = guarded.public_key();
    let to = KeyPair::random().public_key();
    let start = unix_now();
    let envelope = |seq: i64, max_time: u64, fee: u32| {
        let tx = TransactionBuilder::new(me.into(), seq)
            .base_fee(fee)
            .memo(Memo::Text("salary".into()))
            .time_bounds(0, max_time)
            .operation(Operation::payment(to.into(), &Asset::Native, xlm("100")))
            .build()
            .unwrap();
        Envelope::from_transaction(tx).to_base64()
    };
    let mut nonce = 0;
    let mut decide = async |envelope: String, at: u64| {
        nonce += 1;
        let ask = Ask {
            client: "bank-a-bridge".into(),
            client_key: client.public_key().to_string(),
            nonce: format!("nonce-{nonce:016}"),
            payment_id: "salary-8".into(),
            reviewed: policy.review(&envelope, at),
            tx_hash: policy.hash_of(&envelope),
            now_ms: at as i64 * 1000,
            day: "2026-12-01".into(),
            nonce_ttl_ms: 125_000,
        };
        match store.decide(ask, &policy).await.unwrap() {
            Verdict::Sign => "signed".to_owned(),
            Verdict::Refuse { refusal, .. } => refusal.rule.as_str().to_owned(),
        }
    };
    let signed_today = async || {
        store.day_totals("2026-12-01", &policy).await.unwrap()[0]
            .signed
            .clone()
    };
    assert_eq!(decide(envelope(1, start + 60, 100), start).await, "signed");
    // Expired (and past the grace): a rebuild on a new sequence is counted again.
    let later = start + 100;
    assert_eq!(decide(envelope(2, later + 60, 100), later).await, "signed");
    assert_eq!(signed_today().await, "200.0000000");
    // The same source and sequence with another fee: only one of the two can land.
    assert_eq!(decide(envelope(2, later + 60, 300), later).await, "signed");
    assert_eq!(signed_today().await, "200.0000000");
    // Another sequence while that one can still land: wait.
    assert_eq!(
        decide(envelope(3, later + 60, 100), later).await,
        "earlier_transaction"
    );
    // Once it cannot, a third rebuild would pass the day's limit.
    let much_later = later + 100;
    assert_eq!(
        decide(envelope(3, much_later + 60, 100), much_later).await,
        "per_day"
    );
    assert_eq!(signed_today().await, "200.0000000");
}
