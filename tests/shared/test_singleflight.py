"""Single flight: one load per key at a time, its result or exception shared by all waiters."""

from __future__ import annotations

import asyncio

import pytest

from shared.singleflight import SingleFlight


def test_concurrent_callers_share_one_load_per_key() -> None:
    loads: list[str] = []

    async def main() -> list[str]:
        flights: SingleFlight[str, str] = SingleFlight()

        async def load(key: str) -> str:
            loads.append(key)
            await asyncio.sleep(0.01)
            return key.upper()

        got = await asyncio.gather(*(flights.run(k, lambda k=k: load(k)) for k in "aaab"))
        assert not flights.in_flight("a")
        again = await flights.run("a", lambda: load("a"))  # finished: a new load
        return [*got, again]

    assert asyncio.run(main()) == ["A", "A", "A", "B", "A"]
    assert loads == ["a", "b", "a"]


def test_waiters_get_the_loads_exception_and_the_next_call_loads_again() -> None:
    calls = 0

    async def main() -> None:
        flights: SingleFlight[str, int] = SingleFlight()

        async def failing() -> int:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.01)
            raise OSError("down")

        results = await asyncio.gather(*(flights.run("k", failing) for _ in range(3)),
                                       return_exceptions=True)
        assert [type(r) for r in results] == [OSError] * 3
        with pytest.raises(OSError):
            await flights.run("k", failing)

    asyncio.run(main())
    assert calls == 2


def test_a_cancelled_waiter_leaves_the_load_running_for_the_others() -> None:
    async def main() -> int:
        flights: SingleFlight[str, int] = SingleFlight()
        gate = asyncio.Event()

        async def load() -> int:
            await gate.wait()
            return 7

        first = asyncio.ensure_future(flights.run("k", load))
        await asyncio.sleep(0)
        waiter = asyncio.ensure_future(flights.run("k", load))
        await asyncio.sleep(0)
        waiter.cancel()
        gate.set()
        return await first

    assert asyncio.run(main()) == 7
