"""parameter-extractor and question-classifier driven through the real engine and the real
OpenAI-compatible provider against the scripted upstream on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from headrace.coord.base import StopFlag
from headrace.providers.openai_compat import OpenAICompatProvider
from headrace.providers.types import LLMChunk, LLMRequest
from headrace.workflow.engine import GraphEngine
from headrace.workflow.events import EngineEvent, GraphEvent
from headrace.workflow.graph import Graph
from headrace.workflow.nodes.base import NodeConfigError, RunContext, StepCounter
from headrace.workflow.nodes.builtin import builtin_registry
from headrace.workflow.nodes.llm_family import json_object
from headrace.workflow.nodes.parameter_extractor import ParameterExtractorNode, coerce
from headrace.workflow.nodes.question_classifier import QuestionClassifierNode
from headrace.workflow.nodes.registry import NodeRegistry
from headrace.workflow.services import HistoryTurn, Services
from headrace.workflow.variables import VariablePool
from tests.support.upstream import Reply, ScriptedUpstream

MODEL = {
    "provider": "langgenius/openai/openai",
    "name": "gpt-4o-mini",
    "mode": "chat",
    "completion_params": {"temperature": 0.2},
}


@dataclass
class _Handle:
    provider: OpenAICompatProvider
    base_url: str

    def stream(self, request: LLMRequest) -> AsyncIterator[LLMChunk]:
        return self.provider.stream(request, {"api_key": "sk", "base_url": self.base_url})


class LoopbackModels:
    """The model port: every provider id is the real OpenAI adapter on the upstream."""

    def __init__(self, base_url: str) -> None:
        self.provider = OpenAICompatProvider(timeout=10)
        self.base_url = base_url

    async def bind(self, provider_id: str) -> _Handle:
        return _Handle(self.provider, self.base_url)


class Turns:
    """Conversation history port with fixed turns."""

    async def history(self, limit: int) -> list[HistoryTurn]:
        return [HistoryTurn("Earlier question", "Earlier answer")][-limit:]


@pytest.fixture
async def models(scripted: ScriptedUpstream) -> AsyncIterator[LoopbackModels]:
    access = LoopbackModels(scripted.base_url)
    yield access
    await access.provider.aclose()


def registry() -> NodeRegistry:
    reg = builtin_registry()
    for cls in (ParameterExtractorNode, QuestionClassifierNode):
        if reg.resolve(cls.node_type) is None:
            reg.register(cls)
    return reg


@dataclass
class Run:
    engine: GraphEngine
    events: list[EngineEvent]

    def finished(self, node_id: str) -> dict[str, Any]:
        found = [
            e.data
            for e in self.events
            if isinstance(e, GraphEvent)
            and e.event == "node_finished"
            and e.data["node_id"] == node_id
        ]
        assert len(found) == 1, f"{node_id} finished {len(found)} times"
        return found[0]

    def ran(self) -> set[str]:
        return {
            e.data["node_id"]
            for e in self.events
            if isinstance(e, GraphEvent) and e.event == "node_started"
        }


async def run_graph(
    models: LoopbackModels,
    nodes: list[dict[str, Any]],
    edges: list[tuple[str, str, str]],
    inputs: Mapping[str, Any],
    system: Mapping[str, Any] | None = None,
    conversation: Turns | None = None,
) -> Run:
    reg = registry()
    graph = Graph.from_dsl(
        {
            "nodes": [{"id": "start", "data": {"type": "start", "title": "Start"}}, *nodes],
            "edges": [{"source": s, "sourceHandle": h, "target": t} for s, h, t in edges],
        }
    )
    pool = VariablePool()
    for name, value in inputs.items():
        pool.set("start", name, value)
    for name, value in (system or {}).items():
        pool.set("sys", name, value)
    ctx = RunContext(
        pool=pool,
        services=Services(models=models, registry=reg, conversation=conversation),
        graph=graph,
        stop=StopFlag(),
        steps=StepCounter(),
        workflow_run_id="r",
    )
    engine = GraphEngine(ctx, reg)
    events = [e async for e in engine.run()]
    return Run(engine, events)


PARAMETERS = [
    {"name": "city", "type": "string", "description": "City name", "required": True},
    {"name": "days", "type": "number", "description": "Trip length", "required": False},
    {"name": "hotel", "type": "bool", "description": "Needs a hotel", "required": False},
    {"name": "tags", "type": "array[string]", "description": "Interests", "required": False},
    {"name": "budget", "type": "number", "description": "Budget", "required": False},
    {
        "name": "unit",
        "type": "select",
        "options": ["celsius", "fahrenheit"],
        "description": "Unit",
        "required": False,
    },
]


def extractor(**overrides: Any) -> dict[str, Any]:
    data = {
        "type": "parameter-extractor",
        "title": "Extract",
        "model": MODEL,
        "query": ["start", "q"],
        "parameters": PARAMETERS,
        "instruction": "Trips are for {{#start.who#}}.",
        "reasoning_mode": "function_call",
    }
    data.update(overrides)
    return {"id": "pe", "data": data}


END = {
    "id": "end",
    "data": {
        "type": "end",
        "title": "End",
        "outputs": [
            {"variable": "city", "value_selector": ["pe", "city"]},
            {"variable": "ok", "value_selector": ["pe", "__is_success"]},
        ],
    },
}
PE_EDGES = [("start", "source", "pe"), ("pe", "source", "end")]
INPUTS = {"q": "Plan 3 days in Lisbon with a hotel", "who": "Alice"}


async def test_function_call_extraction_coerces_and_defaults(
    models: LoopbackModels, scripted: ScriptedUpstream
) -> None:
    arguments = {"city": "Lisbon", "days": "3", "hotel": "true", "tags": "food", "unit": "celsius"}
    scripted.script(Reply(tool_calls=[("extract_parameters", orjson.dumps(arguments).decode())]))
    run = await run_graph(models, [extractor(), END], PE_EDGES, INPUTS)

    assert run.engine.result is not None
    assert run.engine.result.status == "succeeded"
    assert run.engine.result.outputs == {"city": "Lisbon", "ok": 1}
    finished = run.finished("pe")
    outputs = finished["outputs"]
    assert outputs["city"] == "Lisbon"
    assert outputs["days"] == 3
    assert outputs["hotel"] is True
    assert outputs["tags"] == ["food"]
    assert outputs["budget"] == 0
    assert outputs["unit"] == "celsius"
    assert outputs["__is_success"] == 1
    assert outputs["__reason"] is None
    assert outputs["__usage"]["total_tokens"] > 0
    assert finished["execution_metadata"]["total_tokens"] == outputs["__usage"]["total_tokens"]
    assert run.engine.result.total_tokens == outputs["__usage"]["total_tokens"]
    process = finished["process_data"]
    assert process["reasoning_mode"] == "function_call"
    assert orjson.loads(process["tool_call"]["arguments"]) == arguments
    assert process["model_name"] == "gpt-4o-mini"

    (request,) = scripted.requests
    body = request.json
    (tool,) = body["tools"]
    assert tool["function"]["name"] == "extract_parameters"
    schema = tool["function"]["parameters"]
    assert schema["required"] == ["city"]
    assert schema["properties"]["hotel"]["type"] == "boolean"
    assert schema["properties"]["unit"] == {
        "type": "string",
        "enum": ["celsius", "fahrenheit"],
        "description": "Unit",
    }
    assert schema["properties"]["tags"]["items"] == {"type": "string"}
    assert body["temperature"] == 0.2
    system, user = body["messages"]
    assert system["role"] == "system" and "Trips are for Alice." in system["content"]
    assert user == {"role": "user", "content": INPUTS["q"]}


@pytest.mark.parametrize(
    ("overrides", "completion"),
    [
        ({"reasoning_mode": "prompt"}, False),
        ({"model": {**MODEL, "mode": "completion"}}, True),  # no tools: prompt mode
    ],
)
async def test_prompt_mode_parses_fenced_json(
    models: LoopbackModels, scripted: ScriptedUpstream, overrides: Any, completion: bool
) -> None:
    text = (
        "<think>The user wants {a trip}.</think>Here you go:\n```json\n"
        '{"city": "Porto", "days": 2.5, "hotel": false, "tags": ["wine", "music"]}\n```'
    )
    scripted.script(Reply(text=text))
    run = await run_graph(models, [extractor(**overrides), END], PE_EDGES, INPUTS)

    finished = run.finished("pe")
    assert finished["process_data"]["reasoning_mode"] == "prompt"
    outputs = finished["outputs"]
    assert outputs["city"] == "Porto"
    assert outputs["days"] == 2.5
    assert outputs["hotel"] is False
    assert outputs["tags"] == ["wine", "music"]
    assert outputs["unit"] == ""
    assert outputs["__is_success"] == 1
    request = scripted.requests[0]
    assert "tools" not in request.json
    if completion:
        assert request.path.endswith("/completions") and "chat" not in request.path
        prompt = request.json["prompt"]
        assert "JSON schema" in prompt and prompt.endswith(INPUTS["q"])
        return
    system = request.json["messages"][0]["content"]
    assert "JSON schema" in system and '"city"' in system
    assert request.json["messages"][-1]["content"] == INPUTS["q"]


async def test_function_call_without_tool_call_falls_back_to_text(
    models: LoopbackModels, scripted: ScriptedUpstream
) -> None:
    scripted.script(Reply(text='Sure! {"city": "Faro", "budget": "1,200"}'))
    run = await run_graph(models, [extractor(), END], PE_EDGES, INPUTS)
    outputs = run.finished("pe")["outputs"]
    assert outputs["city"] == "Faro"
    assert outputs["budget"] == 1200
    assert outputs["__is_success"] == 1
    assert "tools" in scripted.requests[0].json


async def test_missing_required_parameter_is_reported(
    models: LoopbackModels, scripted: ScriptedUpstream
) -> None:
    scripted.script(Reply(tool_calls=[("extract_parameters", '{"days": 4}')]))
    run = await run_graph(models, [extractor(), END], PE_EDGES, INPUTS)

    assert run.engine.result is not None
    assert run.engine.result.status == "succeeded"
    outputs = run.finished("pe")["outputs"]
    assert outputs["city"] == ""
    assert outputs["days"] == 4
    assert outputs["__is_success"] == 0
    assert outputs["__reason"] == "missing required parameter: city"
    assert run.engine.result.outputs == {"city": "", "ok": 0}


async def test_unparsable_answer_and_invalid_values(
    models: LoopbackModels, scripted: ScriptedUpstream
) -> None:
    scripted.script(Reply(text="I cannot help with that."))
    run = await run_graph(models, [extractor(reasoning_mode="prompt"), END], PE_EDGES, INPUTS)
    outputs = run.finished("pe")["outputs"]
    assert outputs["__is_success"] == 0
    assert "failed to parse" in outputs["__reason"]
    assert outputs["tags"] == [] and outputs["hotel"] is False

    scripted.script(
        Reply(tool_calls=[("extract_parameters", '{"city": "Rome", "days": "many", "unit": "K"}')])
    )
    run = await run_graph(models, [extractor(), END], PE_EDGES, INPUTS)
    outputs = run.finished("pe")["outputs"]
    assert outputs["city"] == "Rome"
    assert outputs["days"] == 0 and outputs["unit"] == ""
    assert outputs["__is_success"] == 0
    assert "invalid value for parameter days" in outputs["__reason"]
    assert "invalid value for parameter unit" in outputs["__reason"]


async def test_model_failure_fails_the_node(
    models: LoopbackModels, scripted: ScriptedUpstream
) -> None:
    scripted.script(Reply(status=500, error={"message": "boom", "type": "server_error"}))
    run = await run_graph(models, [extractor(), END], PE_EDGES, INPUTS)

    assert run.engine.result is not None
    assert run.engine.result.status == "failed"
    assert "boom" in (run.engine.result.error or "")
    finished = run.finished("pe")
    assert finished["status"] == "failed"
    assert finished["outputs"]["__is_success"] == 0
    assert "boom" in finished["outputs"]["__reason"]
    assert finished["outputs"]["__error"] == "ProviderError"
    assert "end" not in run.ran()


async def test_model_failure_with_default_value_strategy(
    models: LoopbackModels, scripted: ScriptedUpstream
) -> None:
    scripted.script(Reply(status=500, error={"message": "boom", "type": "server_error"}))
    node = extractor(
        error_strategy="default-value",
        default_value=[{"key": "city", "type": "string", "value": "Nowhere"}],
    )
    run = await run_graph(models, [node, END], PE_EDGES, INPUTS)

    assert run.engine.result is not None
    assert run.engine.result.status == "partial-succeeded"
    assert run.engine.result.exceptions_count == 1
    assert run.engine.result.outputs == {"city": "Nowhere", "ok": None}
    finished = run.finished("pe")
    assert finished["status"] == "exception"
    assert finished["outputs"]["error_type"] == "ProviderError"


def test_reserved_parameter_name_is_a_config_error() -> None:
    graph = Graph.from_dsl(
        {
            "nodes": [
                {"id": "start", "data": {"type": "start", "title": "Start"}},
                extractor(parameters=[{"name": "__reason", "type": "string"}]),
            ],
            "edges": [{"source": "start", "target": "pe"}],
        }
    )
    with pytest.raises(NodeConfigError, match="reserved"):
        ParameterExtractorNode.parse(graph.nodes["pe"])


def test_lenient_json_and_coercion() -> None:
    assert json_object('noise {"a": "}{", "b": {"c": 1}} tail {"d": 2}') == {
        "a": "}{",
        "b": {"c": 1},
    }
    assert json_object('reasoning</think>\n{not json} then {"x": 1}') == {"x": 1}
    assert json_object("[1, 2]") is None
    assert coerce("array[number]", '["1", 2.5]') == [1, 2.5]
    assert coerce("array[boolean]", ["yes", "0"]) == [True, False]
    assert coerce("array[object]", ['{"k": 1}']) == [{"k": 1}]
    assert coerce("string", 12) == "12"
    with pytest.raises(ValueError):
        coerce("number", True)


def classifier(**overrides: Any) -> dict[str, Any]:
    data = {
        "type": "question-classifier",
        "title": "Classify",
        "model": MODEL,
        "query_variable_selector": ["start", "q"],
        "classes": [
            {"id": "1", "name": "Billing questions", "label": "Billing"},
            {"id": "2", "name": "Questions about {{#start.product#}}"},
        ],
        "instruction": "Be strict.",
    }
    data.update(overrides)
    return {"id": "qc", "data": data}


def branch(node_id: str, text: str) -> dict[str, Any]:
    return {
        "id": node_id,
        "data": {"type": "template-transform", "title": node_id, "template": text},
    }


QC_NODES = [classifier(), branch("billing", "billing"), branch("product", "product")]
QC_EDGES = [
    ("start", "source", "qc"),
    ("qc", "1", "billing"),
    ("qc", "2", "product"),
]
QC_INPUTS = {"q": "My widget is broken", "product": "widgets"}


async def test_classifier_takes_the_chosen_branch(
    models: LoopbackModels, scripted: ScriptedUpstream
) -> None:
    scripted.script(
        Reply(
            text='<think>hmm {"category_id": "1"}</think>{"category_id": "2", "category_name": "x"}'
        )
    )
    run = await run_graph(models, QC_NODES, QC_EDGES, QC_INPUTS)

    assert run.engine.result is not None
    assert run.engine.result.status == "succeeded"
    assert run.engine.state["product"] == "done"
    assert run.engine.state["billing"] == "skipped"
    assert run.ran() == {"start", "qc", "product"}
    finished = run.finished("qc")
    outputs = finished["outputs"]
    assert outputs["class_id"] == "2"
    assert outputs["class_name"] == "Questions about widgets"
    assert outputs["class_label"] == "CLASS 2"
    assert outputs["usage"]["total_tokens"] > 0
    assert finished["execution_metadata"]["total_tokens"] == outputs["usage"]["total_tokens"]
    assert finished["process_data"]["model_provider"] == MODEL["provider"]

    body = scripted.requests[0].json
    assert "tools" not in body
    system, user = body["messages"]
    assert "Questions about widgets" in system["content"]
    assert '"category_id": "2"' in system["content"] or '"category_id":"2"' in system["content"]
    assert "Be strict." in system["content"]
    assert user["content"] == QC_INPUTS["q"]


@pytest.mark.parametrize(
    "answer",
    ["I think it is about widgets.", '{"category_id": "7", "category_name": "Other"}'],
)
async def test_classifier_falls_back_to_the_first_class(
    models: LoopbackModels, scripted: ScriptedUpstream, answer: str
) -> None:
    scripted.script(Reply(text=answer))
    run = await run_graph(models, QC_NODES, QC_EDGES, QC_INPUTS)

    assert run.ran() == {"start", "qc", "billing"}
    assert run.engine.state["product"] == "skipped"
    outputs = run.finished("qc")["outputs"]
    assert outputs["class_id"] == "1"
    assert outputs["class_name"] == "Billing questions"
    assert outputs["class_label"] == "Billing"


async def test_classifier_memory_vision_and_legacy_query_selector(
    models: LoopbackModels, scripted: ScriptedUpstream
) -> None:
    scripted.script(Reply(text='{"category_id": 2}'))
    image = {
        "dify_model_identity": "__dify__file__",
        "type": "image",
        "transfer_method": "remote_url",
        "remote_url": "https://example.com/a.png",
        "url": "https://example.com/a.png",
        "filename": "a.png",
    }
    node = classifier(
        query_variable_selector=["start", "sys.query"],
        memory={"window": {"enabled": True, "size": 5}},
        vision={
            "enabled": True,
            "configs": {"variable_selector": ["sys", "files"], "detail": "low"},
        },
    )
    run = await run_graph(
        models,
        [node, branch("billing", "b"), branch("product", "p")],
        QC_EDGES,
        {"product": "gadgets"},
        system={"query": "Where is my gadget?", "files": [image]},
        conversation=Turns(),
    )

    assert run.finished("qc")["outputs"]["class_id"] == "2"
    messages = scripted.requests[0].json["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "Earlier question"
    assert messages[3]["content"] == [
        {"type": "text", "text": "Where is my gadget?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
    ]


async def test_classifier_model_failure_takes_fail_branch(
    models: LoopbackModels, scripted: ScriptedUpstream
) -> None:
    scripted.script(Reply(status=429, error={"message": "slow down", "type": "rate_limit"}))
    node = classifier(error_strategy="fail-branch")
    run = await run_graph(
        models,
        [node, branch("billing", "b"), branch("product", "p"), branch("failed", "f")],
        [*QC_EDGES, ("qc", "fail-branch", "failed")],
        QC_INPUTS,
    )

    assert run.engine.result is not None
    assert run.engine.result.status == "partial-succeeded"
    assert run.ran() == {"start", "qc", "failed"}
    assert run.finished("qc")["outputs"]["error_type"] == "ProviderQuotaError"
