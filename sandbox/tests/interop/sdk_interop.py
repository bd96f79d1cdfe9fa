"""Drives a running sandbox with the official Stellar Python SDK (stellar-sdk==16.1.1).

Usage: python3 sdk_interop.py HORIZON_URL [PASSPHRASE]

Funds accounts with friendbot, loads an account, submits a payment and trustline changes,
reads result_codes from a failed submission, and streams payments with the SDK's own
`.stream()`. Then stellar-core's admission rules through `Server.submit_transaction_async`
(PENDING, DUPLICATE, TRY_AGAIN_LATER for a second transaction from the same source, ERROR for a
fee bump under 10x) and a fee bump built by `TransactionBuilder.build_fee_bump_transaction`
replacing the queued transaction at 10x its fee per operation, and `Server.fee_stats`. Prints
"INTEROP OK" and exits 0 when everything behaves as on a real network.
"""

import json
import sys
import threading
import time

import requests
from stellar_sdk import Asset, Keypair, MuxedAccount, Network, Server, TransactionBuilder
from stellar_sdk import xdr as stellar_xdr
from stellar_sdk.exceptions import BadRequestError, BadResponseError, NotFoundError


def pause_closing(url: str, paused: bool) -> None:
    fault = {"fault": "pause_closing", "paused": paused}
    response = requests.post(f"{url}/_sandbox/faults", json=fault, timeout=30)
    assert response.status_code == 200, response.text


