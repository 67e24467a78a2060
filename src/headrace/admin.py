"""Operator actions shared by the CLI and tests: import apps, mint keys, set credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headrace.apps.env_vars import seal, unsealed
from headrace.crypto import CredentialCipher
from headrace.dsl.export import ExportSource, export_document
from headrace.dsl.loader import GRAPH_MODES, DslError, app_fields, load_document
from headrace.providers.registry import ProviderRegistry, canonical_provider_id
from headrace.store.db import Database
from headrace.store.repos.apps import AppRepo
from headrace.store.repos.credentials import CredentialRepo
from headrace.store.repos.workflows import WorkflowRepo
from headrace.store.tables import App


class AdminError(ValueError):
    """An operator mistake: unknown id, bad file, bad credential."""


async def import_app(db: Database, text: str, cipher: CredentialCipher | None = None) -> App:
    """Create an app from DSL text in the default workspace.

    Graph apps get a draft workflow (secret environment values sealed) that is published at
    once, so the imported app serves right away; `publish_app` publishes later drafts.
    """
    try:
        doc = load_document(text)
    except DslError as exc:
        raise AdminError(str(exc)) from None
    async with db.session() as session:
        repo = AppRepo(session)
        workspace = await repo.default_workspace()
        app = await repo.create_app(workspace.id, **app_fields(doc))
        if doc.workflow is not None:
            if cipher is None:
                raise AdminError("importing a workflow app needs the credential cipher")
            workflows = WorkflowRepo(session)
            await workflows.save_draft(app.id, **workflow_fields(doc.workflow, cipher))
            await workflows.publish(app.id)
        return app


def workflow_fields(workflow: dict[str, Any], cipher: CredentialCipher) -> dict[str, Any]:
    """Columns of a workflow version from a normalised `workflow` mapping."""
    return {
        "graph": workflow.get("graph") or {},
        "features": workflow.get("features") or {},
        "environment_variables": seal(workflow.get("environment_variables") or [], cipher),
        "conversation_variables": workflow.get("conversation_variables") or [],
    }


async def publish_app(db: Database, app_id: str) -> str:
    """Publish the app's draft; returns the new version id."""
    async with db.session() as session:
        app = await AppRepo(session).get(app_id)
        if app is None:
            raise AdminError(f"app not found: {app_id}")
        published = await WorkflowRepo(session).publish(app_id)
        if published is None:
            raise AdminError(f"app {app_id} has no draft workflow to publish")
        return published.id


async def export_app(
    db: Database, cipher: CredentialCipher, app_id: str, include_secrets: bool = False
) -> str:
    """The DSL YAML of an app (its draft workflow for graph apps)."""
    async with db.session() as session:
        app = await AppRepo(session).get(app_id)
        if app is None:
            raise AdminError(f"app not found: {app_id}")
        workflow = None
        if app.mode in GRAPH_MODES:
            draft = await WorkflowRepo(session).draft(app.id)
            if draft is None:
                raise AdminError(f"app {app_id} has no workflow")
            workflow = {
                "graph": draft.graph,
                "features": draft.features,
                "environment_variables": unsealed(
                    draft.environment_variables, cipher, include_secrets
                ),
                "conversation_variables": draft.conversation_variables,
                "rag_pipeline_variables": [],
            }
    source = ExportSource(
        name=app.name,
        mode=app.mode,
        icon=app.icon or "🤖",
        icon_type=app.icon_type or "emoji",
        icon_background=app.icon_background or "#FFEAD5",
        description=app.description,
        use_icon_as_answer_icon=app.use_icon_as_answer_icon,
        model_config=None if workflow is not None else app.model_config,
        workflow=workflow,
    )
    try:
        return export_document(source, include_secrets=include_secrets)
    except DslError as exc:
        raise AdminError(str(exc)) from None


async def import_app_file(db: Database, path: Path, cipher: CredentialCipher) -> App:
    """Create an app from a DSL file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AdminError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise AdminError(f"cannot read {path}: not UTF-8 text") from None
    return await import_app(db, text, cipher)


async def new_app_key(db: Database, app_id: str) -> str:
    """Mint an `app-` key for an existing app."""
    async with db.session() as session:
        repo = AppRepo(session)
        app = await repo.get(app_id)
        if app is None:
            raise AdminError(f"app not found: {app_id}")
        return await repo.create_key(app.workspace_id, app.id, "app")


async def new_dataset_key(db: Database) -> str:
    """Mint a workspace `dataset-` key for the Knowledge API."""
    async with db.session() as session:
        repo = AppRepo(session)
        workspace = await repo.default_workspace()
        return await repo.create_key(workspace.id, None, "dataset")


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
