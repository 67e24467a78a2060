"""One test per importer rule of dsl.md §8 (and §1), on hand-written legacy fragments."""

from __future__ import annotations

import copy
import datetime
import json
import uuid
from typing import Any

import pytest

from headrace.dsl.loader import DslError
from headrace.dsl.node_types import is_executable, is_note
from headrace.dsl.normalize import normalize
from headrace.dsl.provider_ids import canonical_model_provider, canonical_tool_provider
from tests.dsl.builders import edge, graph_doc, linear, node, nodes_by_id, note


def _graph(document: dict[str, Any]) -> dict[str, Any]:
    graph: dict[str, Any] = document["workflow"]["graph"]
    return graph


def _data(document: dict[str, Any], node_id: str) -> dict[str, Any]:
    data: dict[str, Any] = nodes_by_id(document)[node_id]["data"]
    return data


def _easy(model_config: dict[str, Any], mode: str = "chat") -> dict[str, Any]:
    return {"app": {"name": "c", "mode": mode}, "model_config": model_config}


# ---- §1 top level -----------------------------------------------------------------------


def test_rule_1_missing_version_and_kind_default() -> None:
    doc = normalize({"app": {"name": "x", "mode": "workflow"}, "workflow": {}})
    assert doc["version"] == "0.1.0"
    assert doc["kind"] == "app"
    assert doc["dependencies"] == []


def test_rule_1_other_kind_is_replaced_and_version_kept() -> None:
    doc = normalize({"version": "0.3.1", "kind": "rag_pipeline", "app": {"mode": "chat"}})
    assert (doc["version"], doc["kind"]) == ("0.3.1", "app")


def test_rule_1_float_version_is_rejected() -> None:
    with pytest.raises(DslError, match="Invalid version type, expected str"):
        normalize({"version": 0.6, "app": {"mode": "chat"}})


def test_non_mapping_document_is_rejected() -> None:
    with pytest.raises(DslError, match="mapping"):
        normalize(["not", "a", "mapping"])  # type: ignore[arg-type]


def test_rule_24_app_fields_get_export_defaults() -> None:
    doc = normalize({"app": {"mode": "workflow", "name": "n", "icon_background": None}})
    assert doc["app"] == {
        "mode": "workflow",
        "name": "n",
        "description": "",
        "icon": "🤖",
        "icon_type": "emoji",
        "icon_background": "#FFFFFF",
        "use_icon_as_answer_icon": False,
    }
    doc = normalize({"app": {"mode": "chat", "icon_type": "sticker", "icon": "x"}})
    assert doc["app"]["icon_type"] == "emoji"
    assert normalize({"app": {"mode": "chat", "icon_type": "link"}})["app"]["icon_type"] == "link"


def test_workflow_gets_every_key_of_a_current_export() -> None:
    doc = normalize({"app": {"mode": "workflow"}, "workflow": {"graph": {"nodes": []}}})
    workflow = doc["workflow"]
    assert workflow["environment_variables"] == []
    assert workflow["conversation_variables"] == []
    assert workflow["rag_pipeline_variables"] == []
    assert workflow["features"] == {}
    assert workflow["graph"] == {"nodes": [], "edges": [], "viewport": {"x": 0, "y": 0, "zoom": 1}}


# ---- §2 graph rules ---------------------------------------------------------------------


def test_rule_2_notes_are_kept_and_marked_non_executable() -> None:
    doc = linear()
    _graph(doc)["nodes"].append(note("n1"))
    out = normalize(doc)
    kept = nodes_by_id(out)["n1"]
    assert kept == note("n1")
    assert is_note(kept) and not is_executable(kept)
    assert is_executable(nodes_by_id(out)["start"])


def test_rule_3_missing_wrapper_type_defaults() -> None:
    bare = node("a", "llm")
    del bare["type"]
    it = node("it", "iteration", start_node_id="itstart")
    start = node("itstart", "iteration-start", parent="it")
    del start["type"]
    out = normalize(graph_doc([bare, it, start]))
    assert nodes_by_id(out)["a"]["type"] == "custom"
    assert nodes_by_id(out)["itstart"]["type"] == "custom-iteration-start"


