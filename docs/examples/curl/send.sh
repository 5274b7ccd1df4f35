#!/usr/bin/env bash
# Send a transactional push to one device token: ./send.sh <device token>
# Prints the API's JSON answer (data[0].messageId); errors go to stderr, readably, exit 1.
set -euo pipefail
source "$(dirname "$0")/_demo.sh"
TOKEN="${1:?usage: send.sh DEVICE_TOKEN}"
answer="$(mktemp)"; trap 'rm -f "$answer"' EXIT

# Idempotency-Key: a retry with the same key and body within 24 h sends nothing twice.
status=$(curl --silent --show-error --output "$answer" --write-out '%{http_code}' \
  -X POST "$API_URL/v2.1/push" \
  -H "Authorization: $API_SECRET" \
  -H "Application-Key: $APP_KEY" \
  -H "Content-Type: application/json" \
  -H "Idempotency-Key: $(openssl rand -hex 16)" \
  -d "{\"device_tokens\": [\"$TOKEN\"], \"title\": \"Your code\", \"content\": \"123456 is your code\", \"externalId\": \"example-2fa\"}") \
  || pushflow_unreachable
pushflow_answer "$status" "$answer"
