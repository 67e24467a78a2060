"""Behaviour of both `RunRegistry` backends, plus backend-specific expiry and Redis layout."""

from __future__ import annotations

import asyncio
import time

import pytest

from headrace.coord.base import RunRegistry
from headrace.coord.factory import make_registry
from headrace.coord.memory import MemoryRunRegistry
from headrace.coord.redis import RedisRunRegistry

from .conftest import RedisFactory

Workers = tuple[RunRegistry, RunRegistry]


# --- runs, owners and stops (both backends) ----------------------------------------------


async def test_register_records_owner(registry: RunRegistry) -> None:
    assert await registry.owner("t1") is None
    flag = await registry.register("t1", "alice")
    assert not flag.is_set()
    assert await registry.owner("t1") == "alice"
    assert await registry.owner("t2") is None


async def test_owner_visible_from_other_worker(workers: Workers) -> None:
    a, b = workers
    await a.register("t1", "alice")
    assert await b.owner("t1") == "alice"


async def test_stop_after_register_sets_flag_across_workers(workers: Workers) -> None:
    a, b = workers
    flag = await a.register("t1", "alice")
    other = await a.register("t2", "bob")
    await b.request_stop("t1")
    await asyncio.wait_for(flag.wait(), timeout=2)
    assert flag.is_set()
    await asyncio.sleep(0.05)
    assert not other.is_set()


async def test_stop_before_register_starts_stopped(workers: Workers) -> None:
    a, b = workers
    await b.request_stop("t1")
    flag = await a.register("t1", "alice")
    assert flag.is_set()
    assert not (await a.register("t2", "alice")).is_set()


async def test_stop_on_own_worker_sets_flag_immediately(registry: RunRegistry) -> None:
    flag = await registry.register("t1", "alice")
    await registry.request_stop("t1")
    assert flag.is_set()


async def test_finish_keeps_owner_and_log(workers: Workers) -> None:
    a, b = workers
    flag = await a.register("t1", "alice")
    await a.append("t1", b"one")
    await a.finish("t1")
    await b.request_stop("t1")  # a stop for a finished run is harmless
    assert await a.owner("t1") == "alice"
    assert await b.read("t1") == [(1, b"one")]
    await asyncio.sleep(0.1)
    assert not flag.is_set()  # the finished run's flag was forgotten


# --- event logs (both backends) -------------------------------------------------------------


async def test_append_read_in_order_with_after(registry: RunRegistry) -> None:
    await registry.register("t1", "alice")
    frames = [f"event {i}".encode() for i in range(5)]
    for frame in frames:
        await registry.append("t1", frame)
    everything = await registry.read("t1")
    assert everything == list(enumerate(frames, 1))
    assert await registry.read("t1", after=3) == [(4, frames[3]), (5, frames[4])]
    assert await registry.read("t1", after=5) == []
    assert await registry.read("t1", after=99) == []
    assert await registry.read("t1", after=-3) == everything


async def test_read_is_incremental(registry: RunRegistry) -> None:
    await registry.register("t1", "alice")
    seen: list[tuple[int, bytes]] = []
    for i in range(1, 7):
        await registry.append("t1", str(i).encode())
        if i % 2 == 0:
            seen += await registry.read("t1", after=seen[-1][0] if seen else 0)
    assert seen == [(i, str(i).encode()) for i in range(1, 7)]


async def test_logs_are_per_task(registry: RunRegistry) -> None:
    await registry.register("t1", "alice")
    await registry.register("t2", "bob")
    await registry.append("t1", b"a1")
    await registry.append("t2", b"b1")
    await registry.append("t1", b"a2")
    assert await registry.read("t1") == [(1, b"a1"), (2, b"a2")]
    assert await registry.read("t2") == [(1, b"b1")]
    assert await registry.read("unknown") == []


async def test_read_after_finish_from_other_worker(workers: Workers) -> None:
    a, b = workers
    await a.register("t1", "alice")
    for i in range(100):
        await a.append("t1", b"%d" % i)
    await a.finish("t1")
    assert await b.read("t1") == [(i + 1, b"%d" % i) for i in range(100)]
    assert await b.read("t1", after=98) == [(99, b"98"), (100, b"99")]


async def test_concurrent_writers_and_readers_keep_order(registry: RunRegistry) -> None:
    tasks = [f"t{i}" for i in range(20)]
    for task_id in tasks:
        await registry.register(task_id, "alice")

    async def write(task_id: str) -> None:
        for i in range(50):
            await registry.append(task_id, f"{task_id}:{i}".encode())
            if i % 10 == 0:
                await asyncio.sleep(0)

    async def follow(task_id: str) -> list[tuple[int, bytes]]:
        got: list[tuple[int, bytes]] = []
        while len(got) < 50:
            got += await registry.read(task_id, after=len(got))
            await asyncio.sleep(0.001)
        return got

    results = await asyncio.gather(*(write(t) for t in tasks), *(follow(t) for t in tasks))
    for task_id, got in zip(tasks, results[len(tasks) :], strict=True):
        assert got == [(i + 1, f"{task_id}:{i}".encode()) for i in range(50)]


