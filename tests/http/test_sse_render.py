"""`to_sse`: every frame in order, a ping only after a quiet interval, an end when closed."""

from __future__ import annotations

import asyncio

from headrace.apps.events import Envelope, MessageEvent
from headrace.apps.run_stream import RunStream
from headrace.http.streaming import PING_FRAME, to_sse


async def _collect(stream: RunStream, ping_interval: float) -> list[bytes]:
    return [frame async for frame in to_sse(stream, ping_interval)]


async def test_busy_stream_gets_no_pings_quiet_one_does() -> None:
    stream = RunStream(Envelope(mode="chat", task_id="t1", message_id="m1"))
    reader = asyncio.create_task(_collect(stream, 0.15))
    for i in range(12):  # busy for ~0.6 s: an event every 0.05 s, well inside the interval
        stream.push(MessageEvent(answer=f"w{i}"))
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.4)  # quiet for more than two intervals
    stream.push(MessageEvent(answer="last"))
    stream.close()
    frames = await asyncio.wait_for(reader, 5)

    assert frames[0] == PING_FRAME  # the leading ping opens every stream
    busy_end = next(i for i, f in enumerate(frames) if b'"w11"' in f)
    last = next(i for i, f in enumerate(frames) if b'"last"' in f)
    assert PING_FRAME not in frames[1:busy_end], "pinged while events were flowing"
    assert frames[busy_end:last].count(PING_FRAME) >= 2, "too few pings in the quiet period"
    text = b"".join(frames)
    assert all(f'"w{i}"'.encode() in text for i in range(12))


async def test_stream_closed_while_idle_ends_at_once() -> None:
    stream = RunStream(Envelope(mode="chat", task_id="t2", message_id="m2"))
    reader = asyncio.create_task(_collect(stream, 30))
    await asyncio.sleep(0.05)
    stream.close()
    assert await asyncio.wait_for(reader, 2) == [PING_FRAME]


async def test_a_blocking_reader_waits_for_the_end_only() -> None:
    stream = RunStream(Envelope(mode="chat", task_id="t3", message_id="m3"))
    waiting = [asyncio.create_task(stream.wait_closed()) for _ in range(2)]
    await asyncio.sleep(0)
    for i in range(3):
        stream.push(MessageEvent(answer=f"w{i}"))
        stream.nudge()
        await asyncio.sleep(0.01)
    assert not any(task.done() for task in waiting), "woken before the end"
    stream.close()
    await asyncio.wait_for(asyncio.gather(*waiting), 5)
    await asyncio.wait_for(stream.wait_closed(), 5)  # after the end: returns at once
