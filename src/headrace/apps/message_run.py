"""The run of one chat or completion turn: stream the model into events, honour stop and
the execution deadline, and persist the outcome whatever the client does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any

from headrace.apps.events import ErrorEvent, MessageEndEvent, MessageEvent, RunEvent
from headrace.apps.models import BoundModel
from headrace.apps.run_stream import RunStream
from headrace.coord.base import RunRegistry, StopFlag
from headrace.errors import DomainError, InternalServerError
from headrace.providers.catalog import ModelPricing
from headrace.providers.types import LLMChunk, LLMRequest, TokenUsage
from headrace.providers.usage import UsageInfo, build_usage, estimate_tokens

log = logging.getLogger(__name__)


@dataclass(slots=True)
class TurnOutcome:
    """What a finished turn produced; persisted by the caller's observer."""

    answer: str = ""
    usage: UsageInfo = field(default_factory=UsageInfo)
    status: str = "normal"
    error: str | None = None
    stopped: bool = False
    #: The event that ends the stream; pushed by the caller after the turn is persisted.
    terminal: RunEvent | None = None
    #: Citations shown with the answer (stored with the message).
    resources: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class _Progress:
    parts: list[str] = field(default_factory=list)
    usage: TokenUsage | None = None
    first_token_at: float | None = None


class _Interrupt:
    """Cancels the calling task once when the run is stopped or its deadline passes, while
    inside the `with` block; `fired` tells that cancellation from any other."""

    def __init__(self, stop: StopFlag, deadline: float) -> None:
        self.stop = stop
        self.deadline = deadline
        self.fired = False
        self._task = asyncio.current_task()
        self._inside = False
        self._timer: asyncio.TimerHandle | None = None

    def _fire(self) -> None:
        if self._inside and not self.fired and self._task is not None:
            self.fired = True
            self._task.cancel()

    def __enter__(self) -> _Interrupt:
        self._inside = True
        self._timer = asyncio.get_running_loop().call_later(self.deadline, self._fire)
        self.stop.subscribe(self._fire)
        return self

    def __exit__(self, *exc: object) -> None:
        self._inside = False
        if self._timer is not None:
            self._timer.cancel()
        self.stop.unsubscribe(self._fire)


async def _pump(
    chunks: AsyncIterator[LLMChunk],
    stream: RunStream,
    runs: RunRegistry,
    progress: _Progress,
    written: Awaitable[None] | None,
) -> None:
    task_id = stream.envelope.task_id
    try:
        async for chunk in chunks:
            if chunk.usage is not None:
                progress.usage = chunk.usage
            if chunk.text:
                if progress.first_token_at is None:
                    progress.first_token_at = time.perf_counter()
                    if written is not None:  # no event names a message not yet stored
                        await written
                progress.parts.append(chunk.text)
                await runs.append(task_id, stream.push(MessageEvent(chunk.text)))
        if written is not None:
            await written
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()


async def run_turn(
    *,
    model: BoundModel,
    request: LLMRequest,
    pricing: ModelPricing,
    stream: RunStream,
    runs: RunRegistry,
    stop: StopFlag,
    deadline: float,
    resources: list[dict[str, Any]] | None = None,
    written: Awaitable[None] | None = None,
) -> TurnOutcome:
    """Stream one completion into `stream`, in the calling task; the outcome carries the
    terminal event (`message_end` or `error`) for the caller to push once the turn is stored.

    `written` is the commit of the turn's rows, under way while the model is called: the
    first event waits for it, and its failure fails the turn."""
    started = time.perf_counter()
    progress = _Progress()
    outcome = TurnOutcome()
    with _Interrupt(stop, deadline) as interrupt:
        try:
            await _pump(model.stream(request), stream, runs, progress, written)
        except asyncio.CancelledError:
            if not interrupt.fired:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            outcome.stopped = True
        except Exception as exc:
            error = exc if isinstance(exc, DomainError) else InternalServerError()
            if not isinstance(exc, DomainError):
                log.error("run failed", exc_info=exc)
            outcome.answer = "".join(progress.parts)
            outcome.status = "error"
            outcome.error = error.message
            outcome.terminal = ErrorEvent(error.code, error.status, error.message)
            return outcome
    outcome.answer = "".join(progress.parts)
    tokens = progress.usage or TokenUsage(
        prompt_tokens=sum(estimate_tokens(m.content) for m in request.messages),
        completion_tokens=estimate_tokens(outcome.answer),
    )
    finished = time.perf_counter()
    first = progress.first_token_at
    outcome.usage = build_usage(
        tokens,
        pricing,
        latency=finished - started,
        time_to_first_token=None if first is None else first - started,
        time_to_generate=None if first is None else finished - first,
    )
    outcome.resources = resources or []
    outcome.terminal = MessageEndEvent(usage=outcome.usage, retriever_resources=outcome.resources)
    return outcome
