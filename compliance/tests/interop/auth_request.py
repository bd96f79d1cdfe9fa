"""Builds and signs a SEP-3 auth request with the official Python SDK, independently of our
code: the attachment, its sha256 as the hash memo, the sequence-0 transaction, and the ed25519
signature over the data JSON. Prints {"data": ..., "sig": ...}.

usage: auth_request.py SIGNING_SEED NETWORK_PASSPHRASE
"""
import base64
import hashlib
import json
import sys

from stellar_sdk import Account, Asset, Keypair, TransactionBuilder

seed, passphrase = sys.argv[1:3]
signer = Keypair.from_secret(seed)
attachment = json.dumps(
    {
        "nonce": "1700000000000000000",
        "transaction": {
            "sender_info": {"first_name": "Alice"},
            "route": "bob",
            "note": "",
            "extra": "",
        },
        "operations": None,
    },
    separators=(",", ":"),
)
source = Keypair.random()
tx = (
    TransactionBuilder(Account(source.public_key, -1), passphrase, base_fee=100)
    .add_hash_memo(hashlib.sha256(attachment.encode()).digest())
    .append_payment_op(Keypair.random().public_key, Asset.native(), "12.5")
    .set_timeout(0)
    .build()
)
data = json.dumps(
    {
        "sender": "alice*bank-a.test",
        "need_info": False,
        "tx": tx.transaction.to_xdr_object().to_xdr(),
        "attachment": attachment,
    }
)
print(json.dumps({"data": data, "sig": base64.b64encode(signer.sign(data.encode())).decode()}))
