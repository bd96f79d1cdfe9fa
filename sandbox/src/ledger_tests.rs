//! Unit tests of the ledger rules: one test per validation rule and result code.

use stellar_base::transaction::{SetOptions, flags};
use stellar_base::{AccountAddress, Amount, Asset, Envelope, KeyPair, Network, Operation};
use stellar_base::{PublicKey, TransactionBuilder, xdr};

use crate::codes::{ResultCodes, result_codes};
use crate::ledger::{FRIENDBOT_AMOUNT, Ledger, Outcome, Submission, root_keypair};
use crate::state::BASE_RESERVE;

const NOW: u64 = 1_700_000_000;

fn xlm(units: i64) -> Amount {
    Amount::from_stroops(units * 10_000_000).unwrap()
}

fn ledger() -> Ledger {
    Ledger::new(Network::STANDALONE, NOW)
}

fn network() -> Network {
    Network::new(Network::STANDALONE)
}

fn fund(ledger: &mut Ledger) -> KeyPair {
    let key = KeyPair::random();
    let outcomes = ledger.close(vec![Submission::Friendbot(key.public_key())], NOW);
    assert!(matches!(outcomes[0], Outcome::Included(_)));
    key
}

fn addr(key: &KeyPair) -> AccountAddress {
    key.public_key().into()
}

fn next_seq(ledger: &Ledger, key: &KeyPair) -> i64 {
    ledger.account(&key.public_key()).unwrap().sequence + 1
}

fn balance(ledger: &Ledger, key: &KeyPair) -> i64 {
    ledger.account(&key.public_key()).map_or(0, |a| a.balance)
}

fn builder(ledger: &Ledger, key: &KeyPair) -> TransactionBuilder {
    TransactionBuilder::new(addr(key), next_seq(ledger, key))
}

fn sign(builder: TransactionBuilder, keys: &[&KeyPair]) -> Envelope {
    builder.sign(&network(), keys).unwrap()
}

/// Closes a ledger with one envelope: the result codes and whether it was included.
fn submit(ledger: &mut Ledger, envelope: Envelope) -> (ResultCodes, bool) {
    let outcome = ledger
        .close(
            vec![Submission::Envelope(Box::new(envelope.into_xdr()))],
            NOW,
        )
        .remove(0);
    match outcome {
        Outcome::Included(i) => (
            result_codes(&ledger.history().transactions[i].result()),
            true,
        ),
        Outcome::Rejected { result, .. } => (result_codes(&result), false),
    }
}

fn run(ledger: &mut Ledger, key: &KeyPair, ops: Vec<Operation>) -> ResultCodes {
    let mut b = builder(ledger, key);
    for op in ops {
        b = b.operation(op);
    }
    submit(ledger, sign(b, &[key])).0
}

fn ok(codes: &ResultCodes) {
    assert_eq!(codes.transaction, "tx_success", "{codes:?}");
}

fn op_fails(codes: &ResultCodes, code: &str) {
    assert_eq!(codes.transaction, "tx_failed", "{codes:?}");
    let ops = codes.operations.as_ref().unwrap();
    assert!(ops.iter().any(|c| c == code), "{codes:?}");
}

fn pay(to: &KeyPair, asset: &Asset, amount: Amount) -> Operation {
    Operation::payment(addr(to), asset, amount)
}

/// An issuer (with `issuer_flags`), a holder with a trustline, and the asset.
fn issued(ledger: &mut Ledger, issuer_flags: u32) -> (KeyPair, KeyPair, Asset) {
    let issuer = fund(ledger);
    let holder = fund(ledger);
    if issuer_flags != 0 {
        let op = Operation::set_options(SetOptions {
            set_flags: Some(issuer_flags),
            ..SetOptions::default()
        })
        .unwrap();
        ok(&run(ledger, &issuer, vec![op]));
    }
    let asset = Asset::credit("USD", issuer.public_key()).unwrap();
    ok(&run(
        ledger,
        &holder,
        vec![Operation::change_trust(&asset, xlm(1000))],
    ));
    (issuer, holder, asset)
}

#[test]
fn root_account_is_derived_like_stellar_core_standalone() {
    let root = root_keypair(Network::STANDALONE);
    assert_eq!(
        root.public_key().to_string(),
        "GBZXN7PIRZGNMHGA7MUUUF4GWPY5AYPV6LY4UV2GL6VJGIQRXFDNMADI"
    );
    let ledger = ledger();
    assert_eq!(ledger.account(&root.public_key()).unwrap().sequence, 0);
}

#[test]
fn friendbot_funds_with_a_sequence_from_the_ledger() {
    let mut ledger = ledger();
    let key = fund(&mut ledger);
    let account = ledger.account(&key.public_key()).unwrap();
    assert_eq!(account.balance, FRIENDBOT_AMOUNT);
    assert_eq!(account.sequence, 2i64 << 32);
    // Funding twice fails with op_already_exists.
    let outcome = ledger.close(vec![Submission::Friendbot(key.public_key())], NOW);
    let Outcome::Included(i) = outcome[0] else {
        panic!("included")
    };
    op_fails(
        &result_codes(&ledger.history().transactions[i].result()),
        "op_already_exists",
    );
}

#[test]
fn payment_moves_lumens_and_charges_the_fee() {
    let mut ledger = ledger();
    let (a, b) = (fund(&mut ledger), fund(&mut ledger));
    ok(&run(
        &mut ledger,
        &a,
        vec![pay(&b, &Asset::Native, xlm(10))],
    ));
    assert_eq!(
        balance(&ledger, &a),
        FRIENDBOT_AMOUNT - xlm(10).stroops() - 100
    );
    assert_eq!(balance(&ledger, &b), FRIENDBOT_AMOUNT + xlm(10).stroops());
}

#[test]
fn signature_for_another_network_is_bad_auth_and_costs_nothing() {
    let mut ledger = ledger();
    let (a, b) = (fund(&mut ledger), fund(&mut ledger));
    let envelope = builder(&ledger, &a)
        .operation(pay(&b, &Asset::Native, xlm(1)))
        .sign(&Network::new(Network::TESTNET), &[&a])
        .unwrap();
    let (codes, included) = submit(&mut ledger, envelope);
    assert_eq!(codes.transaction, "tx_bad_auth");
    assert!(!included);
    assert_eq!(balance(&ledger, &a), FRIENDBOT_AMOUNT);
}

#[test]
fn wrong_sequence_is_bad_seq() {
    let mut ledger = ledger();
    let (a, b) = (fund(&mut ledger), fund(&mut ledger));
    let envelope = sign(
        TransactionBuilder::new(addr(&a), next_seq(&ledger, &a) + 1).operation(pay(
            &b,
            &Asset::Native,
            xlm(1),
        )),
        &[&a],
    );
    let (codes, included) = submit(&mut ledger, envelope);
    assert_eq!(codes.transaction, "tx_bad_seq");
    assert!(codes.operations.is_none());
    assert!(!included);
}

#[test]
fn time_bounds_are_enforced() {
    let mut ledger = ledger();
    let (a, b) = (fund(&mut ledger), fund(&mut ledger));
    let early = sign(
        builder(&ledger, &a)
            .time_bounds(NOW + 100, 0)
            .operation(pay(&b, &Asset::Native, xlm(1))),
        &[&a],
    );
    assert_eq!(submit(&mut ledger, early).0.transaction, "tx_too_early");
    let late = sign(
        builder(&ledger, &a)
            .time_bounds(0, NOW - 1)
            .operation(pay(&b, &Asset::Native, xlm(1))),
        &[&a],
    );
    assert_eq!(submit(&mut ledger, late).0.transaction, "tx_too_late");
    let fine = sign(
        builder(&ledger, &a)
            .time_bounds(NOW - 10, NOW + 10)
            .operation(pay(&b, &Asset::Native, xlm(1))),
        &[&a],
    );
    ok(&submit(&mut ledger, fine).0);
}

