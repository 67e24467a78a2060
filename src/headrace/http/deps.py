"""Request dependencies: container access, app-key auth (spec §2.2), JSON bodies (§1.2),
payload validation, end users (§3).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError

from headrace.container import Container
from headrace.errors import (
    BadRequestError,
    ForbiddenError,
    InvalidParamError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from headrace.single_flight import SingleFlight
from headrace.store.repos.apps import AppRepo
from headrace.store.repos.end_users import EndUserRepo
from headrace.store.tables import App, EndUser

Model = TypeVar("Model", bound=BaseModel)
KEY_CACHE_SECONDS = 10.0
END_USER_CACHE_SIZE = 50_000


def container_of(request: Request) -> Container:
    """The process container."""
    container: Container = request.app.state.container
    return container


def bearer_key(request: Request) -> str:
    """The key of an `Authorization: Bearer <key>` header, checked as the contract orders."""
    header = request.headers.get("authorization")
    if not header or " " not in header.strip():
        raise UnauthorizedError("Authorization header must be provided and start with 'Bearer'")
    scheme, _, key = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise UnauthorizedError("Authorization scheme must be 'Bearer'")
    return key.strip()


@dataclass(slots=True)
class _CachedApp:
    app: App
    expires: float


class AppKeyAuth:
    """Resolves an app key to its app, caching positive lookups for a few seconds."""

    def __init__(self) -> None:
        self._cache: dict[str, _CachedApp] = {}
        self._flights: SingleFlight[App] = SingleFlight()

    async def __call__(self, request: Request) -> App:
        """The app the request's key belongs to."""
        key = bearer_key(request)
        cached = self._cache.get(key)
        if cached is not None and cached.expires > time.monotonic():
            return cached.app
        return await self._flights.do(key, lambda: self._load(container_of(request), key))

    async def _load(self, container: Container, key: str) -> App:
        now = time.monotonic()
        async with container.db.session() as session:
            repo = AppRepo(session)
            token = await repo.find_key(key, "app")
            if token is None or token.app_id is None:
                raise UnauthorizedError("Access token is invalid")
            app = await repo.get(token.app_id)
            if app is None:
                raise ForbiddenError("The app no longer exists.")
            if app.status != "normal":
                raise ForbiddenError("The app's status is abnormal.")
            if not app.enable_api:
                raise ForbiddenError("The app's API service has been disabled.")
            workspace = await repo.workspace(app.workspace_id)
            if workspace is None or workspace.status == "archive":
                raise ForbiddenError("The workspace's status is archived.")
            await repo.touch_key(token.id)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = _CachedApp(app, now + KEY_CACHE_SECONDS)
        return app


async def app_from_key(request: Request) -> App:
    """Dependency: the app of the request's key (the cache lives on the ASGI app)."""
    auth: AppKeyAuth = request.app.state.key_auth
    return await auth(request)


async def json_body(request: Request) -> dict[str, Any]:
    """The JSON object body; 415 without a JSON content type, 400 when it does not parse."""
    content_type = request.headers.get("content-type", "")
    if "application/json" not in content_type.lower():
        raise UnsupportedMediaTypeError()
    raw = await request.body()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequestError("Invalid JSON payload received or JSON payload is empty.") from None
    if not isinstance(data, dict):
        raise BadRequestError("Invalid JSON payload: expected an object.")
    return data


def validate(model: type[Model], data: Any) -> Model:
    """Validate a payload; failures are `400 invalid_param` with pydantic's text."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidParamError(str(exc)) from None


def user_arg(value: Any, required: bool) -> str | None:
    """The `user` argument as a string (numbers accepted); required ones must be non-empty."""
    if isinstance(value, bool) or value is None:
        value = None
    elif isinstance(value, int | float):
        value = str(value)
    if value is not None and not isinstance(value, str):
        raise InvalidParamError("Arg user must be provided.")
    if required and not value:
        raise InvalidParamError("Arg user must be provided.")
    return value or None


class EndUserCache:
    """Caches end-user rows by (app, user) (they are never deleted)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str | None], EndUser] = {}
        self._flights: SingleFlight[EndUser] = SingleFlight()

    async def get(self, container: Container, app: App, user: str | None) -> EndUser:
        """The end user for this app and `user` string, created on first use."""
        key = (app.id, user)
        row = self._rows.get(key)
        if row is not None:
            return row
        return await self._flights.do(key, lambda: self._load(container, app, user))

    async def _load(self, container: Container, app: App, user: str | None) -> EndUser:
        key = (app.id, user)
        async with container.db.session() as session:
            row = await EndUserRepo(session).get_or_create(app.workspace_id, app.id, user)
        if len(self._rows) > END_USER_CACHE_SIZE:
            self._rows.clear()
        self._rows[key] = row
        return row


async def end_user_for(request: Request, app: App, user: str | None) -> EndUser:
    """The end user making this request."""
    cache: EndUserCache = request.app.state.end_users
    return await cache.get(container_of(request), app, user)


async def workspace_from_dataset_key(request: Request) -> str:
    """Dependency: the workspace of the request's `dataset-…` key (spec §2.3)."""
    key = bearer_key(request)
    container = container_of(request)
    async with container.db.session() as session:
        repo = AppRepo(session)
        token = await repo.find_key(key, "dataset")
        if token is None:
            raise UnauthorizedError("Access token is invalid")
        workspace = await repo.workspace(token.workspace_id)
        if workspace is None or workspace.status != "normal":
            raise UnauthorizedError("Tenant does not exist.")
        await repo.touch_key(token.id)
    return token.workspace_id
