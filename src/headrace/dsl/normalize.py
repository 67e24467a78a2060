"""Turn a DSL document of any version into one canonical shape (dsl.md §1, §8).

The canonical shape is what a current (0.6.0) export contains, as a plain JSON-compatible dict:

- top level: `version` (the file's own version, `"0.1.0"` when absent; the exporter writes the
  server's version), `kind: app`, `app` with all seven fields, `dependencies` (list), and
  `workflow` or `model_config` as the file has them;
- `workflow`: `graph {nodes, edges, viewport}`, `features`, `environment_variables`,
  `conversation_variables`, `rag_pipeline_variables`; variables carry `id`, `name`,
  `description`, `value_type` (lower case; `integer`/`float` → `number`), `value`, `selector`;
- graph: string ids, wrapper `type` on every node, notes kept (wrapper `custom-note`, which is
  what marks them non-executable), every edge with string `sourceHandle`/`targetHandle`, every
  container with a start child, system variables addressed as `["sys", name]` (see
  `normalize_graph` and `normalize_nodes` for the node rules);
- `model_config`: every key of §1.7 present (defaults filled in), provider ids in plugin form.

Unknown keys are kept everywhere. `normalize` is idempotent and never mutates its argument.
Choice for §8 rule 15: HTTP nodes without `retry_config` get none (the backend default, as for
an API-only import into Dify), so `retry_config` is never invented.
"""

from __future__ import annotations

import base64
import datetime
import json
import uuid
from collections.abc import Mapping
from typing import Any

from headrace.dsl.loader import DslError
from headrace.dsl.normalize_graph import normalize_graph
from headrace.dsl.normalize_nodes import (
    lower_value_type,
    normalize_model,
    normalize_provider_key,
)
from headrace.dsl.provider_ids import TOOL_TYPES_WITH_PLUGIN_IDS, canonical_tool_provider

DEFAULT_VERSION = "0.1.0"
GRAPH_MODES = frozenset({"workflow", "advanced-chat"})
EASY_UI_MODES = frozenset({"chat", "completion", "agent-chat"})
ICON_TYPES = frozenset({"emoji", "image", "link"})

_VARIABLE_IDS = uuid.UUID("5d0c7a52-3f7e-4d5e-9a57-6c1f0e2b8a11")
"""Namespace for the deterministic ids given to variables that lack one (§8 rule 22)."""

_MODEL_CONFIG_DEFAULTS: dict[str, Any] = {
    "prompt_type": "simple",
    "pre_prompt": "",
    "chat_prompt_config": {},
    "completion_prompt_config": {},
    "user_input_form": [],
    "dataset_query_variable": None,
    "opening_statement": None,
    "suggested_questions": [],
    "suggested_questions_after_answer": {"enabled": False},
    "speech_to_text": {"enabled": False},
    "text_to_speech": {"enabled": False},
    "retriever_resource": {"enabled": True},
    "more_like_this": {"enabled": False},
    "sensitive_word_avoidance": {"enabled": False, "type": "", "config": {}},
    "external_data_tools": [],
    "agent_mode": {"enabled": False, "strategy": None, "tools": [], "prompt": None},
    "dataset_configs": {"retrieval_model": "multiple"},
    "file_upload": {
        "image": {
            "enabled": False,
            "number_limits": 3,
            "detail": "high",
            "transfer_methods": ["remote_url", "local_file"],
        }
    },
}


