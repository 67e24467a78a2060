"""Write an app as DSL YAML the way Dify's "Export DSL" does (dsl.md §1.1, §7.1).

The output has keys sorted at every level, Unicode written literally, block style, and list
items at their parent's indentation. Masking without `include_secrets`: `secret` environment
variables are exported as `""` and tool / agent-tool `credential_id`s are removed. Always:
easy-UI agent tools lose `credential_id`, webhook URLs and plugin-trigger subscriptions are
blanked and schedule triggers get the default `config`. With a `workspace_id`, knowledge
dataset ids are encrypted for that workspace as Dify does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from headrace.dsl.dataset_ids import encrypt_dataset_ids
from headrace.dsl.loader import DslError
from headrace.dsl.normalize import GRAPH_MODES, to_json_value

CURRENT_DSL_VERSION = "0.6.0"
"""The DSL version this server writes (Dify 1.13+)."""

DEFAULT_SCHEDULE: dict[str, Any] = {
    "mode": "visual",
    "frequency": "daily",
    "visual_config": {"time": "12:00 AM", "on_minute": 0, "weekdays": ["sun"], "monthly_days": [1]},
    "timezone": "UTC",
}


@dataclass(frozen=True, slots=True)
class ExportSource:
    """What an export reads: the app row's fields and its configuration.

    Graph apps (`workflow`, `advanced-chat`) need `workflow` (the stored, normalised
    `{graph, features, environment_variables, ...}` mapping); the others need `model_config`.
    """

    name: str
    mode: str
    icon: str = "🤖"
    icon_type: str = "emoji"
    icon_background: str = "#FFEAD5"
    description: str = ""
    use_icon_as_answer_icon: bool = False
    model_config: Mapping[str, Any] | None = None
    workflow: Mapping[str, Any] | None = None
    dependencies: Sequence[Mapping[str, Any]] = ()

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ExportSource:
        """The export source equivalent to a normalised DSL document."""
        app = document.get("app")
        if not isinstance(app, Mapping):
            raise DslError("Missing app data in YAML content")
        return cls(
            name=str(app.get("name") or ""),
            mode=str(app.get("mode") or ""),
            icon=str(app.get("icon") or "🤖"),
            icon_type=str(app.get("icon_type") or "emoji"),
            icon_background=str(app.get("icon_background") or "#FFEAD5"),
            description=str(app.get("description") or ""),
            use_icon_as_answer_icon=bool(app.get("use_icon_as_answer_icon", False)),
            model_config=_mapping(document.get("model_config")),
            workflow=_mapping(document.get("workflow")),
            dependencies=_dependencies(document.get("dependencies")),
        )


def _mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def _dependencies(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def export_data(
    source: ExportSource, *, include_secrets: bool = False, workspace_id: str | None = None
) -> dict[str, Any]:
    """The export as a plain dict (what `export_document` serialises)."""
    data: dict[str, Any] = {
        "app": {
            "name": source.name,
            "mode": source.mode,
            "icon": source.icon,
            "icon_type": source.icon_type,
            "icon_background": source.icon_background,
            "description": source.description,
            "use_icon_as_answer_icon": source.use_icon_as_answer_icon,
        },
        "dependencies": to_json_value(list(source.dependencies)),
        "kind": "app",
        "version": CURRENT_DSL_VERSION,
    }
    if source.mode in GRAPH_MODES:
        if not isinstance(source.workflow, Mapping):
            raise DslError("Missing workflow data for workflow/advanced chat app")
        workflow: dict[str, Any] = to_json_value(source.workflow)
        _mask_workflow(workflow, include_secrets=include_secrets)
        data["workflow"] = workflow
        if workspace_id is not None:
            encrypt_dataset_ids(data, workspace_id)
    else:
        if not isinstance(source.model_config, Mapping):
            raise DslError("Missing model_config for chat/agent-chat/completion app")
        model_config: dict[str, Any] = to_json_value(source.model_config)
        agent_mode = model_config.get("agent_mode")
        _strip_credentials(agent_mode.get("tools") if isinstance(agent_mode, dict) else None)
        data["model_config"] = model_config
    return data


def export_document(
    source: ExportSource, *, include_secrets: bool = False, workspace_id: str | None = None
) -> str:
    """The DSL YAML of an app, masked per dsl.md §7.1."""
    data = export_data(source, include_secrets=include_secrets, workspace_id=workspace_id)
    return dump_yaml(data)


def dump_yaml(data: Mapping[str, Any]) -> str:
    """YAML in the exporter's style: sorted keys, literal Unicode, block style."""
    return yaml.safe_dump(
        data, allow_unicode=True, sort_keys=True, default_flow_style=False, indent=2
    )


def _strip_credentials(tools: Any) -> None:
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, dict):
            tool.pop("credential_id", None)


def _mask_workflow(workflow: dict[str, Any], *, include_secrets: bool) -> None:
    if not include_secrets:
        variables = workflow.get("environment_variables")
        for variable in variables if isinstance(variables, list) else []:
            if isinstance(variable, dict) and variable.get("value_type") == "secret":
                variable["value"] = ""
    graph = workflow.get("graph")
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    for node in nodes if isinstance(nodes, list) else []:
        data = node.get("data") if isinstance(node, dict) else None
        if isinstance(data, dict):
            _mask_node(data, include_secrets=include_secrets)


def _mask_node(data: dict[str, Any], *, include_secrets: bool) -> None:
    kind = data.get("type")
    if kind == "tool" and not include_secrets:
        data.pop("credential_id", None)
    elif kind == "agent" and not include_secrets:
        parameters = data.get("agent_parameters")
        tools = parameters.get("tools") if isinstance(parameters, dict) else None
        _strip_credentials(tools.get("value") if isinstance(tools, dict) else None)
    elif kind == "trigger-webhook":
        data["webhook_url"] = ""
        data["webhook_debug_url"] = ""
    elif kind == "trigger-plugin":
        data["subscription_id"] = ""
    elif kind == "trigger-schedule":
        data["config"] = to_json_value(DEFAULT_SCHEDULE)
