"""What every example needs (standard library only): the API URL and credentials, and ``call``,
which sends one request and turns an error answer into readable lines instead of a traceback.

The credentials come from PUSHFLOW_API_URL, PUSHFLOW_APP_KEY and PUSHFLOW_SECRET when set,
else from the demo.json `make up` writes, found as ../README.md says.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def demo_file() -> Path | None:
    """The demo.json to read, or None when there is none."""
    if os.environ.get("PUSHFLOW_DEMO"):
        return Path(os.environ["PUSHFLOW_DEMO"])
    if os.environ.get("PUSHFLOW_DATA_DIR"):
        return Path(os.environ["PUSHFLOW_DATA_DIR"]) / "demo.json"
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            if (folder / ".pushflow" / "demo.json").is_file():
                return folder / ".pushflow" / "demo.json"
    return None


def settings() -> tuple[str, str, str]:
    """(api_url, application_key, secret); exits with a message when there is no key."""
    path = demo_file()
    if path is not None and not path.is_file():
        print(f"{path} does not exist", file=sys.stderr)
        raise SystemExit(2)
    demo = json.loads(path.read_text()) if path is not None else {}
    api_url = os.environ.get("PUSHFLOW_API_URL") or demo.get("apiUrl") or "http://127.0.0.1:8080"
    app_key = os.environ.get("PUSHFLOW_APP_KEY") or demo.get("applicationKey")
    secret = os.environ.get("PUSHFLOW_SECRET") or demo.get("secret")
    if not app_key or not secret:
        print("No API key: run `make up` (it writes .pushflow/demo.json), or set"
              " PUSHFLOW_APP_KEY and PUSHFLOW_SECRET (and PUSHFLOW_API_URL).", file=sys.stderr)
        raise SystemExit(2)
    return api_url, app_key, secret


def call(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
         ) -> dict[str, Any]:
    """The API's JSON answer to one request; on an error answer, prints its errors on stderr
    and exits 1."""
    api_url, app_key, secret = settings()
    request = urllib.request.Request(
        f"{api_url}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": secret, "Application-Key": app_key,
                 **({} if body is None else {"Content-Type": "application/json"}),
                 **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.load(response))
    except urllib.error.HTTPError as error:  # 4xx/5xx still carry the envelope
        report(error.code, error.read())
    except urllib.error.URLError as error:
        print(f"Cannot reach the API at {api_url} ({error.reason}): is `make up` running?",
              file=sys.stderr)
    raise SystemExit(1)


def report(status: int, raw: bytes) -> None:
    try:
        envelope = json.loads(raw)
    except ValueError:
        print(f"HTTP {status}: {raw[:500].decode(errors='replace')}", file=sys.stderr)
        return
    for error in envelope.get("errors", []):
        parameter = (error.get("meta") or {}).get("parameter")
        where = f" (parameter {parameter})" if parameter else ""
        print(f"HTTP {status} {error['code']}: {error['message']}{where}", file=sys.stderr)
    print(f"request id {envelope.get('meta', {}).get('uniqId')}", file=sys.stderr)
