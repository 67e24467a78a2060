"""Workflow versions (draft and published), runs, node executions and run logs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from headrace.store.tables.base import Base, created_column, id_column


class Workflow(Base):
    """One version of an app's graph: `draft`, or a published timestamp version."""

    __tablename__ = "workflows"
    __table_args__ = (Index("ix_workflows_app_version", "app_id", "version"),)

    id: Mapped[str] = id_column()
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id"))
    version: Mapped[str] = mapped_column(String(64))
    graph: Mapped[dict[str, Any]] = mapped_column(JSON)
    features: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Secret values are encrypted (`{"__encrypted__": token}`), never stored in clear.
    environment_variables: Mapped[list[Any]] = mapped_column(JSON, default=list)
    conversation_variables: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = created_column()


class WorkflowRun(Base):
    """One execution of a workflow version."""

    __tablename__ = "workflow_runs"
    __table_args__ = (Index("ix_workflow_runs_app_created", "app_id", "created_at"),)

    id: Mapped[str] = id_column()
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id"))
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id"))
    version: Mapped[str] = mapped_column(String(64))
    triggered_from: Mapped[str] = mapped_column(String(32), default="app-run")
    status: Mapped[str] = mapped_column(String(32), default="running")
    inputs: Mapped[str] = mapped_column(Text, default="{}")
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    elapsed_time: Mapped[float] = mapped_column(Float, default=0.0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    exceptions_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by_role: Mapped[str] = mapped_column(String(16), default="end_user")
    created_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = created_column()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class WorkflowNodeExecution(Base):
    """What one node did in one run."""

    __tablename__ = "workflow_node_executions"

    id: Mapped[str] = id_column()
    workflow_run_id: Mapped[str] = mapped_column(ForeignKey("workflow_runs.id"), index=True)
    node_id: Mapped[str] = mapped_column(String(255))
    node_type: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255), default="")
    index: Mapped[int] = mapped_column(Integer, default=0)
    inputs: Mapped[Any] = mapped_column(JSON, nullable=True)
    process_data: Mapped[Any] = mapped_column(JSON, nullable=True)
    outputs: Mapped[Any] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    elapsed_time: Mapped[float] = mapped_column(Float, default=0.0)
    execution_metadata: Mapped[Any] = mapped_column(JSON, nullable=True)
    iteration_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    loop_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = created_column()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class WorkflowAppLog(Base):
    """A run as listed by `GET /v1/workflows/logs`."""

    __tablename__ = "workflow_app_logs"
    __table_args__ = (Index("ix_workflow_app_logs_app_created", "app_id", "created_at"),)

    id: Mapped[str] = id_column()
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id"))
    workflow_id: Mapped[str] = mapped_column(String(36))
    workflow_run_id: Mapped[str] = mapped_column(ForeignKey("workflow_runs.id"))
    created_from: Mapped[str] = mapped_column(String(32), default="service-api")
    created_by_role: Mapped[str] = mapped_column(String(16), default="end_user")
    created_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = created_column()
