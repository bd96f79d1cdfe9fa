//! The reference back office: MAC checked against the shared vector, credits recorded once,
//! decisions from the rules.

use callbacks_example::{CallbacksServer, Config, Rules, payload_mac};
use stellar_base::KeyPair;

const VECTOR: &str = include_str!("../../../vectors/payload-mac.json");

#[test]
fn the_mac_matches_the_sdk_vector() {
    let v: serde_json::Value = serde_json::from_str(VECTOR).unwrap();
    let key = KeyPair::from_secret_seed(v["mac_key"].as_str().unwrap()).unwrap();
    assert_eq!(
        payload_mac(&key.seed_bytes(), v["body"].as_str().unwrap().as_bytes()),
        v["x_payload_mac"].as_str().unwrap()
    );
}

async fn post(url: &str, body: &str, mac: Option<&str>) -> u16 {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(mac) = mac {
        req = req.header("x-payload-mac", mac);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn credits_once_and_decides_by_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::random();
    let customers = dir.path().join("customers.json");
    std::fs::write(&customers, r#"{"bob": {"name": "Bob Jones"}}"#).unwrap();
    let server = CallbacksServer::start(Config {
        port: 0,
        bind_address: "127.0.0.1".into(),
        database: dir.path().join("credits.db"),
        mac_key: Some(key.clone()),
        customers_file: Some(customers),
        rules: Rules {
            deny: vec!["Mallory Evil".into()],
            pending_once: vec!["Alice Smith".into()],
            pending_seconds: 7,
            manual_above: Some("1000".into()),
        },
    })
    .await
    .unwrap();
    let url = server.url();
    let credits = server.credits();
    server.spawn();

    let body = "id=42&route=bob&amount=25.0000000&asset_code=XLM&from=GA&transaction_id=abc";
    let mac = payload_mac(&key.seed_bytes(), body.as_bytes());
    assert_eq!(post(&format!("{url}/receive"), body, None).await, 403);
    assert_eq!(
        post(&format!("{url}/receive"), body, Some("bm90IGl0")).await,
        403
    );
    assert_eq!(post(&format!("{url}/receive"), body, Some(&mac)).await, 200);
    // Delivered again (at least once): answered 200, credited once.
    assert_eq!(post(&format!("{url}/receive"), body, Some(&mac)).await, 200);
    assert_eq!(
        credits.for_route("bob").await.unwrap(),
        [("42".to_owned(), "25.0000000".to_owned())]
    );

    let sender = |name: &str| {
        let (first, last) = name.split_once(' ').unwrap();
        format!("sender={{\"first_name\":\"{first}\",\"last_name\":\"{last}\"}}")
    };
    assert_eq!(
        post(&format!("{url}/sanctions"), &sender("Mallory Evil"), None).await,
        403
    );
    assert_eq!(
        post(&format!("{url}/sanctions"), &sender("Alice Smith"), None).await,
        202
    );
    assert_eq!(
        post(&format!("{url}/sanctions"), &sender("Alice Smith"), None).await,
        200
    );
    assert_eq!(
        post(
            &format!("{url}/ask_user"),
            &format!("amount=5000&{}", sender("Carol Doe")),
            None
        )
        .await,
        202
    );
    assert_eq!(
        post(
            &format!("{url}/ask_user"),
            &format!("amount=10&{}", sender("Carol Doe")),
            None
        )
        .await,
        200
    );
    assert_eq!(
        post(&format!("{url}/fetch_info"), "address=bob", None).await,
        200
    );
    assert_eq!(
        post(
            &format!("{url}/fetch_info"),
            "address=bob*bank-b.test",
            None
        )
        .await,
        200
    );
    assert_eq!(
        post(&format!("{url}/fetch_info"), "address=nobody", None).await,
        404
    );
    let status: serde_json::Value = reqwest::get(format!("{url}/tx_status?id=abc"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "delivered");
}