# --- concurrency slots (both backends) ------------------------------------------------------


async def test_slot_limit_and_release(registry: RunRegistry) -> None:
    assert await registry.acquire_slot("app", "r1", 2)
    assert await registry.acquire_slot("app", "r2", 2)
    assert not await registry.acquire_slot("app", "r3", 2)
    assert await registry.acquire_slot("other-app", "r3", 2)  # limits are per app
    await registry.release_slot("app", "r1")
    assert await registry.acquire_slot("app", "r3", 2)
    assert not await registry.acquire_slot("app", "r4", 2)


async def test_release_is_idempotent(registry: RunRegistry) -> None:
    assert await registry.acquire_slot("app", "r1", 1)
    await registry.release_slot("app", "r1")
    await registry.release_slot("app", "r1")
    await registry.release_slot("app", "never-taken")
    await registry.release_slot("no-such-app", "r1")
    assert await registry.acquire_slot("app", "r2", 1)
    assert not await registry.acquire_slot("app", "r3", 1)


async def test_reacquire_does_not_double_count(registry: RunRegistry) -> None:
    assert await registry.acquire_slot("app", "r1", 2)
    assert await registry.acquire_slot("app", "r1", 2)
    assert await registry.acquire_slot("app", "r2", 2)
    assert not await registry.acquire_slot("app", "r3", 2)


@pytest.mark.parametrize("limit", [0, -1])
async def test_unlimited_slots(registry: RunRegistry, limit: int) -> None:
    for i in range(50):
        assert await registry.acquire_slot("app", f"r{i}", limit)
    for i in range(50):
        await registry.release_slot("app", f"r{i}")
    # unlimited acquisitions do not count against a later limit
    assert await registry.acquire_slot("app", "x", 1)
    assert not await registry.acquire_slot("app", "y", 1)


async def test_slot_limit_shared_between_workers(workers: Workers) -> None:
    a, b = workers
    assert await a.acquire_slot("app", "r1", 1)
    assert not await b.acquire_slot("app", "r2", 1)
    await b.release_slot("app", "r1")
    assert await b.acquire_slot("app", "r2", 1)
    assert not await a.acquire_slot("app", "r1", 1)


async def test_concurrent_acquires_respect_limit(workers: Workers) -> None:
    a, b = workers
    results = await asyncio.gather(
        *((a if i % 2 else b).acquire_slot("app", f"r{i}", 3) for i in range(30))
    )
    assert sum(results) == 3


# --- memory backend expiry ------------------------------------------------------------------


async def test_memory_stale_slots_are_purged() -> None:
    registry = MemoryRunRegistry(slot_ttl=0.05)
    assert await registry.acquire_slot("app", "crashed", 1)
    assert not await registry.acquire_slot("app", "r2", 1)
    await asyncio.sleep(0.1)
    assert await registry.acquire_slot("app", "r2", 1)
    assert not await registry.acquire_slot("app", "r3", 1)


async def test_memory_owner_expires() -> None:
    registry = MemoryRunRegistry(owner_ttl=0.05)
    await registry.register("t1", "alice")
    assert await registry.owner("t1") == "alice"
    await asyncio.sleep(0.1)
    assert await registry.owner("t1") is None


async def test_memory_stop_request_expires() -> None:
    registry = MemoryRunRegistry(stop_ttl=0.05)
    await registry.request_stop("t1")
    await registry.request_stop("t2")
    assert (await registry.register("t1", "alice")).is_set()
    await asyncio.sleep(0.1)
    assert not (await registry.register("t2", "alice")).is_set()


async def test_memory_log_dropped_after_finish() -> None:
    registry = MemoryRunRegistry(log_ttl=0.05)
    await registry.register("t1", "alice")
    await registry.append("t1", b"x")
    await registry.finish("t1")
    assert await registry.read("t1") == [(1, b"x")]
    await asyncio.sleep(0.1)
    assert await registry.read("t1") == []
    await registry.register("t2", "alice")  # triggers the sweep
    assert "t1" not in registry._logs


async def test_memory_sweep_reclaims_expired_runs_in_order() -> None:
    now = [0.0]
    registry = MemoryRunRegistry(owner_ttl=10, log_ttl=5, clock=lambda: now[0])
    for i in range(6):
        now[0] = float(i)
        await registry.register(f"t{i}", "alice")
        await registry.append(f"t{i}", b"x")
        await registry.finish(f"t{i}")
    now[0] = 12.5  # owners of t0..t2 (expiring at 10, 11, 12) are gone; all logs (<= 10) too
    await registry.register("late", "bob")
    assert sorted(registry._owners) == ["late", "t3", "t4", "t5"]
    assert sorted(registry._logs) == ["late"]
    assert await registry.owner("t3") == "alice"