#[test]
fn fee_below_the_minimum_is_insufficient_fee() {
    let mut ledger = ledger();
    let (a, b) = (fund(&mut ledger), fund(&mut ledger));
    let envelope = sign(
        builder(&ledger, &a)
            .base_fee(99)
            .operation(pay(&b, &Asset::Native, xlm(1))),
        &[&a],
    );
    assert_eq!(
        submit(&mut ledger, envelope).0.transaction,
        "tx_insufficient_fee"
    );
}

#[test]
fn unknown_source_is_no_source_account() {
    let mut ledger = ledger();
    let b = fund(&mut ledger);
    let ghost = KeyPair::random();
    let envelope = sign(
        TransactionBuilder::new(addr(&ghost), 1).operation(pay(&b, &Asset::Native, xlm(1))),
        &[&ghost],
    );
    assert_eq!(
        submit(&mut ledger, envelope).0.transaction,
        "tx_no_source_account"
    );
}

#[test]
fn account_at_its_reserve_cannot_pay_the_fee() {
    let mut ledger = ledger();
    let a = fund(&mut ledger);
    let poor = KeyPair::random();
    let create = Operation::create_account(poor.public_key(), xlm(1));
    ok(&run(&mut ledger, &a, vec![create]));
    let envelope = sign(
        builder(&ledger, &poor).operation(pay(
            &a,
            &Asset::Native,
            Amount::from_stroops(1).unwrap(),
        )),
        &[&poor],
    );
    assert_eq!(
        submit(&mut ledger, envelope).0.transaction,
        "tx_insufficient_balance"
    );
}

#[test]
fn failed_transaction_is_atomic_but_consumes_fee_and_sequence() {
    let mut ledger = ledger();
    let (a, b) = (fund(&mut ledger), fund(&mut ledger));
    let seq = next_seq(&ledger, &a);
    let codes = run(
        &mut ledger,
        &a,
        vec![
            pay(&b, &Asset::Native, xlm(1)),
            pay(&b, &Asset::Native, xlm(1_000_000)),
        ],
    );
    op_fails(&codes, "op_underfunded");
    assert_eq!(
        codes.operations.unwrap(),
        vec!["op_success".to_owned(), "op_underfunded".to_owned()]
    );
    assert_eq!(balance(&ledger, &a), FRIENDBOT_AMOUNT - 200);
    assert_eq!(balance(&ledger, &b), FRIENDBOT_AMOUNT);
    assert_eq!(ledger.account(&a.public_key()).unwrap().sequence, seq);
    let tx = ledger.history().transactions.last().unwrap();
    assert!(!tx.successful);
}

#[test]
fn create_account_rules() {
    let mut ledger = ledger();
    let (a, b) = (fund(&mut ledger), fund(&mut ledger));
    let new = KeyPair::random();
    let low = Amount::from_stroops(2 * BASE_RESERVE - 1).unwrap();
    op_fails(
        &run(
            &mut ledger,
            &a,
            vec![Operation::create_account(new.public_key(), low)],
        ),
        "op_low_reserve",
    );
    op_fails(
        &run(
            &mut ledger,
            &a,
            vec![Operation::create_account(b.public_key(), xlm(5))],
        ),
        "op_already_exists",
    );
    op_fails(
        &run(
            &mut ledger,
            &a,
            vec![Operation::create_account(new.public_key(), xlm(20_000))],
        ),
        "op_underfunded",
    );
    ok(&run(
        &mut ledger,
        &a,
        vec![Operation::create_account(new.public_key(), xlm(5))],
    ));
    assert_eq!(balance(&ledger, &new), xlm(5).stroops());
}

#[test]
fn payment_to_a_missing_account_is_no_destination() {
    let mut ledger = ledger();
    let a = fund(&mut ledger);
    let ghost = KeyPair::random();
    op_fails(
        &run(&mut ledger, &a, vec![pay(&ghost, &Asset::Native, xlm(1))]),
        "op_no_destination",
    );
}

#[test]
fn payment_below_reserve_is_underfunded() {
    let mut ledger = ledger();
    let (a, b) = (fund(&mut ledger), fund(&mut ledger));
    // Everything but the reserve and the fee can be sent; one stroop more cannot.
    let spendable = FRIENDBOT_AMOUNT - 2 * BASE_RESERVE - 100;
    op_fails(
        &run(
            &mut ledger,
            &a,
            vec![pay(
                &b,
                &Asset::Native,
                Amount::from_stroops(spendable + 1).unwrap(),
            )],
        ),
        "op_underfunded",
    );
    let spendable = balance(&ledger, &a) - 2 * BASE_RESERVE - 100;
    ok(&run(
        &mut ledger,
        &a,
        vec![pay(
            &b,
            &Asset::Native,
            Amount::from_stroops(spendable).unwrap(),
        )],
    ));
    assert_eq!(balance(&ledger, &a), 2 * BASE_RESERVE);
}

#[test]
fn credit_payments_need_trustlines_authorization_and_room() {
    let mut ledger = ledger();
    let (issuer, holder, asset) = issued(&mut ledger, 0);
    let other = fund(&mut ledger);
    op_fails(
        &run(&mut ledger, &issuer, vec![pay(&other, &asset, xlm(1))]),
        "op_no_trust",
    );
    op_fails(
        &run(&mut ledger, &other, vec![pay(&holder, &asset, xlm(1))]),
        "op_src_no_trust",
    );
    op_fails(
        &run(&mut ledger, &issuer, vec![pay(&holder, &asset, xlm(1001))]),
        "op_line_full",
    );
    ok(&run(
        &mut ledger,
        &issuer,
        vec![pay(&holder, &asset, xlm(100))],
    ));
    let line = ledger
        .account(&holder.public_key())
        .unwrap()
        .trustline(&asset)
        .unwrap()
        .clone();
    assert_eq!(line.balance, xlm(100).stroops());
    op_fails(
        &run(&mut ledger, &holder, vec![pay(&issuer, &asset, xlm(101))]),
        "op_underfunded",
    );
    // Paying back to the issuer burns.
    ok(&run(
        &mut ledger,
        &holder,
        vec![pay(&issuer, &asset, xlm(40))],
    ));
    let line = ledger
        .account(&holder.public_key())
        .unwrap()
        .trustline(&asset)
        .unwrap()
        .clone();
    assert_eq!(line.balance, xlm(60).stroops());
}

#[test]
fn authorization_required_and_revoked() {
    let mut ledger = ledger();
    let (issuer, holder, asset) = issued(&mut ledger, flags::AUTH_REQUIRED | flags::AUTH_REVOCABLE);
    op_fails(
        &run(&mut ledger, &issuer, vec![pay(&holder, &asset, xlm(1))]),
        "op_not_authorized",
    );
    let allow = Operation::allow_trust(holder.public_key(), "USD", 1).unwrap();
    ok(&run(&mut ledger, &issuer, vec![allow]));
    ok(&run(
        &mut ledger,
        &issuer,
        vec![pay(&holder, &asset, xlm(5))],
    ));
    let revoke = Operation::set_trust_line_flags(holder.public_key(), &asset, 1, 0);
    ok(&run(&mut ledger, &issuer, vec![revoke]));
    op_fails(
        &run(&mut ledger, &holder, vec![pay(&issuer, &asset, xlm(1))]),
        "op_src_not_authorized",
    );
    let both = Operation::set_trust_line_flags(holder.public_key(), &asset, 0, 3);
    op_fails(&run(&mut ledger, &issuer, vec![both]), "op_invalid_state");
}

#[test]
fn revoking_needs_auth_revocable() {
    let mut ledger = ledger();
    let (issuer, holder, asset) = issued(&mut ledger, 0);
    let revoke = Operation::allow_trust(holder.public_key(), "USD", 0).unwrap();
    op_fails(&run(&mut ledger, &issuer, vec![revoke]), "op_cant_revoke");
    let missing = Operation::set_trust_line_flags(fund(&mut ledger).public_key(), &asset, 0, 1);
    op_fails(
        &run(&mut ledger, &issuer, vec![missing]),
        "op_no_trust_line",
    );
}

