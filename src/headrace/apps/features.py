"""An app's features whatever its mode: easy-UI apps keep them in `model_config`, graph apps
in their published workflow (`features` plus the Start node's form)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from headrace.apps.app_config import config_of
from headrace.apps.graph_runs import first_model
from headrace.container import Container
from headrace.errors import AppUnavailableError
from headrace.store.repos.workflows import WorkflowRepo
from headrace.store.tables import App
from headrace.workflow.graph import Graph, GraphError

GRAPH_MODES = frozenset({"workflow", "advanced-chat"})
FORM_KEYS = (
    "variable",
    "label",
    "type",
    "required",
    "max_length",
    "options",
    "default",
    "hide",
    "description",
    "allowed_file_types",
    "allowed_file_extensions",
    "allowed_file_upload_methods",
    "json_schema",
)


@dataclass(frozen=True, slots=True)
class AppFeatures:
    """Feature settings, the input form, and the model used for titles and suggestions."""

    raw: dict[str, Any]
    user_input_form: list[dict[str, Any]]
    model: tuple[str, str] | None

    def enabled(self, key: str) -> bool:
        """Whether a `{enabled}` feature is on."""
        value = self.raw.get(key)
        return bool(isinstance(value, dict) and value.get("enabled"))


def start_form(graph: Graph) -> list[dict[str, Any]]:
    """The Start node's variables as `user_input_form` items (`{type: {...}}`)."""
    form = []
    for item in graph.nodes[graph.root].data.get("variables") or []:
        if isinstance(item, dict) and item.get("variable"):
            spec = {k: item[k] for k in FORM_KEYS if k in item}
            spec.setdefault("required", False)
            spec.setdefault("options", [])
            form.append({str(item.get("type") or "text-input"): spec})
    return form


async def features_of(container: Container, app: App) -> AppFeatures:
    """The app's features (`app_unavailable` when a graph app has no published version)."""
    if app.mode not in GRAPH_MODES:
        config = config_of(app)
        return AppFeatures(
            raw=config.raw,
            user_input_form=list(config.raw.get("user_input_form") or []),
            model=(config.model.provider, config.model.name),
        )
    async with container.db.session() as session:
        workflow = await WorkflowRepo(session).latest_published(app.id)
    if workflow is None:
        raise AppUnavailableError()
    try:
        graph = Graph.from_dsl(workflow.graph)
    except GraphError:
        raise AppUnavailableError() from None
    return AppFeatures(
        raw=dict(workflow.features or {}),
        user_input_form=start_form(graph),
        model=first_model(graph),
    )
