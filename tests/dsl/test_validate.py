"""Each refusal of `validate_graph`: one-line messages naming the node id and type."""

from __future__ import annotations

from typing import Any

import pytest

from headrace.dsl.loader import DslError
from headrace.dsl.node_types import (
    LATER,
    SUPPORTED,
    UnsupportedNodeError,
    refusal,
    refusal_message,
)
from headrace.dsl.normalize import normalize
from headrace.dsl.validate import validate_graph
from tests.dsl.builders import edge, graph_doc, linear, node, note


def _refusal(document: dict[str, Any]) -> DslError:
    with pytest.raises(DslError) as caught:
        validate_graph(normalize(document))
    message = str(caught.value)
    assert "\n" not in message and message
    return caught.value


def _container(kind: str = "iteration", start_id: str = "cstart") -> list[dict[str, Any]]:
    start_type = f"{kind}-start"
    return [
        node("c", kind, start_node_id=start_id),
        node("cstart", start_type, parent="c"),
        node("c1", "llm", parent="c"),
        node("c2", "code", parent="c"),
    ]


def _with_container(kind: str = "iteration", start_id: str = "cstart") -> dict[str, Any]:
    doc = linear(_container(kind, start_id)[0])
    doc["workflow"]["graph"]["nodes"] += _container(kind, start_id)[1:]
    doc["workflow"]["graph"]["edges"] += [edge("cstart", "c1"), edge("c1", "c2")]
    return doc


def test_valid_graphs_pass() -> None:
    validate_graph(normalize(linear(node("l", "llm"))))
    validate_graph(normalize(linear(node("l", "llm"), mode="advanced-chat")))
    validate_graph(normalize(_with_container("iteration")))
    validate_graph(normalize(_with_container("loop")))


def test_apps_without_graph_pass() -> None:
    for mode in ("chat", "completion", "agent-chat"):
        validate_graph(normalize({"app": {"mode": mode}, "model_config": {"model": {}}}))


def test_notes_are_not_checked() -> None:
    doc = linear()
    doc["workflow"]["graph"]["nodes"].append(note("n1"))
    validate_graph(normalize(doc))


def test_unknown_node_type() -> None:
    error = _refusal(linear(node("x1", "teleport")))
    assert str(error) == "node x1 (teleport): unknown node type"
    assert not isinstance(error, UnsupportedNodeError)


def test_missing_node_type() -> None:
    assert str(_refusal(linear(node("x1", "")))) == "node x1 (no type): unknown node type"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "tool",
            "node k1 (tool): tool nodes arrive with the agents/tools issue; not available yet",
        ),
        (
            "agent",
            "node k1 (agent): agent nodes arrive with the agents/tools issue; not available yet",
        ),
        (
            "human-input",
            "node k1 (human-input): human-input nodes are not supported (not planned)",
        ),
        (
            "trigger-webhook",
            "node k1 (trigger-webhook): trigger nodes are not supported (not planned); "
            "use a start node",
        ),
        (
            "datasource",
            "node k1 (datasource): knowledge-pipeline nodes are not supported (not planned); "
            "they belong to pipelines, not apps",
        ),
    ],
)
def test_later_issue_types_are_refused(kind: str, expected: str) -> None:
    error = _refusal(linear(node("k1", kind)))
    assert isinstance(error, UnsupportedNodeError)
    assert str(error) == expected
    assert (error.node_id, error.node_type) == ("k1", kind)


def test_catalogue_is_consistent() -> None:
    assert not SUPPORTED & set(LATER)
    assert {"trigger-schedule", "trigger-plugin", "knowledge-index"} <= set(LATER)
    assert "knowledge-retrieval" in SUPPORTED
    assert LATER["tool"].issue == LATER["agent"].issue == "agents/tools"
    assert LATER["human-input"].issue is None
    assert refusal("a", "llm") is None


def test_duplicate_node_id() -> None:
    doc = linear(node("l", "llm"), node("l", "code"))
    assert str(_refusal(doc)) == "node l (code): duplicate node id"


