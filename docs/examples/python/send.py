"""Send a transactional push: python send.py <device token> [<device token> ...]

Standard library only; runs from any directory. Prints the API's JSON answer (202:
data[0].messageId and one dispatch per token; tokens it refused are listed in "errors").
"""

from __future__ import annotations

import json
import sys
import uuid

from _demo import call


def send(tokens: list[str]) -> dict[str, object]:
    body = {"device_tokens": tokens, "title": "Your code", "content": "123456 is your code",
            "externalId": "example-2fa", "priority": "high"}
    # Safe to retry: the same key and body within 24 h sends nothing twice.
    return call("POST", "/v2.1/push", body, {"Idempotency-Key": str(uuid.uuid4())})


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit("usage: send.py DEVICE_TOKEN [DEVICE_TOKEN ...]")
    print(json.dumps(send(sys.argv[1:])))
