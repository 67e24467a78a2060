"""Starting chat and completion turns: validate, open the conversation and message,
take a concurrency slot, launch the run in the background and persist what it produced.

Validation failures raise before anything is streamed, so they answer as plain HTTP errors
in both response modes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from headrace.apps.app_config import AppConfig, parse_app_config
from headrace.apps.events import Envelope
from headrace.apps.file_inputs import resolve_files
from headrace.apps.inputs import validate_inputs
from headrace.apps.message_run import TurnOutcome, run_turn
from headrace.apps.models import BoundModel, ModelGateway
from headrace.apps.naming import fallback_title, generate_title
from headrace.apps.prompt import Turn, build_prompt
from headrace.apps.run_stream import RunStream
from headrace.container import Container
from headrace.errors import (
    ConversationCompletedError,
    ConversationNotExistsError,
    InvalidParamError,
    TooManyRequestsError,
)
from headrace.providers.catalog import model_info
from headrace.providers.types import LLMRequest
from headrace.store.repos.conversations import ConversationRepo, MessageRepo
from headrace.store.repos.files import FileRepo
from headrace.store.tables import App, EndUser
from headrace.store.tables.base import new_id

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TurnCommand:
    """A validated-shape request to generate one message."""

    query: str
    inputs: dict[str, Any]
    files: list[dict[str, Any]] = field(default_factory=list)
    conversation_id: str | None = None
    auto_generate_name: bool = True


def concurrency_limit(app: App, default: int, maximum: int) -> int:
    """The app's active-request cap (spec §11.1); 0 means unlimited."""
    per_app = app.max_active_requests if app.max_active_requests else default
    positive = [v for v in (per_app, maximum) if v and v > 0]
    return min(positive) if positive else 0


