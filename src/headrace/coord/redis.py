"""Redis-backed `RunRegistry`, shared by every worker of a deployment.

Keys (all under `prefix`):

* `{prefix}:task:{task_id}:owner`  – owner of the run (string, EX owner TTL)
* `{prefix}:task:{task_id}:stop`   – a stop request (string, EX stop TTL)
* `{prefix}:task:{task_id}:events` – the run's event log (list; index + 1 = sequence number)
* `{prefix}:app:{app_id}:active`   – concurrency slots (hash request_id -> start epoch secs)
* channel `{prefix}:stop`          – task ids of stop requests, fanned out to every worker

Appends are buffered in process and written by a background flusher with one Lua call per tick;
`read` and `finish` flush first, so a reader in this process never misses an earlier append.
Stop requests reach runs through pub/sub, and as a safety net for lost messages (reconnects)
the listener also polls the stop keys of local unstopped runs every `stop_poll` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub

from headrace.coord.base import StopFlag

log = logging.getLogger(__name__)

OWNER_TTL = 1800
STOP_TTL = 600
LOG_TTL = 1800
SLOT_TTL = 600
_UNLOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# Take the lock, or renew it when this token already holds it. Returns 1 when held.
_LOCK_LUA = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
CHUNK_FRAMES = 5000  # frames per append-script call (keeps single commands bounded)

# KEYS[1] = slot hash; ARGV = request_id, slot ttl (s), limit. Server time keeps workers with
# skewed clocks consistent. Returns 1 when the slot is held, 0 when the app is full.
_ACQUIRE_LUA = """
if redis.replicate_commands then redis.replicate_commands() end
local now = tonumber(redis.call('TIME')[1])
local cutoff = now - tonumber(ARGV[2])
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  local started = tonumber(entries[i + 1])
  if started == nil or started < cutoff then
    redis.call('HDEL', KEYS[1], entries[i])
  end
