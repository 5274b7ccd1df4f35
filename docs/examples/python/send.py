"""Send a transactional push: python send.py <device token> [<device token> ...]

Standard library only. Prints the API's JSON answer (202: data[0].messageId and one dispatch
per token; tokens it refused are listed in "errors").
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
import uuid

from _demo import settings


def send(tokens: list[str]) -> dict[str, object]:
    api_url, app_key, secret = settings()
    body = {"device_tokens": tokens, "title": "Your code", "content": "123456 is your code",
            "externalId": "example-2fa", "priority": "high"}
    request = urllib.request.Request(
        f"{api_url}/v2.1/push", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": secret, "Application-Key": app_key,
                 "Content-Type": "application/json",
                 # Safe to retry: the same key and body within 24 h sends nothing twice.
                 "Idempotency-Key": str(uuid.uuid4())},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.load(response))
    except urllib.error.HTTPError as error:  # 4xx/5xx still carry the envelope
        envelope = json.load(error)
        for item in envelope.get("errors", []):
            print(f"{item['code']}: {item['message']}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit("usage: send.py DEVICE_TOKEN [DEVICE_TOKEN ...]")
    print(json.dumps(send(sys.argv[1:])))
