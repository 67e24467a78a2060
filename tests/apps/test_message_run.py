"""One turn's run in the calling task: the model is called while the turn's rows are still
being written, no event is pushed before they are, and a stop or the deadline ends the run
with what it has (the model's connection closed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from headrace.apps.events import Envelope, ErrorEvent, MessageEndEvent, MessageEvent
from headrace.apps.message_run import TurnOutcome, run_turn
from headrace.apps.models import BoundModel
from headrace.apps.run_stream import RunStream
from headrace.coord.base import StopFlag
from headrace.coord.memory import MemoryRunRegistry
from headrace.providers.catalog import model_info
from headrace.providers.openai_compat import OpenAICompatProvider
from headrace.providers.types import LLMRequest, PromptMessage
from tests.support.upstream import Reply, ScriptedUpstream

REQUEST = LLMRequest(model="gpt-4o-mini", messages=(PromptMessage("user", "hello"),))
PRICING = model_info("openai", "gpt-4o-mini").pricing


async def _run(
    upstream: ScriptedUpstream,
    stream: RunStream,
    stop: StopFlag | None = None,
    written: asyncio.Future[None] | None = None,
    deadline: float = 30.0,
) -> TurnOutcome:
    provider = OpenAICompatProvider(timeout=10)
    try:
        return await run_turn(
            model=BoundModel(provider, {"api_key": "sk-x", "base_url": upstream.base_url}),
            request=REQUEST,
            pricing=PRICING,
            stream=stream,
            runs=MemoryRunRegistry(),
            stop=stop or StopFlag(),
            deadline=deadline,
            written=written,
        )
    finally:
        await provider.aclose()


async def _until(condition: Callable[[], object], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def _stream() -> RunStream:
    return RunStream(Envelope(mode="chat", task_id="t", message_id="m"))


async def test_the_model_is_called_while_the_rows_are_written(scripted: ScriptedUpstream) -> None:
    scripted.script(Reply(chunks=["Hel", "lo"]))
    written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    stream = _stream()
    run = asyncio.create_task(_run(scripted, stream, written=written))
    await _until(lambda: scripted.requests_for("/v1/chat/completions"))
    await asyncio.sleep(0.1)
    assert stream.size == 0  # the answer is there, but the rows are not yet
    written.set_result(None)
    outcome = await run
    assert outcome.answer == "Hello" and outcome.status == "normal"
    assert [e.answer for e in stream.events() if isinstance(e, MessageEvent)] == ["Hel", "lo"]
    assert isinstance(outcome.terminal, MessageEndEvent)


async def test_rows_that_fail_to_write_fail_the_turn(scripted: ScriptedUpstream) -> None:
    scripted.script(Reply(chunks=["never shown"]))
    written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    written.set_exception(RuntimeError("disk full"))
    stream = _stream()
    outcome = await _run(scripted, stream, written=written)
    assert outcome.status == "error"
    assert isinstance(outcome.terminal, ErrorEvent) and outcome.terminal.status == 500
    assert stream.size == 0


async def test_a_stop_ends_the_run_with_the_answer_so_far(scripted: ScriptedUpstream) -> None:
    scripted.script(Reply(chunks=["one ", "two ", "three"], delay_between=0.3))
    stop = StopFlag()
    stream = _stream()
    run = asyncio.create_task(_run(scripted, stream, stop=stop))
    await _until(lambda: stream.size >= 1)
    stop.set()
    outcome = await asyncio.wait_for(run, timeout=5)
    assert outcome.stopped and outcome.status == "normal"
    assert outcome.answer == "one "
    assert isinstance(outcome.terminal, MessageEndEvent)
    assert not run.cancelled()


async def test_a_stop_requested_before_the_run_stops_it_at_once(
    scripted: ScriptedUpstream,
) -> None:
    scripted.script(Reply(hang=True))
    stop = StopFlag()
    stop.set()
    outcome = await asyncio.wait_for(_run(scripted, _stream(), stop=stop), timeout=5)
    assert outcome.stopped and outcome.answer == ""


async def test_the_deadline_stops_a_hanging_model(scripted: ScriptedUpstream) -> None:
    scripted.script(Reply(hang=True))
    outcome = await asyncio.wait_for(_run(scripted, _stream(), deadline=0.3), timeout=5)
    assert outcome.stopped and outcome.answer == ""


async def test_a_cancellation_from_outside_is_not_taken_for_a_stop(
    scripted: ScriptedUpstream,
) -> None:
    scripted.script(Reply(hang=True))
    run = asyncio.create_task(_run(scripted, _stream()))
    await _until(lambda: scripted.requests_for("/v1/chat/completions"))
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert run.cancelled()