#[test]
fn change_trust_counts_subentries_and_limits() {
    let mut ledger = ledger();
    let (issuer, holder, asset) = issued(&mut ledger, 0);
    assert_eq!(
        ledger.account(&holder.public_key()).unwrap().num_subentries,
        1
    );
    ok(&run(
        &mut ledger,
        &issuer,
        vec![pay(&holder, &asset, xlm(10))],
    ));
    op_fails(
        &run(
            &mut ledger,
            &holder,
            vec![Operation::change_trust(&asset, xlm(5))],
        ),
        "op_invalid_limit",
    );
    op_fails(
        &run(
            &mut ledger,
            &holder,
            vec![Operation::change_trust(&asset, Amount::ZERO)],
        ),
        "op_invalid_limit",
    );
    ok(&run(
        &mut ledger,
        &holder,
        vec![pay(&issuer, &asset, xlm(10))],
    ));
    ok(&run(
        &mut ledger,
        &holder,
        vec![Operation::change_trust(&asset, Amount::ZERO)],
    ));
    assert_eq!(
        ledger.account(&holder.public_key()).unwrap().num_subentries,
        0
    );
    let ghost = Asset::credit("EUR", KeyPair::random().public_key()).unwrap();
    op_fails(
        &run(
            &mut ledger,
            &holder,
            vec![Operation::change_trust(&ghost, xlm(5))],
        ),
        "op_no_issuer",
    );
}

#[test]
fn trustline_needs_a_reserve() {
    let mut ledger = ledger();
    let a = fund(&mut ledger);
    let poor = KeyPair::random();
    ok(&run(
        &mut ledger,
        &a,
        vec![Operation::create_account(poor.public_key(), xlm(1))],
    ));
    ok(&run(
        &mut ledger,
        &a,
        vec![pay(
            &poor,
            &Asset::Native,
            Amount::from_stroops(1000).unwrap(),
        )],
    ));
    let asset = Asset::credit("USD", a.public_key()).unwrap();
    op_fails(
        &run(
            &mut ledger,
            &poor,
            vec![Operation::change_trust(&asset, xlm(5))],
        ),
        "op_low_reserve",
    );
}

#[test]
fn path_payments_without_conversion_work_and_with_conversion_find_no_offers() {
    let mut ledger = ledger();
    let (issuer, holder, asset) = issued(&mut ledger, 0);
    let receive = Operation::path_payment_strict_receive(
        &Asset::Native,
        xlm(5),
        addr(&holder),
        &Asset::Native,
        xlm(5),
        &[],
    )
    .unwrap();
    ok(&run(&mut ledger, &issuer, vec![receive]));
    let send =
        Operation::path_payment_strict_send(&asset, xlm(3), addr(&holder), &asset, xlm(3), &[])
            .unwrap();
    ok(&run(&mut ledger, &issuer, vec![send]));
    let convert = Operation::path_payment_strict_send(
        &Asset::Native,
        xlm(3),
        addr(&holder),
        &asset,
        xlm(1),
        &[],
    )
    .unwrap();
    op_fails(
        &run(&mut ledger, &issuer, vec![convert]),
        "op_too_few_offers",
    );
    let over = Operation::path_payment_strict_receive(
        &Asset::Native,
        xlm(1),
        addr(&holder),
        &Asset::Native,
        xlm(2),
        &[],
    )
    .unwrap();
    op_fails(&run(&mut ledger, &issuer, vec![over]), "op_over_source_max");
    let send = ledger.history().operations.iter().rev().nth(2).unwrap();
    assert_eq!(send.amount, xlm(3).stroops());
}

#[test]
fn extra_signatures_are_bad_auth_extra() {
    let mut ledger = ledger();
    let (a, b) = (fund(&mut ledger), fund(&mut ledger));
    let stranger = KeyPair::random();
    let envelope = sign(
        builder(&ledger, &a).operation(pay(&b, &Asset::Native, xlm(1))),
        &[&a, &stranger],
    );
    let (codes, included) = submit(&mut ledger, envelope);
    assert_eq!(codes.transaction, "tx_bad_auth_extra");
    assert!(!included);
}

#[test]
fn thresholds_and_signers_are_enforced() {
    let mut ledger = ledger();
    let (a, b) = (fund(&mut ledger), fund(&mut ledger));
    let cosigner = KeyPair::random();
    let setup = Operation::set_options(SetOptions {
        signer: Some((cosigner.public_key(), 1)),
        low_threshold: Some(1),
        med_threshold: Some(2),
        high_threshold: Some(2),
        ..SetOptions::default()
    })
    .unwrap();
    ok(&run(&mut ledger, &a, vec![setup]));
    assert_eq!(ledger.account(&a.public_key()).unwrap().num_subentries, 1);
    // One signature pays the fee (low) but not a payment (medium).
    let single = sign(
        builder(&ledger, &a).operation(pay(&b, &Asset::Native, xlm(1))),
        &[&a],
    );
    let (codes, included) = submit(&mut ledger, single);
    assert_eq!(codes.transaction, "tx_failed");
    assert_eq!(codes.operations.unwrap(), vec!["op_bad_auth".to_owned()]);
    assert!(!included);
    let both = sign(
        builder(&ledger, &a).operation(pay(&b, &Asset::Native, xlm(1))),
        &[&a, &cosigner],
    );
    ok(&submit(&mut ledger, both).0);
    // Below the low threshold: not even the fee.
    let only_bump = sign(
        builder(&ledger, &a).operation(Operation::bump_sequence(0)),
        &[&KeyPair::random()],
    );
    assert_eq!(submit(&mut ledger, only_bump).0.transaction, "tx_bad_auth");
}

/// 2-of-3: a payment signed by the account and one co-signer is applied; one also signed by
/// the second co-signer is not, because stellar-core stops counting once the threshold is
/// met and the third signature stays unused (`SignatureChecker::checkSignature`).
#[test]
fn a_signature_beyond_the_threshold_is_bad_auth_extra() {
    let mut ledger = ledger();
    let (a, b) = (fund(&mut ledger), fund(&mut ledger));
    let (one, two) = (KeyPair::random(), KeyPair::random());
    for (signer, thresholds) in [(&one, None), (&two, Some(2))] {
        let setup = Operation::set_options(SetOptions {
            signer: Some((signer.public_key(), 1)),
            low_threshold: thresholds,
            med_threshold: thresholds,
            high_threshold: thresholds,
            ..SetOptions::default()
        })
        .unwrap();
        ok(&run(&mut ledger, &a, vec![setup]));
    }
    let three = sign(
        builder(&ledger, &a).operation(pay(&b, &Asset::Native, xlm(1))),
        &[&a, &one, &two],
    );
    let (codes, included) = submit(&mut ledger, three);
    assert_eq!(codes.transaction, "tx_bad_auth_extra");
    assert!(!included);
    let two_of_three = sign(
        builder(&ledger, &a).operation(pay(&b, &Asset::Native, xlm(1))),
        &[&two, &a],
    );
    ok(&submit(&mut ledger, two_of_three).0);
}

#[test]
fn operation_with_another_source_needs_its_signature() {
    let mut ledger = ledger();
    let (a, b) = (fund(&mut ledger), fund(&mut ledger));
    let op = pay(&a, &Asset::Native, xlm(1)).with_source(addr(&b));
    let unsigned = sign(builder(&ledger, &a).operation(op.clone()), &[&a]);
    let (codes, _) = submit(&mut ledger, unsigned);
    assert_eq!(codes.operations.unwrap(), vec!["op_bad_auth".to_owned()]);
    let signed = sign(builder(&ledger, &a).operation(op), &[&a, &b]);
    ok(&submit(&mut ledger, signed).0);
    assert_eq!(balance(&ledger, &b), FRIENDBOT_AMOUNT - xlm(1).stroops());
    let ghost = KeyPair::random();
    let op = pay(&a, &Asset::Native, xlm(1)).with_source(addr(&ghost));
    let envelope = sign(builder(&ledger, &a).operation(op), &[&a, &ghost]);
    let (codes, _) = submit(&mut ledger, envelope);
    assert_eq!(
        codes.operations.unwrap(),
        vec!["op_no_source_account".to_owned()]
    );
}