def wait_for_transaction(server: Server, tx_hash: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        try:
            return server.transactions().transaction(tx_hash).call()
        except NotFoundError:
            assert time.monotonic() < deadline, f"{tx_hash} was never included"
            time.sleep(0.05)


def async_submission_and_fee_bump(server: Server, url: str, passphrase: str, to: str) -> None:
    """stellar-core's queue through the SDK's asynchronous submission."""
    carol, sponsor = Keypair.random(), Keypair.random()
    for key in (carol, sponsor):
        response = requests.get(f"{url}/friendbot", params={"addr": key.public_key}, timeout=30)
        assert response.status_code == 200, response.text
    # Nothing leaves the queue until the checks below are done.
    pause_closing(url, True)
    account = server.load_account(carol.public_key)

    def payment() -> TransactionBuilder:
        return (
            TransactionBuilder(account, passphrase, base_fee=100)
            .append_payment_op(to, Asset.native(), "1")
            .set_timeout(60)
        )

    first = payment().build()
    first.sign(carol)
    answer = server.submit_transaction_async(first)
    assert answer["tx_status"] == "PENDING", answer
    assert answer["hash"] == first.hash_hex(), answer

    # The same envelope again: 409 DUPLICATE (the SDK raises on any 4xx).
    try:
        server.submit_transaction_async(first)
        raise AssertionError("a duplicate was accepted")
    except BadRequestError as error:
        assert error.status == 409, error.message
        body = json.loads(error.message)
        assert body["tx_status"] == "DUPLICATE" and body["hash"] == first.hash_hex(), body

    # A second transaction from the same source while the first is queued: 503
    # TRY_AGAIN_LATER. The SDK retries a 503 itself (3 times) and then raises.
    second = payment().build()
    second.sign(carol)
    try:
        server.submit_transaction_async(second)
        raise AssertionError("a second transaction from the same source was queued")
    except BadResponseError as error:
        assert error.status == 503, error.message
        body = json.loads(error.message)
        assert body["tx_status"] == "TRY_AGAIN_LATER", body
        assert body["hash"] == second.hash_hex(), body

    # A fee bump replaces the queued transaction only at 10x its fee per operation: the
    # inner one bids 100 for 1 operation, the bump counts 2 operations (inner + bump), so
    # 1 000 per operation (2 000 in all) and not a stroop less.
    short = TransactionBuilder.build_fee_bump_transaction(
        sponsor.public_key, 999, first, passphrase
    )
    short.sign(sponsor)
    assert short.transaction.fee == 1998, short.transaction.fee
    try:
        server.submit_transaction_async(short)
        raise AssertionError("a fee bump under 10x replaced the queued transaction")
    except BadRequestError as error:
        assert error.status == 400, error.message
        body = json.loads(error.message)
        assert body["tx_status"] == "ERROR", body
        result = stellar_xdr.TransactionResult.from_xdr(body["error_result_xdr"])
        assert result.result.code == stellar_xdr.TransactionResultCode.txINSUFFICIENT_FEE, body
        assert result.fee_charged.int64 == 2000, "the fee that would replace it"
    bump = TransactionBuilder.build_fee_bump_transaction(
        sponsor.public_key, 1000, first, passphrase
    )
    bump.sign(sponsor)
    assert bump.transaction.fee == 2000, bump.transaction.fee
    answer = server.submit_transaction_async(bump)
    assert answer["tx_status"] == "PENDING", answer
    assert answer["hash"] == bump.hash_hex(), answer
    # The bump is now the queued transaction: it and its inner envelope are duplicates.
    for envelope in (bump, first):
        try:
            server.submit_transaction_async(envelope)
            raise AssertionError("a duplicate was accepted")
        except BadRequestError as error:
            assert json.loads(error.message)["tx_status"] == "DUPLICATE", error.message

    pause_closing(url, False)
    included = wait_for_transaction(server, bump.hash_hex())
    assert included["successful"] is True, included
    assert included["fee_account"] == sponsor.public_key, included
    assert included["inner_transaction"]["hash"] == first.hash_hex(), included
    assert included["max_fee"] == "2000", included
    # No surge: the base fee for two operations, paid by the sponsor, not carol.
    assert included["fee_charged"] == "200", included
    assert server.load_account(carol.public_key).sequence == first.transaction.sequence
    # The second transaction was never queued: nothing under its hash.
    try:
        server.transactions().transaction(second.hash_hex()).call()
        raise AssertionError("the refused transaction was included")
    except NotFoundError:
        pass

    # Fee statistics through the SDK: Horizon's shape, every figure a string.
    stats = server.fee_stats().call()
    assert stats["last_ledger_base_fee"] == "100", stats
    assert int(stats["last_ledger"]) >= int(included["ledger"]), stats
    float(stats["ledger_capacity_usage"])
    for name in ("fee_charged", "max_fee"):
        for key in ("min", "max", "mode", "p10", "p50", "p95", "p99"):
            assert int(stats[name][key]) >= 100, stats


def main() -> None:
    url = sys.argv[1].rstrip("/")
    passphrase = sys.argv[2] if len(sys.argv) > 2 else Network.STANDALONE_NETWORK_PASSPHRASE
    server = Server(horizon_url=url)

    alice, bob, issuer = Keypair.random(), Keypair.random(), Keypair.random()
    for key in (alice, bob, issuer):
        response = requests.get(f"{url}/friendbot", params={"addr": key.public_key}, timeout=30)
        assert response.status_code == 200, response.text

    account = server.load_account(alice.public_key)
    assert account.sequence > 0, account.sequence
    details = server.accounts().account_id(alice.public_key).call()
    native = [b for b in details["balances"] if b["asset_type"] == "native"][0]
    assert native["balance"] == "10000.0000000", native

    # Stream bob's payments with the SDK's own streaming, from now on.
    received = []
    done = threading.Event()

    second = threading.Event()

    def listen() -> None:
        stream = server.payments().for_account(bob.public_key).cursor("now").stream()
        for payment in stream:
            if payment["type"] != "payment":
                continue
            received.append(payment)
            if len(received) == 1:
                done.set()
            else:
                second.set()
                return

    threading.Thread(target=listen, daemon=True).start()

    # A payment.
    tx = (
        TransactionBuilder(account, passphrase, base_fee=100)
        .append_payment_op(bob.public_key, Asset.native(), "12.5")
        .add_text_memo("interop")
        .set_timeout(60)
        .build()
    )
    tx.sign(alice)
    result = server.submit_transaction(tx)
    assert result["successful"] is True, result
    assert result["hash"] == tx.hash_hex(), result
    fetched = server.transactions().transaction(result["hash"]).call()
    assert fetched["memo"] == "interop", fetched

    assert done.wait(30), "no payment arrived on the stream"
    assert received[0]["amount"] == "12.5000000", received[0]
    assert received[0]["from"] == alice.public_key, received[0]

    # The sandbox drops every open stream; the SDK reconnects from its last cursor and gets
    # the next payment (a muxed one, fee-bumped by the issuer).
    response = requests.post(f"{url}/_sandbox/faults", json={"fault": "close_streams"}, timeout=30)
    assert response.status_code == 200, response.text
    muxed_bob = MuxedAccount(bob.public_key, 77)
    account = server.load_account(alice.public_key)
    inner = (
        TransactionBuilder(account, passphrase, base_fee=100)
        .append_payment_op(muxed_bob.account_muxed, Asset.native(), "3")
        .set_timeout(60)
        .build()
    )
    inner.sign(alice)
    bump = TransactionBuilder.build_fee_bump_transaction(issuer.public_key, 200, inner, passphrase)
    bump.sign(issuer)
    result = server.submit_transaction(bump)
    assert result["successful"] is True, result
    assert result["fee_account"] == issuer.public_key, result
    assert result["inner_transaction"]["hash"] == inner.hash_hex(), result
    assert second.wait(30), "the SDK did not get the payment after its stream was closed"
    assert received[1]["to_muxed"] == muxed_bob.account_muxed, received[1]
    assert received[1]["to_muxed_id"] == "77", received[1]

    # Trustline changes: bob trusts the issuer's asset, the issuer pays him.
    usd = Asset("USD", issuer.public_key)
    bob_account = server.load_account(bob.public_key)
    tx = (
        TransactionBuilder(bob_account, passphrase, base_fee=100)
        .append_change_trust_op(usd, limit="1000")
        .set_timeout(60)
        .build()
    )
    tx.sign(bob)
    assert server.submit_transaction(tx)["successful"] is True
    issuer_account = server.load_account(issuer.public_key)
    tx = (
        TransactionBuilder(issuer_account, passphrase, base_fee=100)
        .append_payment_op(bob.public_key, usd, "250")
        .set_timeout(60)
        .build()
    )
    tx.sign(issuer)
    assert server.submit_transaction(tx)["successful"] is True
    balances = server.accounts().account_id(bob.public_key).call()["balances"]
    usd_line = [b for b in balances if b.get("asset_code") == "USD"][0]
    assert usd_line["balance"] == "250.0000000", usd_line
    assert usd_line["limit"] == "1000.0000000", usd_line

    # A failed submission: alice has no USD trustline.
    account = server.load_account(alice.public_key)
    tx = (
        TransactionBuilder(account, passphrase, base_fee=100)
        .append_payment_op(alice.public_key, usd, "1")
        .append_payment_op(bob.public_key, usd, "1")
        .set_timeout(60)
        .build()
    )
    tx.sign(alice)
    try:
        server.submit_transaction(tx)
        raise AssertionError("the payment without trustline succeeded")
    except BadRequestError as error:
        codes = error.extras["result_codes"]
        assert codes["transaction"] == "tx_failed", codes
        assert codes["operations"] == ["op_no_trust", "op_src_no_trust"], codes
        assert error.status == 400

    # A wrong network passphrase is tx_bad_auth.
    account = server.load_account(alice.public_key)
    tx = (
        TransactionBuilder(account, Network.TESTNET_NETWORK_PASSPHRASE, base_fee=100)
        .append_payment_op(bob.public_key, Asset.native(), "1")
        .set_timeout(60)
        .build()
    )
    tx.sign(alice)
    try:
        server.submit_transaction(tx)
        raise AssertionError("a transaction signed for testnet succeeded")
    except BadRequestError as error:
        assert error.extras["result_codes"]["transaction"] == "tx_bad_auth", error.extras

    # Faults: the SDK retries a 504 on submission (the sandbox applied the transaction and
    # answers the retry from history) and a 503 on reads.
    fault = {"fault": "timeout_submissions", "count": 1}
    assert requests.post(f"{url}/_sandbox/faults", json=fault, timeout=30).status_code == 200
    account = server.load_account(alice.public_key)
    tx = (
        TransactionBuilder(account, passphrase, base_fee=100)
        .append_payment_op(bob.public_key, Asset.native(), "1")
        .set_timeout(60)
        .build()
    )
    tx.sign(alice)
    result = server.submit_transaction(tx)
    assert result["successful"] is True and result["hash"] == tx.hash_hex(), result
    fault = {"fault": "fail_requests", "status": 503, "count": 1}
    assert requests.post(f"{url}/_sandbox/faults", json=fault, timeout=30).status_code == 200
    assert server.load_account(alice.public_key).sequence == account.sequence

    # Paged payments through the SDK's call builder.
    page = server.payments().for_account(bob.public_key).order(desc=True).limit(2).call()
    kinds = [r["type"] for r in page["_embedded"]["records"]]
    assert kinds == ["payment", "payment"], kinds
    assert page["_embedded"]["records"][0]["amount"] == "1.0000000", page
    next_page = server.payments().for_account(bob.public_key).order(desc=True).limit(2).cursor(
        page["_embedded"]["records"][-1]["paging_token"]
    ).call()
    assert len(next_page["_embedded"]["records"]) == 2, next_page
    latest = server.ledgers().order(desc=True).limit(1).call()["_embedded"]["records"][0]
    assert latest["sequence"] > 1
    fee = server.fetch_base_fee()
    assert fee == 100, fee

    async_submission_and_fee_bump(server, url, passphrase, bob.public_key)

    print("INTEROP OK")


if __name__ == "__main__":
    main()
