"""Concurrent lookups of one key share a single load."""

from __future__ import annotations

import asyncio

import pytest

from headrace.single_flight import SingleFlight


async def test_concurrent_callers_share_one_load() -> None:
    flights: SingleFlight[int] = SingleFlight()
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return 42

    results = await asyncio.gather(*(flights.do("k", load) for _ in range(20)))
    assert results == [42] * 20 and calls == 1
    assert await flights.do("k", load) == 42 and calls == 2  # nothing cached between flights


async def test_failure_reaches_every_waiter_and_is_not_remembered() -> None:
    flights: SingleFlight[int] = SingleFlight()

    async def boom() -> int:
        await asyncio.sleep(0.01)
        raise ValueError("no")

    outcomes = await asyncio.gather(
        *(flights.do("k", boom) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(o, ValueError) for o in outcomes)

    async def ok() -> int:
        return 1

    assert await flights.do("k", ok) == 1


async def test_different_keys_load_separately() -> None:
    flights: SingleFlight[str] = SingleFlight()

    async def load(key: str) -> str:
        await asyncio.sleep(0.01)
        return key

    assert await asyncio.gather(
        flights.do("a", lambda: load("a")), flights.do("b", lambda: load("b"))
    ) == ["a", "b"]
    with pytest.raises(KeyError):
        await flights.do("c", lambda: _raise_key())


async def _raise_key() -> str:
    raise KeyError("c")
