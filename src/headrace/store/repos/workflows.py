"""Workflow versions, runs, node executions and run logs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, String, cast, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from headrace.store.tables import (
    EndUser,
    Workflow,
    WorkflowAppLog,
    WorkflowNodeExecution,
    WorkflowRun,
)
from headrace.store.tables.base import from_unix, utcnow

DRAFT = "draft"


class WorkflowRepo:
    """Draft and published versions of an app's workflow."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def save_draft(self, app_id: str, **fields: Any) -> Workflow:
        """Create or replace the app's draft."""
        draft = await self.session.scalar(
            select(Workflow).where(Workflow.app_id == app_id, Workflow.version == DRAFT)
        )
        if draft is None:
            draft = Workflow(app_id=app_id, version=DRAFT, **fields)
            self.session.add(draft)
        else:
            for key, value in fields.items():
                setattr(draft, key, value)
        await self.session.flush()
        return draft

    async def draft(self, app_id: str) -> Workflow | None:
        """The app's draft, if any."""
        return await self.session.scalar(
            select(Workflow).where(Workflow.app_id == app_id, Workflow.version == DRAFT)
        )

    async def publish(self, app_id: str) -> Workflow | None:
        """Copy the draft into a new published version; None when there is no draft."""
        draft = await self.draft(app_id)
        if draft is None:
            return None
        version = str(utcnow())
        published = Workflow(
            app_id=app_id,
            version=version,
            graph=draft.graph,
            features=draft.features,
            environment_variables=draft.environment_variables,
            conversation_variables=draft.conversation_variables,
        )
        self.session.add(published)
        await self.session.flush()
        return published

    async def latest_published(self, app_id: str) -> Workflow | None:
        """The newest published version."""
        return await self.session.scalar(
            select(Workflow)
            .where(Workflow.app_id == app_id, Workflow.version != DRAFT)
            .order_by(Workflow.created_at.desc())
            .limit(1)
        )

    async def get(self, app_id: str, workflow_id: str) -> Workflow | None:
        """A version of this app by id."""
        return await self.session.scalar(
            select(Workflow).where(Workflow.app_id == app_id, Workflow.id == workflow_id)
        )


class WorkflowRunRepo:
    """Runs, their node executions and their log entries."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def start(self, log_source: str, **fields: Any) -> WorkflowRun:
        """Insert a running run and its log entry."""
        run = WorkflowRun(**fields)
        self.session.add(run)
        await self.session.flush()
        self.session.add(
            WorkflowAppLog(
                app_id=run.app_id,
                workflow_id=run.workflow_id,
                workflow_run_id=run.id,
                created_from=log_source,
                created_by_role=run.created_by_role,
                created_by=run.created_by,
            )
        )
        return run

    async def finish(
        self, run_id: str, executions: Sequence[dict[str, Any]], **fields: Any
    ) -> None:
        """Record the outcome and every node execution."""
        await self.session.execute(
            update(WorkflowRun).where(WorkflowRun.id == run_id).values(**fields)
        )
        for data in executions:
            self.session.add(
                WorkflowNodeExecution(
                    id=data["id"],
                    workflow_run_id=run_id,
                    node_id=data["node_id"],
                    node_type=data["node_type"],
                    title=data["title"],
                    index=data["index"],
                    inputs=data["inputs"],
                    process_data=data["process_data"],
                    outputs=data["outputs"],
                    status=data["status"],
                    error=data["error"],
                    elapsed_time=data["elapsed_time"],
                    execution_metadata=data["execution_metadata"],
                    iteration_id=data["iteration_id"],
                    loop_id=data["loop_id"],
                    created_at=from_unix(data["created_at"]),
                    finished_at=from_unix(data["finished_at"]),
                )
            )
        await self.session.flush()

    async def get(self, app_id: str, run_id: str) -> WorkflowRun | None:
        """A run of this app."""
        return await self.session.scalar(
            select(WorkflowRun).where(WorkflowRun.app_id == app_id, WorkflowRun.id == run_id)
        )

    async def executions(self, run_id: str) -> list[WorkflowNodeExecution]:
        """A run's node executions in start order."""
        return list(
            await self.session.scalars(
                select(WorkflowNodeExecution)
                .where(WorkflowNodeExecution.workflow_run_id == run_id)
                .order_by(WorkflowNodeExecution.index)
            )
        )

    async def logs(
        self,
        app_id: str,
        *,
        filters: Sequence[ColumnElement[bool]],
        keyword: str | None,
        page: int,
        limit: int,
    ) -> tuple[int, list[tuple[WorkflowAppLog, WorkflowRun, EndUser | None]]]:
        """A page of run logs (newest first) and the total count."""
        query = (
            select(WorkflowAppLog, WorkflowRun, EndUser)
            .join(WorkflowRun, WorkflowRun.id == WorkflowAppLog.workflow_run_id)
            .outerjoin(EndUser, EndUser.id == WorkflowAppLog.created_by)
            .where(WorkflowAppLog.app_id == app_id, *filters)
        )
        if keyword:
            pattern = f"%{keyword[:30].lower()}%"
            query = query.where(
                or_(
                    func.lower(WorkflowRun.inputs).like(pattern),
                    func.lower(cast(WorkflowRun.outputs, String)).like(pattern),
                    func.lower(EndUser.session_id).like(pattern),
                    WorkflowRun.id == keyword,
                )
            )
        total = int(
            await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        )
        rows = await self.session.execute(
            query.order_by(WorkflowAppLog.created_at.desc()).offset((page - 1) * limit).limit(limit)
        )
        return total, [(log, run, user) for log, run, user in rows]