def test_rule_4_numeric_ids_become_strings() -> None:
    start = node(1718000000001, "start", variables=[])
    llm = node(1718000000002, "llm", model={"provider": "openai"})
    llm["data"]["context"] = {"enabled": True, "variable_selector": [1718000000001, "q"]}
    out = normalize(graph_doc([start, llm], [edge(1718000000001, 1718000000002)]))
    assert set(nodes_by_id(out)) == {"1718000000001", "1718000000002"}
    (e,) = _graph(out)["edges"]
    assert (e["source"], e["target"]) == ("1718000000001", "1718000000002")
    context = _data(out, "1718000000002")["context"]
    assert context["variable_selector"] == ["1718000000001", "q"]


def test_rule_5_edge_handles_default_and_non_string_handles_drop() -> None:
    doc = linear(node("a", "llm"), node("b", "llm"))
    edges = _graph(doc)["edges"]
    del edges[0]["sourceHandle"]
    del edges[0]["targetHandle"]
    edges[1]["sourceHandle"] = None
    edges[2]["sourceHandle"] = 7
    extra = edge("a", "end")
    extra["targetHandle"] = "group-1"  # legacy aggregator group handle: kept
    edges.append(extra)
    out = normalize(doc)
    result = [
        (e["source"], e["sourceHandle"], e["target"], e["targetHandle"])
        for e in _graph(out)["edges"]
    ]
    assert result == [("start", "source", "a", "target"), ("a", "source", "end", "group-1")]


def test_rule_5_missing_edge_id_is_derived() -> None:
    doc = linear()
    del _graph(doc)["edges"][0]["id"]
    (e,) = _graph(normalize(doc))["edges"]
    assert e["id"] == "start-source-end-target"


def test_rule_6_top_level_if_else_conditions_become_one_case() -> None:
    conditions = [{"variable_selector": ["start", "x"], "comparison_operator": "is", "value": "1"}]
    doc = linear(node("if", "if-else", conditions=conditions, logical_operator="or"))
    data = _data(normalize(doc), "if")
    assert data["cases"] == [
        {"case_id": "true", "logical_operator": "or", "conditions": conditions}
    ]
    assert "conditions" not in data and "logical_operator" not in data


def test_rule_6_logical_operator_defaults_to_and_and_cases_win() -> None:
    data = _data(normalize(linear(node("if", "if-else", conditions=[]))), "if")
    assert data["cases"][0]["logical_operator"] == "and"
    both = node("if", "if-else", conditions=[], logical_operator="and", cases=[{"case_id": "u"}])
    data = _data(normalize(linear(both)), "if")
    assert data["cases"] == [{"case_id": "u"}]
    assert data["conditions"] == []  # kept for round trip; `cases` is what runs


def _legacy_iteration() -> dict[str, Any]:
    it = node("it", "iteration", start_node_id="child", iterator_selector=["start", "xs"])
    child = node("child", "llm", parent="it", isIterationStart=True, isInIteration=True)
    child2 = node("child2", "template-transform", parent="it")
    doc = linear(it)
    _graph(doc)["nodes"] += [child, child2]
    _graph(doc)["edges"].append(edge("child", "child2"))
    return doc


def test_rule_7_legacy_iteration_gets_a_start_child_and_edge() -> None:
    out = normalize(_legacy_iteration())
    data = _data(out, "it")
    assert data["start_node_id"] == "itstart0"
    start = nodes_by_id(out)["itstart0"]
    assert start["type"] == "custom-iteration-start"
    assert start["parentId"] == "it"
    assert start["data"]["type"] == "iteration-start"
    assert start["data"]["isInIteration"] is True
    new_edges = [e for e in _graph(out)["edges"] if e["source"] == "itstart0"]
    assert [(e["sourceHandle"], e["target"]) for e in new_edges] == [("source", "child")]
    assert new_edges[0]["data"]["iteration_id"] == "it"
    assert normalize(out) == out


