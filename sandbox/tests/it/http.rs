//! HTTP tests: the sandbox on an ephemeral port, driven with reqwest.

use std::time::Duration;

use crate::common::*;
use futures_util::StreamExt;
use stellar_base::xdr::{self, ReadXdr};
use stellar_base::{AccountAddress, Amount, Asset, KeyPair, Operation};

fn xlm(units: i64) -> Amount {
    Amount::from_stroops(units * 10_000_000).unwrap()
}

#[tokio::test]
async fn root_ledgers_fee_stats_and_not_found() {
    let sandbox = start().await;
    let (status, root) = get(&sandbox, "/").await;
    assert_eq!(status, 200);
    assert_eq!(
        root["network_passphrase"],
        "Standalone Network ; February 2017"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, page) = get(&sandbox, "/ledgers?order=desc&limit=1").await;
    assert_eq!(status, 200);
    let latest = &records(&page)[0];
    assert!(latest["sequence"].as_u64().unwrap() > 1);
    assert_eq!(latest["base_reserve_in_stroops"], 5_000_000);
    let (status, genesis) = get(&sandbox, "/ledgers/1").await;
    assert_eq!(status, 200);
    assert_eq!(genesis["total_coins"], "100000000000.0000000");
    let (_, fees) = get(&sandbox, "/fee_stats").await;
    assert_eq!(fees["last_ledger_base_fee"], "100");
    let (status, problem) = get(&sandbox, "/nowhere").await;
    assert_eq!(status, 404);
    assert_eq!(
        problem["type"],
        "https://stellar.org/horizon-errors/not_found"
    );
    assert_eq!(problem["status"], 404);
    let (status, _) = get(
        &sandbox,
        &format!("/accounts/{}", KeyPair::random().public_key()),
    )
    .await;
    assert_eq!(status, 404);
    let (status, problem) = get(&sandbox, "/accounts/nonsense").await;
    assert_eq!(status, 400);
    assert_eq!(problem["extras"]["invalid_field"], "account_id");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn friendbot_then_account_resource() {
    let sandbox = start().await;
    let key = KeyPair::random();
    let (status, body) = get(&sandbox, &format!("/friendbot?addr={}", key.public_key())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["successful"], true);
    let (status, account) = get(&sandbox, &format!("/accounts/{}", key.public_key())).await;
    assert_eq!(status, 200);
    assert_eq!(account["account_id"], key.public_key().to_string());
    let ledger = body["ledger"].as_i64().unwrap();
    assert_eq!(account["sequence"], (ledger << 32).to_string());
    let balances = account["balances"].as_array().unwrap();
    assert_eq!(balances[0]["balance"], "10000.0000000");
    assert_eq!(balances[0]["asset_type"], "native");
    assert_eq!(account["signers"][0]["key"], key.public_key().to_string());
    assert_eq!(account["thresholds"]["med_threshold"], 0);
    // Funding twice is a failed transaction with op_already_exists.
    let (status, problem) = get(&sandbox, &format!("/friendbot?addr={}", key.public_key())).await;
    assert_eq!(status, 400);
    assert_eq!(
        problem["extras"]["result_codes"]["operations"][0],
        "op_already_exists"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn payment_round_trip_through_every_resource() {
    let sandbox = start().await;
    let (a, b) = (funded(&sandbox).await, funded(&sandbox).await);
    let envelope = tx(
        &sandbox,
        &a,
        vec![Operation::payment(addr(&b), &Asset::Native, xlm(12))],
    );
    let (status, body) = submit(&sandbox, &envelope).await;
    assert_eq!(status, 200, "{body}");
    let hash = envelope.hash_hex(&sandbox.network());
    assert_eq!(body["hash"], hash);
    assert_eq!(body["successful"], true);
    assert_eq!(body["envelope_xdr"], envelope.to_base64());
    assert_eq!(body["fee_charged"], "100");
    let result = xdr::TransactionResult::from_xdr_base64(
        body["result_xdr"].as_str().unwrap(),
        xdr::Limits::none(),
    )
    .unwrap();
    assert!(matches!(
        result.result,
        xdr::TransactionResultResult::TxSuccess(_)
    ));
    let ledger = body["ledger"].as_u64().unwrap();

    let (status, fetched) = get(&sandbox, &format!("/transactions/{hash}")).await;
    assert_eq!(status, 200);
    assert_eq!(fetched["ledger"].as_u64(), Some(ledger));
    assert_eq!(fetched["memo_type"], "none");
    let paging_token: i64 = fetched["paging_token"].as_str().unwrap().parse().unwrap();
    assert_eq!(paging_token, ((ledger as i64) << 32) | (1 << 12));

    let (_, ops) = get(&sandbox, &format!("/transactions/{hash}/operations")).await;
    let op = &records(&ops)[0];
    assert_eq!(op["type"], "payment");
    assert_eq!(op["amount"], "12.0000000");
    assert_eq!(op["id"], (paging_token + 1).to_string());
    let (status, single) = get(&sandbox, &format!("/operations/{}", paging_token + 1)).await;
    assert_eq!(status, 200);
    assert_eq!(single["transaction_hash"], hash);

    let (_, payments) = get(
        &sandbox,
        &format!(
            "/accounts/{}/payments?order=desc&limit=1&join=transactions",
            b.public_key()
        ),
    )
    .await;
    let payment = &records(&payments)[0];
    assert_eq!(payment["from"], a.public_key().to_string());
    assert_eq!(payment["to"], b.public_key().to_string());
    assert_eq!(payment["transaction_successful"], true);
    assert_eq!(payment["transaction"]["hash"], hash);
    assert_eq!(payment["asset_type"], "native");
    // Ascending from the start: b's create_account first, then the payment.
    let (_, asc) = get(&sandbox, &format!("/accounts/{}/payments", b.public_key())).await;
    let kinds: Vec<&str> = records(&asc)
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["create_account", "payment"]);
    let first = records(&asc)[0]["paging_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, rest) = get(
        &sandbox,
        &format!("/accounts/{}/payments?cursor={first}", b.public_key()),
    )
    .await;
    assert_eq!(records(&rest).len(), 1);
    let (_, all) = get(&sandbox, "/payments?limit=200").await;
    assert_eq!(records(&all).len(), 3);
    let (status, _) = get(&sandbox, "/payments?limit=500").await;
    assert_eq!(status, 400);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn failures_answer_horizon_problems() {
    let sandbox = start().await;
    let (a, b) = (funded(&sandbox).await, funded(&sandbox).await);
    let broke = tx(
        &sandbox,
        &a,
        vec![Operation::payment(addr(&b), &Asset::Native, xlm(20_000))],
    );
    let (status, problem) = submit(&sandbox, &broke).await;
    assert_eq!(status, 400);
    assert_eq!(
        problem["type"],
        "https://stellar.org/horizon-errors/transaction_failed"
    );
    assert_eq!(problem["title"], "Transaction Failed");
    assert_eq!(
        problem["extras"]["result_codes"]["transaction"],
        "tx_failed"
    );
    assert_eq!(
        problem["extras"]["result_codes"]["operations"][0],
        "op_underfunded"
    );
    assert_eq!(problem["extras"]["envelope_xdr"], broke.to_base64());
    let result = xdr::TransactionResult::from_xdr_base64(
        problem["extras"]["result_xdr"].as_str().unwrap(),
        xdr::Limits::none(),
    )
    .unwrap();
    assert_eq!(result.fee_charged, 100);
    // A failed transaction is in history and consumed the sequence number.
    let hash = broke.hash_hex(&sandbox.network());
    let (status, failed) = get(&sandbox, &format!("/transactions/{hash}")).await;
    assert_eq!(status, 200);
    assert_eq!(failed["successful"], false);
    let (_, payments) = get(&sandbox, &format!("/accounts/{}/payments", a.public_key())).await;
    assert_eq!(records(&payments).len(), 1);
    let (_, with_failed) = get(
        &sandbox,
        &format!("/accounts/{}/payments?include_failed=true", a.public_key()),
    )
    .await;
    assert_eq!(records(&with_failed)[1]["transaction_successful"], false);

    // Replaying the same envelope: bad sequence now, without operations codes.
    let stale = {
        let builder = stellar_base::TransactionBuilder::new(addr(&a), next_seq(&sandbox, &a) - 1)
            .operation(Operation::payment(addr(&b), &Asset::Native, xlm(1)));
        builder.sign(&sandbox.network(), &[&a]).unwrap()
    };
    let (status, problem) = submit(&sandbox, &stale).await;
    assert_eq!(status, 400);
    assert_eq!(
        problem["extras"]["result_codes"]["transaction"],
        "tx_bad_seq"
    );
    assert!(
        problem["extras"]["result_codes"]
            .get("operations")
            .is_none()
    );

    let (status, problem) = submit_raw(&sandbox, "not-xdr").await;
    assert_eq!(status, 400);
    assert_eq!(
        problem["type"],
        "https://stellar.org/horizon-errors/transaction_malformed"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn muxed_destinations_show_in_payments() {
    let sandbox = start().await;
    let (a, b) = (funded(&sandbox).await, funded(&sandbox).await);
    let to = AccountAddress::Muxed {
        key: b.public_key(),
        id: 420,
    };
    let envelope = tx(
        &sandbox,
        &a,
        vec![Operation::payment(to, &Asset::Native, xlm(1))],
    );
    let (status, _) = submit(&sandbox, &envelope).await;
    assert_eq!(status, 200);
    let (_, payments) = get(
        &sandbox,
        &format!("/accounts/{}/payments?order=desc&limit=1", b.public_key()),
    )
    .await;
    let payment = &records(&payments)[0];
    assert_eq!(payment["to"], b.public_key().to_string());
    assert_eq!(payment["to_muxed"], to.to_string());
    assert_eq!(payment["to_muxed_id"], "420");
    sandbox.shutdown().await;
}

/// Reads SSE chunks until `pred` holds for the text received so far.
async fn read_until(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<actix_web::web::Bytes>> + Unpin),
    text: &mut String,
    pred: impl Fn(&str) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !pred(text) {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => return false,
        }
    }
    true
}

#[tokio::test]
async fn payments_stream_as_server_sent_events() {
    let sandbox = start().await;
    let (a, b) = (funded(&sandbox).await, funded(&sandbox).await);
    let response = client()
        .get(format!(
            "{}/accounts/{}/payments?cursor=now",
            sandbox.url(),
            b.public_key()
        ))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    assert!(read_until(&mut stream, &mut text, |t| t.contains("\"hello\"")).await);
    assert!(text.starts_with("retry: 1000\n"));
    let envelope = tx(
        &sandbox,
        &a,
        vec![Operation::payment(addr(&b), &Asset::Native, xlm(3))],
    );
    let (status, body) = submit(&sandbox, &envelope).await;
    assert_eq!(status, 200);
    assert!(
        read_until(&mut stream, &mut text, |t| t
            .contains("\"amount\":\"3.0000000\""))
        .await,
        "{text}"
    );
    let token = body["paging_token"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .unwrap()
        + 1;
    assert!(text.contains(&format!("id: {token}\ndata: {{")), "{text}");
    // The create_account before `now` was not sent.
    assert!(!text.contains("create_account"));

    // Closing streams ends this one.
    sandbox.faults().close_streams();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(_))) => continue,
            Err(_) => panic!("stream not closed"),
        }
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn stream_from_a_cursor_replays_history_then_keeps_alive() {
    let sandbox = Sandbox::start(SandboxConfig {
        keepalive_interval: Duration::from_millis(50),
        ..SandboxConfig::for_tests()
    })
    .await
    .unwrap();
    let a = funded(&sandbox).await;
    let response = client()
        .get(format!("{}/payments?cursor=0", sandbox.url()))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    let account = a.public_key().to_string();
    assert!(read_until(&mut stream, &mut text, |t| t.contains(&account)).await);
    assert!(read_until(&mut stream, &mut text, |t| t.contains(": keepalive")).await);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn request_faults_answer_429_503_and_504() {
    let sandbox = start().await;
    let (a, b) = (funded(&sandbox).await, funded(&sandbox).await);
    sandbox.faults().fail_next_requests(503, 1);
    let response = client()
        .get(format!("{}/", sandbox.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 503);
    let (status, _) = get(&sandbox, "/").await;
    assert_eq!(status, 200);
    // Through the admin route.
    let response = client()
        .post(format!("{}/_sandbox/faults", sandbox.url()))
        .header("Content-Type", "application/json")
        .body(r#"{"fault":"fail_requests","status":429,"count":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(get(&sandbox, "/").await.0, 429);

    sandbox.faults().timeout_next_submissions(1);
    let envelope = tx(
        &sandbox,
        &a,
        vec![Operation::payment(addr(&b), &Asset::Native, xlm(1))],
    );
    let (status, problem) = submit(&sandbox, &envelope).await;
    assert_eq!(status, 504);
    assert_eq!(
        problem["type"],
        "https://stellar.org/horizon-errors/timeout"
    );
    // It was applied anyway; resubmitting answers from history.
    let hash = envelope.hash_hex(&sandbox.network());
    assert_eq!(get(&sandbox, &format!("/transactions/{hash}")).await.0, 200);
    let (status, body) = submit(&sandbox, &envelope).await;
    assert_eq!(status, 200);
    assert_eq!(body["hash"], hash);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn paused_closing_holds_submissions() {
    let sandbox = start().await;
    let (a, b) = (funded(&sandbox).await, funded(&sandbox).await);
    sandbox.faults().pause_closing(true);
    let before = sandbox.latest_ledger();
    let envelope = tx(
        &sandbox,
        &a,
        vec![Operation::payment(addr(&b), &Asset::Native, xlm(1))],
    );
    let url = sandbox.url();
    let xdr = envelope.to_base64();
    let pending = tokio::spawn(async move {
        client()
            .post(format!("{url}/transactions"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("tx={}", form_encode(&xdr)))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!pending.is_finished());
    assert_eq!(sandbox.latest_ledger(), before);
    sandbox.faults().pause_closing(false);
    assert_eq!(pending.await.unwrap(), 200);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn admin_route_is_off_unless_enabled() {
    let sandbox = Sandbox::start(SandboxConfig {
        faults_enabled: false,
        ..SandboxConfig::for_tests()
    })
    .await
    .unwrap();
    let response = client()
        .post(format!("{}/_sandbox/faults", sandbox.url()))
        .header("Content-Type", "application/json")
        .body(r#"{"fault":"reset"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn stalled_streams_send_nothing_until_resumed() {
    let sandbox = Sandbox::start(SandboxConfig {
        keepalive_interval: Duration::from_millis(20),
        ..SandboxConfig::for_tests()
    })
    .await
    .unwrap();
    let (a, b) = (funded(&sandbox).await, funded(&sandbox).await);
    let response = client()
        .get(format!("{}/payments?cursor=now", sandbox.url()))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    assert!(read_until(&mut stream, &mut text, |t| t.contains("\"hello\"")).await);
    sandbox.faults().stall_streams(true);
    let envelope = tx(
        &sandbox,
        &a,
        vec![Operation::payment(addr(&b), &Asset::Native, xlm(4))],
    );
    assert_eq!(submit(&sandbox, &envelope).await.0, 200);
    let quiet = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
    assert!(quiet.is_err(), "a stalled stream sent {quiet:?}");
    sandbox.faults().stall_streams(false);
    assert!(
        read_until(&mut stream, &mut text, |t| t
            .contains("\"amount\":\"4.0000000\""))
        .await
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn delayed_submissions_still_succeed() {
    let sandbox = start().await;
    let (a, b) = (funded(&sandbox).await, funded(&sandbox).await);
    sandbox
        .faults()
        .delay_submissions(Duration::from_millis(150));
    let envelope = tx(
        &sandbox,
        &a,
        vec![Operation::payment(addr(&b), &Asset::Native, xlm(1))],
    );
    let started = std::time::Instant::now();
    assert_eq!(submit(&sandbox, &envelope).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn same_transaction_twice_in_one_ledger_gets_one_result() {
    let sandbox = Sandbox::start(SandboxConfig {
        close_interval: Duration::from_millis(200),
        ..SandboxConfig::for_tests()
    })
    .await
    .unwrap();
    let (a, b) = (funded(&sandbox).await, funded(&sandbox).await);
    let envelope = tx(
        &sandbox,
        &a,
        vec![Operation::payment(addr(&b), &Asset::Native, xlm(1))],
    );
    let (first, second) = tokio::join!(submit(&sandbox, &envelope), submit(&sandbox, &envelope));
    assert_eq!(first.0, 200, "{}", first.1);
    assert_eq!(second.0, 200, "{}", second.1);
    assert_eq!(first.1["hash"], second.1["hash"]);
    let balance = sandbox.account(&b.public_key()).unwrap().balance;
    assert_eq!(balance, sandbox::FRIENDBOT_AMOUNT + xlm(1).stroops());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn fee_bump_and_large_transactions_over_http() {
    let sandbox = start().await;
    let (a, b, payer) = (
        funded(&sandbox).await,
        funded(&sandbox).await,
        funded(&sandbox).await,
    );
    let inner = tx(
        &sandbox,
        &a,
        vec![Operation::payment(addr(&b), &Asset::Native, xlm(1))],
    );
    let mut bump = inner.fee_bump(addr(&payer), 400).unwrap();
    bump.sign(&payer, &sandbox.network()).unwrap();
    let (status, body) = submit(&sandbox, &bump).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["fee_account"], payer.public_key().to_string());
    assert_eq!(body["fee_charged"], "200");
    assert_eq!(body["max_fee"], "400");
    assert_eq!(
        body["inner_transaction"]["hash"],
        inner.hash_hex(&sandbox.network())
    );
    assert_eq!(
        body["fee_bump_transaction"]["hash"],
        bump.hash_hex(&sandbox.network())
    );
    // Found by either hash, as Horizon does; by the inner one, it reads as the inner one.
    let inner_hash = inner.hash_hex(&sandbox.network());
    let (status, by_inner) = get(&sandbox, &format!("/transactions/{inner_hash}")).await;
    assert_eq!(status, 200, "{by_inner}");
    assert_eq!(by_inner["hash"], inner_hash.as_str());
    assert_eq!(by_inner["fee_account"], payer.public_key().to_string());
    assert_eq!(
        by_inner["fee_bump_transaction"]["hash"],
        bump.hash_hex(&sandbox.network())
    );
    let outer_hash = bump.hash_hex(&sandbox.network());
    let (_, by_outer) = get(&sandbox, &format!("/transactions/{outer_hash}")).await;
    assert_eq!(by_outer["hash"], outer_hash.as_str());

    // A fee bump around a stale inner transaction: Horizon's codes for the inner failure.
    let stale = stellar_base::TransactionBuilder::new(addr(&a), 1)
        .operation(Operation::payment(addr(&b), &Asset::Native, xlm(1)))
        .sign(&sandbox.network(), &[&a])
        .unwrap();
    let mut stale_bump = stale.fee_bump(addr(&payer), 400).unwrap();
    stale_bump.sign(&payer, &sandbox.network()).unwrap();
    let (status, problem) = submit(&sandbox, &stale_bump).await;
    assert_eq!(status, 400);
    let codes = &problem["extras"]["result_codes"];
    assert_eq!(codes["transaction"], "tx_fee_bump_inner_failed");
    assert_eq!(codes["inner_transaction"], "tx_bad_seq");

    // 100 operations: the largest classic transaction.
    let ops = (0..100)
        .map(|_| Operation::payment(addr(&b), &Asset::Native, xlm(1)))
        .collect();
    let big = tx(&sandbox, &a, ops);
    let (status, body) = submit(&sandbox, &big).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["operation_count"], 100);
    let hash = big.hash_hex(&sandbox.network());
    let (_, ops) = get(
        &sandbox,
        &format!("/transactions/{hash}/operations?limit=200"),
    )
    .await;
    assert_eq!(records(&ops).len(), 100);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn account_data_and_trustlines_show_on_the_account() {
    let sandbox = start().await;
    let (issuer, holder) = (funded(&sandbox).await, funded(&sandbox).await);
    let usd = Asset::credit("USD", issuer.public_key()).unwrap();
    let envelope = tx(
        &sandbox,
        &holder,
        vec![
            Operation::change_trust(&usd, xlm(500)),
            Operation::manage_data("config.memo_required", Some(b"1")).unwrap(),
        ],
    );
    assert_eq!(submit(&sandbox, &envelope).await.0, 200);
    let (_, account) = get(&sandbox, &format!("/accounts/{}", holder.public_key())).await;
    assert_eq!(account["subentry_count"], 2);
    assert_eq!(account["data"]["config.memo_required"], "MQ==");
    let line = &account["balances"][0];
    assert_eq!(line["asset_code"], "USD");
    assert_eq!(line["asset_issuer"], issuer.public_key().to_string());
    assert_eq!(line["limit"], "500.0000000");
    assert_eq!(line["is_authorized"], true);
    let (status, data) = get(
        &sandbox,
        &format!(
            "/accounts/{}/data/config.memo_required",
            holder.public_key()
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(data["value"], "MQ==");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_binary_prints_its_address_and_serves() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args([
            "--port",
            "0",
            "--close-interval-ms",
            "20",
            "--enable-faults",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map(|_| line)
    })
    .await
    .unwrap()
    .unwrap();
    let url = first
        .trim()
        .strip_prefix("sandbox listening on ")
        .unwrap()
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let root: serde_json::Value = client()
        .get(format!("{url}/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        root["network_passphrase"],
        "Standalone Network ; February 2017"
    );
}

#[tokio::test]
async fn last_event_id_overrides_the_cursor_on_reconnect() {
    let sandbox = start().await;
    let (a, b) = (funded(&sandbox).await, funded(&sandbox).await);
    let first = tx(
        &sandbox,
        &a,
        vec![Operation::payment(addr(&b), &Asset::Native, xlm(1))],
    );
    let (_, body) = submit(&sandbox, &first).await;
    let seen = body["paging_token"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .unwrap()
        + 1;
    let second = tx(
        &sandbox,
        &a,
        vec![Operation::payment(addr(&b), &Asset::Native, xlm(2))],
    );
    submit(&sandbox, &second).await;
    let response = client()
        .get(format!(
            "{}/accounts/{}/payments?cursor=now",
            sandbox.url(),
            b.public_key()
        ))
        .header("Accept", "text/event-stream")
        .header("Last-Event-ID", seen.to_string())
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    assert!(
        read_until(&mut stream, &mut text, |t| t
            .contains("\"amount\":\"2.0000000\""))
        .await
    );
    assert!(!text.contains("\"amount\":\"1.0000000\""));
    sandbox.shutdown().await;
}

/// Every validation rule over HTTP: (expected transaction code, expected operation codes).
#[tokio::test]
async fn every_result_code_over_http() {
    use stellar_base::TransactionBuilder;
    use stellar_base::transaction::{SetOptions, flags};

    let sandbox = start().await;
    let network = sandbox.network();
    let (a, b) = (funded(&sandbox).await, funded(&sandbox).await);
    let (issuer, locked) = (funded(&sandbox).await, funded(&sandbox).await);
    let usd = Asset::credit("USD", issuer.public_key()).unwrap();
    let auth = Operation::set_options(SetOptions {
        set_flags: Some(flags::AUTH_REQUIRED),
        ..SetOptions::default()
    })
    .unwrap();
    assert_eq!(
        submit(&sandbox, &tx(&sandbox, &issuer, vec![auth])).await.0,
        200
    );
    let trust = Operation::change_trust(&usd, xlm(10));
    assert_eq!(
        submit(&sandbox, &tx(&sandbox, &locked, vec![trust]))
            .await
            .0,
        200
    );
    let poor = KeyPair::random();
    let create = Operation::create_account(poor.public_key(), xlm(1));
    assert_eq!(
        submit(&sandbox, &tx(&sandbox, &a, vec![create])).await.0,
        200
    );

    let pay =
        |to: &KeyPair, asset: &Asset, units: i64| Operation::payment(addr(to), asset, xlm(units));
    let seq = |key: &KeyPair| next_seq(&sandbox, key);
    let one = |key: &KeyPair, op: Operation| tx(&sandbox, key, vec![op]);
    let ghost = KeyPair::random();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let inflation = Operation(xdr::Operation {
        source_account: None,
        body: xdr::OperationBody::Inflation,
    });
    let convert =
        Operation::path_payment_strict_send(&Asset::Native, xlm(1), addr(&b), &usd, xlm(1), &[])
            .unwrap();
    let mut stale_bump = TransactionBuilder::new(addr(&a), seq(&a) + 5)
        .operation(pay(&b, &Asset::Native, 1))
        .sign(&network, &[&a])
        .unwrap()
        .fee_bump(addr(&b), 1000)
        .unwrap();
    stale_bump.sign(&b, &network).unwrap();

    let cases: Vec<(stellar_base::Envelope, &str, Option<&str>)> = vec![
        (
            TransactionBuilder::new(addr(&a), seq(&a))
                .operation(pay(&b, &Asset::Native, 1))
                .sign(
                    &stellar_base::Network::new("Test SDF Network ; September 2015"),
                    &[&a],
                )
                .unwrap(),
            "tx_bad_auth",
            None,
        ),
        (
            TransactionBuilder::new(addr(&a), seq(&a) + 1)
                .operation(pay(&b, &Asset::Native, 1))
                .sign(&network, &[&a])
                .unwrap(),
            "tx_bad_seq",
            None,
        ),
        (
            TransactionBuilder::new(addr(&a), seq(&a))
                .time_bounds(now + 3600, 0)
                .operation(pay(&b, &Asset::Native, 1))
                .sign(&network, &[&a])
                .unwrap(),
            "tx_too_early",
            None,
        ),
        (
            TransactionBuilder::new(addr(&a), seq(&a))
                .time_bounds(0, now - 3600)
                .operation(pay(&b, &Asset::Native, 1))
                .sign(&network, &[&a])
                .unwrap(),
            "tx_too_late",
            None,
        ),
        (
            TransactionBuilder::new(addr(&a), seq(&a))
                .base_fee(10)
                .operation(pay(&b, &Asset::Native, 1))
                .sign(&network, &[&a])
                .unwrap(),
            "tx_insufficient_fee",
            None,
        ),
        (
            TransactionBuilder::new(addr(&ghost), 1)
                .operation(pay(&b, &Asset::Native, 1))
                .sign(&network, &[&ghost])
                .unwrap(),
            "tx_no_source_account",
            None,
        ),
        (
            TransactionBuilder::new(addr(&a), seq(&a))
                .operation(pay(&b, &Asset::Native, 1))
                .sign(&network, &[&a, &ghost])
                .unwrap(),
            "tx_bad_auth_extra",
            None,
        ),
        (
            TransactionBuilder::new(addr(&poor), seq(&poor))
                .operation(pay(&b, &Asset::Native, 1))
                .sign(&network, &[&poor])
                .unwrap(),
            "tx_insufficient_balance",
            None,
        ),
        (
            TransactionBuilder::new(addr(&a), seq(&a))
                .operation(pay(&a, &Asset::Native, 1).with_source(addr(&b)))
                .sign(&network, &[&a])
                .unwrap(),
            "tx_failed",
            Some("op_bad_auth"),
        ),
        (stale_bump, "tx_fee_bump_inner_failed", None),
    ];
    for (envelope, transaction, operation) in cases {
        let (status, problem) = submit(&sandbox, &envelope).await;
        assert_eq!(status, 400, "{transaction}: {problem}");
        let codes = &problem["extras"]["result_codes"];
        assert_eq!(codes["transaction"], transaction, "{problem}");
        if let Some(operation) = operation {
            assert_eq!(codes["operations"][0], operation, "{problem}");
        }
    }
    // Failed operations consume the sequence number: build each envelope when it is sent.
    type Build<'a> = Box<dyn Fn() -> stellar_base::Envelope + 'a>;
    let failing: Vec<(Build<'_>, &str)> = vec![
        (
            Box::new(|| one(&a, pay(&ghost, &Asset::Native, 1))),
            "op_no_destination",
        ),
        (
            Box::new(|| one(&a, Operation::create_account(b.public_key(), xlm(5)))),
            "op_already_exists",
        ),
        (
            Box::new(|| {
                let stroop = Amount::from_stroops(1).unwrap();
                one(&a, Operation::create_account(ghost.public_key(), stroop))
            }),
            "op_low_reserve",
        ),
        (
            Box::new(|| one(&a, pay(&b, &Asset::Native, 50_000))),
            "op_underfunded",
        ),
        (Box::new(|| one(&issuer, pay(&b, &usd, 1))), "op_no_trust"),
        (
            Box::new(|| one(&a, pay(&issuer, &usd, 1))),
            "op_src_no_trust",
        ),
        (
            Box::new(|| one(&issuer, pay(&locked, &usd, 1))),
            "op_not_authorized",
        ),
        (Box::new(|| one(&a, convert.clone())), "op_too_few_offers"),
        (Box::new(|| one(&a, inflation.clone())), "op_not_supported"),
    ];
    for (build, operation) in failing {
        let (status, problem) = submit(&sandbox, &build()).await;
        assert_eq!(status, 400, "{operation}: {problem}");
        let codes = &problem["extras"]["result_codes"];
        assert_eq!(codes["transaction"], "tx_failed", "{problem}");
        assert_eq!(codes["operations"][0], operation, "{problem}");
    }
    // op_line_full and op_src_not_authorized need state first.
    let allow = Operation::allow_trust(locked.public_key(), "USD", 1).unwrap();
    assert_eq!(submit(&sandbox, &one(&issuer, allow)).await.0, 200);
    let (_, problem) = submit(&sandbox, &one(&issuer, pay(&locked, &usd, 11))).await;
    assert_eq!(
        problem["extras"]["result_codes"]["operations"][0],
        "op_line_full"
    );
    assert_eq!(
        submit(&sandbox, &one(&issuer, pay(&locked, &usd, 5)))
            .await
            .0,
        200
    );
    let revocable = Operation::set_options(SetOptions {
        set_flags: Some(flags::AUTH_REVOCABLE),
        ..SetOptions::default()
    })
    .unwrap();
    assert_eq!(submit(&sandbox, &one(&issuer, revocable)).await.0, 200);
    let revoke = Operation::set_trust_line_flags(locked.public_key(), &usd, 1, 0);
    assert_eq!(submit(&sandbox, &one(&issuer, revoke)).await.0, 200);
    let (_, problem) = submit(&sandbox, &one(&locked, pay(&issuer, &usd, 1))).await;
    assert_eq!(
        problem["extras"]["result_codes"]["operations"][0],
        "op_src_not_authorized"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn account_operations_and_transactions() {
    let sandbox = start().await;
    let (issuer, holder) = (funded(&sandbox).await, funded(&sandbox).await);
    let usd = Asset::credit("USD", issuer.public_key()).unwrap();
    let trust = tx(
        &sandbox,
        &holder,
        vec![Operation::change_trust(&usd, xlm(50))],
    );
    assert_eq!(submit(&sandbox, &trust).await.0, 200);
    let pay = tx(
        &sandbox,
        &issuer,
        vec![
            Operation::payment(addr(&holder), &usd, xlm(5)),
            Operation::manage_data("k", Some(b"v")).unwrap(),
        ],
    );
    assert_eq!(submit(&sandbox, &pay).await.0, 200);
    let (_, ops) = get(
        &sandbox,
        &format!("/accounts/{}/operations", holder.public_key()),
    )
    .await;
    let kinds: Vec<&str> = records(&ops)
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["create_account", "change_trust", "payment"]);
    let (_, txs) = get(
        &sandbox,
        &format!("/accounts/{}/transactions?order=desc", holder.public_key()),
    )
    .await;
    let hashes: Vec<&str> = records(&txs)
        .iter()
        .map(|r| r["hash"].as_str().unwrap())
        .collect();
    assert_eq!(hashes.len(), 3);
    assert_eq!(hashes[0], pay.hash_hex(&sandbox.network()));
    assert_eq!(hashes[1], trust.hash_hex(&sandbox.network()));
    let (_, issuer_ops) = get(
        &sandbox,
        &format!(
            "/accounts/{}/operations?order=desc&limit=1",
            issuer.public_key()
        ),
    )
    .await;
    assert_eq!(records(&issuer_ops)[0]["type"], "manage_data");
    assert_eq!(records(&issuer_ops)[0]["value"], "dg==");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn ledgers_close_while_the_callers_runtime_is_blocked() {
    let sandbox = start().await;
    let before = sandbox.latest_ledger();
    // Blocks the test's only runtime thread: ledgers still close.
    std::thread::sleep(Duration::from_millis(100));
    assert!(sandbox.latest_ledger() > before);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn ledgers_and_transactions_stream_too() {
    let sandbox = start().await;
    let (a, b) = (funded(&sandbox).await, funded(&sandbox).await);
    let open = |path: String| {
        client()
            .get(format!("{}{path}", sandbox.url()))
            .header("Accept", "text/event-stream")
            .send()
    };
    let ledgers = open("/ledgers?cursor=now".into()).await.unwrap();
    let mut ledgers = ledgers.bytes_stream();
    let mut text = String::new();
    assert!(read_until(&mut ledgers, &mut text, |t| t.contains("\"closed_at\"")).await);
    let transactions = open("/transactions?cursor=now".into()).await.unwrap();
    let mut transactions = transactions.bytes_stream();
    let mut text = String::new();
    assert!(read_until(&mut transactions, &mut text, |t| t.contains("\"hello\"")).await);
    let envelope = tx(
        &sandbox,
        &a,
        vec![Operation::payment(addr(&b), &Asset::Native, xlm(1))],
    );
    assert_eq!(submit(&sandbox, &envelope).await.0, 200);
    let hash = envelope.hash_hex(&sandbox.network());
    assert!(read_until(&mut transactions, &mut text, |t| t.contains(&hash)).await);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_submissions() {
    let sandbox = start().await;
    let keys: Vec<KeyPair> = (0..100).map(|_| KeyPair::random()).collect();
    let funding = futures_util::future::join_all(keys.iter().map(|k| sandbox.fund(k.public_key())));
    assert!(funding.await.iter().all(Result::is_ok));
    let sink = funded(&sandbox).await;
    let envelopes: Vec<_> = keys
        .iter()
        .map(|k| {
            tx(
                &sandbox,
                k,
                vec![Operation::payment(addr(&sink), &Asset::Native, xlm(1))],
            )
        })
        .collect();
    let answers =
        futures_util::future::join_all(envelopes.iter().map(|e| submit(&sandbox, e))).await;
    assert!(answers.iter().all(|(status, _)| *status == 200));
    let balance = sandbox.account(&sink.public_key()).unwrap().balance;
    assert_eq!(balance, sandbox::FRIENDBOT_AMOUNT + 100 * xlm(1).stroops());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn offers_rest_and_are_served_like_horizon() {
    let sandbox = start().await;
    let issuer = funded(&sandbox).await;
    let maker = funded(&sandbox).await;
    let usd = Asset::credit("USD", issuer.public_key()).unwrap();
    let (status, body) = submit(
        &sandbox,
        &tx(
            &sandbox,
            &maker,
            vec![Operation::change_trust(&usd, xlm(1000))],
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let pay = Operation::payment(addr(&maker), &usd, xlm(100));
    let (status, body) = submit(&sandbox, &tx(&sandbox, &issuer, vec![pay])).await;
    assert_eq!(status, 200, "{body}");
    let offer = sandbox::dex::manage_sell_offer(&usd, &Asset::Native, xlm(40), 5, 2, 0);
    let (status, body) = submit(&sandbox, &tx(&sandbox, &maker, vec![offer])).await;
    assert_eq!(status, 200, "{body}");
    let hash = body["hash"].as_str().unwrap().to_owned();

    let (status, page) = get(
        &sandbox,
        &format!("/accounts/{}/offers", maker.public_key()),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let records = page["_embedded"]["records"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record["id"], "1");
    assert_eq!(record["paging_token"], "1");
    assert_eq!(record["seller"], maker.public_key().to_string());
    assert_eq!(record["selling"]["asset_code"], "USD");
    assert_eq!(record["buying"]["asset_type"], "native");
    assert_eq!(record["amount"], "40.0000000");
    assert_eq!(record["price"], "2.5000000");
    assert_eq!(record["price_r"]["n"], 5);
    assert_eq!(record["price_r"]["d"], 2);
    assert!(record["last_modified_time"].is_string());
    let (status, same) = get(&sandbox, &format!("/offers?seller={}", maker.public_key())).await;
    assert_eq!(status, 200);
    assert_eq!(same["_embedded"]["records"][0]["id"], "1");
    let (status, one) = get(&sandbox, "/offers/1").await;
    assert_eq!(status, 200);
    assert_eq!(one["amount"], "40.0000000");
    assert_eq!(get(&sandbox, "/offers/2").await.0, 404);

    // The operation record and the account's liabilities.
    let (_, ops) = get(&sandbox, &format!("/transactions/{hash}/operations")).await;
    let op = &ops["_embedded"]["records"][0];
    assert_eq!(op["type"], "manage_sell_offer");
    assert_eq!(op["amount"], "40.0000000");
    assert_eq!(op["price"], "2.5000000");
    assert_eq!(op["selling_asset_code"], "USD");
    assert_eq!(op["buying_asset_type"], "native");
    assert_eq!(op["offer_id"], "0");
    let (_, account) = get(&sandbox, &format!("/accounts/{}", maker.public_key())).await;
    assert_eq!(account["subentry_count"], 2);
    let balances = account["balances"].as_array().unwrap();
    assert_eq!(balances[0]["selling_liabilities"], "40.0000000");
    assert_eq!(balances[1]["buying_liabilities"], "100.0000000");
    sandbox.shutdown().await;
}