#[test]
fn muxed_accounts_pay_and_receive() {
    let mut ledger = ledger();
    let (a, b) = (fund(&mut ledger), fund(&mut ledger));
    let from = AccountAddress::Muxed {
        key: a.public_key(),
        id: 7,
    };
    let to = AccountAddress::Muxed {
        key: b.public_key(),
        id: 42,
    };
    let envelope = sign(
        TransactionBuilder::new(from, next_seq(&ledger, &a)).operation(Operation::payment(
            to,
            &Asset::Native,
            xlm(2),
        )),
        &[&a],
    );
    ok(&submit(&mut ledger, envelope).0);
    assert_eq!(balance(&ledger, &b), FRIENDBOT_AMOUNT + xlm(2).stroops());
    let op = ledger.history().operations.last().unwrap();
    let tx = ledger.history().transaction_of(op);
    let details = crate::history::operation_details(&tx.envelope(), op.index()).unwrap();
    assert_eq!(details.source, from);
}

#[test]
fn unsupported_operations_are_op_not_supported() {
    let mut ledger = ledger();
    let a = fund(&mut ledger);
    let inflation = Operation(xdr::Operation {
        source_account: None,
        body: xdr::OperationBody::Inflation,
    });
    let codes = run(&mut ledger, &a, vec![inflation]);
    assert_eq!(codes.transaction, "tx_failed");
    assert_eq!(
        codes.operations.unwrap(),
        vec!["op_not_supported".to_owned()]
    );
}

#[test]
fn account_merge_moves_everything() {
    let mut ledger = ledger();
    let (a, b) = (fund(&mut ledger), fund(&mut ledger));
    let fresh = KeyPair::random();
    ok(&run(
        &mut ledger,
        &a,
        vec![Operation::create_account(fresh.public_key(), xlm(10))],
    ));
    ok(&run(
        &mut ledger,
        &a,
        vec![Operation::account_merge(addr(&b))],
    ));
    assert!(ledger.account(&a.public_key()).is_none());
    assert_eq!(
        balance(&ledger, &b),
        FRIENDBOT_AMOUNT * 2 - xlm(10).stroops() - 200
    );
    let op = ledger.history().operations.last().unwrap();
    assert_eq!(op.amount, FRIENDBOT_AMOUNT - xlm(10).stroops() - 200);
    let c = fund(&mut ledger);
    let far = i64::from(ledger.latest().sequence + 5) << 32;
    op_fails(
        &run(
            &mut ledger,
            &c,
            vec![
                Operation::bump_sequence(far),
                Operation::account_merge(addr(&b)),
            ],
        ),
        "op_seq_num_too_far",
    );
    op_fails(
        &run(&mut ledger, &b, vec![Operation::account_merge(addr(&a))]),
        "op_no_account",
    );
    let (_, holder, _) = issued(&mut ledger, 0);
    op_fails(
        &run(
            &mut ledger,
            &holder,
            vec![Operation::account_merge(addr(&b))],
        ),
        "op_has_sub_entries",
    );
}

#[test]
fn manage_data_and_bump_sequence() {
    let mut ledger = ledger();
    let a = fund(&mut ledger);
    ok(&run(
        &mut ledger,
        &a,
        vec![Operation::manage_data("k", Some(b"v")).unwrap()],
    ));
    let account = ledger.account(&a.public_key()).unwrap();
    assert_eq!(account.data.get("k").unwrap(), b"v");
    assert_eq!(account.num_subentries, 1);
    ok(&run(
        &mut ledger,
        &a,
        vec![Operation::manage_data("k", None).unwrap()],
    ));
    op_fails(
        &run(
            &mut ledger,
            &a,
            vec![Operation::manage_data("k", None).unwrap()],
        ),
        "op_data_name_not_found",
    );
    let target = next_seq(&ledger, &a) + 100;
    ok(&run(
        &mut ledger,
        &a,
        vec![Operation::bump_sequence(target)],
    ));
    assert_eq!(ledger.account(&a.public_key()).unwrap().sequence, target);
}

#[test]
fn set_options_rules() {
    let mut ledger = ledger();
    let a = fund(&mut ledger);
    let home = Operation::set_options(SetOptions {
        home_domain: Some("example.com".into()),
        set_flags: Some(flags::AUTH_REQUIRED),
        ..SetOptions::default()
    })
    .unwrap();
    ok(&run(&mut ledger, &a, vec![home]));
    let account = ledger.account(&a.public_key()).unwrap();
    assert_eq!(account.home_domain, "example.com");
    assert_eq!(account.flags, flags::AUTH_REQUIRED);
    let self_signer = Operation::set_options(SetOptions {
        signer: Some((a.public_key(), 1)),
        ..SetOptions::default()
    })
    .unwrap();
    op_fails(&run(&mut ledger, &a, vec![self_signer]), "op_bad_signer");
    let unknown = Operation::set_options(SetOptions {
        set_flags: Some(64),
        ..SetOptions::default()
    })
    .unwrap();
    op_fails(&run(&mut ledger, &a, vec![unknown]), "op_unknown_flag");
}

fn fee_bump(inner: &Envelope, payer: &KeyPair, fee: i64) -> Envelope {
    let mut outer = inner.fee_bump(addr(payer), fee).unwrap();
    outer.sign(payer, &network()).unwrap();
    outer
}

#[test]
fn fee_bumps_are_paid_by_the_fee_source() {
    let mut ledger = ledger();
    let (a, b, payer) = (fund(&mut ledger), fund(&mut ledger), fund(&mut ledger));
    let inner = sign(
        builder(&ledger, &a)
            .base_fee(0)
            .operation(pay(&b, &Asset::Native, xlm(1))),
        &[&a],
    );
    let (codes, included) = submit(&mut ledger, fee_bump(&inner, &payer, 200));
    assert_eq!(codes.transaction, "tx_fee_bump_inner_success", "{codes:?}");
    assert!(included);
    assert_eq!(balance(&ledger, &payer), FRIENDBOT_AMOUNT - 200);
    assert_eq!(balance(&ledger, &a), FRIENDBOT_AMOUNT - xlm(1).stroops());

    let low = sign(
        builder(&ledger, &a).operation(pay(&b, &Asset::Native, xlm(1))),
        &[&a],
    );
    let (codes, _) = submit(&mut ledger, fee_bump(&low, &payer, 150));
    assert_eq!(codes.transaction, "tx_insufficient_fee");

    let stale = sign(
        TransactionBuilder::new(addr(&a), 1).operation(pay(&b, &Asset::Native, xlm(1))),
        &[&a],
    );
    let (codes, included) = submit(&mut ledger, fee_bump(&stale, &payer, 400));
    assert_eq!(codes.transaction, "tx_fee_bump_inner_failed");
    assert_eq!(codes.inner_transaction.unwrap(), "tx_bad_seq");
    assert!(!included);

    let failing = sign(
        builder(&ledger, &a).operation(pay(&b, &Asset::Native, xlm(100_000))),
        &[&a],
    );
    let (codes, included) = submit(&mut ledger, fee_bump(&failing, &payer, 400));
    assert_eq!(codes.transaction, "tx_fee_bump_inner_failed");
    assert_eq!(codes.operations.unwrap(), vec!["op_underfunded".to_owned()]);
    assert!(included);
}

#[test]
fn paging_tokens_follow_toids() {
    let mut ledger = ledger();
    let (a, b) = (fund(&mut ledger), fund(&mut ledger));
    ok(&run(
        &mut ledger,
        &a,
        vec![
            pay(&b, &Asset::Native, xlm(1)),
            pay(&b, &Asset::Native, xlm(2)),
        ],
    ));
    let latest = ledger.latest().sequence;
    let tx = ledger.history().transactions.last().unwrap();
    assert_eq!(tx.paging_token(), i64::from(latest) << 32 | 1 << 12);
    let ops = &ledger.history().operations;
    assert_eq!(ops[ops.len() - 1].id, tx.paging_token() + 2);
    assert_eq!(ops[ops.len() - 2].id, tx.paging_token() + 1);
    let _: PublicKey = b.public_key();
}