def test_rule_7_loop_without_start_and_numbering_over_containers() -> None:
    doc = _legacy_iteration()
    _graph(doc)["nodes"].append(node("lp", "loop", start_node_id="", loop_count=3))
    out = normalize(doc)
    assert _data(out, "lp")["start_node_id"] == "lpstart1"
    start = nodes_by_id(out)["lpstart1"]
    assert (start["type"], start["data"]["type"]) == ("custom-loop-start", "loop-start")
    assert start["data"]["isInLoop"] is True
    assert not [e for e in _graph(out)["edges"] if e["source"] == "lpstart1"]


def test_rule_7_current_containers_are_left_alone() -> None:
    it = node("it", "iteration", start_node_id="itstart")
    start = node("itstart", "iteration-start", parent="it")
    before = graph_doc([it, start])
    out = normalize(before)
    assert _data(out, "it")["start_node_id"] == "itstart"
    assert len(_graph(out)["nodes"]) == 2


def test_rule_8_children_get_container_ids_from_parent() -> None:
    out = normalize(_legacy_iteration())
    assert _data(out, "child2")["iteration_id"] == "it"
    lp = node("lp", "loop", start_node_id="lps")
    doc = graph_doc([lp, node("lps", "loop-start", parent="lp"), node("x", "code", parent="lp")])
    assert _data(normalize(doc), "x")["loop_id"] == "lp"


def test_rule_9_iteration_defaults() -> None:
    data = _data(normalize(_legacy_iteration()), "it")
    assert data["is_parallel"] is False
    assert data["parallel_nums"] == 10
    assert data["error_handle_mode"] == "terminated"
    assert data["flatten_output"] is True
    doc = _legacy_iteration()
    _data(doc, "it").update(is_parallel=True, parallel_nums=4, flatten_output=False)
    data = _data(normalize(doc), "it")
    assert (data["is_parallel"], data["parallel_nums"], data["flatten_output"]) == (True, 4, False)


def test_rule_10_legacy_variable_assigner_becomes_aggregator() -> None:
    agg = node("agg", "variable-assigner", output_type="string", variables=[["start", "a"]])
    doc = linear(agg)
    _graph(doc)["edges"][0]["data"] = {"sourceType": "start", "targetType": "variable-assigner"}
    out = normalize(doc)
    assert _data(out, "agg")["type"] == "variable-aggregator"
    assert _data(out, "agg")["variables"] == [["start", "a"]]
    assert _graph(out)["edges"][0]["data"]["targetType"] == "variable-aggregator"


def test_rule_11_assigner_without_version_is_not_converted() -> None:
    v1 = node(
        "as",
        "assigner",
        assigned_variable_selector=["conversation", "memo"],
        input_variable_selector=["start", "x"],
        write_mode="over-write",
    )
    data = _data(normalize(linear(v1, mode="advanced-chat")), "as")
    assert "version" not in data and data["write_mode"] == "over-write"


def test_rule_12_legacy_tool_configurations_are_wrapped() -> None:
    tool = node(
        "t",
        "tool",
        provider_type="builtin",
        provider_id="tavily",
        tool_configurations={"max_results": 5, "depth": "basic", "x": {"type": "constant"}},
    )
    data = _data(normalize(linear(tool)), "t")
    assert data["tool_node_version"] == "2"
    assert data["tool_configurations"] == {
        "max_results": {"type": "constant", "value": 5},
        "depth": {"type": "constant", "value": "basic"},
        "x": {"type": "constant"},
    }
    current = node("t", "tool", tool_node_version="2", tool_configurations={"a": 1})
    assert _data(normalize(linear(current)), "t")["tool_configurations"] == {"a": 1}