class MessageService:
    """Chat and completion turns of easy-UI apps."""

    def __init__(self, container: Container) -> None:
        self.c = container
        self.models = ModelGateway(container.db, container.providers, container.cipher)

    async def start(self, app: App, end_user: EndUser, cmd: TurnCommand) -> RunStream:
        """Validate and launch a turn; the returned stream fills as the run proceeds."""
        config = parse_app_config(app.model_config)
        inputs = validate_inputs(config.inputs, cmd.inputs)
        async with self.c.db.session() as session:
            conversation = None
            if cmd.conversation_id and app.mode != "completion":
                conversation = await ConversationRepo(session).get_visible(
                    app.id, end_user.id, cmd.conversation_id
                )
                if conversation is None:
                    raise ConversationNotExistsError()
                if conversation.status != "normal":
                    raise ConversationCompletedError()
            images = await resolve_files(session, self.c, app, end_user, config, cmd.files)
        model = await self.models.bind(app.workspace_id, config.model.provider)
        settings = self.c.settings
        limit = concurrency_limit(
            app, settings.app_default_active_requests, settings.app_max_active_requests
        )
        request_id = new_id()
        if not await self.c.runs.acquire_slot(app.id, request_id, limit):
            raise TooManyRequestsError(
                "Too many requests. Please try again later. The current maximum concurrent "
                f"requests allowed for {app.id} is {limit}."
            )
        try:
            return await self._launch(
                app, end_user, cmd, config, inputs, images, model, conversation, request_id
            )
        except BaseException:
            await self.c.runs.release_slot(app.id, request_id)
            raise

    async def _launch(
        self,
        app: App,
        end_user: EndUser,
        cmd: TurnCommand,
        config: AppConfig,
        inputs: dict[str, Any],
        images: list[Any],
        model: BoundModel,
        conversation: Any,
        request_id: str,
    ) -> RunStream:
        task_id = new_id()
        new_conversation = False
        async with self.c.db.session() as session:
            conversations, messages = ConversationRepo(session), MessageRepo(session)
            history: list[Turn] = []
            if app.mode != "completion":
                if conversation is None:
                    new_conversation = True
                    conversation = await conversations.create(
                        app_id=app.id,
                        end_user_id=end_user.id,
                        mode=app.mode,
                        inputs=inputs,
                        introduction=config.opening_statement or "",
                    )
                else:
                    inputs = dict(conversation.inputs)
                    history = [
                        Turn(m.query, m.answer) for m in await messages.history(conversation.id)
                    ]
            message = await messages.create(
                app_id=app.id,
                conversation_id=conversation.id if conversation else None,
                end_user_id=end_user.id,
                mode=app.mode,
                task_id=task_id,
                parent_message_id=None
                if app.mode == "completion"
                else "00000000-0000-0000-0000-000000000000",
                inputs=inputs,
                query=cmd.query,
                files=cmd.files,
                model_provider=config.model.provider,
                model_id=config.model.name,
            )
            if cmd.files:
                await FileRepo(session).link(message.id, cmd.files)
        envelope = Envelope(
            mode=app.mode,
            task_id=task_id,
            message_id=message.id,
            conversation_id=conversation.id if conversation else None,
            created_at=int(message.created_at.timestamp()),
        )
        prompt = build_prompt(config, app.mode, inputs, cmd.query, history, images)
        request = LLMRequest(
            model=config.model.name,
            messages=prompt,
            mode="completion" if config.model.mode == "completion" else "chat",
            parameters=dict(config.model.completion_params),
        )
        stream = RunStream(envelope)
        stop = await self.c.runs.register(task_id, owner_key(end_user.id))
        self.c.live[task_id] = stream
        self.c.spawn(
            self._run(app, config, model, request, stream, stop, request_id, cmd, new_conversation)
        )
        return stream

    async def _run(
        self,
        app: App,
        config: AppConfig,
        model: BoundModel,
        request: LLMRequest,
        stream: RunStream,
        stop: Any,
        request_id: str,
        cmd: TurnCommand,
        new_conversation: bool,
    ) -> None:
        env = stream.envelope
        outcome = TurnOutcome(status="error", error="run did not finish")
        try:
            outcome = await run_turn(
                model=model,
                request=request,
                pricing=model_info(config.model.provider, config.model.name).pricing,
                stream=stream,
                runs=self.c.runs,
                stop=stop,
                deadline=self.c.settings.app_max_execution_time,
            )
        finally:
            stream.close()
            self.c.live.pop(env.task_id, None)
            await self.c.runs.finish(env.task_id)
            await self.c.runs.release_slot(app.id, request_id)
            await self._persist(env, outcome)
        if new_conversation and env.conversation_id:
            generate = cmd.auto_generate_name and outcome.status == "normal"
            await self._name_conversation(model, config, env.conversation_id, cmd.query, generate)

    async def _persist(self, env: Envelope, outcome: TurnOutcome) -> None:
        usage = outcome.usage
        async with self.c.db.session() as session:
            await MessageRepo(session).finish(
                env.message_id,
                answer=outcome.answer,
                status=outcome.status,
                error=outcome.error,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                prompt_unit_price=usage.prompt_unit_price,
                completion_unit_price=usage.completion_unit_price,
                price_unit=usage.prompt_price_unit,
                total_price=usage.total_price,
                currency=usage.currency,
                latency=usage.latency,
            )
            if env.conversation_id:
                await ConversationRepo(session).record_turn(env.conversation_id)

    async def _name_conversation(
        self, model: BoundModel, config: AppConfig, conversation_id: str, query: str, generate: bool
    ) -> None:
        name = fallback_title(query)
        if generate:
            name = await generate_title(model, config.model.name, query)
        async with self.c.db.session() as session:
            await ConversationRepo(session).set_name_if_unnamed(conversation_id, name)


def owner_key(end_user_id: str) -> str:
    """The owner recorded for a run started by an end user."""
    return f"end-user-{end_user_id}"


def require_query(query: str | None) -> str:
    """Chat turns need a non-empty query (NUL characters stripped)."""
    cleaned = (query or "").replace("\x00", "")
    if not cleaned:
        raise InvalidParamError("query is required")
    return cleaned
