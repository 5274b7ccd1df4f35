"""Read a message and each dispatch's status: python status.py <messageId>"""

from __future__ import annotations

import json
import sys
import urllib.request

from _demo import settings


def status(message_id: str) -> dict[str, object]:
    api_url, app_key, secret = settings()
    request = urllib.request.Request(
        f"{api_url}/v2.1/push/{message_id}",
        headers={"Authorization": secret, "Application-Key": app_key},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.load(response))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: status.py MESSAGE_ID")
    print(json.dumps(status(sys.argv[1])))