#[test]
fn v0_envelopes_are_accepted() {
    let mut ledger = ledger();
    let (a, b) = (fund(&mut ledger), fund(&mut ledger));
    let tx = builder(&ledger, &a)
        .operation(pay(&b, &Asset::Native, xlm(1)))
        .build()
        .unwrap();
    let v0 = xdr::TransactionV0 {
        source_account_ed25519: xdr::Uint256(a.public_key().0),
        fee: tx.fee,
        seq_num: tx.seq_num.clone(),
        time_bounds: None,
        memo: tx.memo.clone(),
        operations: tx.operations.clone(),
        ext: xdr::TransactionV0Ext::V0,
    };
    let hash = stellar_base::transaction::transaction_hash(
        &stellar_base::transaction::v0_to_v1(&v0),
        &network(),
    );
    let envelope = xdr::TransactionEnvelope::TxV0(xdr::TransactionV0Envelope {
        tx: v0,
        signatures: vec![a.sign_decorated(&hash)].try_into().unwrap(),
    });
    let outcome = ledger
        .close(vec![Submission::Envelope(Box::new(envelope))], NOW)
        .remove(0);
    let Outcome::Included(i) = outcome else {
        panic!("rejected: {outcome:?}")
    };
    ok(&result_codes(&ledger.history().transactions[i].result()));
    assert_eq!(ledger.history().transactions[i].hash, hash);
}

fn with_preconditions(
    ledger: &Ledger,
    key: &KeyPair,
    to: &KeyPair,
    cond: xdr::PreconditionsV2,
) -> Envelope {
    let mut tx = builder(ledger, key)
        .operation(pay(to, &Asset::Native, xlm(1)))
        .build()
        .unwrap();
    tx.cond = xdr::Preconditions::V2(cond);
    let mut envelope = Envelope::from_transaction(tx);
    envelope.sign(key, &network()).unwrap();
    envelope
}

#[test]
fn ledger_bounds_apply_and_other_preconditions_are_not_supported() {
    let mut ledger = ledger();
    let (a, b) = (fund(&mut ledger), fund(&mut ledger));
    let next = ledger.latest().sequence + 1;
    let bounds = |min_ledger, max_ledger| xdr::PreconditionsV2 {
        time_bounds: None,
        ledger_bounds: Some(xdr::LedgerBounds {
            min_ledger,
            max_ledger,
        }),
        min_seq_num: None,
        min_seq_age: xdr::Duration(0),
        min_seq_ledger_gap: 0,
        extra_signers: xdr::VecM::default(),
    };
    let early = with_preconditions(&ledger, &a, &b, bounds(next + 5, 0));
    assert_eq!(submit(&mut ledger, early).0.transaction, "tx_too_early");
    let next = ledger.latest().sequence + 1;
    let late = with_preconditions(&ledger, &a, &b, bounds(0, next));
    assert_eq!(submit(&mut ledger, late).0.transaction, "tx_too_late");
    let next = ledger.latest().sequence + 1;
    let fine = with_preconditions(&ledger, &a, &b, bounds(next, next + 1));
    ok(&submit(&mut ledger, fine).0);
    let mut gap = bounds(0, 0);
    gap.min_seq_ledger_gap = 2;
    let unsupported = with_preconditions(&ledger, &a, &b, gap);
    assert_eq!(
        submit(&mut ledger, unsupported).0.transaction,
        "tx_not_supported"
    );
}

#[test]
fn master_key_weight_zero_locks_the_account() {
    let mut ledger = ledger();
    let (a, b) = (fund(&mut ledger), fund(&mut ledger));
    let lock = Operation::set_options(SetOptions {
        master_weight: Some(0),
        ..SetOptions::default()
    })
    .unwrap();
    ok(&run(&mut ledger, &a, vec![lock]));
    let envelope = sign(
        builder(&ledger, &a).operation(pay(&b, &Asset::Native, xlm(1))),
        &[&a],
    );
    assert_eq!(submit(&mut ledger, envelope).0.transaction, "tx_bad_auth");
}

#[test]
fn empty_transactions_are_missing_operation() {
    let mut ledger = ledger();
    let a = fund(&mut ledger);
    let mut tx = builder(&ledger, &a)
        .operation(Operation::bump_sequence(0))
        .build()
        .unwrap();
    tx.operations = xdr::VecM::default();
    let mut envelope = Envelope::from_transaction(tx);
    envelope.sign(&a, &network()).unwrap();
    assert_eq!(
        submit(&mut ledger, envelope).0.transaction,
        "tx_missing_operation"
    );
}

mod order_book {
    //! The order book: offers resting and crossing, liabilities, path payments through offers.
    //! Amounts are checked against stellar-core's `exchangeV10` (OfferExchange.cpp), worked
    //! out by hand in the comments.

    use super::*;
    use crate::dex::{create_passive_sell_offer, manage_buy_offer, manage_sell_offer};
    use crate::state::Offer;

    fn stroops(amount: Amount) -> i64 {
        amount.stroops()
    }

    /// The operation results of the latest transaction.
    fn last_results(ledger: &Ledger) -> Vec<xdr::OperationResult> {
        let tx = ledger.history().transactions.last().unwrap();
        match tx.result().result {
            xdr::TransactionResultResult::TxSuccess(ops)
            | xdr::TransactionResultResult::TxFailed(ops) => ops.to_vec(),
            other => panic!("{other:?}"),
        }
    }

    /// The success result of the latest manage_sell_offer.
    fn sell_success(ledger: &Ledger) -> xdr::ManageOfferSuccessResult {
        match last_results(ledger).remove(0) {
            xdr::OperationResult::OpInner(xdr::OperationResultTr::ManageSellOffer(
                xdr::ManageSellOfferResult::Success(s),
            )) => s,
            other => panic!("{other:?}"),
        }
    }

    fn line(ledger: &Ledger, key: &KeyPair, asset: &Asset) -> crate::state::TrustLine {
        ledger
            .account(&key.public_key())
            .unwrap()
            .trustline(asset)
            .unwrap()
            .clone()
    }

    fn offers_of(ledger: &Ledger, key: &KeyPair) -> Vec<Offer> {
        ledger
            .offers()
            .filter(|o| o.seller == key.public_key())
            .cloned()
            .collect()
    }

    fn sell(selling: &Asset, buying: &Asset, amount: Amount, n: i32, d: i32) -> Operation {
        manage_sell_offer(selling, buying, amount, n, d, 0)
    }

    /// An issuer of USD and EUR, and a market: `usd_maker` sells 100 USD for XLM at 5/2
    /// (2.5 XLM per USD), `eur_maker` sells 100 EUR for USD at 11/10 (1.1 USD per EUR), and
    /// `bob` trusts EUR.
    struct Market {
        issuer: KeyPair,
        usd: Asset,
        eur: Asset,
        usd_maker: KeyPair,
        eur_maker: KeyPair,
        bob: KeyPair,
    }

    fn trust(ledger: &mut Ledger, key: &KeyPair, asset: &Asset) {
        ok(&run(
            ledger,
            key,
            vec![Operation::change_trust(asset, xlm(1_000_000))],
        ));
    }

