"""Workflow app endpoints (spec §5.3–§5.6): run, run a version, run detail, stop, logs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from headrace.apps.workflow_run import WorkflowService
from headrace.errors import BadRequestError, InvalidParamError, NotFoundError, NotWorkflowAppError
from headrace.http.deps import (
    app_from_key,
    container_of,
    end_user_for,
    json_body,
    user_arg,
    validate,
)
from headrace.http.streaming import blocking_workflow_response, sse_response
from headrace.store.repos.workflows import WorkflowRunRepo
from headrace.store.tables import App, EndUser, WorkflowRun
from headrace.store.tables.base import to_unix
from headrace.store.tables.workflows import WorkflowAppLog

router = APIRouter()


class WorkflowRunPayload(BaseModel):
    """Body of the run endpoints."""

    inputs: dict[str, Any]
    response_mode: Literal["streaming", "blocking"] | None = None
    files: list[dict[str, Any]] | None = None
    trace_id: str | None = None


def _require_workflow(app: App) -> None:
    if app.mode != "workflow":
        raise NotWorkflowAppError()


async def _run(request: Request, app: App, workflow_id: str | None) -> Response:
    body = await json_body(request)
    user = user_arg(body.get("user"), required=True)
    _require_workflow(app)
    payload = validate(WorkflowRunPayload, body)
    container = container_of(request)
    end_user = await end_user_for(request, app, user)
    stream = await WorkflowService(container).start(
        app, end_user, payload.inputs, payload.files or [], workflow_id
    )
    if payload.response_mode == "streaming":
        return sse_response(stream, container.settings.ping_interval)
    return await blocking_workflow_response(stream)


_RUN_SCHEMA = {
    "requestBody": {
        "content": {"application/json": {"schema": WorkflowRunPayload.model_json_schema()}}
    }
}


@router.post("/workflows/run", summary="Run the published workflow", openapi_extra=_RUN_SCHEMA)
async def run_workflow(request: Request, app: Annotated[App, Depends(app_from_key)]) -> Response:
    """Run the latest published version, blocking or streaming."""
    return await _run(request, app, None)


@router.post(
    "/workflows/{workflow_id}/run",
    summary="Run a published workflow version",
    openapi_extra=_RUN_SCHEMA,
)
async def run_workflow_version(
    request: Request, workflow_id: str, app: Annotated[App, Depends(app_from_key)]
) -> Response:
    """Run one published version."""
    return await _run(request, app, workflow_id)


def run_detail(run: WorkflowRun) -> dict[str, Any]:
    """`GET /v1/workflows/run/{id}` body."""
    return {
        "id": run.id,
        "workflow_id": run.workflow_id,
        "status": run.status,
        "inputs": run.inputs,
        "outputs": run.outputs or {},
        "error": run.error,
        "total_steps": run.total_steps,
        "total_tokens": run.total_tokens,
        "created_at": to_unix(run.created_at),
        "finished_at": to_unix(run.finished_at) if run.finished_at else None,
        "elapsed_time": run.elapsed_time,
    }


@router.get("/workflows/run/{workflow_run_id}", summary="A workflow run")
async def get_run(
    request: Request, workflow_run_id: str, app: Annotated[App, Depends(app_from_key)]
) -> dict[str, Any]:
    """Any run of this app."""
    if app.mode not in ("workflow", "advanced-chat"):
        raise NotWorkflowAppError()
    async with container_of(request).db.session() as session:
        run = await WorkflowRunRepo(session).get(app.id, workflow_run_id)
    if run is None:
        raise NotFoundError("Workflow run not found.")
    return run_detail(run)


@router.post("/workflows/tasks/{task_id}/stop", summary="Stop a workflow run")
async def stop_workflow(
    request: Request, task_id: str, app: Annotated[App, Depends(app_from_key)]
) -> dict[str, str]:
    """Stop a running workflow (no owner check, as in the contract)."""
    body = await json_body(request)
    user_arg(body.get("user"), required=True)
    _require_workflow(app)
    await container_of(request).runs.request_stop(task_id)
    return {"result": "success"}


def _iso(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequestError(f"Invalid {name}: {value}") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


@router.get("/workflows/logs", summary="Workflow run logs")
async def workflow_logs(
    request: Request,
    app: Annotated[App, Depends(app_from_key)],
    keyword: str | None = None,
    status: Literal["succeeded", "failed", "stopped"] | None = None,
    created_at__before: str | None = None,
    created_at__after: str | None = None,
    created_by_end_user_session_id: str | None = None,
    created_by_account: str | None = None,
    page: Annotated[int, Query(ge=1, le=99999)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Runs of the app, newest first, filtered and paged."""
    filters = []
    if status:
        filters.append(WorkflowRun.status == status)
    before = _iso(created_at__before, "created_at__before")
    after = _iso(created_at__after, "created_at__after")
    if before:
        filters.append(WorkflowAppLog.created_at <= before)
    if after:
        filters.append(WorkflowAppLog.created_at >= after)
    if created_by_end_user_session_id:
        filters.append(EndUser.session_id == created_by_end_user_session_id)
    if created_by_account:
        raise InvalidParamError(f"Account not found: {created_by_account}")
    async with container_of(request).db.session() as session:
        total, rows = await WorkflowRunRepo(session).logs(
            app.id, filters=filters, keyword=keyword, page=page, limit=limit
        )
    data = [
        {
            "id": log.id,
            "workflow_run": {
                "id": run.id,
                "version": run.version,
                "status": run.status,
                "triggered_from": run.triggered_from,
                "error": run.error,
                "elapsed_time": run.elapsed_time,
                "total_tokens": run.total_tokens,
                "total_steps": run.total_steps,
                "created_at": to_unix(run.created_at),
                "finished_at": to_unix(run.finished_at) if run.finished_at else None,
                "exceptions_count": run.exceptions_count,
            },
            "details": None,
            "created_from": log.created_from,
            "created_by_role": log.created_by_role,
            "created_by_account": None,
            "created_by_end_user": None
            if user is None
            else {
                "id": user.id,
                "type": user.type,
                "is_anonymous": user.is_anonymous,
                "session_id": user.session_id,
            },
            "created_at": to_unix(log.created_at),
        }
        for log, run, user in rows
    ]
    return {
        "page": page,
        "limit": limit,
        "total": total,
        "has_more": total > page * limit,
        "data": data,
    }
