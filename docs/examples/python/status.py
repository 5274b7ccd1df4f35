"""Read a message and each dispatch's status: python status.py <messageId>

Prints the API's JSON answer (data[0].dispatches[].status).
"""

from __future__ import annotations

import json
import sys
import urllib.parse

from _demo import call


def status(message_id: str) -> dict[str, object]:
    return call("GET", f"/v2.1/push/{urllib.parse.quote(message_id, safe='')}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: status.py MESSAGE_ID")
    print(json.dumps(status(sys.argv[1])))
