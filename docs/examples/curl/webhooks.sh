#!/usr/bin/env bash
# Point the app's webhooks at a URL: ./webhooks.sh http://127.0.0.1:9000/
# The first call answers 201 with the signing secret (data[0].secret, whsec_...), shown once.
set -euo pipefail
source "$(dirname "$0")/_demo.sh"
URL="${1:?usage: webhooks.sh URL}"
answer="$(mktemp)"; trap 'rm -f "$answer"' EXIT

status=$(curl --silent --show-error --output "$answer" --write-out '%{http_code}' \
  -X PUT "$API_URL/v2.1/webhooks" \
  -H "Authorization: $API_SECRET" \
  -H "Application-Key: $APP_KEY" \
  -H "Content-Type: application/json" \
  -d "{\"primaryUrl\": \"$URL\", \"eventTypes\": [\"push.sent\", \"push.failed\", \"token.invalidated\"]}") \
  || pushflow_unreachable
pushflow_answer "$status" "$answer"
