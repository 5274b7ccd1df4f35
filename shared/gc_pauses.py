"""Keeping the garbage collector's full passes short in the long-running processes.

CPython's oldest generation is collected by scanning every object it tracks. A started Pushflow
process tracks 95,000-125,000 of them (the imported modules of celery, kombu, firebase-admin,
h2, pydantic, Starlette; settings; clients), and they live until the process exits. On the
2-core machine of docs/benchmarks.md one full pass over them took 56-250 ms, and under load one
came every 0.6-2 s. Nothing else runs on the event loop meanwhile: a send worker at 50
transactional pushes/s stopped for 85-250 ms every 0.7 s, which was its whole p99 (the push
taken just before the pass waited for it to send, the one after waited to be taken); the API
stopped for about 80 ms every 2 s of intake load.

``gc.freeze()`` moves every object tracked so far into a permanent generation that later passes
skip: a full pass then scans only what was created since (0.5-1.2 ms in the send worker). A
reference cycle among the frozen objects is never collected, which costs nothing here: they are
the process's startup state and live as long as it does. docs/benchmarks.md (Isolation, the
collector's pauses) has the figures.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("pushflow.gc")


def freeze_startup_objects() -> None:
    """Call once a process has started (imports done, clients and caches built), before it
    serves: later full collections skip everything that exists now."""
    gc.collect()  # what startup left as garbage is freed, not frozen
    gc.freeze()
    log.info("%d startup objects frozen out of the collector's full passes",
             gc.get_freeze_count())
