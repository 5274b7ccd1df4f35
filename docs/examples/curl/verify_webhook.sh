#!/usr/bin/env bash
# Verify a webhook by hand (Standard Webhooks, v1 = HMAC-SHA256):
#   ./verify_webhook.sh <whsec_ secret> <webhook-id> <webhook-timestamp> <webhook-signature> <body file>
# Prints "valid" and exits 0 when one of the signatures in the header matches.
set -euo pipefail
SECRET="${1#whsec_}"; MSG_ID="$2"; TIMESTAMP="$3"; SIGNATURES="$4"; BODY_FILE="$5"

KEY_HEX=$(printf '%s' "$SECRET" | base64 -d | od -An -v -tx1 | tr -d ' \n')
EXPECTED=$( { printf '%s.%s.' "$MSG_ID" "$TIMESTAMP"; cat "$BODY_FILE"; } \
  | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$KEY_HEX" -binary | base64)
for sig in $SIGNATURES; do
  if [ "$sig" = "v1,$EXPECTED" ]; then echo valid; exit 0; fi
done
echo "invalid signature" >&2
exit 1
