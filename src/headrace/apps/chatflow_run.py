"""Chatflow (advanced-chat) turns: a workflow whose Answer nodes stream into a chat message.

Turns of one conversation run one at a time (a lock of the coordination backend), so
conversation-variable updates made by assigner nodes are never lost between concurrent turns.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from headrace.apps.env_vars import open_values
from headrace.apps.events import ErrorEvent, MessageEndEvent, MessageEvent, RunEvent
from headrace.apps.generation import TurnCommand
from headrace.apps.graph_runs import RunRecord, build_pool, first_model, start_run_row, summed_usage
from headrace.apps.message_run import TurnOutcome
from headrace.apps.pipeline import MessagePipeline, OpenedTurn, owner_key
from headrace.apps.run_stream import RunStream
from headrace.apps.workflow_inputs import run_inputs, start_variables, sys_files
from headrace.apps.workflow_run import pick_version
from headrace.apps.workflow_services import run_services
from headrace.container import Container
from headrace.coord.base import StopFlag
from headrace.coord.locks import held
from headrace.errors import DomainError, InternalServerError, InvalidParamError
from headrace.ids import new_id
from headrace.store.repos.conversation_variables import ConversationVariableRepo
from headrace.store.repos.conversations import MessageRepo
from headrace.store.repos.turns import newest_turns_read
from headrace.store.tables import App, EndUser, Workflow
from headrace.workflow.engine import GraphEngine
from headrace.workflow.events import GraphEvent, TextChunkEvent
from headrace.workflow.graph import Graph, GraphError
from headrace.workflow.nodes.base import NodeConfigError, RunContext, StepCounter
from headrace.workflow.records import now
from headrace.workflow.services import HistoryTurn

log = logging.getLogger(__name__)


def answer_files(executions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Files the turn's Answer nodes showed (advanced-chat sends them in `message_end.files`)."""
    files: list[dict[str, Any]] = []
    for data in executions:
        if data.get("node_type") == "answer":
            files.extend((data.get("outputs") or {}).get("files") or [])
    return files


def citations(executions: list[dict[str, Any]], features: dict[str, Any]) -> list[dict[str, Any]]:
    """`retriever_resources` from the turn's knowledge-retrieval results (when citations are on),
    one per (dataset, document), numbered from 1."""
    feature = features.get("retriever_resource")
    if isinstance(feature, dict) and not feature.get("enabled", True):
        return []
    seen: set[tuple[Any, Any]] = set()
    resources: list[dict[str, Any]] = []
    for data in executions:
        if data.get("node_type") != "knowledge-retrieval":
            continue
        for item in (data.get("outputs") or {}).get("result") or []:
            meta = dict(item.get("metadata") or {})
            key = (meta.get("dataset_id"), meta.get("document_id"))
            if meta.get("_source") != "knowledge" or key in seen:
                continue
            seen.add(key)
            meta.pop("_source", None)
            meta.update(position=len(resources) + 1, content=item.get("content"))
            meta["title"] = item.get("title")
            resources.append(meta)
    return resources


class ConversationHistory:
    """Earlier finished turns of one conversation (for LLM memory)."""

    def __init__(self, container: Container, conversation_id: str) -> None:
        self.container = container
        self.conversation_id = conversation_id

    async def history(self, limit: int) -> list[HistoryTurn]:
        """The newest `limit` turns, oldest first."""
        [rows] = await self.container.db.read([newest_turns_read(self.conversation_id, limit)])
        return [HistoryTurn(query, answer) for query, answer in reversed(rows)]


@dataclass(slots=True)
class _Turn:
    app: App
    end_user: EndUser
    workflow: Workflow
    graph: Graph
    opened: OpenedTurn
    inputs: dict[str, Any]
    system: dict[str, Any]
    env: dict[str, Any]
    secrets: frozenset[str]
    stop: StopFlag
    slot: str
    pipeline: MessagePipeline
    cmd: TurnCommand


