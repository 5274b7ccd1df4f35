"""A ``pushflow api`` server that dies right after committing a push and before publishing it,
the crash the outbox must recover from (``tests/producer/test_processes.py``):

    python -m tests.producer.crashing_api api --port 8080

The seam is ``domain.messages.outbox.publish_messages``, the step every submission takes after
its commit; here it exits the process with ``CRASH_STATUS`` instead.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from domain.messages import outbox
from pushflow.cli.main import main

CRASH_STATUS = 17


async def _die_before_publishing(*_args: Any, **_kwargs: Any) -> None:
    os._exit(CRASH_STATUS)


if __name__ == "__main__":
    outbox.publish_messages = _die_before_publishing
    sys.exit(main(sys.argv[1:]))
