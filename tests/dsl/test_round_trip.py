"""Export: YAML style, masking (dsl.md §7.1) and normalize → export → load → normalize."""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

import pytest
import yaml

from headrace.dsl.dataset_ids import (
    decrypt_dataset_id,
    encrypt_dataset_id,
    is_uuid,
    restore_dataset_ids,
)
from headrace.dsl.export import (
    CURRENT_DSL_VERSION,
    DEFAULT_SCHEDULE,
    ExportSource,
    export_data,
    export_document,
)
from headrace.dsl.loader import DslError
from headrace.dsl.normalize import normalize
from tests.dsl.builders import edge, graph_doc, linear, node, nodes_by_id, note

DATASET = "8c4620fa-15d7-464f-9cb9-561f1a59eb3f"


def _rich_legacy() -> dict[str, Any]:
    """A pre-0.1.0-style workflow touching most legacy rules."""
    it = node(1716911333343, "iteration", start_node_id="17209", iterator_selector=["s", "xs"])
    child = node("17209", "llm", parent="1716911333343", model={"provider": "openai"})
    child["data"]["prompt_template"] = [{"role": "user", "text": "翻译 {{#s.sys.query#}} 🌍"}]
    doc = graph_doc(
        [
            node("s", "start", variables=[]),
            node("if", "if-else", conditions=[], logical_operator="or"),
            node("agg", "variable-assigner", variables=[["s", "a"]], output_type="String"),
            node("h", "http-request", method="GET", body={"type": "json", "data": "{}"}),
            it,
            child,
            node("end", "end", outputs=[{"variable": "o", "value_selector": ["s", "sys.query"]}]),
            note("note1"),
        ],
        [
            edge("s", "if"),
            edge("if", "agg", "true"),
            edge("if", "h", "false"),
            edge("h", "agg"),
            edge("agg", 1716911333343),
            {"source": 1716911333343, "target": "end"},
        ],
        environment_variables=[
            {"name": "TOKEN", "value_type": "secret", "value": "s3cret"},
            {"name": "HOST", "value_type": "string", "value": "example.org"},
        ],
    )
    del doc["version"], doc["kind"]
    return doc


def _round_trip(document: dict[str, Any], **options: Any) -> tuple[dict[str, Any], str]:
    canonical = normalize(document)
    text = export_document(ExportSource.from_document(canonical), **options)
    return normalize(yaml.safe_load(text)), text


def _without_version(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "version"}


def test_round_trip_keeps_the_canonical_document() -> None:
    canonical = normalize(_rich_legacy())
    again, _ = _round_trip(_rich_legacy(), include_secrets=True)
    assert again["version"] == CURRENT_DSL_VERSION
    assert canonical["version"] == "0.1.0"
    assert _without_version(again) == _without_version(canonical)


def test_round_trip_of_easy_ui_app() -> None:
    document = {
        "app": {"name": "客服", "mode": "chat", "icon": "🤖"},
        "model_config": {
            "model": {"provider": "openai", "name": "gpt-4o", "mode": "chat"},
            "pre_prompt": "你好 {{name}}",
            "user_input_form": [{"text-input": {"variable": "name", "label": "名"}}],
        },
    }
    again, _ = _round_trip(document)
    assert _without_version(again) == _without_version(normalize(document))


def test_yaml_style_matches_the_exporter() -> None:
    _, text = _round_trip(_rich_legacy())
    assert "翻译" in text and "🌍" in text and "\\u" not in text and "\\U" not in text
    assert "{type:" not in text  # block style, no flow mappings
    assert re.search(r"^  graph:\n    edges:\n    - ", text, re.MULTILINE)
    assert text.startswith("app:\n")
    _assert_sorted(yaml.safe_load(text))


def _assert_sorted(value: Any) -> None:
    if isinstance(value, dict):
        assert list(value) == sorted(value)
        for item in value.values():
            _assert_sorted(item)
    elif isinstance(value, list):
        for item in value:
            _assert_sorted(item)


def test_top_level_of_an_export() -> None:
    source = ExportSource(
        name="n",
        mode="workflow",
        icon="🧭",
        icon_type="emoji",
        icon_background="#DCFCE7",
        workflow=normalize(linear())["workflow"],
        dependencies=[{"type": "marketplace", "value": {}, "current_identifier": None}],
    )
    data = yaml.safe_load(export_document(source))
    assert data["kind"] == "app"
    assert data["version"] == "0.6.0"
    assert data["app"] == {
        "name": "n",
        "mode": "workflow",
        "icon": "🧭",
        "icon_type": "emoji",
        "icon_background": "#DCFCE7",
        "description": "",
        "use_icon_as_answer_icon": False,
    }
    assert data["dependencies"][0]["type"] == "marketplace"
    assert "model_config" not in data


