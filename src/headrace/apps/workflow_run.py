"""Workflow apps: validate a run request, start the graph engine in the background, turn its
events into the run's stream, and persist the run and every node execution.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from headrace.apps.env_vars import open_values
from headrace.apps.events import Envelope, ErrorEvent
from headrace.apps.graph_runs import RunRecord, build_pool, start_run_row
from headrace.apps.pipeline import MessagePipeline, owner_key
from headrace.apps.run_stream import RunStream
from headrace.apps.workflow_inputs import run_inputs, start_variables, sys_files
from headrace.apps.workflow_services import run_services
from headrace.container import Container
from headrace.coord.base import StopFlag
from headrace.errors import (
    DomainError,
    DraftWorkflowError,
    InternalServerError,
    InvalidParamError,
    WorkflowIdFormatError,
    WorkflowNotFoundError,
)
from headrace.ids import new_id
from headrace.store.repos.workflows import DRAFT, WorkflowRepo
from headrace.store.tables import App, EndUser, Workflow
from headrace.workflow.engine import GraphEngine
from headrace.workflow.events import GraphEvent
from headrace.workflow.graph import Graph, GraphError
from headrace.workflow.nodes.base import NodeConfigError, RunContext, StepCounter
from headrace.workflow.records import now
from headrace.workflow.variables import VariablePool

log = logging.getLogger(__name__)


async def pick_version(container: Container, app: App, workflow_id: str | None) -> Workflow:
    """The published version to run: the given one, else the latest (spec §4.4, §14.1)."""
    async with container.db.session() as session:
        repo = WorkflowRepo(session)
        if workflow_id:
            try:
                uuid.UUID(workflow_id)
            except ValueError:
                raise WorkflowIdFormatError(
                    f"Invalid workflow_id format: '{workflow_id}'. "
                ) from None
            workflow = await repo.get(app.id, workflow_id)
            if workflow is None:
                raise WorkflowNotFoundError(f"Workflow not found with id: {workflow_id}")
            if workflow.version == DRAFT:
                raise DraftWorkflowError(
                    f"Cannot use draft workflow version. Workflow ID: {workflow_id}. Please use a "
                    "published workflow version or leave workflow_id empty."
                )
            return workflow
        workflow = await repo.latest_published(app.id)
    if workflow is None:
        raise InvalidParamError("Workflow not published")
    return workflow


@dataclass(slots=True)
class _Plan:
    app: App
    end_user: EndUser
    workflow: Workflow
    graph: Graph
    pool: VariablePool
    inputs: dict[str, Any]
    secrets: frozenset[str]
    stop: StopFlag
    slot: str
    pipeline: MessagePipeline


class WorkflowService:
    """Runs of workflow apps."""

    def __init__(self, container: Container) -> None:
        self.c = container

    async def start(
        self,
        app: App,
        end_user: EndUser,
        inputs: dict[str, Any],
        files: list[Any],
        workflow_id: str | None = None,
    ) -> RunStream:
        """Validate and launch a run; the returned stream fills as the run proceeds."""
        workflow = await pick_version(self.c, app, workflow_id)
        try:
            graph = Graph.from_dsl(workflow.graph)
        except GraphError as exc:
            raise InvalidParamError(str(exc)) from None
        variables = start_variables(graph.nodes[graph.root].data.get("variables") or [])
        async with self.c.db.session() as session:
            values = await run_inputs(session, self.c.settings, app, variables, inputs)
            files_value = await sys_files(session, self.c.settings, app, files)
        env, secrets = open_values(workflow.environment_variables, self.c.cipher)
        run_id, task_id = new_id(), new_id()
        system = {
            "files": files_value,
            "user_id": end_user.session_id,
            "app_id": app.id,
            "workflow_id": workflow.id,
            "workflow_run_id": run_id,
            "timestamp": int(time.time()),
        }
        pool = build_pool(graph, values, system, env)
        run_inputs_record = {**values, **{f"sys.{k}": v for k, v in system.items()}}
        pipeline = MessagePipeline(self.c, app, end_user)
        slot = await pipeline.acquire_slot()
        try:
            await start_run_row(self.c, app, workflow, end_user, run_id, run_inputs_record, secrets)
            stop = await self.c.runs.register(task_id, owner_key(end_user.id))
        except BaseException:
            await pipeline.release_slot(slot)
            raise
        stream = RunStream(Envelope(mode="workflow", task_id=task_id, workflow_run_id=run_id))
        self.c.live[task_id] = stream
        plan = _Plan(
            app, end_user, workflow, graph, pool, run_inputs_record, secrets, stop, slot, pipeline
        )
        self.c.spawn(self._run(stream, plan))
        return stream

    async def _run(self, stream: RunStream, plan: _Plan) -> None:
        env = stream.envelope
        record = RunRecord(env.workflow_run_id or "", plan.workflow, plan.end_user, plan.secrets)
        stream.push(GraphEvent("workflow_started", record.started_event_data(plan.inputs)))
        services = run_services(self.c, plan.app, plan.end_user.id, plan.secrets)
        ctx = RunContext(
            pool=plan.pool,
            services=services,
            graph=plan.graph,
            stop=plan.stop,
            steps=StepCounter(),
            workflow_run_id=record.run_id,
        )
        try:
            engine = GraphEngine(ctx, services.registry, stream_responses=True)
            async for event in engine.run():
                if isinstance(event, GraphEvent) and event.event == "node_finished":
                    record.executions.append(event.data)
                stream.push(event)
            assert engine.result is not None
            record.absorb(engine.result)
        except (NodeConfigError, DomainError) as exc:
            record.error = exc.message
        except Exception:
            log.exception("workflow run %s crashed", record.run_id)
            record.error = InternalServerError.default_message
        finally:
            elapsed = time.perf_counter() - record.started
            finished = now()
            try:
                await record.save(self.c, finished, elapsed)
            except Exception:
                log.exception("could not store workflow run %s", record.run_id)
                stream.push(
                    ErrorEvent("internal_server_error", 500, InternalServerError.default_message)
                )
            stream.push(
                GraphEvent("workflow_finished", record.finished_event_data(finished, elapsed))
            )
            stream.close()
            self.c.live.pop(env.task_id, None)
            await self.c.runs.finish(env.task_id)
            await plan.pipeline.release_slot(plan.slot)