end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], now)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS = event logs; ARGV[1] = log ttl, ARGV[2 .. #KEYS+1] = frames per log, then the frames.
# One command per flush tick instead of an RPUSH + EXPIRE per run: far less client CPU.
_APPEND_LUA = """
local pos = #KEYS + 2
for i = 1, #KEYS do
  local last = pos + tonumber(ARGV[i + 1]) - 1
  while pos <= last do
    local stop = math.min(pos + 999, last)
    redis.call('RPUSH', KEYS[i], unpack(ARGV, pos, stop))
    pos = stop + 1
  end
  redis.call('EXPIRE', KEYS[i], ARGV[1])
end
return #KEYS
"""


def _chunks(batch: dict[str, list[bytes]]) -> list[list[str]]:
    """Group task ids so each script call carries about `CHUNK_FRAMES` frames."""
    chunks: list[list[str]] = [[]]
    size = 0
    for task_id, frames in batch.items():
        if chunks[-1] and size + len(frames) > CHUNK_FRAMES:
            chunks.append([])
            size = 0
        chunks[-1].append(task_id)
        size += len(frames)
    return chunks


class RedisRunRegistry:
    """`RunRegistry` over Redis: stops, owners, event logs and slots are visible to all workers."""

    def __init__(
        self,
        url: str,
        prefix: str = "headrace",
        *,
        owner_ttl: int = OWNER_TTL,
        stop_ttl: int = STOP_TTL,
        log_ttl: int = LOG_TTL,
        slot_ttl: int = SLOT_TTL,
        flush_interval: float = 0.05,
        stop_poll: float = 1.0,
        max_connections: int = 64,
    ) -> None:
        # A blocking pool makes bursts (1000 runs registering at once) queue for a connection
        # instead of failing with "Too many connections".
        pool = BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=20, decode_responses=False
        )
        self._redis: Redis = Redis.from_pool(pool)
        self._prefix = prefix
        self._channel = f"{prefix}:stop"
        self._owner_ttl = owner_ttl
        self._stop_ttl = stop_ttl
        self._log_ttl = log_ttl
        self._slot_ttl = slot_ttl
        self._flush_interval = flush_interval
        self._stop_poll = stop_poll
        self._acquire = self._redis.register_script(_ACQUIRE_LUA)
        self._append_many = self._redis.register_script(_APPEND_LUA)
        self._unlock = self._redis.register_script(_UNLOCK_LUA)
        self._lock = self._redis.register_script(_LOCK_LUA)
        self._flags: dict[str, StopFlag] = {}
        self._pending: dict[str, list[bytes]] = {}
        self._flush_lock = asyncio.Lock()
        self._pubsub: PubSub | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def client(self) -> Redis:
        """The underlying client (for diagnostics and tests)."""
        return self._redis

    def task_key(self, task_id: str, kind: str) -> str:
        """Key of a per-task record: `kind` is `owner`, `stop` or `events`."""
        return f"{self._prefix}:task:{task_id}:{kind}"

    def slots_key(self, app_id: str) -> str:
        """Key of the app's concurrency-slot hash."""
        return f"{self._prefix}:app:{app_id}:active"

    async def start(self) -> None:
        """Subscribe to stop requests and start the listener and the log flusher."""
        if self._tasks:
            return
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(self._channel)
        self._tasks = [
            asyncio.create_task(self._listen(self._pubsub), name="headrace-stop-listener"),
            asyncio.create_task(self._flush_loop(), name="headrace-log-flusher"),
        ]

    async def aclose(self) -> None:
        """Stop the background tasks, flush what is buffered and close the connections."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await self._flush()
        except Exception:
            log.warning("dropping %d unflushed event logs on close", len(self._pending))
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
            self._pubsub = None
        self._flags.clear()
        await self._redis.aclose()

    async def register(self, task_id: str, owner: str) -> StopFlag:
        """Record the run; the flag starts set when a stop was requested beforehand."""
        flag = StopFlag()
        # Publish the flag before reading the stop key: a stop written after our GET is
        # published after it too, and the listener then finds the flag.
        self._flags[task_id] = flag
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(self.task_key(task_id, "owner"), owner.encode(), ex=self._owner_ttl)
        pipe.get(self.task_key(task_id, "stop"))
        _, stopped = await pipe.execute()
        if stopped is not None:
            flag.set()
        return flag

    async def owner(self, task_id: str) -> str | None:
        """The recorded owner, or None when unknown or expired."""
        raw = cast(bytes | None, await self._redis.get(self.task_key(task_id, "owner")))
        return None if raw is None else raw.decode()

    async def request_stop(self, task_id: str) -> None:
        """Store the stop request and announce it to every worker."""
        flag = self._flags.get(task_id)
        if flag is not None:
            flag.set()
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(self.task_key(task_id, "stop"), b"1", ex=self._stop_ttl)
        pipe.publish(self._channel, task_id.encode())
        await pipe.execute()

    async def finish(self, task_id: str) -> None:
        """Forget the local flag and flush the run's frames (each flush renews the log TTL)."""
        self._flags.pop(task_id, None)
        await self._flush_for(task_id)

    async def append(self, task_id: str, frame: bytes) -> None:
        """Buffer one frame; the flusher writes it within one tick."""
        pending = self._pending.get(task_id)
        if pending is None:
            self._pending[task_id] = [frame]
        else:
            pending.append(frame)

    async def read(self, task_id: str, after: int = 0) -> list[tuple[int, bytes]]:
        """Frames with sequence number above `after`, including frames buffered here."""
        await self._flush_for(task_id)
        start = max(after, 0)
        key = self.task_key(task_id, "events")
        raw = cast(list[bytes], await self._redis.lrange(key, start, -1))
        return list(enumerate(raw, start + 1))

    async def acquire_slot(self, app_id: str, request_id: str, limit: int) -> bool:
        """Atomically take a slot unless `limit` are held; stale slots are purged first.

        `limit <= 0` means unlimited: nothing is recorded (release stays a harmless no-op).
        Re-acquiring a slot the request already holds succeeds without counting twice.
        """
        if limit <= 0:
            return True
        held = await self._acquire(
            keys=[self.slots_key(app_id)], args=[request_id, self._slot_ttl, limit]
        )
        return bool(held)

    async def release_slot(self, app_id: str, request_id: str) -> None:
        """Give the slot back; unknown slots are ignored."""
        await self._redis.hdel(self.slots_key(app_id), request_id)

    async def try_lock(self, key: str, token: str, ttl: float) -> bool:
        """Take a lock shared by every worker, or renew it for `ttl` when `token` holds it."""
        name = f"{self._prefix}:lock:{key}"
        return bool(await self._lock(keys=[name], args=[token, max(1, int(ttl * 1000))]))

    async def unlock(self, key: str, token: str) -> None:
        """Release the lock if this token still holds it (atomic compare-and-delete)."""
        await self._unlock(keys=[f"{self._prefix}:lock:{key}"], args=[token])

    async def flush(self) -> None:
        """Write every buffered frame now."""
        await self._flush()

    async def _flush_for(self, task_id: str) -> None:
        """Flush when the task has buffered frames or a flush (maybe carrying them) runs."""
        if task_id in self._pending or self._flush_lock.locked():
            await self._flush()

    async def _flush(self) -> None:
        """Write the buffer with one script call per chunk; serialised to keep frame order."""
        async with self._flush_lock:
            if not self._pending:
                return
            batch, self._pending = self._pending, {}
            done: list[str] = []
            try:
                for chunk in _chunks(batch):
                    keys = [self.task_key(task_id, "events") for task_id in chunk]
                    args: list[bytes | int] = [self._log_ttl]
                    args += [len(batch[task_id]) for task_id in chunk]
                    for task_id in chunk:
                        args += batch[task_id]
                    await self._append_many(keys=keys, args=args)
                    done += chunk
            except BaseException:
                for task_id in done:
                    del batch[task_id]
                self._requeue(batch)
                raise

    def _requeue(self, batch: dict[str, list[bytes]]) -> None:
        """Put a failed batch back in front of frames appended since."""
        for task_id, frames in batch.items():
            later = self._pending.get(task_id)
            self._pending[task_id] = frames + later if later else frames

    async def _flush_loop(self) -> None:
        """Background flusher: one script call per tick while frames are buffered."""
        while True:
            await asyncio.sleep(self._flush_interval)
            if not self._pending:
                continue
            try:
                await self._flush()
            except Exception:
                log.exception("event log flush failed; retrying")
                await asyncio.sleep(1.0)

    async def _listen(self, pubsub: PubSub) -> None:
        """Set local flags for stop requests published by any worker."""
        next_poll = time.monotonic() + self._stop_poll
        while True:
            try:
                message: dict[str, Any] | None = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=self._stop_poll
                )
                if message is not None and message.get("type") == "message":
                    data = message.get("data")
                    if isinstance(data, bytes):
                        flag = self._flags.get(data.decode(errors="replace"))
                        if flag is not None:
                            flag.set()
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self._stop_poll
                    await self._poll_stops()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("stop listener failed; retrying")
                await asyncio.sleep(1.0)

    async def _poll_stops(self) -> None:
        """Check the stop keys of local unstopped runs (covers messages lost on reconnect)."""
        waiting = [task_id for task_id, flag in self._flags.items() if not flag.is_set()]
        for i in range(0, len(waiting), 500):
            chunk = waiting[i : i + 500]
            keys = [self.task_key(task_id, "stop") for task_id in chunk]
            values = cast(list[bytes | None], await self._redis.mget(keys))
            for task_id, value in zip(chunk, values, strict=True):
                flag = self._flags.get(task_id)
                if value is not None and flag is not None:
                    flag.set()
