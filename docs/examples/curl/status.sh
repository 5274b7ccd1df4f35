#!/usr/bin/env bash
# Read a message and the status of each of its dispatches: ./status.sh <messageId>
# Prints the API's JSON answer (data[0].dispatches[].status); errors go to stderr, exit 1.
set -euo pipefail
source "$(dirname "$0")/_demo.sh"
MESSAGE_ID="${1:?usage: status.sh MESSAGE_ID}"
answer="$(mktemp)"; trap 'rm -f "$answer"' EXIT

status=$(curl --silent --show-error --output "$answer" --write-out '%{http_code}' \
  "$API_URL/v2.1/push/$MESSAGE_ID" \
  -H "Authorization: $API_SECRET" \
  -H "Application-Key: $APP_KEY") \
  || pushflow_unreachable
pushflow_answer "$status" "$answer"