    fn market(ledger: &mut Ledger) -> Market {
        let issuer = fund(ledger);
        let usd = Asset::credit("USD", issuer.public_key()).unwrap();
        let eur = Asset::credit("EUR", issuer.public_key()).unwrap();
        let usd_maker = fund(ledger);
        let eur_maker = fund(ledger);
        let bob = fund(ledger);
        trust(ledger, &usd_maker, &usd);
        trust(ledger, &eur_maker, &usd);
        trust(ledger, &eur_maker, &eur);
        trust(ledger, &bob, &eur);
        ok(&run(
            ledger,
            &issuer,
            vec![
                pay(&usd_maker, &usd, xlm(100)),
                pay(&eur_maker, &eur, xlm(100)),
            ],
        ));
        ok(&run(
            ledger,
            &usd_maker,
            vec![sell(&usd, &Asset::Native, xlm(100), 5, 2)],
        ));
        ok(&run(
            ledger,
            &eur_maker,
            vec![sell(&eur, &usd, xlm(100), 11, 10)],
        ));
        Market {
            issuer,
            usd,
            eur,
            usd_maker,
            eur_maker,
            bob,
        }
    }

    #[test]
    fn an_offer_rests_in_the_book_with_its_liabilities_and_reserve() {
        let mut ledger = ledger();
        let (issuer, maker, usd) = issued(&mut ledger, 0);
        ok(&run(
            &mut ledger,
            &issuer,
            vec![pay(&maker, &usd, xlm(500))],
        ));
        let before = ledger.account(&maker.public_key()).unwrap().clone();
        ok(&run(
            &mut ledger,
            &maker,
            vec![sell(&usd, &Asset::Native, xlm(100), 2, 1)],
        ));
        let success = sell_success(&ledger);
        assert!(success.offers_claimed.is_empty());
        let xdr::ManageOfferSuccessResultOffer::Created(entry) = success.offer else {
            panic!("created");
        };
        assert_eq!(entry.offer_id, 1, "the first id of the pool");
        assert_eq!(entry.amount, stroops(xlm(100)));
        let offer = ledger.offer(1).unwrap().clone();
        assert_eq!(offer.seller, maker.public_key());
        assert_eq!(offer.price, xdr::Price { n: 2, d: 1 });
        assert_eq!(offer.last_modified_ledger, ledger.latest().sequence);
        assert_eq!(ledger.order_book(&usd, &Asset::Native).len(), 1);
        let account = ledger.account(&maker.public_key()).unwrap();
        assert_eq!(account.num_subentries, before.num_subentries + 1);
        // Buying 200 XLM, selling 100 USD.
        assert_eq!(account.buying_liabilities, stroops(xlm(200)));
        assert_eq!(account.selling_liabilities, 0);
        assert_eq!(
            line(&ledger, &maker, &usd).selling_liabilities,
            stroops(xlm(100))
        );
        // Update the amount, then delete.
        ok(&run(
            &mut ledger,
            &maker,
            vec![manage_sell_offer(&usd, &Asset::Native, xlm(50), 3, 1, 1)],
        ));
        assert!(matches!(
            sell_success(&ledger).offer,
            xdr::ManageOfferSuccessResultOffer::Updated(_)
        ));
        assert_eq!(ledger.offer(1).unwrap().amount, stroops(xlm(50)));
        assert_eq!(
            ledger
                .account(&maker.public_key())
                .unwrap()
                .buying_liabilities,
            stroops(xlm(150))
        );
        op_fails(
            &run(
                &mut ledger,
                &maker,
                vec![manage_sell_offer(&usd, &Asset::Native, xlm(50), 3, 1, 99)],
            ),
            "op_not_found",
        );
        ok(&run(
            &mut ledger,
            &maker,
            vec![manage_sell_offer(
                &usd,
                &Asset::Native,
                Amount::ZERO,
                3,
                1,
                1,
            )],
        ));
        assert_eq!(
            sell_success(&ledger).offer,
            xdr::ManageOfferSuccessResultOffer::Deleted
        );
        assert!(ledger.offer(1).is_none());
        let account = ledger.account(&maker.public_key()).unwrap();
        assert_eq!(account.num_subentries, before.num_subentries);
        assert_eq!(account.buying_liabilities, 0);
        assert_eq!(line(&ledger, &maker, &usd).selling_liabilities, 0);
        // The next offer gets a new id: ids are never reused.
        ok(&run(
            &mut ledger,
            &maker,
            vec![sell(&usd, &Asset::Native, xlm(1), 2, 1)],
        ));
        assert!(ledger.offer(2).is_some());
    }

    #[test]
    fn malformed_and_missing_trust() {
        let mut ledger = ledger();
        let (issuer, maker, usd) = issued(&mut ledger, 0);
        let other = fund(&mut ledger);
        let eur = Asset::credit("EUR", issuer.public_key()).unwrap();
        op_fails(
            &run(&mut ledger, &maker, vec![sell(&usd, &usd, xlm(1), 1, 1)]),
            "op_malformed",
        );
        op_fails(
            &run(
                &mut ledger,
                &maker,
                vec![sell(&usd, &Asset::Native, xlm(1), 0, 1)],
            ),
            "op_malformed",
        );
        op_fails(
            &run(
                &mut ledger,
                &maker,
                vec![manage_sell_offer(
                    &usd,
                    &Asset::Native,
                    Amount::ZERO,
                    1,
                    1,
                    0,
                )],
            ),
            "op_malformed",
        );
        op_fails(
            &run(
                &mut ledger,
                &other,
                vec![sell(&usd, &Asset::Native, xlm(1), 1, 1)],
            ),
            "op_sell_no_trust",
        );
        op_fails(
            &run(
                &mut ledger,
                &maker,
                vec![sell(&Asset::Native, &eur, xlm(1), 1, 1)],
            ),
            "op_buy_no_trust",
        );
        // A trustline with nothing on it: underfunded.
        op_fails(
            &run(
                &mut ledger,
                &maker,
                vec![sell(&usd, &Asset::Native, xlm(1), 1, 1)],
            ),
            "op_underfunded",
        );
        // The issuer sells its own asset without a trustline.
        ok(&run(
            &mut ledger,
            &issuer,
            vec![sell(&usd, &Asset::Native, xlm(1_000_000), 1, 1)],
        ));
    }

    #[test]
    fn a_crossing_offer_takes_the_book_at_the_resting_price() {
        let mut ledger = ledger();
        let (issuer, maker, usd) = issued(&mut ledger, 0);
        let taker = fund(&mut ledger);
        trust(&mut ledger, &taker, &usd);
        ok(&run(
            &mut ledger,
            &issuer,
            vec![pay(&maker, &usd, xlm(100))],
        ));
        ok(&run(
            &mut ledger,
            &maker,
            vec![sell(&usd, &Asset::Native, xlm(100), 2, 1)],
        ));
        let maker_xlm = balance(&ledger, &maker);
        let taker_xlm = balance(&ledger, &taker);
        // The taker sells up to 300 XLM for USD at 1/3 (pays up to 3 XLM per USD). It takes the
        // whole resting offer at its price, 2: 100 USD for 200 XLM. By hand (exchangeV10,
        // price 2/1, wheat = USD): wheatValue = min(1e9·2, …) = 2e9, sheepValue =
        // min(3e9·1, …) = 3e9, so the book's offer goes: wheat = 2e9/2 = 1e9 USD stroops,
        // sheep = 1e9·2/1 = 2e9 XLM stroops.
        ok(&run(
            &mut ledger,
            &taker,
            vec![sell(&Asset::Native, &usd, xlm(300), 1, 3)],
        ));
        let success = sell_success(&ledger);
        assert_eq!(success.offers_claimed.len(), 1);
        let xdr::ClaimAtom::OrderBook(atom) = &success.offers_claimed[0] else {
            panic!("order book atom");
        };
        assert_eq!(atom.offer_id, 1);
        assert_eq!(atom.seller_id, maker.public_key().to_account_id());
        assert_eq!(atom.amount_sold, stroops(xlm(100)));
        assert_eq!(atom.amount_bought, stroops(xlm(200)));
        // The rest, 100 XLM at 1/3, rests after adjustOffer: sheep = floor(1e9·1/3) =
        // 333 333 333 USD stroops, so the offer keeps ceil(333 333 333·3) = 999 999 999.
        let xdr::ManageOfferSuccessResultOffer::Created(rest) = success.offer else {
            panic!("created");
        };
        assert_eq!(rest.amount, 999_999_999);
        assert_eq!(rest.offer_id, 2);
        assert!(ledger.offer(1).is_none());
        assert_eq!(balance(&ledger, &maker), maker_xlm + stroops(xlm(200)));
        assert_eq!(
            balance(&ledger, &taker),
            taker_xlm - stroops(xlm(200)) - 100
        );
        assert_eq!(line(&ledger, &taker, &usd).balance, stroops(xlm(100)));
        assert_eq!(line(&ledger, &maker, &usd).balance, 0);
        let maker_account = ledger.account(&maker.public_key()).unwrap();
        assert_eq!(maker_account.num_subentries, 1, "the offer is gone");
        assert_eq!(maker_account.buying_liabilities, 0);
    }

