"""Host spellings that lead to this machine: the cases both the save-time URL check
(tests/domain/webhooks/test_urls.py) and the sender's connect-time check
(tests/workers/webhooks/test_addresses.py) must refuse."""

from __future__ import annotations

import ipaddress
import socket

from shared.addresses import blocked_reason

# Hosts the HTTP client turns into a loopback address (yarl's IDNA/UTS46 mapping, or the
# resolver reading a numeric IPv4 form); none passed the intake's old literal check.
LOOPBACK_SPELLINGS = [
    "\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11",  # full-width digits and dots
    "127\u30020\u30020\u30021",  # ideographic full stops
    "\u2460\u2461\u2466.0.0.1",  # circled digits
    "\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54",  # full-width "localhost"
    "2130706433", "0x7f.1", "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]", "127.0.0.1",
]


def local_name() -> str | None:
    """This machine's host name when it resolves to a non-public address only (a name, not a
    literal, so only DNS tells the sender where it points)."""
    name = socket.gethostname()
    try:
        infos = socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)
    except OSError:
        return None
    addresses = {ipaddress.ip_address(i[4][0]) for i in infos}
    return name if addresses and all(blocked_reason(a) for a in addresses) else None