async def test_memory_finish_detaches_flag() -> None:
    registry = MemoryRunRegistry()
    flag = await registry.register("t1", "alice")
    await registry.finish("t1")
    await registry.request_stop("t1")
    assert not flag.is_set()


# --- redis backend specifics ----------------------------------------------------------------


async def test_redis_stale_slot_is_purged(redis_factory: RedisFactory) -> None:
    registry = await redis_factory()
    key = registry.slots_key("app")
    await registry.client.hset(key, "crashed", str(int(time.time()) - 10_000))
    assert await registry.acquire_slot("app", "r1", 1)
    assert await registry.client.hkeys(key) == [b"r1"]
    started = int(await registry.client.hget(key, "r1") or 0)
    assert abs(started - time.time()) < 5
    assert 0 < await registry.client.ttl(key) <= 600


async def test_redis_key_layout_and_ttls(redis_factory: RedisFactory, redis_prefix: str) -> None:
    registry = await redis_factory()
    client = registry.client
    await registry.register("t1", "alice")
    await registry.request_stop("t9")
    await registry.append("t1", b"frame")
    await registry.finish("t1")
    assert await client.get(f"{redis_prefix}:task:t1:owner") == b"alice"
    assert 1790 <= await client.ttl(f"{redis_prefix}:task:t1:owner") <= 1800
    assert await client.exists(f"{redis_prefix}:task:t9:stop")
    assert 590 <= await client.ttl(f"{redis_prefix}:task:t9:stop") <= 600
    assert await client.lrange(f"{redis_prefix}:task:t1:events", 0, -1) == [b"frame"]
    assert 0 < await client.ttl(f"{redis_prefix}:task:t1:events") <= 1800


async def test_redis_flusher_writes_without_read(redis_factory: RedisFactory) -> None:
    registry = await redis_factory(flush_interval=0.01)
    await registry.register("t1", "alice")
    for i in range(10):
        await registry.append("t1", b"%d" % i)
    key = registry.task_key("t1", "events")
    deadline = time.monotonic() + 2
    while await registry.client.llen(key) < 10 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert await registry.client.lrange(key, 0, -1) == [b"%d" % i for i in range(10)]
    assert await registry.client.ttl(key) > 0


async def test_redis_stop_key_poll_without_pubsub(redis_factory: RedisFactory) -> None:
    registry = await redis_factory(stop_poll=0.05)
    flag = await registry.register("t1", "alice")
    # a stop whose pub/sub message was lost (e.g. during a reconnect)
    await registry.client.set(registry.task_key("t1", "stop"), b"1", ex=600)
    await asyncio.wait_for(flag.wait(), timeout=2)


async def test_redis_aclose_flushes_buffer(redis_factory: RedisFactory, redis_url: str) -> None:
    writer = await redis_factory(flush_interval=60)
    reader = await redis_factory()
    await writer.append("t1", b"late")
    await writer.aclose()
    assert await reader.read("t1") == [(1, b"late")]


async def test_redis_large_flush_is_chunked(redis_factory: RedisFactory) -> None:
    writer = await redis_factory(flush_interval=60)  # only explicit flushes
    reader = await redis_factory()
    big = [b"big-%d" % i for i in range(7000)]  # more than one chunk, > Lua unpack batch
    for frame in big:
        await writer.append("big", frame)
    for i in range(300):
        await writer.append(f"small{i}", b"s-%d" % i)
    await writer.flush()
    assert await reader.read("big") == list(enumerate(big, 1))
    assert await reader.read("small299") == [(1, b"s-299")]


async def test_redis_failed_flush_keeps_frames_in_order(
    redis_factory: RedisFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = await redis_factory(flush_interval=60)
    await registry.append("t1", b"first")

    async def broken(**_: object) -> None:
        raise ConnectionError("redis went away")

    working = registry._append_many
    monkeypatch.setattr(registry, "_append_many", broken)
    with pytest.raises(ConnectionError):
        await registry.flush()
    await registry.append("t1", b"second")
    monkeypatch.setattr(registry, "_append_many", working)
    assert await registry.read("t1") == [(1, b"first"), (2, b"second")]


# --- factory --------------------------------------------------------------------------------


async def test_factory_picks_backend(redis_url: str) -> None:
    assert isinstance(make_registry(None), MemoryRunRegistry)
    assert isinstance(make_registry(""), MemoryRunRegistry)
    registry = make_registry(redis_url)
    assert isinstance(registry, RedisRunRegistry)
    await registry.start()
    assert await registry.acquire_slot("app", "r", 0)
    await registry.aclose()
