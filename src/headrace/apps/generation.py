"""Chat and completion turns of easy-UI apps: validate, open the turn through the shared
pipeline, stream the model in a background run, and close the turn whatever the client does.

Validation failures raise before anything is streamed, so they answer as plain HTTP errors
in both response modes.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from headrace.apps.app_config import AppConfig, config_of
from headrace.apps.file_inputs import resolve_files
from headrace.apps.inputs import validate_inputs
from headrace.apps.knowledge_context import (
    Retrieved,
    RouterModel,
    context_text,
    enabled_dataset_ids,
    retrieve_many,
)
from headrace.apps.message_run import TurnOutcome, run_turn
from headrace.apps.models import BoundModel
from headrace.apps.naming import fallback_title
from headrace.apps.pipeline import MessagePipeline, OpenedTurn, owner_key
from headrace.apps.prompt import HISTORY_MAX_TURNS, build_prompt
from headrace.apps.run_stream import RunStream
from headrace.container import Container
from headrace.coord.base import StopFlag
from headrace.providers.catalog import model_info
from headrace.providers.types import LLMRequest
from headrace.store.tables import App, EndUser


@dataclass(frozen=True, slots=True)
class TurnCommand:
    """A validated-shape request to generate one message."""

    query: str
    inputs: dict[str, Any]
    files: list[dict[str, Any]] = field(default_factory=list)
    conversation_id: str | None = None
    auto_generate_name: bool = True


@dataclass(frozen=True, slots=True)
class _Launch:
    pipeline: MessagePipeline
    config: AppConfig
    model: BoundModel
    request: LLMRequest
    turn: OpenedTurn
    stop: StopFlag
    slot: str
    cmd: TurnCommand
    resources: list[dict[str, Any]]


def _request(
    config: AppConfig,
    mode: str,
    inputs: dict[str, Any],
    query: str,
    history: list[Any],
    images: list[Any],
    knowledge: list[Retrieved],
) -> LLMRequest:
    """The model request of a turn."""
    return LLMRequest(
        model=config.model.name,
        messages=build_prompt(
            config, mode, inputs, query, history, images, context_text(knowledge)
        ),
        mode="completion" if config.model.mode == "completion" else "chat",
        parameters=dict(config.model.completion_params),
    )


def citations_enabled(config: AppConfig) -> bool:
    """The `retriever_resource` feature (on unless switched off)."""
    feature = config.raw.get("retriever_resource")
    return not isinstance(feature, dict) or bool(feature.get("enabled", True))


class MessageService:
    """Chat and completion turns of easy-UI apps."""

    def __init__(self, container: Container) -> None:
        self.c = container
        self.models = container.models

    async def start(self, app: App, end_user: EndUser, cmd: TurnCommand) -> RunStream:
        """Validate and launch a turn; the returned stream fills as the run proceeds."""
        config = config_of(app)
        inputs = validate_inputs(config.inputs, cmd.inputs)
        pipeline = MessagePipeline(self.c, app, end_user)
        conversation, history = await pipeline.existing_conversation(
            cmd.conversation_id, HISTORY_MAX_TURNS
        )
        images: list[Any] = []
        if cmd.files:
            async with self.c.db.session() as session:
                images = await resolve_files(session, self.c, app, end_user, config, cmd.files)
        model = await self.models.bind(app.workspace_id, config.model.provider)
        turn_inputs = dict(conversation.inputs) if conversation is not None else inputs
        knowledge = await self._knowledge(app, config, turn_inputs, cmd.query)
        slot = await pipeline.acquire_slot()
        turn: OpenedTurn | None = None
        try:
            # The rows are written (on SQLite's writer thread) while the model is called.
            turn = await pipeline.open_turn(
                conversation,
                cmd.query,
                inputs,
                cmd.files,
                (config.model.provider, config.model.name),
                config.opening_statement,
            )
            request = _request(config, app.mode, turn.inputs, cmd.query, history, images, knowledge)
            stop = await self.c.runs.register(turn.envelope.task_id, owner_key(end_user.id))
        except BaseException:
            if turn is not None:
                with suppress(Exception):
                    await turn.written
            await pipeline.release_slot(slot)
            raise
        stream = RunStream(turn.envelope)
        self.c.live[turn.envelope.task_id] = stream
        resources = [k.resource for k in knowledge] if citations_enabled(config) else []
        launch = _Launch(pipeline, config, model, request, turn, stop, slot, cmd, resources)
        self.c.spawn(self._run(stream, launch))
        return stream

    async def _knowledge(
        self, app: App, config: AppConfig, inputs: dict[str, Any], query: str
    ) -> list[Retrieved]:
        """Segments retrieved from the app's datasets for this turn (none without datasets)."""
        settings = config.raw.get("dataset_configs") or {}
        dataset_ids = enabled_dataset_ids(settings)
        if not dataset_ids:
            return []
        if app.mode == "completion":
            variable = config.raw.get("dataset_query_variable") or ""
            query = str(inputs.get(variable) or query)
        router = (
            RouterModel(config.model.provider, config.model.name)
            if settings.get("retrieval_model") == "single"
            else None
        )
        return await retrieve_many(self.c, app.workspace_id, dataset_ids, query, settings, router)

    async def _run(self, stream: RunStream, launch: _Launch) -> None:
        env = stream.envelope
        config = launch.config
        outcome = TurnOutcome(status="error", error="run did not finish")
        try:
            outcome = await run_turn(
                model=launch.model,
                request=launch.request,
                pricing=model_info(config.model.provider, config.model.name).pricing,
                stream=stream,
                runs=self.c.runs,
                stop=launch.stop,
                deadline=self.c.settings.app_max_execution_time,
                resources=launch.resources,
                written=launch.turn.written,
            )
        finally:
            with suppress(Exception):  # the outcome updates the rows: they must be there
                await launch.turn.written
            new_conversation = launch.turn.new_conversation and env.conversation_id is not None
            generate = launch.cmd.auto_generate_name and outcome.status == "normal"
            titled = new_conversation and generate
            # Without a model title the name is known now: written with the outcome.
            name = fallback_title(launch.cmd.query) if new_conversation and not titled else None
            try:
                await launch.pipeline.record(env, outcome, name)
            finally:
                if outcome.terminal is not None:
                    await self.c.runs.append(env.task_id, stream.push(outcome.terminal))
                stream.close()
                self.c.live.pop(env.task_id, None)
                await self.c.runs.finish(env.task_id)
                await launch.pipeline.release_slot(launch.slot)
        if titled and env.conversation_id:
            await launch.pipeline.name_conversation(
                env.conversation_id, launch.cmd.query, launch.model, config.model.name
            )
