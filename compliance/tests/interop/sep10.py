#!/usr/bin/env python3
"""SEP-10 interop helper backed by the official Python SDK (stellar-sdk 16.1.1, as scripts/test.sh installs).

Install: python3 -m pip install stellar-sdk==16.1.1

Every invocation prints exactly one JSON line on stdout.
Exit 0 on success; exit 1 with {"error": "..."} when the SDK refuses
(InvalidSep10ChallengeError, ValueError, bad XDR, bad keys, ...);
exit 2 with {"error": "..."} on a command-line usage error.
Works fully offline: only local XDR/crypto functions of the SDK are used.

  sign   --challenge XDR --client-seed S... --server-account G... \
         --home-domain D --web-auth-domain W --network-passphrase P
         -> {"transaction": "<signed envelope>", "client_account": "G..."}
  build  --server-seed S... --client-account G... --home-domain D \
         --web-auth-domain W --network-passphrase P [--timeout 900]
         -> {"transaction": "<challenge envelope>"}
  verify --challenge XDR --server-account G... --home-domain D \
         --web-auth-domain W --network-passphrase P
         -> {"ok": true, "client_account": "G..."}
"""

import argparse
import json
import sys


def emit(obj, code):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
    sys.exit(code)


class JsonArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        emit({"error": f"usage: {message}"}, 2)

    def print_help(self, file=None):
        # keep stdout reserved for the single JSON line
        super().print_help(sys.stderr)


def cmd_build(a):
    from stellar_sdk.sep.stellar_web_authentication import build_challenge_transaction

    xdr = build_challenge_transaction(
        server_secret=a.server_seed,
        client_account_id=a.client_account,
        home_domain=a.home_domain,
        web_auth_domain=a.web_auth_domain,
        network_passphrase=a.network_passphrase,
        timeout=a.timeout,
    )
    return {"transaction": xdr}


def cmd_sign(a):
    from stellar_sdk import Keypair
    from stellar_sdk.sep.stellar_web_authentication import read_challenge_transaction

    # Verifies server signature, home domain, web_auth_domain (if present),
    # time bounds, sequence 0 and the operations.
    challenge = read_challenge_transaction(
        challenge_transaction=a.challenge,
        server_account_id=a.server_account,
        home_domains=a.home_domain,
        web_auth_domain=a.web_auth_domain,
        network_passphrase=a.network_passphrase,
    )
    envelope = challenge.transaction
    envelope.sign(Keypair.from_secret(a.client_seed))
    return {
        "transaction": envelope.to_xdr(),
        "client_account": challenge.client_account_id,
    }


def cmd_verify(a):
    from stellar_sdk.sep.stellar_web_authentication import (
        read_challenge_transaction,
        verify_challenge_transaction_signed_by_client_master_key,
    )

    challenge = read_challenge_transaction(
        challenge_transaction=a.challenge,
        server_account_id=a.server_account,
        home_domains=a.home_domain,
        web_auth_domain=a.web_auth_domain,
        network_passphrase=a.network_passphrase,
    )
    verify_challenge_transaction_signed_by_client_master_key(
        challenge_transaction=a.challenge,
        server_account_id=a.server_account,
        home_domains=a.home_domain,
        web_auth_domain=a.web_auth_domain,
        network_passphrase=a.network_passphrase,
    )
    return {"ok": True, "client_account": challenge.client_account_id}


def main(argv=None):
    p = JsonArgumentParser(prog="sep10_sdk.py", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, parser_class=JsonArgumentParser)

    def common(sp):
        sp.add_argument("--home-domain", required=True)
        sp.add_argument("--web-auth-domain", required=True)
        sp.add_argument("--network-passphrase", required=True)

    sp = sub.add_parser("sign")
    sp.add_argument("--challenge", required=True)
    sp.add_argument("--client-seed", required=True)
    sp.add_argument("--server-account", required=True)
    common(sp)
    sp.set_defaults(func=cmd_sign)

    sp = sub.add_parser("build")
    sp.add_argument("--server-seed", required=True)
    sp.add_argument("--client-account", required=True)
    sp.add_argument("--timeout", type=int, default=900)
    common(sp)
    sp.set_defaults(func=cmd_build)

    sp = sub.add_parser("verify")
    sp.add_argument("--challenge", required=True)
    sp.add_argument("--server-account", required=True)
    common(sp)
    sp.set_defaults(func=cmd_verify)

    args = p.parse_args(argv)
    try:
        result = args.func(args)
    except Exception as e:  # SDK refusal: InvalidSep10ChallengeError, ValueError, XDR errors...
        msg = str(e) or type(e).__name__
        emit({"error": msg}, 1)
    emit(result, 0)


if __name__ == "__main__":
    main()