class ChatflowService:
    """Turns of advanced-chat apps."""

    def __init__(self, container: Container) -> None:
        self.c = container

    async def start(
        self, app: App, end_user: EndUser, cmd: TurnCommand, workflow_id: str | None = None
    ) -> RunStream:
        """Validate and launch a turn; the returned stream fills as the run proceeds."""
        workflow = await pick_version(self.c, app, workflow_id)
        try:
            graph = Graph.from_dsl(workflow.graph)
        except GraphError as exc:
            raise InvalidParamError(str(exc)) from None
        pipeline = MessagePipeline(self.c, app, end_user)
        conversation, _ = await pipeline.existing_conversation(cmd.conversation_id)
        variables = start_variables(graph.nodes[graph.root].data.get("variables") or [])
        async with self.c.db.session() as session:
            if conversation is not None:
                values = dict(conversation.inputs)  # a conversation keeps its first inputs
            else:
                values = await run_inputs(session, self.c.settings, app, variables, cmd.inputs)
            files_value = await sys_files(session, self.c.settings, app, cmd.files)
        env, secrets = open_values(workflow.environment_variables, self.c.cipher)
        slot = await pipeline.acquire_slot()
        try:
            opening = (workflow.features or {}).get("opening_statement")
            opened = await pipeline.open_turn(
                conversation, cmd.query, values, cmd.files, ("", ""), opening
            )
            await opened.written
            run_id = new_id()
            dialogue = (conversation.dialogue_count if conversation is not None else 0) + 1
            system = {
                "query": cmd.query,
                "files": files_value,
                "conversation_id": opened.envelope.conversation_id,
                "user_id": end_user.session_id,
                "dialogue_count": dialogue,
                "app_id": app.id,
                "workflow_id": workflow.id,
                "workflow_run_id": run_id,
            }
            await start_run_row(
                self.c,
                app,
                workflow,
                end_user,
                run_id,
                {**values, **{f"sys.{k}": v for k, v in system.items()}},
                secrets,
            )
            async with self.c.db.session() as session:
                await MessageRepo(session).finish(
                    opened.envelope.message_id, workflow_run_id=run_id
                )
            stop = await self.c.runs.register(opened.envelope.task_id, owner_key(end_user.id))
        except BaseException:
            await pipeline.release_slot(slot)
            raise
        envelope = opened.envelope
        stream = RunStream(replace(envelope, workflow_run_id=run_id))
        self.c.live[envelope.task_id] = stream
        turn = _Turn(
            app,
            end_user,
            workflow,
            graph,
            opened,
            values,
            system,
            env,
            secrets,
            stop,
            slot,
            pipeline,
            cmd,
        )
        self.c.spawn(self._run(stream, turn))
        return stream

    async def _run(self, stream: RunStream, turn: _Turn) -> None:
        env = stream.envelope
        conversation_id = env.conversation_id or ""
        record = RunRecord(env.workflow_run_id or "", turn.workflow, turn.end_user, turn.secrets)
        answer: list[str] = []
        outcome = TurnOutcome(status="error", error="run did not finish")
        tail: list[RunEvent] = []

        async def emit(event: RunEvent) -> None:
            await self.c.runs.append(env.task_id, stream.push(event))

        try:
            limit = self.c.settings.workflow_max_execution_time
            async with held(self.c.runs, f"conversation:{conversation_id}", ttl=limit, wait=limit):
                await self._execute(turn, record, emit, answer)
            answer_text = "".join(answer)
            usage = summed_usage(record.executions)
            outcome = TurnOutcome(answer=answer_text, usage=usage)
            finished = GraphEvent(
                "workflow_finished",
                record.finished_event_data(now(), time.perf_counter() - record.started),
            )
            outcome.resources = citations(record.executions, turn.workflow.features or {})
            end = MessageEndEvent(
                usage=usage,
                files=answer_files(record.executions),
                retriever_resources=outcome.resources,
            )
            if record.status == "failed":
                outcome.status, outcome.error = "error", record.error
                message = f"Run failed: {record.error}"
                tail = [
                    finished,
                    ErrorEvent(InvalidParamError.code, InvalidParamError.status, message),
                ]
            elif record.status == "stopped":
                tail = [finished, end]
            else:
                tail = [end, finished]
        except TimeoutError:
            outcome.error = "Another turn of this conversation is still running."
            tail = [ErrorEvent(InvalidParamError.code, 400, outcome.error)]
        except Exception:
            log.exception("chatflow turn %s crashed", env.task_id)
            tail = [ErrorEvent("internal_server_error", 500, InternalServerError.default_message)]
        finally:
            try:
                await turn.pipeline.record(env, outcome)
                await record.save(self.c, now(), time.perf_counter() - record.started)
            except Exception:
                log.exception("could not store chatflow turn %s", env.task_id)
            for event in tail:
                await emit(event)
            stream.close()
            self.c.live.pop(env.task_id, None)
            await self.c.runs.finish(env.task_id)
            await turn.pipeline.release_slot(turn.slot)
        if turn.opened.new_conversation and conversation_id:
            await self._name(turn, conversation_id, outcome.status == "normal")

    async def _execute(self, turn: _Turn, record: RunRecord, emit: Any, answer: list[str]) -> None:
        conversation_id = turn.opened.envelope.conversation_id or ""
        declared = list(turn.workflow.conversation_variables or [])
        async with self.c.db.session() as session:
            rows = await ConversationVariableRepo(session).ensure(
                conversation_id, turn.app.id, declared
            )
        before = {row.name: row.value for row in rows}
        pool = build_pool(turn.graph, turn.inputs, turn.system, turn.env, before)
        services = run_services(self.c, turn.app, turn.end_user.id, turn.secrets)
        services.conversation = ConversationHistory(self.c, conversation_id)
        ctx = RunContext(
            pool=pool,
            services=services,
            graph=turn.graph,
            stop=turn.stop,
            steps=StepCounter(),
            workflow_run_id=record.run_id,
        )
        await emit(
            GraphEvent(
                "workflow_started",
                record.started_event_data(
                    {
                        **turn.inputs,
                        **{f"sys.{k}": v for k, v in turn.system.items() if k != "conversation_id"},
                    }
                ),
            )
        )
        try:
            engine = GraphEngine(ctx, services.registry, stream_responses=True)
            async for event in engine.run():
                if isinstance(event, TextChunkEvent):
                    answer.append(event.text)
                    await emit(MessageEvent(event.text, event.from_variable_selector))
                    continue
                if event.event == "node_finished":
                    record.executions.append(event.data)
                await emit(event)
        except (NodeConfigError, DomainError) as exc:
            record.error = exc.message
            return
        assert engine.result is not None
        record.absorb(engine.result)
        after = {name: pool.get(["conversation", name]) for name in before}
        changed = {k: v for k, v in after.items() if v != before[k]}
        if changed:
            async with self.c.db.session() as session:
                await ConversationVariableRepo(session).set_values(conversation_id, changed)

    async def _name(self, turn: _Turn, conversation_id: str, succeeded: bool) -> None:
        model_ref = first_model(turn.graph)
        model = None
        if succeeded and turn.cmd.auto_generate_name and model_ref is not None:
            try:
                gateway = self.c.models
                model = await gateway.bind(turn.app.workspace_id, model_ref[0])
            except DomainError:
                model = None
        await turn.pipeline.name_conversation(
            conversation_id, turn.cmd.query, model, model_ref[1] if model_ref else ""
        )
