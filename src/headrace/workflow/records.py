"""Builders of the `data` objects of node events (spec §8.3), shared by every node type and
by containers, with secret values masked (spec §14.1.5)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from headrace.workflow.graph import NodeSpec
from headrace.workflow.nodes.base import RunContext
from headrace.workflow.variables import is_file

MASK = "******"


def now() -> int:
    """Unix seconds."""
    return int(time.time())


def redact(value: Any, secrets: Iterable[str]) -> Any:
    """`value` with every occurrence of a secret string replaced by a mask."""
    secrets = [s for s in secrets if s]
    if not secrets:
        return value
    return _redact(value, secrets)


def _redact(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {k: _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    return value


def files_in(outputs: dict[str, Any] | None) -> list[dict[str, Any]]:
    """File objects among a node's outputs."""
    found: list[dict[str, Any]] = []
    for value in (outputs or {}).values():
        if is_file(value):
            found.append(value)
        elif isinstance(value, list):
            found.extend(v for v in value if is_file(v))
    return found


def container_metadata(ctx: RunContext) -> dict[str, Any]:
    """execution_metadata keys a node inside a container carries."""
    meta: dict[str, Any] = {}
    if ctx.iteration_id is not None:
        meta["iteration_id"] = ctx.iteration_id
        meta["iteration_index"] = ctx.iteration_index
    if ctx.loop_id is not None:
        meta["loop_id"] = ctx.loop_id
        meta["loop_index"] = ctx.loop_index
    return meta


def node_started(
    spec: NodeSpec, ctx: RunContext, exec_id: str, index: int, created: int
) -> dict[str, Any]:
    """`node_started.data`."""
    return {
        "id": exec_id,
        "node_id": spec.id,
        "node_type": spec.type,
        "title": spec.title,
        "index": index,
        "predecessor_node_id": None,
        "inputs": None,
        "inputs_truncated": False,
        "created_at": created,
        "extras": {},
        "iteration_id": ctx.iteration_id,
        "loop_id": ctx.loop_id,
        "agent_strategy": None,
    }


def node_finished(
    spec: NodeSpec,
    ctx: RunContext,
    exec_id: str,
    index: int,
    created: int,
    *,
    status: str,
    inputs: dict[str, Any] | None,
    process_data: dict[str, Any] | None,
    outputs: dict[str, Any] | None,
    error: str | None,
    elapsed: float,
    metadata: dict[str, Any] | None,
    secrets: Iterable[str] = (),
) -> dict[str, Any]:
    """`node_finished.data` (and, with `retry_index` added, `node_retry.data`)."""
    secrets = list(secrets)
    outputs = redact(outputs, secrets)
    return {
        "id": exec_id,
        "node_id": spec.id,
        "node_type": spec.type,
        "title": spec.title,
        "index": index,
        "predecessor_node_id": None,
        "inputs": redact(inputs, secrets),
        "inputs_truncated": False,
        "process_data": redact(process_data, secrets),
        "process_data_truncated": False,
        "outputs": outputs,
        "outputs_truncated": False,
        "status": status,
        "error": redact(error, secrets),
        "elapsed_time": round(elapsed, 6),
        "execution_metadata": metadata or None,
        "created_at": created,
        "finished_at": now(),
        "files": files_in(outputs),
        "iteration_id": ctx.iteration_id,
        "loop_id": ctx.loop_id,
    }