def test_rule_13_model_providers_take_plugin_form() -> None:
    llm = node("l", "llm", model={"provider": "openai", "name": "gpt-4o"})
    qc = node("q", "question-classifier", model={"provider": "google"})
    pe = node("p", "parameter-extractor", model={"provider": "langgenius/x/y"}, parameters=[])
    kr = node(
        "k",
        "knowledge-retrieval",
        single_retrieval_config={"model": {"provider": "anthropic"}},
        metadata_model_config={"provider": "tongyi"},
        multiple_retrieval_config={
            "reranking_model": {"provider": "cohere", "model": "rerank"},
            "weights": {"vector_setting": {"embedding_provider_name": "openai"}},
        },
    )
    out = normalize(linear(llm, qc, pe, kr))
    assert _data(out, "l")["model"]["provider"] == "langgenius/openai/openai"
    assert _data(out, "q")["model"]["provider"] == "langgenius/gemini/google"
    assert _data(out, "p")["model"]["provider"] == "langgenius/x/y"
    k = _data(out, "k")
    assert k["single_retrieval_config"]["model"]["provider"] == "langgenius/anthropic/anthropic"
    assert k["metadata_model_config"]["provider"] == "langgenius/tongyi/tongyi"
    multiple = k["multiple_retrieval_config"]
    assert multiple["reranking_model"]["provider"] == "langgenius/cohere/cohere"
    vector = multiple["weights"]["vector_setting"]
    assert vector["embedding_provider_name"] == "langgenius/openai/openai"


def test_rule_13_easy_ui_model_and_dataset_providers() -> None:
    config = {
        "model": {"provider": "openai_api_compatible", "name": "m"},
        "dataset_configs": {"reranking_model": {"reranking_provider_name": "jina"}},
    }
    out = normalize(_easy(config))["model_config"]
    provider = "langgenius/openai_api_compatible/openai_api_compatible"
    assert out["model"]["provider"] == provider
    rerank = out["dataset_configs"]["reranking_model"]
    assert rerank["reranking_provider_name"] == "langgenius/jina/jina"


def test_rule_13_provider_special_cases() -> None:
    assert canonical_model_provider("google") == "langgenius/gemini/google"
    assert canonical_model_provider("jina") == "langgenius/jina/jina"
    assert canonical_model_provider("") == ""
    assert canonical_model_provider("Not Valid") == "Not Valid"


def test_rule_14_tool_providers_take_plugin_form() -> None:
    assert canonical_tool_provider("google") == "langgenius/google/google"
    for name in ("jina", "siliconflow", "stepfun", "gitee_ai"):
        assert canonical_tool_provider(name) == f"langgenius/{name}_tool/{name}"
    for name in ("audio", "code", "time", "webscraper"):
        assert canonical_tool_provider(name) == name
    assert canonical_tool_provider("wikipedia") == "langgenius/wikipedia/wikipedia"
    uid = "62b5435f-c3e5-4df0-a1c8-afe2912702f1"
    api = node("a", "tool", provider_type="api", provider_id=uid, tool_node_version="2")
    jina = node("j", "tool", provider_type="builtin", provider_id="jina", tool_node_version="2")
    out = normalize(linear(api, jina))
    assert _data(out, "a")["provider_id"] == uid
    assert _data(out, "j")["provider_id"] == "langgenius/jina_tool/jina"
    tools = [
        {"provider_type": "builtin", "provider_id": "google", "credential_id": "c"},
        {"provider_type": "mcp", "provider_id": "my-server"},
        {"dataset": {"enabled": True, "id": uid}},
    ]
    config = normalize(_easy({"model": {}, "agent_mode": {"tools": tools}}, "agent-chat"))
    got = config["model_config"]["agent_mode"]["tools"]
    assert [t.get("provider_id") for t in got] == ["langgenius/google/google", "my-server", None]


def test_rule_15_http_nodes_get_no_invented_retry() -> None:
    data = _data(normalize(linear(node("h", "http-request", method="get", url="http://x"))), "h")
    assert "retry_config" not in data


def test_rule_16_string_http_body_becomes_one_text_item() -> None:
    body = {"type": "json", "data": '{"a": "{{#start.x#}}"}'}
    data = _data(normalize(linear(node("h", "http-request", method="POST", body=body))), "h")
    assert data["body"] == {
        "type": "json",
        "data": [{"key": "", "type": "text", "value": '{"a": "{{#start.x#}}"}'}],
    }


def test_rule_17_http_method_is_lower_case() -> None:
    data = _data(normalize(linear(node("h", "http-request", method="POST"))), "h")
    assert data["method"] == "post"