def to_json_value(value: Any) -> Any:
    """A deep copy of YAML-loaded data using only JSON types (dates become ISO strings)."""
    if isinstance(value, Mapping):
        return {_json_key(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(item) for item in value]
    if isinstance(value, set | frozenset):
        return [to_json_value(item) for item in sorted(value, key=repr)]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    return str(to_json_value(key))


def normalize(document: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical form of a DSL document (see the module docstring)."""
    if not isinstance(document, Mapping):
        raise DslError("invalid DSL: the document must be a YAML mapping")
    doc: dict[str, Any] = to_json_value(document)
    version = doc.get("version") or DEFAULT_VERSION
    if not isinstance(version, str):
        raise DslError(f"Invalid version type, expected str, got {type(version)}")
    doc["version"] = version
    doc["kind"] = "app"
    if doc.get("dependencies") is None:
        doc["dependencies"] = []
    app = doc.get("app")
    mode = None
    if isinstance(app, dict):
        _normalize_app(app)
        mode = app.get("mode")
    workflow = doc.get("workflow")
    if isinstance(workflow, dict):
        _normalize_workflow(workflow)
    model_config = doc.get("model_config")
    if isinstance(model_config, dict):
        _normalize_model_config(model_config, defaults=str(mode) in EASY_UI_MODES)
    return doc


def _normalize_app(app: dict[str, Any]) -> None:
    """App metadata with every field of a current export (dsl.md §1.4, §8 rule 24)."""
    app["name"] = "" if app.get("name") is None else str(app["name"])
    app["description"] = "" if app.get("description") is None else str(app["description"])
    app["icon"] = "🤖" if app.get("icon") is None else str(app["icon"])
    if str(app.get("icon_type")) not in ICON_TYPES:
        app["icon_type"] = "emoji"
    background = app.get("icon_background")
    app["icon_background"] = "#FFFFFF" if background is None else str(background)
    app["use_icon_as_answer_icon"] = bool(app.get("use_icon_as_answer_icon", False))


def _normalize_workflow(workflow: dict[str, Any]) -> None:
    if not isinstance(workflow.get("graph"), dict):
        workflow["graph"] = {}
    normalize_graph(workflow["graph"])
    if not isinstance(workflow.get("features"), dict):
        workflow["features"] = {}
    normalize_features(workflow["features"])
    for key, namespace in (
        ("environment_variables", "env"),
        ("conversation_variables", "conversation"),
    ):
        if workflow.get(key) is None:
            workflow[key] = []
        normalize_variables(workflow[key], namespace)
    if workflow.get("rag_pipeline_variables") is None:
        workflow["rag_pipeline_variables"] = []


def normalize_features(features: dict[str, Any]) -> None:
    """Legacy image-only `file_upload` → current shape (dsl.md §1.8); model ids (§8 rule 13)."""
    upload = features.get("file_upload")
    if isinstance(upload, dict):
        _normalize_file_upload(upload)
    after_answer = features.get("suggested_questions_after_answer")
    if isinstance(after_answer, dict):
        normalize_model(after_answer.get("model"))


def _normalize_file_upload(upload: dict[str, Any]) -> None:
    """Legacy image-only uploads gain the current top-level fields (§1.8).

    The `image` entry is kept: vision detail is read from `image.detail` (§1.7), and the
    current shape carries it too. A shape that already has top-level `enabled` is current.
    """
    image = upload.get("image")
    if "enabled" in upload or not isinstance(image, dict) or not image.get("enabled"):
        return
    upload["enabled"] = True
    try:
        limit = int(image.get("number_limits", 3))
    except (TypeError, ValueError):
        limit = 3
    upload["number_limits"] = limit
    upload["allowed_file_upload_methods"] = image.get("transfer_methods") or [
        "remote_url",
        "local_file",
    ]
    upload["allowed_file_types"] = upload.get("allowed_file_types") or ["image"]
    upload["allowed_file_extensions"] = upload.get("allowed_file_extensions") or []


def normalize_variables(items: Any, namespace: str) -> None:
    """Environment (`env`) or conversation (`conversation`) variables (§3.5, §3.6, rule 22)."""
    if not isinstance(items, list):
        return
    for item in items:
        if not isinstance(item, dict):
            continue
        name = item.get("name")
        if "value_type" in item:
            value_type = lower_value_type(item["value_type"])
            item["value_type"] = "number" if value_type in ("integer", "float") else value_type
        if isinstance(name, str) and name:
            if not isinstance(item.get("id"), str) or not item["id"]:
                item["id"] = str(uuid.uuid5(_VARIABLE_IDS, f"{namespace}:{name}"))
            item["selector"] = [namespace, name]
        if item.get("description") is None:
            item["description"] = ""


def _normalize_model_config(config: dict[str, Any], *, defaults: bool) -> None:
    """Easy-UI configuration (dsl.md §1.7): defaults, provider ids, legacy file upload."""
    if defaults:
        for key, value in _MODEL_CONFIG_DEFAULTS.items():
            if config.get(key) is None and (value is not None or key not in config):
                config[key] = to_json_value(value)
    normalize_model(config.get("model"))
    normalize_features(config)
    datasets = config.get("dataset_configs")
    if isinstance(datasets, dict):
        datasets.setdefault("retrieval_model", "single")
        normalize_provider_key(datasets.get("reranking_model"), "reranking_provider_name")
        weights = datasets.get("weights")
        vector = weights.get("vector_setting") if isinstance(weights, dict) else None
        normalize_provider_key(vector, "embedding_provider_name")
        normalize_model(datasets.get("metadata_model_config"))
    agent_mode = config.get("agent_mode")
    tools = agent_mode.get("tools") if isinstance(agent_mode, dict) else None
    for tool in tools if isinstance(tools, list) else []:
        if (
            isinstance(tool, dict)
            and str(tool.get("provider_type")) in TOOL_TYPES_WITH_PLUGIN_IDS
            and isinstance(tool.get("provider_id"), str)
        ):
            tool["provider_id"] = canonical_tool_provider(tool["provider_id"])