    #[test]
    fn passive_offers_do_not_take_offers_at_their_price() {
        let mut ledger = ledger();
        let (issuer, maker, usd) = issued(&mut ledger, 0);
        let other = fund(&mut ledger);
        trust(&mut ledger, &other, &usd);
        ok(&run(
            &mut ledger,
            &issuer,
            vec![pay(&maker, &usd, xlm(100))],
        ));
        ok(&run(
            &mut ledger,
            &maker,
            vec![sell(&usd, &Asset::Native, xlm(10), 2, 1)],
        ));
        ok(&run(
            &mut ledger,
            &other,
            vec![create_passive_sell_offer(
                &Asset::Native,
                &usd,
                xlm(20),
                1,
                2,
            )],
        ));
        assert_eq!(ledger.offers().count(), 2);
        assert_eq!(ledger.offer(2).unwrap().flags, crate::state::PASSIVE_FLAG);
        // The same offer, not passive, crosses.
        ok(&run(
            &mut ledger,
            &other,
            vec![sell(&Asset::Native, &usd, xlm(20), 1, 2)],
        ));
        assert!(ledger.offer(1).is_none());
        assert_eq!(line(&ledger, &other, &usd).balance, stroops(xlm(10)));
    }

    #[test]
    fn manage_buy_offer_buys_an_exact_amount() {
        let mut ledger = ledger();
        let m = market(&mut ledger);
        let buyer = fund(&mut ledger);
        trust(&mut ledger, &buyer, &m.usd);
        let before = balance(&ledger, &buyer);
        // Buy 10 USD paying at most 3 XLM each; the book sells at 2.5.
        ok(&run(
            &mut ledger,
            &buyer,
            vec![manage_buy_offer(&Asset::Native, &m.usd, xlm(10), 3, 1, 0)],
        ));
        let results = last_results(&ledger);
        let xdr::OperationResult::OpInner(xdr::OperationResultTr::ManageBuyOffer(
            xdr::ManageBuyOfferResult::Success(success),
        )) = &results[0]
        else {
            panic!("{results:?}");
        };
        assert_eq!(success.offer, xdr::ManageOfferSuccessResultOffer::Deleted);
        assert_eq!(line(&ledger, &buyer, &m.usd).balance, stroops(xlm(10)));
        assert_eq!(balance(&ledger, &buyer), before - stroops(xlm(25)) - 100);
        assert_eq!(
            ledger.order_book(&m.usd, &Asset::Native)[0].amount,
            stroops(xlm(90))
        );
    }

    fn xlm_to_eur_send(m: &Market, send: i64, dest_min: i64) -> Operation {
        Operation::path_payment_strict_send(
            &Asset::Native,
            Amount::from_stroops(send).unwrap(),
            addr(&m.bob),
            &m.eur,
            Amount::from_stroops(dest_min).unwrap(),
            std::slice::from_ref(&m.usd),
        )
        .unwrap()
    }

    fn xlm_to_eur_receive(m: &Market, send_max: i64, dest: i64) -> Operation {
        Operation::path_payment_strict_receive(
            &Asset::Native,
            Amount::from_stroops(send_max).unwrap(),
            addr(&m.bob),
            &m.eur,
            Amount::from_stroops(dest).unwrap(),
            std::slice::from_ref(&m.usd),
        )
        .unwrap()
    }

