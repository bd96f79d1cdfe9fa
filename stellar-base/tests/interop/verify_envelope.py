"""Checks an envelope we built with the official Python SDK: it decodes, its hash matches ours,
and every signature verifies against the source account's key.

usage: verify_envelope.py PASSPHRASE ENVELOPE_XDR EXPECTED_HASH_HEX SIGNER_G...
"""
import sys

from stellar_sdk import Keypair, parse_transaction_envelope_from_xdr

passphrase, xdr, expected_hash, signer = sys.argv[1:5]
envelope = parse_transaction_envelope_from_xdr(xdr, passphrase)
assert envelope.hash_hex() == expected_hash, (envelope.hash_hex(), expected_hash)
keypair = Keypair.from_public_key(signer)
assert len(envelope.signatures) == 1
keypair.verify(envelope.hash(), envelope.signatures[0].signature)  # raises if invalid
tx = envelope.transaction
print(f"ok: {len(tx.operations)} operations, memo {type(tx.memo).__name__}, seq {tx.sequence}")
