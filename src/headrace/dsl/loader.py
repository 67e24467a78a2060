"""Reads a DSL document: parse YAML, normalise every legacy shape, check it can be imported
(dsl.md §1.1, §8). Errors are one line for the operator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

MODEL_CONFIG_MODES = frozenset({"chat", "completion", "agent-chat"})
GRAPH_MODES = frozenset({"workflow", "advanced-chat"})
SUPPORTED_MODES = MODEL_CONFIG_MODES | GRAPH_MODES


class DslError(ValueError):
    """A DSL file that cannot be imported; the message is one line for the operator."""


@dataclass(frozen=True, slots=True)
class AppDocument:
    """A normalised DSL document and the parts an import uses."""

    version: str
    mode: str
    app: dict[str, Any]
    model_config: dict[str, Any] | None
    workflow: dict[str, Any] | None
    raw: dict[str, Any]


def parse_yaml(text: str) -> Any:
    """YAML to Python data, errors as one-line `DslError`s."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise DslError(f"invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None


def load_document(text: str) -> AppDocument:
    """Parse, normalise and check a DSL document."""
    from headrace.dsl.normalize import normalize
    from headrace.dsl.validate import validate_graph

    data = parse_yaml(text)
    if not isinstance(data, dict):
        raise DslError("invalid DSL: the document must be a YAML mapping")
    if "version" in data and data["version"] is not None and not isinstance(data["version"], str):
        raise DslError(f"Invalid version type, expected str, got {type(data['version'])}")
    app = data.get("app")
    if not isinstance(app, dict) or not app:
        raise DslError("Missing app data in YAML content")
    mode = app.get("mode")
    if not isinstance(mode, str) or not mode:
        raise DslError("Missing app mode in YAML content")
    if mode not in SUPPORTED_MODES:
        raise DslError(f"Invalid app mode: {mode}")
    if mode in MODEL_CONFIG_MODES and not isinstance(data.get("model_config"), dict):
        raise DslError("Missing model_config for chat/agent-chat/completion app")
    if mode in GRAPH_MODES and not isinstance(data.get("workflow"), dict):
        raise DslError("Missing workflow data for workflow/advanced chat app")
    document = normalize(data)
    validate_graph(document)
    return AppDocument(
        version=str(document["version"]),
        mode=mode,
        app=document["app"],
        model_config=document.get("model_config") if mode in MODEL_CONFIG_MODES else None,
        workflow=document.get("workflow") if mode in GRAPH_MODES else None,
        raw=document,
    )


def app_fields(doc: AppDocument) -> dict[str, Any]:
    """Columns of the app row created from a document."""
    app = doc.app
    return {
        "mode": doc.mode,
        "name": str(app.get("name") or "Untitled app"),
        "description": str(app.get("description") or ""),
        "icon_type": app.get("icon_type") or "emoji",
        "icon": app.get("icon") or "🤖",
        "icon_background": app.get("icon_background") or "#FFEAD5",
        "use_icon_as_answer_icon": bool(app.get("use_icon_as_answer_icon", False)),
        "model_config": doc.model_config or {},
    }
