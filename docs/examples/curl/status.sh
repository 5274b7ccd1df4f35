#!/usr/bin/env bash
# Read a message and the status of each of its dispatches: ./status.sh <messageId>
set -euo pipefail
source "$(dirname "$0")/_demo.sh"
MESSAGE_ID="${1:?usage: status.sh MESSAGE_ID}"

curl --silent --show-error --fail-with-body \
  "$API_URL/v2.1/push/$MESSAGE_ID" \
  -H "Authorization: $API_SECRET" \
  -H "Application-Key: $APP_KEY"
echo