def test_missing_configuration_is_an_error() -> None:
    with pytest.raises(DslError, match="Missing workflow data"):
        export_document(ExportSource(name="n", mode="advanced-chat"))
    with pytest.raises(DslError, match="Missing model_config"):
        export_document(ExportSource(name="n", mode="completion"))


def test_secret_environment_variables_are_masked_unless_included() -> None:
    canonical = normalize(_rich_legacy())
    source = ExportSource.from_document(canonical)
    masked = export_data(source)["workflow"]["environment_variables"]
    assert [(v["name"], v["value"]) for v in masked] == [("TOKEN", ""), ("HOST", "example.org")]
    assert masked[0]["id"] == canonical["workflow"]["environment_variables"][0]["id"]
    full = export_data(source, include_secrets=True)["workflow"]["environment_variables"]
    assert full[0]["value"] == "s3cret"
    assert canonical["workflow"]["environment_variables"][0]["value"] == "s3cret"


def _credential_graph() -> dict[str, Any]:
    tool = node("t", "tool", tool_node_version="2", credential_id="cred-1")
    agent_tools = [{"tool_name": "x", "credential_id": "cred-2"}, {"tool_name": "y"}]
    agent = node(
        "a", "agent", agent_parameters={"tools": {"type": "constant", "value": agent_tools}}
    )
    return normalize(linear(tool, agent))


def test_tool_and_agent_credentials_are_stripped_unless_included() -> None:
    source = ExportSource.from_document(_credential_graph())
    masked = nodes_by_id(export_data(source))
    assert "credential_id" not in masked["t"]["data"]
    tools = masked["a"]["data"]["agent_parameters"]["tools"]["value"]
    assert tools == [{"tool_name": "x"}, {"tool_name": "y"}]
    kept = nodes_by_id(export_data(source, include_secrets=True))
    assert kept["t"]["data"]["credential_id"] == "cred-1"
    assert kept["a"]["data"]["agent_parameters"]["tools"]["value"][0]["credential_id"] == "cred-2"


def test_easy_ui_agent_tool_credentials_are_always_stripped() -> None:
    tools = [{"provider_type": "builtin", "provider_id": "time", "credential_id": "c"}]
    document = normalize(
        {
            "app": {"mode": "agent-chat"},
            "model_config": {"model": {}, "agent_mode": {"tools": tools}},
        }
    )
    data = export_data(ExportSource.from_document(document), include_secrets=True)
    assert data["model_config"]["agent_mode"]["tools"] == [
        {"provider_type": "builtin", "provider_id": "time"}
    ]


def test_trigger_fields_are_blanked_and_schedule_config_added() -> None:
    document = normalize(
        graph_doc(
            [
                node("w", "trigger-webhook", webhook_url="https://h/1", webhook_debug_url="x"),
                node("p", "trigger-plugin", subscription_id="sub"),
                node("s", "trigger-schedule", mode="cron", cron_expression="0 * * * *"),
            ]
        )
    )
    nodes = nodes_by_id(export_data(ExportSource.from_document(document), include_secrets=True))
    assert (nodes["w"]["data"]["webhook_url"], nodes["w"]["data"]["webhook_debug_url"]) == ("", "")
    assert nodes["p"]["data"]["subscription_id"] == ""
    assert nodes["s"]["data"]["config"] == DEFAULT_SCHEDULE
    assert nodes["s"]["data"]["cron_expression"] == "0 * * * *"


def _retrieval_document(ids: list[str]) -> dict[str, Any]:
    return normalize(linear(node("k", "knowledge-retrieval", dataset_ids=ids)))


def test_dataset_ids_are_encrypted_for_the_workspace_and_restored() -> None:
    workspace = str(uuid.uuid4())
    source = ExportSource.from_document(_retrieval_document([DATASET]))
    assert nodes_by_id(export_data(source))["k"]["data"]["dataset_ids"] == [DATASET]
    exported = yaml.safe_load(export_document(source, workspace_id=workspace))
    (encrypted,) = nodes_by_id(exported)["k"]["data"]["dataset_ids"]
    assert not is_uuid(encrypted) and encrypted == encrypt_dataset_id(DATASET, workspace)
    same = normalize(exported)
    restore_dataset_ids(same, workspace)
    assert nodes_by_id(same)["k"]["data"]["dataset_ids"] == [DATASET]
    other = normalize(exported)
    restore_dataset_ids(other, str(uuid.uuid4()))
    assert nodes_by_id(other)["k"]["data"]["dataset_ids"] == []


def test_dataset_id_restore_keeps_uuids_and_drops_garbage() -> None:
    document = _retrieval_document([DATASET, "not base64!", "QUJD"])
    before = copy.deepcopy(document)
    restore_dataset_ids(document, "w")
    assert nodes_by_id(document)["k"]["data"]["dataset_ids"] == [DATASET]
    assert nodes_by_id(before)["k"]["data"]["dataset_ids"] == [DATASET, "not base64!", "QUJD"]
    assert decrypt_dataset_id(encrypt_dataset_id("plain", "w"), "w") is None
