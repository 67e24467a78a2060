"""Single-retrieval routing: a model picks the one dataset that should answer a query.

Each candidate dataset is offered to the model as a function named `dataset_<id>` (dashes as
underscores) described by the dataset's description; the function the model calls names the
dataset. A model that calls none (or a model without function calling that names none of
them) means no dataset fits, and nothing is retrieved.
"""

from __future__ import annotations

from collections.abc import Sequence

from headrace.apps.models import BoundModel
from headrace.providers.base import collect
from headrace.providers.types import LLMRequest, PromptMessage, ToolSpec
from headrace.store.tables import Dataset

ROUTER_SYSTEM_PROMPT = (
    "You are a helpful AI assistant. Call the one function whose knowledge base can answer "
    "the user's question; call none when no knowledge base fits."
)
QUERY_PARAMETERS = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "The question to search the dataset for."}
    },
    "required": ["query"],
}


def tool_name(dataset: Dataset) -> str:
    """The function name a dataset is offered under."""
    return "dataset_" + dataset.id.replace("-", "_")


def tool_description(dataset: Dataset) -> str:
    """What the model reads about a dataset."""
    description = " ".join((dataset.description or "").split())
    return description or f"useful for when you want to answer queries about the {dataset.name}"


async def route_dataset(
    model: BoundModel, model_name: str, datasets: Sequence[Dataset], query: str
) -> Dataset | None:
    """The dataset the model picks among several for `query`, or None."""
    by_name = {tool_name(d): d for d in datasets}
    request = LLMRequest(
        model=model_name,
        messages=(
            PromptMessage("system", ROUTER_SYSTEM_PROMPT),
            PromptMessage("user", query),
        ),
        parameters={"temperature": 0, "max_tokens": 256},
        tools=tuple(ToolSpec(n, tool_description(d), QUERY_PARAMETERS) for n, d in by_name.items()),
    )
    answer = await collect(model.stream(request))
    for call in answer.tool_calls:
        if call.name in by_name:
            return by_name[call.name]
    named = [d for n, d in by_name.items() if n in answer.text]
    return named[0] if len(named) == 1 else None
