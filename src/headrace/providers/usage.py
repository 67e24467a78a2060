"""Token usage to the contract's `usage` object: unit prices, prices, currency, latency."""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import ROUND_HALF_UP, Decimal

from headrace.providers.catalog import ModelPricing
from headrace.providers.types import TokenUsage

_PRICE_QUANTUM = Decimal("0.0000001")


@dataclass(frozen=True, slots=True)
class UsageInfo:
    """The contract's `usage` object; prices are decimal strings."""

    prompt_tokens: int = 0
    prompt_unit_price: str = "0.0"
    prompt_price_unit: str = "0.0"
    prompt_price: str = "0.0"
    completion_tokens: int = 0
    completion_unit_price: str = "0.0"
    completion_price_unit: str = "0.0"
    completion_price: str = "0.0"
    total_tokens: int = 0
    total_price: str = "0.0"
    currency: str = "USD"
    latency: float = 0.0
    time_to_first_token: float | None = None
    time_to_generate: float | None = None

    def as_dict(self) -> dict[str, object]:
        """The object in the contract's key order (every field is a scalar, so no deep copy
        as `dataclasses.asdict` makes)."""
        return {name: getattr(self, name) for name in _USAGE_FIELDS}


_USAGE_FIELDS = tuple(f.name for f in fields(UsageInfo))


def estimate_tokens(text: str) -> int:
    """A provider-neutral token estimate (about four characters per token)."""
    return (len(text) + 3) // 4 if text else 0


def price(tokens: int, unit_price: Decimal, unit: Decimal) -> Decimal:
    """Cost of `tokens` at `unit_price` per `unit` tokens, rounded to 7 decimals."""
    return (Decimal(tokens) * unit_price * unit).quantize(_PRICE_QUANTUM, rounding=ROUND_HALF_UP)


def _text(value: Decimal) -> str:
    """Plain decimal notation (never exponents such as `0E-7`)."""
    return f"{value:f}"


def build_usage(
    tokens: TokenUsage,
    pricing: ModelPricing,
    latency: float,
    time_to_first_token: float | None = None,
    time_to_generate: float | None = None,
) -> UsageInfo:
    """The `usage` object for one model invocation."""
    prompt_price = price(tokens.prompt_tokens, pricing.input, pricing.unit)
    completion_price = price(tokens.completion_tokens, pricing.output, pricing.unit)
    return UsageInfo(
        prompt_tokens=tokens.prompt_tokens,
        prompt_unit_price=_text(pricing.input),
        prompt_price_unit=_text(pricing.unit),
        prompt_price=_text(prompt_price),
        completion_tokens=tokens.completion_tokens,
        completion_unit_price=_text(pricing.output),
        completion_price_unit=_text(pricing.unit),
        completion_price=_text(completion_price),
        total_tokens=tokens.total_tokens,
        total_price=_text(prompt_price + completion_price),
        currency=pricing.currency,
        latency=round(latency, 3),
        time_to_first_token=None if time_to_first_token is None else round(time_to_first_token, 3),
        time_to_generate=None if time_to_generate is None else round(time_to_generate, 3),
    )
