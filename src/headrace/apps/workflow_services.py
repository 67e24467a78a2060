"""The ports a graph run gets: the workspace's models, file bytes, limits, node settings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from headrace.apps.file_inputs import family_of
from headrace.apps.file_objects import file_object
from headrace.apps.knowledge_context import RouterModel, retrieve_many
from headrace.apps.models import BoundModel, ModelGateway
from headrace.apps.uploads import keep_upload
from headrace.container import Container
from headrace.store.blobs import LocalBlobStore
from headrace.store.repos.files import FileRepo
from headrace.store.tables import App
from headrace.workflow.http_fetch import FetchError, HttpCall, fetch
from headrace.workflow.services import EngineLimits, Services
from headrace.workflow.ssrf import EgressError, EgressPolicy


def allowed_hosts(setting: str) -> frozenset[str]:
    """The comma-separated allow-list of private hosts."""
    return frozenset(h.strip() for h in setting.split(",") if h.strip())


class WorkspaceModels:
    """Model access for one workspace, binding each provider once per run."""

    def __init__(self, gateway: ModelGateway, workspace_id: str) -> None:
        self.gateway = gateway
        self.workspace_id = workspace_id
        self._bound: dict[str, BoundModel] = {}

    async def bind(self, provider_id: str) -> BoundModel:
        """The bound model of a provider."""
        bound = self._bound.get(provider_id)
        if bound is None:
            bound = await self.gateway.bind(self.workspace_id, provider_id)
            self._bound[provider_id] = bound
        return bound


class WorkspaceFiles:
    """Reads uploads of one workspace and stores files that nodes produce."""

    def __init__(self, container: Container, app: App, end_user_id: str) -> None:
        self.container = container
        self.app = app
        self.workspace_id = app.workspace_id
        self.end_user_id = end_user_id

    async def _fetch(self, url: str) -> bytes:
        settings = self.container.settings
        policy = EgressPolicy(
            allow_private=settings.http_request_allow_private,
            allowed_hosts=allowed_hosts(settings.http_request_allowed_hosts),
        )
        try:
            result = await fetch(HttpCall("GET", url), policy)
        except (FetchError, EgressError) as exc:
            raise OSError(exc.message) from None
        if not 200 <= result.status_code < 300:
            raise OSError(f"download of {url} answered {result.status_code}")
        return result.file.data if result.file is not None else result.body_text.encode()

    async def save(self, data: bytes, filename: str, mime_type: str) -> dict[str, Any]:
        """Keep produced bytes as an upload of the app; returns its file object."""
        extension = PurePosixPath(filename).suffix.lstrip(".").lower()
        async with self.container.db.session() as session:
            upload = await keep_upload(
                session,
                self.container.settings.upload_dir,
                f"{self.workspace_id}/generated",
                data,
                workspace_id=self.workspace_id,
                app_id=self.app.id,
                name=filename,
                extension=extension,
                mime_type=mime_type,
                created_by_role="tool",
                created_by=self.end_user_id,
            )
            obj = await file_object(
                session,
                self.container.settings,
                self.app,
                {
                    "transfer_method": "local_file",
                    "upload_file_id": upload.id,
                    "type": family_of(extension),
                },
            )
        obj["transfer_method"] = "tool_file"
        return obj

    async def read(self, file: Mapping[str, Any]) -> bytes:
        """The bytes of an uploaded file, or of a remote one (fetched through the egress guard)."""
        related = file.get("related_id") or file.get("id")
        if not related and file.get("remote_url"):
            return await self._fetch(str(file["remote_url"]))
        if not related:
            raise FileNotFoundError("the file has no stored content")
        async with self.container.db.session() as session:
            upload = await FileRepo(session).upload(str(related))
        if upload is None or upload.workspace_id != self.workspace_id:
            raise FileNotFoundError(f"file {related} not found")
        return await LocalBlobStore(self.container.settings.upload_dir).get(upload.storage_key)


class WorkspaceKnowledge:
    """Dataset retrieval for one workspace, shaped as knowledge-retrieval results."""

    def __init__(self, container: Container, workspace_id: str) -> None:
        self.container = container
        self.workspace_id = workspace_id

    async def retrieve(
        self,
        dataset_ids: list[str],
        query: str,
        settings: Mapping[str, Any],
        router: tuple[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Result items with `_source: knowledge` metadata, best first."""
        found = await retrieve_many(
            self.container,
            self.workspace_id,
            dataset_ids,
            query,
            settings,
            RouterModel(*router) if router else None,
        )
        items = []
        for item in found:
            resource = item.resource
            items.append(
                {
                    "content": item.content,
                    "title": resource["document_name"],
                    "files": [],
                    "metadata": {
                        "_source": "knowledge",
                        **{
                            k: v
                            for k, v in resource.items()
                            if k not in ("content", "files", "title")
                        },
                        "retriever_from": "workflow",
                    },
                }
            )
        return items


def run_services(
    container: Container, app: App, end_user_id: str, secrets: frozenset[str]
) -> Services:
    """Services for one run of `app`."""
    settings = container.settings
    gateway = container.models
    return Services(
        models=WorkspaceModels(gateway, app.workspace_id),
        files=WorkspaceFiles(container, app, end_user_id),
        knowledge=WorkspaceKnowledge(container, app.workspace_id),
        limits=EngineLimits(
            max_steps=settings.workflow_max_steps,
            max_execution_time=settings.workflow_max_execution_time,
            max_call_depth=settings.workflow_call_depth,
        ),
        settings={
            "http_allow_private": settings.http_request_allow_private,
            "http_allowed_hosts": allowed_hosts(settings.http_request_allowed_hosts),
            "code_cpu_seconds": settings.code_cpu_seconds,
            "code_wall_seconds": settings.code_wall_seconds,
            "code_memory_mb": settings.code_memory_mb,
        },
        secrets=secrets,
        registry=container.nodes,
    )
