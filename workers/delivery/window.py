"""The send window: at most ``size`` sends on the wire, and the next ready send starts the moment
one finishes.

Ready sends (taken, checked against the guard and the rate budget) wait in a FIFO; up to ``size``
senders each send one after another until the FIFO is empty. So a finished send is followed at
once by the next, on the same task: no Redis round trip (the take, the guard read), no new task
and no consumer wake-up between them. The consumer takes ahead of the window (runtime.py), so
the FIFO is refilled before it runs dry and the window stays full (bench/delivery.py measures
how full: its "fill").

Everything waiting here is in the worker's in-flight hash like the sends themselves: at a stop
the senders take no more (``accepting`` false) and what is left goes back to the queue with the
rest of the hash (``ReliableQueue.restore_own``); after a crash the sweep requeues it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class SendWindow(Generic[T]):
    def __init__(
        self,
        size: int,
        send: Callable[[T], Coroutine[Any, Any, None]],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        accepting: Callable[[], bool],
    ) -> None:
        self.size = size
        self._send = send  # must not raise: it settles its own failures
        self._spawn = spawn
        self._accepting = accepting
        self._ready: deque[T] = deque()
        self.sending = 0  # senders running, each with one send on the wire

    def add(self, items: list[T]) -> None:
        """Queue ready sends and start senders while the window has room."""
        self._ready.extend(items)
        while self._ready and self.sending < self.size:
            self.sending += 1
            self._spawn(self._sender())

    @property
    def waiting(self) -> int:
        return len(self._ready)

    async def _sender(self) -> None:
        try:
            while self._ready and self._accepting():
                await self._send(self._ready.popleft())
                # One loop turn before the next send: the other answers of the same read settle
                # first, and their early guard write (committer.py) leaves before the turn's new
                # sends are built. Without it that write waited behind every sender's next send
                # (a few ms of CPU each), which on a loaded machine left answered sends without
                # a guard for more than the 0.25 s a worker kill may repeat (docs/delivery.md).
                await asyncio.sleep(0)
        finally:
            self.sending -= 1
