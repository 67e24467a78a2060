"""Pieces every graph run shares (workflow and chatflow apps): the variable pool, the run row,
the `workflow_started`/`workflow_finished` data, usage summed over model nodes."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from headrace.container import Container
from headrace.providers.usage import UsageInfo
from headrace.store.repos.workflows import WorkflowRunRepo
from headrace.store.tables import App, EndUser, Workflow
from headrace.store.tables.base import from_unix
from headrace.workflow.events import RunResult
from headrace.workflow.graph import Graph
from headrace.workflow.records import files_in, now, redact
from headrace.workflow.variables import VariablePool


def build_pool(
    graph: Graph,
    inputs: Mapping[str, Any],
    system: Mapping[str, Any],
    env: Mapping[str, Any],
    conversation: Mapping[str, Any] | None = None,
) -> VariablePool:
    """The pool a run starts with: Start inputs, `sys.*`, `env.*`, `conversation.*`."""
    pool = VariablePool()
    for name, value in inputs.items():
        pool.set(graph.root, name, value)
    for namespace, values in (("sys", system), ("env", env), ("conversation", conversation or {})):
        for name, value in values.items():
            pool.set(namespace, name, value)
    return pool


def first_model(graph: Graph) -> tuple[str, str] | None:
    """(provider, model) of the first LLM node, used for titles and suggestions."""
    for node in graph.all_nodes.values():
        model = node.data.get("model") if node.type == "llm" else None
        if isinstance(model, Mapping) and model.get("provider") and model.get("name"):
            return str(model["provider"]), str(model["name"])
    return None


@dataclass(slots=True)
class RunRecord:
    """What a run did, collected from its events for persistence and `workflow_finished`."""

    run_id: str
    workflow: Workflow
    end_user: EndUser
    secrets: frozenset[str]
    created: int = field(default_factory=now)
    started: float = field(default_factory=time.perf_counter)
    executions: list[dict[str, Any]] = field(default_factory=list)
    status: str = "failed"
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    steps: int = 0
    tokens: int = 0
    exceptions: int = 0

    def absorb(self, result: RunResult) -> None:
        """Take the engine's outcome."""
        self.status, self.outputs, self.error = result.status, result.outputs, result.error
        self.steps, self.tokens = result.total_steps, result.total_tokens
        self.exceptions = result.exceptions_count

    def started_event_data(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """`workflow_started.data`."""
        return {
            "id": self.run_id,
            "workflow_id": self.workflow.id,
            "inputs": redact(dict(inputs), self.secrets),
            "created_at": self.created,
            "reason": "initial",
        }

    def finished_event_data(self, finished: int, elapsed: float) -> dict[str, Any]:
        """`workflow_finished.data`."""
        outputs = redact(self.outputs, self.secrets)
        return {
            "id": self.run_id,
            "workflow_id": self.workflow.id,
            "status": self.status,
            "outputs": outputs,
            "error": redact(self.error, self.secrets),
            "elapsed_time": round(elapsed, 6),
            "total_tokens": self.tokens,
            "total_steps": self.steps,
            "created_by": {"id": self.end_user.id, "user": self.end_user.session_id},
            "created_at": self.created,
            "finished_at": finished,
            "exceptions_count": self.exceptions,
            "files": files_in(outputs),
        }

    async def save(self, container: Container, finished: int, elapsed: float) -> None:
        """Store the outcome and every node execution."""
        async with container.db.session() as session:
            await WorkflowRunRepo(session).finish(
                self.run_id,
                self.executions,
                status=self.status,
                outputs=redact(self.outputs, self.secrets),
                error=redact(self.error, self.secrets),
                elapsed_time=elapsed,
                total_tokens=self.tokens,
                total_steps=self.steps,
                exceptions_count=self.exceptions,
                finished_at=from_unix(finished),
            )


async def start_run_row(
    container: Container,
    app: App,
    workflow: Workflow,
    end_user: EndUser,
    run_id: str,
    inputs: Mapping[str, Any],
    secrets: frozenset[str],
    source: str = "service-api",
) -> None:
    """Insert the running run and its log entry."""
    async with container.db.session() as session:
        await WorkflowRunRepo(session).start(
            source,
            id=run_id,
            app_id=app.id,
            workflow_id=workflow.id,
            version=workflow.version,
            inputs=orjson.dumps(redact(dict(inputs), secrets)).decode(),
            created_by=end_user.id,
        )


def summed_usage(executions: Iterable[Mapping[str, Any]]) -> UsageInfo:
    """The turn's usage: LLM nodes' usage objects added up (prices as decimal strings)."""
    totals: dict[str, Decimal] = {"prompt_price": Decimal(0), "completion_price": Decimal(0)}
    prompt = completion = 0
    latency = 0.0
    base: Mapping[str, Any] | None = None
    for data in executions:
        usage = (data.get("outputs") or {}).get("usage") if data.get("node_type") == "llm" else None
        if not isinstance(usage, Mapping):
            continue
        base = base or usage
        prompt += int(usage.get("prompt_tokens") or 0)
        completion += int(usage.get("completion_tokens") or 0)
        totals["prompt_price"] += Decimal(str(usage.get("prompt_price") or "0"))
        totals["completion_price"] += Decimal(str(usage.get("completion_price") or "0"))
        latency += float(usage.get("latency") or 0.0)
    if base is None:
        return UsageInfo()
    return UsageInfo(
        prompt_tokens=prompt,
        prompt_unit_price=str(base.get("prompt_unit_price", "0")),
        prompt_price_unit=str(base.get("prompt_price_unit", "0")),
        prompt_price=f"{totals['prompt_price']:f}",
        completion_tokens=completion,
        completion_unit_price=str(base.get("completion_unit_price", "0")),
        completion_price_unit=str(base.get("completion_price_unit", "0")),
        completion_price=f"{totals['completion_price']:f}",
        total_tokens=prompt + completion,
        total_price=f"{totals['prompt_price'] + totals['completion_price']:f}",
        currency=str(base.get("currency", "USD")),
        latency=round(latency, 3),
    )
