"""Resolves addresses at our federation server with the official Python SDK.

usage: resolve.py FEDERATION_URL ADDRESS ACCOUNT_ID
prints: account_id memo_type memo (for the address), then the stellar_address (for the account)
"""
import sys

from stellar_sdk.sep.federation import resolve_account_id, resolve_stellar_address

url, address, account = sys.argv[1:4]
record = resolve_stellar_address(address, federation_url=url, use_http=True)
print(record.account_id, record.memo_type, record.memo)
record = resolve_account_id(account, federation_url=url, use_http=True)
print(record.stellar_address)