def test_edge_with_unknown_source_or_target() -> None:
    doc = linear(node("l", "llm"))
    doc["workflow"]["graph"]["edges"].append(edge("ghost", "l"))
    assert str(_refusal(doc)) == "edge ghost-source-l-target: unknown source node ghost"
    doc = linear(node("l", "llm"))
    doc["workflow"]["graph"]["edges"].append(edge("l", "ghost"))
    assert str(_refusal(doc)) == "edge l-source-ghost-target: unknown target node ghost"


def test_edge_into_a_note() -> None:
    doc = linear()
    doc["workflow"]["graph"]["nodes"].append(note("n1"))
    doc["workflow"]["graph"]["edges"].append(edge("start", "n1"))
    assert "target n1 is a note" in str(_refusal(doc))


def test_cycle_names_a_node_on_it() -> None:
    doc = linear(node("a", "llm"), node("b", "code"))
    doc["workflow"]["graph"]["edges"].append(edge("b", "a"))
    message = str(_refusal(doc))
    assert message.startswith("node a (llm): on a cycle (a -> b -> a)")


def test_self_loop_is_a_cycle() -> None:
    doc = linear(node("a", "llm"))
    doc["workflow"]["graph"]["edges"].append(edge("a", "a", "fail-branch"))
    assert str(_refusal(doc)).startswith("node a (llm): on a cycle (a -> a)")


def test_cycle_inside_a_container() -> None:
    doc = _with_container("loop")
    doc["workflow"]["graph"]["edges"].append(edge("c2", "c1"))
    assert str(_refusal(doc)).startswith("node c1 (llm): on a cycle (c1 -> c2 -> c1)")


def test_edges_cannot_cross_a_container_boundary() -> None:
    doc = _with_container("iteration")
    doc["workflow"]["graph"]["edges"].append(edge("c2", "end"))
    expected = (
        "edge c2-source-end-target: joins c2 (in c) to end (in the top level); "
        "edges cannot cross a container boundary"
    )
    assert str(_refusal(doc)) == expected


def test_missing_start_node() -> None:
    doc = graph_doc([node("l", "llm")])
    assert str(_refusal(doc)) == "graph: no start node; workflow apps need exactly one"
    doc = graph_doc([node("l", "llm")], mode="advanced-chat")
    assert "advanced-chat apps need exactly one" in str(_refusal(doc))


def test_duplicated_start_node() -> None:
    doc = linear(node("s2", "start"))
    expected = (
        "node s2 (start): a second start node (the first is start); workflow apps need exactly one"
    )
    assert str(_refusal(doc)) == expected


def test_container_start_must_be_a_child() -> None:
    doc = _with_container("iteration")
    doc["workflow"]["graph"]["nodes"].append(node("elsewhere", "iteration-start", parent="x"))
    doc["workflow"]["graph"]["nodes"].append(node("x", "iteration", start_node_id="elsewhere"))
    doc["workflow"]["graph"]["nodes"][1]["data"]["start_node_id"] = "elsewhere"
    message = str(_refusal(doc))
    assert message == "node c (iteration): start_node_id elsewhere is not a child of it"


def test_container_start_must_have_the_start_type() -> None:
    doc = _with_container("loop")
    loop_start = doc["workflow"]["graph"]["nodes"][3]
    loop_start["data"]["type"] = "code"
    loop_start["type"] = "custom"
    doc["workflow"]["graph"]["nodes"].append(node("s", "loop-start", parent="c"))
    doc["workflow"]["graph"]["nodes"][1]["data"]["start_node_id"] = "s"
    validate_graph(normalize(doc))
    # normalize repairs a start_node_id naming a non-start child (§8 rule 7); a document that
    # skipped normalisation is refused.
    doc["workflow"]["graph"]["nodes"][1]["data"]["start_node_id"] = "c1"
    with pytest.raises(DslError, match=r"^node c \(loop\): start_node_id c1 is a llm node"):
        validate_graph(doc)
    validate_graph(normalize(doc))


