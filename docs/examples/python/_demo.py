"""API URL and credentials: from the environment, or from the demo.json `make up` writes."""

from __future__ import annotations

import json
import os
from pathlib import Path


def settings() -> tuple[str, str, str]:
    """(api_url, application_key, secret)."""
    demo_path = Path(os.environ.get("PUSHFLOW_DEMO", ".pushflow/demo.json"))
    demo = json.loads(demo_path.read_text()) if demo_path.exists() else {}
    return (
        os.environ.get("PUSHFLOW_API_URL", demo.get("apiUrl", "http://127.0.0.1:8080")),
        os.environ.get("PUSHFLOW_APP_KEY", demo.get("applicationKey", "")),
        os.environ.get("PUSHFLOW_SECRET", demo.get("secret", "")),
    )
