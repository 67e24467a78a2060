"""Model metadata (context size, prices, currency) read from per-provider data files.

Prices are per `unit` tokens in `currency`, kept as `Decimal`. A model missing from the file
falls back to the provider's `default` entry, so unknown self-hosted models cost zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

import yaml

from headrace.providers.registry import canonical_provider_id


@dataclass(frozen=True, slots=True)
class ModelPricing:
    """Unit prices of one model."""

    input: Decimal
    output: Decimal
    unit: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What Headrace knows about one model."""

    name: str
    mode: str
    context_size: int
    pricing: ModelPricing


def _pricing(raw: dict[str, Any]) -> ModelPricing:
    return ModelPricing(
        input=Decimal(str(raw.get("input", "0"))),
        output=Decimal(str(raw.get("output", "0"))),
        unit=Decimal(str(raw.get("unit", "0.000001"))),
        currency=str(raw.get("currency", "USD")),
    )


@cache
def _load(provider: str) -> dict[str, Any]:
    path = resources.files("headrace.providers").joinpath("data", f"{provider}.yaml")
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return data if isinstance(data, dict) else {}


def model_info(provider_id: str, model: str) -> ModelInfo:
    """Metadata of `model` under `provider_id` (any accepted provider spelling)."""
    data = _load(canonical_provider_id(provider_id))
    models: dict[str, Any] = data.get("models") or {}
    raw: dict[str, Any] = models.get(model) or data.get("default") or {}
    return ModelInfo(
        name=model,
        mode=str(raw.get("mode", "chat")),
        context_size=int(raw.get("context_size", 4096)),
        pricing=_pricing(raw.get("pricing") or {}),
    )
