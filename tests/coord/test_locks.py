"""Named locks of both coordination backends, and waiting for them."""

from __future__ import annotations

import asyncio

import pytest

from headrace.coord.base import RunRegistry
from headrace.coord.locks import held

Workers = tuple[RunRegistry, RunRegistry]


async def test_lock_excludes_other_workers_until_released(workers: Workers) -> None:
    one, two = workers
    assert await one.try_lock("conv-1", "a", ttl=30)
    assert await one.try_lock("conv-1", "a", ttl=30)  # re-entrant for the same token
    assert not await two.try_lock("conv-1", "b", ttl=30)
    await two.unlock("conv-1", "b")  # not the holder: no effect
    assert not await two.try_lock("conv-1", "b", ttl=30)
    await one.unlock("conv-1", "a")
    assert await two.try_lock("conv-1", "b", ttl=30)
    await two.unlock("conv-1", "b")


async def test_expired_lock_can_be_taken(workers: Workers) -> None:
    one, two = workers
    assert await one.try_lock("conv-2", "a", ttl=0.05)
    await asyncio.sleep(0.2)
    assert await two.try_lock("conv-2", "b", ttl=30)
    await two.unlock("conv-2", "b")


async def test_holder_renews_its_lock(workers: Workers) -> None:
    one, two = workers
    assert await one.try_lock("conv-5", "a", ttl=0.2)
    for _ in range(3):  # renewed before it lapses, it outlives its first ttl
        await asyncio.sleep(0.1)
        assert await one.try_lock("conv-5", "a", ttl=0.2)
    assert not await two.try_lock("conv-5", "b", ttl=30)
    await asyncio.sleep(0.4)  # not renewed: it lapses
    assert await two.try_lock("conv-5", "b", ttl=30)
    await two.unlock("conv-5", "b")


async def test_held_serialises_critical_sections(workers: Workers) -> None:
    one, two = workers
    inside = 0
    peak = 0

    async def section(registry: RunRegistry) -> None:
        nonlocal inside, peak
        async with held(registry, "conv-3", ttl=30, wait=10):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.05)
            inside -= 1

    await asyncio.gather(*(section(one if i % 2 else two) for i in range(6)))
    assert peak == 1


async def test_held_times_out(workers: Workers) -> None:
    one, two = workers
    assert await one.try_lock("conv-4", "a", ttl=30)
    with pytest.raises(TimeoutError):
        async with held(two, "conv-4", ttl=30, wait=0.1):
            pass
    await one.unlock("conv-4", "a")