def test_rule_18_value_types_are_lower_case() -> None:
    end = node("end", "end", outputs=[{"variable": "o", "value_type": "Array[String]"}])
    code = node(
        "c",
        "code",
        outputs={"r": {"type": "Array[Object]", "children": None}},
        variables=[{"variable": "a", "value_selector": ["start", "a"], "value_type": "String"}],
        default_value=[{"key": "r", "type": "Array[Object]", "value": "[]"}],
    )
    agg = node(
        "g",
        "variable-aggregator",
        output_type="String",
        advanced_settings={"groups": [{"output_type": "Number"}]},
    )
    loop = node("lp", "loop", loop_variables=[{"label": "n", "var_type": "Number"}])
    doc = graph_doc([node("start", "start"), code, agg, loop, end])
    out = normalize(doc)
    assert _data(out, "end")["outputs"][0]["value_type"] == "array[string]"
    c = _data(out, "c")
    assert c["outputs"]["r"]["type"] == "array[object]"
    assert c["variables"][0]["value_type"] == "string"
    assert c["default_value"][0]["type"] == "array[object]"
    g = _data(out, "g")
    assert (g["output_type"], g["advanced_settings"]["groups"][0]["output_type"]) == (
        "string",
        "number",
    )
    assert _data(out, "lp")["loop_variables"][0]["var_type"] == "number"


def test_rule_19_start_sys_selectors_and_templates_are_rewritten() -> None:
    start = node("1711", "start", variables=[])
    qc = node("q", "question-classifier", query_variable_selector=["1711", "sys.query"])
    llm = node(
        "l",
        "llm",
        prompt_template=[{"role": "user", "text": "Q: {{#1711.sys.query#}} / {{#1711.name#}}"}],
        vision={"enabled": True, "configs": {"variable_selector": ["1711", "sys.files"]}},
    )
    code = node("c", "code", code="x = '{{#1711.sys.query#}}'", variables=[])
    out = normalize(graph_doc([start, qc, llm, code], mode="advanced-chat"))
    assert _data(out, "q")["query_variable_selector"] == ["sys", "query"]
    text = _data(out, "l")["prompt_template"][0]["text"]
    assert text == "Q: {{#sys.query#}} / {{#1711.name#}}"
    assert _data(out, "l")["vision"]["configs"]["variable_selector"] == ["sys", "files"]
    assert _data(out, "c")["code"] == "x = '{{#1711.sys.query#}}'"


def test_rule_20_parameter_types_and_legacy_classifier_keys() -> None:
    params = [
        {"name": "ok", "type": "bool", "description": "", "required": True},
        {"name": "c", "type": "select", "options": ["a", "b"], "required": False},
        {"name": "n", "type": "Number", "required": False},
    ]
    pe = node("p", "parameter-extractor", parameters=params, query=["start", "x"])
    qc = node(
        "q", "question-classifier", classes=[{"id": 1, "name": "x"}], topics=[], instructions=""
    )
    out = normalize(linear(pe, qc))
    got = _data(out, "p")["parameters"]
    assert [(p["type"], p.get("options")) for p in got] == [
        ("boolean", None),
        ("string", ["a", "b"]),
        ("number", None),
    ]
    q = _data(out, "q")
    assert q["classes"] == [{"id": "1", "name": "x"}]
    assert q["topics"] == [] and q["instructions"] == ""


def test_rule_21_legacy_enabled_image_upload_becomes_current_shape() -> None:
    image = {"enabled": True, "number_limits": "2", "transfer_methods": ["local_file"]}
    doc = graph_doc([node("start", "start")], features={"file_upload": {"image": image}})
    upload = normalize(doc)["workflow"]["features"]["file_upload"]
    assert upload == {
        "enabled": True,
        "number_limits": 2,
        "allowed_file_upload_methods": ["local_file"],
        "allowed_file_types": ["image"],
        "allowed_file_extensions": [],
        "image": image,
    }
    current = {"enabled": True, "number_limits": 5, "image": {"enabled": True, "detail": "low"}}
    doc = graph_doc([node("start", "start")], features={"file_upload": dict(current)})
    assert normalize(doc)["workflow"]["features"]["file_upload"] == current
    config = normalize(_easy({"model": {}, "file_upload": {"image": {"enabled": True}}}))
    upload = config["model_config"]["file_upload"]
    assert upload["number_limits"] == 3
    assert upload["allowed_file_upload_methods"] == ["remote_url", "local_file"]


