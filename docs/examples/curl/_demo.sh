# Sourced by the other scripts: API URL and credentials from the environment, or from the
# demo.json that `make up` writes (PUSHFLOW_DEMO, default .pushflow/demo.json).
DEMO="${PUSHFLOW_DEMO:-.pushflow/demo.json}"
demo_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$DEMO" "$1"; }
API_URL="${PUSHFLOW_API_URL:-$(demo_field apiUrl)}"
APP_KEY="${PUSHFLOW_APP_KEY:-$(demo_field applicationKey)}"
API_SECRET="${PUSHFLOW_SECRET:-$(demo_field secret)}"
