#!/usr/bin/python3
"""Verifies every DKIM-Signature of the message on stdin with python3-dkim (dkimpy).

Usage: dkim_verify.py KEYS.json < message
KEYS.json maps DNS names (selector._domainkey.domain) to TXT record values, so no DNS is needed.
Prints one line per signature: "pass a=<algorithm> s=<selector>" or "fail ...". Exit 0 only if
there is at least one signature and every one verifies.
"""
import json
import re
import sys

import dkim

keys = json.load(open(sys.argv[1]))


def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    value = keys.get(name.rstrip('.').lower())
    return value.encode() if value is not None else None


message = sys.stdin.buffer.read()
headers = message.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
count = len(re.findall(rb"(?im)^dkim-signature:", headers))
ok = count > 0
for index in range(count):
    verifier = dkim.DKIM(message)
    try:
        result = verifier.verify(idx=index, dnsfunc=dnsfunc)
    except dkim.DKIMException as e:
        result = False
        print(f"error {e}", file=sys.stderr)
    tags = verifier.signature_fields if hasattr(verifier, "signature_fields") else {}
    algorithm = tags.get(b"a", b"?").decode()
    selector = tags.get(b"s", b"?").decode()
    print(f"{'pass' if result else 'fail'} a={algorithm} s={selector}")
    ok = ok and bool(result)
sys.exit(0 if ok else 1)