    #[test]
    fn strict_send_through_two_books_pays_what_exchange_v10_gives() {
        let mut ledger = ledger();
        let m = market(&mut ledger);
        let alice = fund(&mut ledger);
        // By hand, sending 100 000 001 stroops of XLM:
        // hop 1, XLM → USD against 100 USD at 5/2 (strict send rounding): sheepValue =
        //   100 000 001·2 = 200 000 002, wheatValue = 1e9·5 = 5e9, the book stays;
        //   wheat = floor(200 000 002 / 5) = 40 000 000 USD stroops, and all the XLM goes.
        // hop 2, USD → EUR against 100 EUR at 11/10: sheepValue = 40 000 000·10 = 4e8,
        //   wheat = floor(4e8 / 11) = 36 363 636 EUR stroops.
        op_fails(
            &run(
                &mut ledger,
                &alice,
                vec![xlm_to_eur_send(&m, 100_000_001, 36_363_637)],
            ),
            "op_under_dest_min",
        );
        let before = balance(&ledger, &alice);
        let maker_before = balance(&ledger, &m.usd_maker);
        ok(&run(
            &mut ledger,
            &alice,
            vec![xlm_to_eur_send(&m, 100_000_001, 36_363_636)],
        ));
        assert_eq!(balance(&ledger, &m.usd_maker), maker_before + 100_000_001);
        assert_eq!(line(&ledger, &m.bob, &m.eur).balance, 36_363_636);
        assert_eq!(balance(&ledger, &alice), before - 100_000_001 - 100);
        let results = last_results(&ledger);
        let xdr::OperationResult::OpInner(xdr::OperationResultTr::PathPaymentStrictSend(
            xdr::PathPaymentStrictSendResult::Success(success),
        )) = &results[0]
        else {
            panic!("{results:?}");
        };
        assert_eq!(success.last.amount, 36_363_636);
        let atoms: Vec<(i64, i64)> = success
            .offers
            .iter()
            .map(|a| match a {
                xdr::ClaimAtom::OrderBook(a) => (a.amount_sold, a.amount_bought),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            atoms,
            vec![(40_000_000, 100_000_001), (36_363_636, 40_000_000)]
        );
        // The makers were paid and their offers shrank.
        assert_eq!(line(&ledger, &m.eur_maker, &m.usd).balance, 40_000_000);
        assert_eq!(
            ledger.order_book(&m.usd, &Asset::Native)[0].amount,
            stroops(xlm(100)) - 40_000_000
        );
        assert_eq!(
            ledger.order_book(&m.eur, &m.usd)[0].amount,
            stroops(xlm(100)) - 36_363_636
        );
        // The history records what arrived.
        let op = ledger.history().operations.last().unwrap();
        assert_eq!(op.amount, 36_363_636);
        // Too thin: 1 000 XLM would need 400 USD, the book has 100.
        op_fails(
            &run(
                &mut ledger,
                &alice,
                vec![xlm_to_eur_send(&m, stroops(xlm(1000)), 1)],
            ),
            "op_too_few_offers",
        );
        let _ = &m.issuer;
    }

    #[test]
    fn strict_receive_through_two_books_costs_what_exchange_v10_gives() {
        let mut ledger = ledger();
        let m = market(&mut ledger);
        let carol = fund(&mut ledger);
        // By hand, for 50 000 001 EUR stroops to arrive (strict receive rounding, books stay):
        // hop EUR ← USD at 11/10: sheepValue = 50 000 001·11 = 550 000 011, wheat =
        //   floor(550 000 011 / 11) = 50 000 001, sheep = ceil(50 000 001·11/10) = 55 000 002.
        // hop USD ← XLM at 5/2: sheepValue = 55 000 002·5 = 275 000 010, wheat = 55 000 002,
        //   sheep = ceil(275 000 010 / 2) = 137 500 005 XLM stroops.
        op_fails(
            &run(
                &mut ledger,
                &carol,
                vec![xlm_to_eur_receive(&m, 137_500_004, 50_000_001)],
            ),
            "op_over_source_max",
        );
        assert_eq!(line(&ledger, &m.bob, &m.eur).balance, 0, "nothing moved");
        let before = balance(&ledger, &carol);
        ok(&run(
            &mut ledger,
            &carol,
            vec![xlm_to_eur_receive(&m, 137_500_005, 50_000_001)],
        ));
        assert_eq!(line(&ledger, &m.bob, &m.eur).balance, 50_000_001);
        assert_eq!(balance(&ledger, &carol), before - 137_500_005 - 100);
        let results = last_results(&ledger);
        let xdr::OperationResult::OpInner(xdr::OperationResultTr::PathPaymentStrictReceive(
            xdr::PathPaymentStrictReceiveResult::Success(success),
        )) = &results[0]
        else {
            panic!("{results:?}");
        };
        // Atoms in path order: XLM → USD first.
        let atoms: Vec<(i64, i64, i64)> = success
            .offers
            .iter()
            .map(|a| match a {
                xdr::ClaimAtom::OrderBook(a) => (a.offer_id, a.amount_sold, a.amount_bought),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            atoms,
            vec![(1, 55_000_002, 137_500_005), (2, 50_000_001, 55_000_002)]
        );
        assert_eq!(
            ledger.history().operations.last().unwrap().amount,
            137_500_005
        );
        // More than the book holds.
        op_fails(
            &run(
                &mut ledger,
                &carol,
                vec![xlm_to_eur_receive(
                    &m,
                    stroops(xlm(5000)),
                    stroops(xlm(200)),
                )],
            ),
            "op_too_few_offers",
        );
    }

    #[test]
    fn liabilities_stop_payments_of_promised_funds() {
        let mut ledger = ledger();
        let (issuer, maker, usd) = issued(&mut ledger, 0);
        let other = fund(&mut ledger);
        trust(&mut ledger, &other, &usd);
        ok(&run(
            &mut ledger,
            &issuer,
            vec![pay(&maker, &usd, xlm(100))],
        ));
        // All 100 USD promised to an offer (at 20 XLM each, above what the lumen seller below
        // asks, so that the two do not cross): none can be paid.
        ok(&run(
            &mut ledger,
            &maker,
            vec![sell(&usd, &Asset::Native, xlm(100), 20, 1)],
        ));
        op_fails(
            &run(&mut ledger, &maker, vec![pay(&other, &usd, xlm(1))]),
            "op_underfunded",
        );
        // Lumens promised to an offer. The seller will have 2 subentries (2 XLM reserve) and
        // pays 100 stroops of fee first; it sells whole lumens, all it can, at 1/10 USD each.
        let seller = fund(&mut ledger);
        trust(&mut ledger, &seller, &usd);
        let available = balance(&ledger, &seller) - 100 - 4 * BASE_RESERVE;
        let amount = available - available % 10_000_000;
        ok(&run(
            &mut ledger,
            &seller,
            vec![sell(
                &Asset::Native,
                &usd,
                Amount::from_stroops(amount).unwrap(),
                1,
                10,
            )],
        ));
        let account = ledger.account(&seller.public_key()).unwrap();
        assert_eq!(account.selling_liabilities, amount);
        assert!(account.available() < stroops(xlm(1)));
        op_fails(
            &run(
                &mut ledger,
                &seller,
                vec![pay(&other, &Asset::Native, xlm(1))],
            ),
            "op_underfunded",
        );
        // What is left above reserve and liabilities (after this transaction's fee) can go.
        let left = ledger.account(&seller.public_key()).unwrap().available() - 100;
        let before = balance(&ledger, &other);
        ok(&run(
            &mut ledger,
            &seller,
            vec![pay(
                &other,
                &Asset::Native,
                Amount::from_stroops(left).unwrap(),
            )],
        ));
        assert_eq!(balance(&ledger, &other), before + left);
        // Buying liabilities take room under the limit: the offer may buy amount / 10 USD.
        let usd_line = line(&ledger, &seller, &usd);
        assert_eq!(usd_line.buying_liabilities, amount / 10);
        let room = usd_line.max_receive();
        assert_eq!(room, stroops(xlm(1_000_000)) - amount / 10);
        op_fails(
            &run(
                &mut ledger,
                &issuer,
                vec![pay(&seller, &usd, Amount::from_stroops(room + 1).unwrap())],
            ),
            "op_line_full",
        );
        // The limit cannot drop below balance + buying liabilities.
        op_fails(
            &run(
                &mut ledger,
                &seller,
                vec![Operation::change_trust(&usd, xlm(1))],
            ),
            "op_invalid_limit",
        );
    }

    #[test]
    fn an_offer_needs_a_reserve() {
        let mut ledger = ledger();
        let (issuer, _, usd) = issued(&mut ledger, 0);
        let funder = fund(&mut ledger);
        let poor = KeyPair::random();
        ok(&run(
            &mut ledger,
            &funder,
            vec![Operation::create_account(poor.public_key(), xlm(2))],
        ));
        trust(&mut ledger, &poor, &usd);
        // 2 XLM − fees, reserve 1.5 XLM: less than one more base reserve available.
        op_fails(
            &run(
                &mut ledger,
                &poor,
                vec![sell(
                    &Asset::Native,
                    &usd,
                    Amount::from_stroops(1_000_000).unwrap(),
                    1,
                    1,
                )],
            ),
            "op_low_reserve",
        );
        assert_eq!(ledger.offers().count(), 0);
        let _ = issuer;
    }

    #[test]
    fn crossing_ones_own_offer_is_cross_self() {
        let mut ledger = ledger();
        let (issuer, maker, usd) = issued(&mut ledger, 0);
        let bob = fund(&mut ledger);
        trust(&mut ledger, &bob, &usd);
        ok(&run(
            &mut ledger,
            &issuer,
            vec![pay(&maker, &usd, xlm(100))],
        ));
        ok(&run(
            &mut ledger,
            &maker,
            vec![sell(&usd, &Asset::Native, xlm(10), 2, 1)],
        ));
        op_fails(
            &run(
                &mut ledger,
                &maker,
                vec![sell(&Asset::Native, &usd, xlm(20), 1, 2)],
            ),
            "op_cross_self",
        );
        // A path payment through one's own offer, too.
        let through_self = Operation::path_payment_strict_send(
            &Asset::Native,
            xlm(2),
            addr(&bob),
            &usd,
            Amount::from_stroops(1).unwrap(),
            &[],
        )
        .unwrap();
        op_fails(
            &run(&mut ledger, &maker, vec![through_self]),
            "op_cross_self",
        );
        assert_eq!(ledger.offers().count(), 1);
        assert_eq!(offers_of(&ledger, &maker)[0].amount, stroops(xlm(10)));
    }

    #[test]
    fn revoking_authorization_removes_offers() {
        let mut ledger = ledger();
        let (issuer, maker, usd) =
            issued(&mut ledger, flags::AUTH_REQUIRED | flags::AUTH_REVOCABLE);
        let authorize =
            |flag: u32| Operation::allow_trust(maker.public_key(), "USD", flag).unwrap();
        ok(&run(&mut ledger, &issuer, vec![authorize(1)]));
        ok(&run(
            &mut ledger,
            &issuer,
            vec![pay(&maker, &usd, xlm(100))],
        ));
        ok(&run(
            &mut ledger,
            &maker,
            vec![sell(&usd, &Asset::Native, xlm(10), 2, 1)],
        ));
        let subentries = ledger.account(&maker.public_key()).unwrap().num_subentries;
        ok(&run(&mut ledger, &issuer, vec![authorize(0)]));
        assert_eq!(ledger.offers().count(), 0);
        let account = ledger.account(&maker.public_key()).unwrap();
        assert_eq!(account.num_subentries, subentries - 1);
        assert_eq!(account.buying_liabilities, 0);
        assert_eq!(line(&ledger, &maker, &usd).selling_liabilities, 0);
    }
}
