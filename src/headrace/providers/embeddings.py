"""The contract of embedding model adapters, their registry and their model metadata.

An adapter turns texts into L2-normalised vectors (plain lists of floats, each exactly
representable as float32) and reports the tokens it spent. Provider ids resolve in any
spelling the LLM registry accepts (`openai`, `langgenius/openai/openai`,
`openai_api_compatible`, `local`). Model metadata (dimensions, input limit, price) lives in
`data/embeddings-<provider>.yaml`.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any, Literal, Protocol

import yaml

from headrace.providers.catalog import ModelPricing
from headrace.providers.registry import AdapterRegistry, canonical_provider_id

#: What a text is embedded for: stored passages, or the search query matched against them.
InputType = Literal["document", "query"]


@dataclass(frozen=True, slots=True)
class EmbeddingResult:
    """Vectors in the order of the input texts, their dimension and the tokens spent."""

    vectors: list[list[float]]
    dims: int
    tokens: int


class EmbeddingProvider(Protocol):
    """A provider of text embeddings."""

    provider_id: str
    #: Credential keys the provider understands (shared with the LLM provider of that id).
    credential_keys: tuple[str, ...]
    #: Whether the provider can run without any configured credentials.
    needs_credentials: bool

    async def embed(
        self,
        texts: Sequence[str],
        model: str,
        credentials: Mapping[str, str],
        *,
        input_type: InputType = "document",
    ) -> EmbeddingResult:
        """Embed `texts` in order; raise `ProviderError`s on failure."""
        ...

    async def aclose(self) -> None:
        """Release pooled connections or loaded models."""
        ...


def l2_normalise(values: Iterable[float]) -> list[float]:
    """`values` scaled to unit length and rounded to float32; a zero vector stays zero."""
    floats = [float(v) for v in values]
    norm = math.hypot(*floats)
    if norm > 0.0 and math.isfinite(norm):
        floats = [v / norm for v in floats]
    return array("f", floats).tolist()


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (the dot product, for normalised ones)."""
    if len(a) != len(b):
        raise ValueError(f"vector sizes differ: {len(a)} != {len(b)}")
    norm = math.hypot(*a) * math.hypot(*b)
    return math.fsum(x * y for x, y in zip(a, b, strict=True)) / norm if norm else 0.0


@dataclass(frozen=True, slots=True)
class EmbeddingModelInfo:
    """What Headrace knows about one embedding model (0 dims: not known in advance)."""

    name: str
    dims: int
    max_input_tokens: int
    pricing: ModelPricing


@cache
def _load_data(provider: str) -> dict[str, Any]:
    path = resources.files("headrace.providers").joinpath("data", f"embeddings-{provider}.yaml")
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return data if isinstance(data, dict) else {}


def embedding_model_info(provider_id: str, model: str) -> EmbeddingModelInfo:
    """Metadata of embedding `model` under `provider_id`, or the provider's `default` entry."""
    data = _load_data(canonical_provider_id(provider_id))
    models: dict[str, Any] = data.get("models") or {}
    raw: dict[str, Any] = models.get(model) or data.get("default") or {}
    pricing: dict[str, Any] = raw.get("pricing") or {}
    return EmbeddingModelInfo(
        name=model,
        dims=int(raw.get("dims", 0)),
        max_input_tokens=int(raw.get("max_input_tokens", 512)),
        pricing=ModelPricing(
            input=Decimal(str(pricing.get("input", "0"))),
            output=Decimal("0"),
            unit=Decimal(str(pricing.get("unit", "0.000001"))),
            currency=str(pricing.get("currency", "USD")),
        ),
    )


class EmbeddingRegistry(AdapterRegistry[EmbeddingProvider]):
    """The embedding adapters of this process."""

    kind = "embedding "
    noun = "Embedding model"


def default_embedding_registry(timeout: float = 60.0) -> EmbeddingRegistry:
    """The adapters a server offers: OpenAI-compatible over HTTP and the bundled local model.

    The local adapter imports its heavy dependencies only on first use.
    """
    from headrace.providers.local_embeddings import LocalEmbeddingProvider
    from headrace.providers.openai_embeddings import OpenAIEmbeddingProvider

    return EmbeddingRegistry([OpenAIEmbeddingProvider(timeout=timeout), LocalEmbeddingProvider()])
