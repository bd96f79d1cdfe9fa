//! Two compliance instances on one database (MariaDB, PostgreSQL), as behind one address: the
//! same `/send` hitting both at once is stored once (one AuthData, one nonce), and either
//! instance answers an AUTH request and a `/receive` alike.

use base64::Engine;
use compliance::Application;
use service::database::Backend;
use stellar_base::Memo;
use stellar_base::transaction::decode_transaction;

use crate::common::*;

fn memo_of(transaction_xdr: &str) -> String {
    let tx = decode_transaction(transaction_xdr).unwrap();
    Memo::from_xdr(&tx.memo).value().unwrap()
}

/// Another instance of `bank`, on its database, keys and back office: its external and
/// internal URLs.
async fn second_instance(bank: &Bank, host: &TomlHost) -> (String, String) {
    let options = BankOptions::default();
    let app = Application::build(config(&bank._db, &bank.key, &bank.office, host, &options))
        .await
        .unwrap();
    let urls = (app.external_url(), app.internal_url());
    app.spawn();
    urls
}

service::backend_tests!(multi_thread two_instances_store_one_request_and_answer_alike; mysql, postgres);
async fn two_instances_store_one_request_and_answer_alike(backend: Backend) {
    let banks = TwoBanks::start(backend, BankOptions::default()).await;
    let (_, a2_internal) = second_instance(&banks.a, &banks.host).await;
    let (b2_external, b2_internal) = second_instance(&banks.b, &banks.host).await;
    let source = banks.source.to_string();
    for round in 0..5 {
        let id = format!("both-{round}");
        let form = [
            ("id", id.as_str()),
            ("source", source.as_str()),
            ("sender", "alice*bank-a.test"),
            ("destination", "bob*bank-b.test"),
            ("amount", "20"),
            ("asset_code", "USD"),
            ("asset_issuer", ISSUER),
            ("extra_memo", "invoice 7"),
        ];
        let (a1_send, a2_send) = (
            format!("{}/send", banks.a.internal),
            format!("{a2_internal}/send"),
        );
        let (one, two) = tokio::join!(
            post_form(&a1_send, &form, Some(API_KEY)),
            post_form(&a2_send, &form, Some(API_KEY))
        );
        assert_eq!((one.0, two.0), (200, 200), "{backend}: {one:?} {two:?}");
        assert_eq!(
            one.1["transaction_xdr"], two.1["transaction_xdr"],
            "{backend}: one stored request, one nonce"
        );
        assert_eq!(one.1["auth_response"], two.1["auth_response"]);

        // Bank B stored one AuthData, and either of its instances reads it.
        let memo = memo_of(one.1["transaction_xdr"].as_str().unwrap());
        let receive = |base: String| {
            let memo = memo.clone();
            async move {
                post_form(
                    &format!("{base}/receive"),
                    &[("memo", &memo)],
                    Some(API_KEY),
                )
                .await
            }
        };
        let (r1, r2) = tokio::join!(
            receive(banks.b.internal.clone()),
            receive(b2_internal.clone())
        );
        assert_eq!(r1.0, 200, "{backend}: {r1:?}");
        assert_eq!(r1, r2, "{backend}: both instances of B answer alike");

        // The same AUTH request, signed by A, answered by either instance of B: alike.
        let data = r1.1["data"].as_str().unwrap().to_owned();
        let sig =
            base64::engine::general_purpose::STANDARD.encode(banks.a.key.sign(data.as_bytes()));
        let auth = |base: String| {
            let (data, sig) = (data.clone(), sig.clone());
            async move { post_form(&format!("{base}/"), &[("data", &data), ("sig", &sig)], None).await }
        };
        let (x, y) = tokio::join!(auth(banks.b.external.clone()), auth(b2_external.clone()));
        assert_eq!(x.0, 200, "{backend}: {x:?}");
        assert_eq!(x, y, "{backend}: AUTH answered alike by either instance");
    }
}

#[test]
fn a_second_instance_on_one_sqlite_file_refuses_to_start() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let host = TomlHost::start().await;
        let office = BackOffice::start().await;
        let db = service::testing::TestDatabase::new(Backend::Sqlite);
        let key = stellar_base::KeyPair::random();
        let options = BankOptions::default();
        let first = Application::build(config(&db, &key, &office, &host, &options))
            .await
            .unwrap();
        let second = Application::build(config(&db, &key, &office, &host, &options)).await;
        let Err(error) = second else {
            panic!("the second instance is refused")
        };
        let error = error.to_string();
        assert!(error.contains("another instance"), "{error}");
        assert!(error.contains("MariaDB or PostgreSQL"), "{error}");
        drop(first);
        // Once the first is gone, the file is free again.
        Application::build(config(&db, &key, &office, &host, &options))
            .await
            .unwrap();
    });
}
