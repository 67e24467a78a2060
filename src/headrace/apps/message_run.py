"""The run of one chat or completion turn: stream the model into events, honour stop and
the execution deadline, and persist the outcome whatever the client does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import suppress
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


async def _pump(
    chunks: AsyncIterator[LLMChunk],
    stream: RunStream,
    runs: RunRegistry,
    progress: _Progress,
) -> None:
    task_id = stream.envelope.task_id
    async for chunk in chunks:
        if chunk.usage is not None:
            progress.usage = chunk.usage
        if chunk.text:
            if progress.first_token_at is None:
                progress.first_token_at = time.perf_counter()
            progress.parts.append(chunk.text)
            await runs.append(task_id, stream.push(MessageEvent(chunk.text)))


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
    chunks: AsyncIterator[LLMChunk] | None = None,
    started: float | None = None,
) -> TurnOutcome:
    """Stream one completion into `stream`; the outcome carries the terminal event
    (`message_end` or `error`) for the caller to push once the turn is stored.

    `chunks` is the model's stream when the call was started earlier (at `started`)."""
    started = time.perf_counter() if started is None else started
    progress = _Progress()
    source = chunks if chunks is not None else model.stream(request)
    pump = asyncio.create_task(_pump(source, stream, runs, progress))
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait(
        {pump, stopper}, timeout=deadline, return_when=asyncio.FIRST_COMPLETED
    )
    stopper.cancel()
    outcome = TurnOutcome()
    if pump not in done:
        pump.cancel()
        with suppress(asyncio.CancelledError):
            await pump
        outcome.stopped = True
    elif (exc := pump.exception()) is not None:
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
