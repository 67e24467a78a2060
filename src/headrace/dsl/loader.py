"""Reads a DSL document and checks its top level (dsl.md §1.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

SUPPORTED_MODES = frozenset({"chat", "completion", "agent-chat"})
MODEL_CONFIG_MODES = frozenset({"chat", "completion", "agent-chat"})


class DslError(ValueError):
    """A DSL file that cannot be imported; the message is one line for the operator."""


@dataclass(frozen=True, slots=True)
class AppDocument:
    """The parts of a DSL file an import uses."""

    version: str
    mode: str
    app: dict[str, Any]
    model_config: dict[str, Any] | None
    raw: dict[str, Any]


def load_document(text: str) -> AppDocument:
    """Parse and check a DSL document."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise DslError(f"invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise DslError("invalid DSL: the document must be a YAML mapping")
    version = data.get("version") or "0.1.0"
    if not isinstance(version, str):
        raise DslError(f"Invalid version type, expected str, got {type(version)}")
    app = data.get("app")
    if not isinstance(app, dict) or not app:
        raise DslError("Missing app data in YAML content")
    mode = app.get("mode")
    if not isinstance(mode, str) or not mode:
        raise DslError("Missing app mode in YAML content")
    model_config = data.get("model_config")
    if mode in MODEL_CONFIG_MODES and not isinstance(model_config, dict):
        raise DslError("Missing model_config for chat/agent-chat/completion app")
    if mode not in SUPPORTED_MODES:
        raise DslError(f"app mode '{mode}' is not supported by this server yet")
    return AppDocument(version, mode, app, model_config, data)


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
