//! The receiving side of the compliance path: a payment sent by bank A's bridge through
//! compliance A and B reaches bank B's receive callback with `route` and `data` from the
//! attachment that bank B's compliance server stored.

use crate::common::banks::{COMPLIANCE_KEY, TwoBanks};
use service::database::Backend;

service::backend_tests!(a_compliance_payment_reaches_bank_b_with_route_and_data);
async fn a_compliance_payment_reaches_bank_b_with_route_and_data(backend: Backend) {
    let banks = TwoBanks::start(backend).await;
    let (web, bridge, bob) = (&banks.web, &banks.bridge, banks.bob);

    // Bank B's bridge watches bob's account and asks compliance B for attachments.
    let office = crate::common::BackOffice::start().await;
    let (_b_url, _receiving, _db_bridge_b) = bridge
        .another(backend, |c| {
            crate::common::receiving_config(c, &bob, &office);
            c.compliance = Some(banks.b_internal.parse().unwrap());
            c.compliance_api_key = Some(COMPLIANCE_KEY.into());
            c.receiving.start_cursor = bridge::receive::StartCursor::Now;
        })
        .await;
    web.set("/b/sanctions", &[(200, "")]);
    let (status, body) = banks.pay("c-ok").await;
    assert_eq!(status, 200, "{backend}: {body}");
    office
        .wait_for(20, "bank B's receive callback", |calls| {
            calls.iter().any(|c| c.path == "/receive")
        })
        .await;
    let call = &office.calls_to("/receive")[0];
    assert_eq!(call.form["route"], "bob", "{backend}");
    assert_eq!(call.form["memo_type"], "hash");
    assert_eq!(call.form["amount"], "25.0000000");
    assert_eq!(call.form["transaction_id"], body["hash"].as_str().unwrap());
    let data: serde_json::Value = serde_json::from_str(&call.form["data"]).unwrap();
    assert_eq!(data["sender"], "alice*bank-a.test");
    let attachment: serde_json::Value =
        serde_json::from_str(data["attachment"].as_str().unwrap()).unwrap();
    assert_eq!(attachment["transaction"]["extra"], "rent");
}