def test_container_child_with_a_bad_parent() -> None:
    doc = linear(node("l", "llm", parent="end"))
    assert str(_refusal(doc)) == "node l (llm): parent end is not an iteration or loop"


def test_loop_end_outside_a_loop() -> None:
    doc = linear(node("le", "loop-end"))
    assert str(_refusal(doc)) == "node le (loop-end): must sit inside a loop"


def _env(**item: Any) -> dict[str, Any]:
    return graph_doc(
        [node("start", "start")], environment_variables=[item], conversation_variables=[]
    )


def _conv(**item: Any) -> dict[str, Any]:
    return graph_doc([node("start", "start")], mode="advanced-chat", conversation_variables=[item])


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"value_type": "string", "value": "x"}, "environment variable #1: missing name"),
        ({"name": "K", "value": "x"}, "environment variable K: missing value type"),
        ({"name": "K", "value_type": "string"}, "environment variable K: missing value"),
        (
            {"name": "K", "value_type": "object", "value": {}},
            "environment variable K: value type 'object' is not allowed "
            "(use string, number or secret)",
        ),
        ({"name": "K", "value_type": "number", "value": "3"}, "environment variable K: invalid "),
        ({"name": "K", "value_type": "secret", "value": 3}, "environment variable K: invalid "),
        (
            {"name": "K", "value_type": "string", "value": "x" * (200 * 1024 + 1)},
            "environment variable K: value is larger than 200 KB",
        ),
    ],
)
def test_environment_variable_rules(item: dict[str, Any], expected: str) -> None:
    assert str(_refusal(_env(**item))).startswith(expected)


def test_environment_variables_of_every_allowed_type_pass() -> None:
    for value_type, value in (("string", ""), ("secret", ""), ("number", 1.5), ("integer", 2)):
        validate_graph(normalize(_env(name="K", value_type=value_type, value=value)))


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"value_type": "string", "value": ""}, "conversation variable #1: missing name"),
        ({"name": "m", "value_type": "number", "value": True}, "invalid number value"),
        ({"name": "m", "value_type": "object", "value": []}, "invalid object value"),
        ({"name": "m", "value_type": "array[string]", "value": {}}, "invalid array value"),
        ({"name": "m", "value_type": "boolean", "value": "yes"}, "invalid boolean value"),
        ({"name": "m", "value_type": "secret", "value": ""}, "value type 'secret' is not allowed"),
        ({"name": "m", "value_type": "array[file]", "value": []}, "is not allowed"),
        (
            {"name": "m", "value_type": "string", "value": "", "description": "d" * 256},
            "conversation variable m: description is longer than 255 characters",
        ),
    ],
)
def test_conversation_variable_rules(item: dict[str, Any], expected: str) -> None:
    message = str(_refusal(_conv(**item)))
    assert expected in message
    assert message.startswith("conversation variable ")


def test_conversation_variables_of_every_allowed_type_pass() -> None:
    values = {
        "string": "",
        "number": 0,
        "boolean": False,
        "object": {},
        "array[string]": [],
        "array[number]": [1],
        "array[object]": [{}],
        "array[boolean]": [True],
    }
    for value_type, value in values.items():
        validate_graph(normalize(_conv(name="m", value_type=value_type, value=value)))


def test_refusal_message_helper() -> None:
    assert refusal_message("n", "code") is None
    assert refusal_message("n", "nope") == "node n (nope): unknown node type"
    assert refusal_message("k", "knowledge-retrieval") is None
    message = refusal_message("k", "tool")
    assert message is not None and "agents/tools issue" in message


def test_messages_stay_on_one_line_with_odd_ids() -> None:
    error = _refusal(linear(node("a\nb", "teleport")))
    assert str(error) == "node a\\nb (teleport): unknown node type"
    later = _refusal(linear(node("k\r1", "tool")))
    assert isinstance(later, UnsupportedNodeError) and str(later).startswith("node k\\r1 (tool)")
    doc = linear()
    doc["workflow"]["environment_variables"] = [{"name": "A\nB", "value_type": "string"}]
    assert str(_refusal(doc)) == "environment variable A\\nB: missing value"
