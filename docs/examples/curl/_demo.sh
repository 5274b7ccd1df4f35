# Sourced by the other scripts (and by you: `source docs/examples/curl/_demo.sh`). Needs bash,
# curl and python3 (to read JSON). Sets API_URL, APP_KEY and API_SECRET: from PUSHFLOW_API_URL,
# PUSHFLOW_APP_KEY and PUSHFLOW_SECRET when set, else from the demo.json `make up` writes, found
# as ../README.md says. Defines pushflow_answer and pushflow_unreachable for the scripts.

_pushflow_demo_file() {
  if [ -n "${PUSHFLOW_DEMO:-}" ]; then echo "$PUSHFLOW_DEMO"; return; fi
  if [ -n "${PUSHFLOW_DATA_DIR:-}" ]; then echo "$PUSHFLOW_DATA_DIR/demo.json"; return; fi
  local start dir
  for start in "$PWD" "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; do
    dir="$start"
    while :; do
      if [ -f "$dir/.pushflow/demo.json" ]; then echo "$dir/.pushflow/demo.json"; return; fi
      [ "$dir" = / ] && break
      dir="$(dirname "$dir")"
    done
  done
}

_pushflow_load() {
  local demo demo_url="" demo_key="" demo_secret=""
  demo="$(_pushflow_demo_file)"
  if [ -n "$demo" ]; then
    if [ ! -f "$demo" ]; then echo "$demo does not exist" >&2; return 2; fi
    { read -r demo_url; read -r demo_key; read -r demo_secret; } < <(python3 -c '
import json, sys
demo = json.load(open(sys.argv[1]))
print(demo.get("apiUrl", "")); print(demo.get("applicationKey", "")); print(demo.get("secret", ""))
' "$demo")
  fi
  API_URL="${PUSHFLOW_API_URL:-${demo_url:-http://127.0.0.1:8080}}"
  APP_KEY="${PUSHFLOW_APP_KEY:-$demo_key}"
  API_SECRET="${PUSHFLOW_SECRET:-$demo_secret}"
  if [ -z "$APP_KEY" ] || [ -z "$API_SECRET" ]; then
    echo "No API key: run \`make up\` (it writes .pushflow/demo.json), or set PUSHFLOW_APP_KEY" \
      "and PUSHFLOW_SECRET (and PUSHFLOW_API_URL)." >&2
    return 2
  fi
}

# pushflow_answer STATUS FILE: print the answer curl saved in FILE (`-o FILE -w '%{http_code}'`)
# when STATUS is 2xx; otherwise print its errors readably on stderr and exit 1.
pushflow_answer() {
  if [ "${1:0:1}" = 2 ]; then cat "$2"; echo; return 0; fi
  python3 - "$1" "$2" >&2 <<'PY'
import json, sys
status, path = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8", errors="replace").read()
try:
    envelope = json.loads(text)
except ValueError:
    sys.exit(print(f"HTTP {status}: {text[:500]}"))
for error in envelope.get("errors", []):
    parameter = (error.get("meta") or {}).get("parameter")
    where = f" (parameter {parameter})" if parameter else ""
    print(f"HTTP {status} {error['code']}: {error['message']}{where}")
print(f"request id {envelope.get('meta', {}).get('uniqId')}")
PY
  exit 1
}

pushflow_unreachable() {
  echo "Cannot reach the API at $API_URL: is \`make up\` running?" >&2
  exit 1
}

_pushflow_load
