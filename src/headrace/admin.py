"""Operator actions shared by the CLI and tests: import apps, mint keys, set credentials."""

from __future__ import annotations

from pathlib import Path

from headrace.crypto import CredentialCipher
from headrace.dsl.loader import DslError, app_fields, load_document
from headrace.providers.registry import ProviderRegistry, canonical_provider_id
from headrace.store.db import Database
from headrace.store.repos.apps import AppRepo
from headrace.store.repos.credentials import CredentialRepo
from headrace.store.tables import App


class AdminError(ValueError):
    """An operator mistake: unknown id, bad file, bad credential."""


async def import_app(db: Database, text: str) -> App:
    """Create an app from DSL text in the default workspace."""
    try:
        doc = load_document(text)
    except DslError as exc:
        raise AdminError(str(exc)) from None
    async with db.session() as session:
        repo = AppRepo(session)
        workspace = await repo.default_workspace()
        return await repo.create_app(workspace.id, **app_fields(doc))


async def import_app_file(db: Database, path: Path) -> App:
    """Create an app from a DSL file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AdminError(f"cannot read {path}: {exc.strerror}") from None
    return await import_app(db, text)


async def new_app_key(db: Database, app_id: str) -> str:
    """Mint an `app-` key for an existing app."""
    async with db.session() as session:
        repo = AppRepo(session)
        app = await repo.get(app_id)
        if app is None:
            raise AdminError(f"app not found: {app_id}")
        return await repo.create_key(app.workspace_id, app.id, "app")


async def list_apps(db: Database) -> list[App]:
    """Every app."""
    async with db.session() as session:
        return await AppRepo(session).list()


async def configure_provider(
    db: Database,
    providers: ProviderRegistry,
    cipher: CredentialCipher,
    provider_id: str,
    credentials: dict[str, str],
) -> str:
    """Store workspace-default credentials for a provider; returns its canonical id."""
    canonical = canonical_provider_id(provider_id)
    try:
        provider = providers.get(canonical)
    except Exception:
        raise AdminError(f"unknown provider: {provider_id}") from None
    unknown = sorted(set(credentials) - set(provider.credential_keys))
    if unknown:
        allowed = ", ".join(provider.credential_keys)
        raise AdminError(
            f"unknown credential(s) {', '.join(unknown)} for {canonical}; use {allowed}"
        )
    async with db.session() as session:
        workspace = await AppRepo(session).default_workspace()
        await CredentialRepo(session, cipher).put(workspace.id, canonical, credentials)
    return canonical
