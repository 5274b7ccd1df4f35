#!/usr/bin/env bash
# Send a transactional push to one device token: ./send.sh <device token>
set -euo pipefail
source "$(dirname "$0")/_demo.sh"
TOKEN="${1:?usage: send.sh DEVICE_TOKEN}"

curl --silent --show-error --fail-with-body \
  -X POST "$API_URL/v2.1/push" \
  -H "Authorization: $API_SECRET" \
  -H "Application-Key: $APP_KEY" \
  -H "Content-Type: application/json" \
  -H "Idempotency-Key: $(python3 -c 'import uuid; print(uuid.uuid4())')" \
  -d "{\"device_tokens\": [\"$TOKEN\"], \"title\": \"Your code\", \"content\": \"123456 is your code\", \"externalId\": \"example-2fa\"}"
echo