def test_rule_21_disabled_legacy_upload_is_left_alone() -> None:
    image = {"enabled": False, "number_limits": 3, "transfer_methods": ["local_file"]}
    doc = graph_doc([node("start", "start")], features={"file_upload": {"image": image}})
    assert normalize(doc)["workflow"]["features"]["file_upload"] == {"image": image}


def test_rule_22_variables_get_ids_selectors_and_number_types() -> None:
    env = [
        {"name": "KEY", "value_type": "Secret", "value": ""},
        {"name": "N", "value_type": "integer", "value": 3, "id": "keep-me", "selector": ["x"]},
        {"name": "F", "value_type": "float", "value": 0.5},
    ]
    conv = [{"name": "memo", "value_type": "Array[String]", "value": []}]
    doc = graph_doc([node("start", "start")], environment_variables=env)
    doc["workflow"]["conversation_variables"] = conv
    workflow = normalize(doc)["workflow"]
    key, n, f = workflow["environment_variables"]
    assert uuid.UUID(key["id"]) and key["value_type"] == "secret"
    assert key["selector"] == ["env", "KEY"] and key["description"] == ""
    assert (n["id"], n["value_type"], n["selector"]) == ("keep-me", "number", ["env", "N"])
    assert f["value_type"] == "number"
    (memo,) = workflow["conversation_variables"]
    assert memo["selector"] == ["conversation", "memo"]
    assert memo["value_type"] == "array[string]"
    assert normalize(doc)["workflow"]["environment_variables"][0]["id"] == key["id"]


def test_easy_ui_model_config_gets_defaults() -> None:
    config = normalize(_easy({"model": {"provider": "openai"}, "dataset_configs": {}}))
    model_config = config["model_config"]
    assert model_config["prompt_type"] == "simple"
    assert model_config["agent_mode"] == {
        "enabled": False,
        "strategy": None,
        "tools": [],
        "prompt": None,
    }
    assert model_config["dataset_configs"] == {"retrieval_model": "single"}
    assert model_config["retriever_resource"] == {"enabled": True}
    assert model_config["opening_statement"] is None
    missing = normalize(_easy({"model": {}}))["model_config"]["dataset_configs"]
    assert missing == {"retrieval_model": "multiple"}


# ---- general properties -----------------------------------------------------------------


def _messy() -> dict[str, Any]:
    doc = _legacy_iteration()
    doc.pop("version")
    doc.pop("kind")
    doc["app"]["created"] = datetime.date(2024, 5, 1)
    _data(doc, "child")["_editor_cache"] = {"anything": [1, 2]}
    _graph(doc)["nodes"].append(note("n"))
    _graph(doc)["edges"].append({"source": "start", "target": "it"})
    return doc


def test_unknown_keys_survive() -> None:
    out = normalize(_messy())
    assert _data(out, "child")["_editor_cache"] == {"anything": [1, 2]}
    assert out["app"]["created"] == "2024-05-01"


def test_output_is_json_compatible_and_idempotent() -> None:
    once = normalize(_messy())
    assert json.loads(json.dumps(once)) == once
    assert normalize(once) == once


def test_input_is_not_mutated() -> None:
    doc = _messy()
    before = copy.deepcopy(doc)
    normalize(doc)
    assert doc == before


def test_model_defaults_for_legacy_nulls() -> None:
    start = node("start", "start", variables=[{"variable": "c", "type": "select", "options": None}])
    pe = node("p", "parameter-extractor", parameters=[], reasoning_mode=None)
    out = normalize(graph_doc([start, pe]))
    assert _data(out, "start")["variables"][0]["options"] == []
    assert _data(out, "p")["reasoning_mode"] == "function_call"
    kept = node("p", "parameter-extractor", parameters=[], reasoning_mode="prompt")
    assert _data(normalize(graph_doc([kept])), "p")["reasoning_mode"] == "prompt"
