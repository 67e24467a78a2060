"""The ``process_rule`` request object (service API §10.6): cleaning and segmentation settings.

``parse_process_rule(raw)`` validates a decoded JSON value and returns a frozen
:class:`ProcessRule`; every failure raises :class:`ProcessRuleError` (a ``ValueError``) whose
message starts with ``"Process rule"``, ready for a ``400 invalid_param`` answer.

Modes and defaults (decisions):

* ``custom`` — ``rules`` is required. ``pre_processing_rules`` may be omitted (nothing
  enabled); ``segmentation`` is required, with ``max_tokens`` required, ``separator``
  defaulting to ``"\\n"`` and ``chunk_overlap`` to 0. The separator is a hard delimiter: the
  splitter cuts there first and removes it (Dify's "delimiter").
* ``automatic`` — any ``rules`` sent are ignored and :data:`AUTOMATIC_RULES` apply, the values
  Dify uses: ``remove_extra_spaces`` on, ``remove_urls_emails`` off (URLs are often the
  content), ``max_tokens`` 500, ``chunk_overlap`` 50. The ``separator`` is shown as ``"\\n"``
  for the wire shape, but automatic splitting ignores it and packs paragraphs, lines and
  sentences into chunks of up to ``max_tokens`` (Dify's automatic splitter behaves so too).
* ``hierarchical`` — like ``custom``, but a missing ``segmentation`` uses the parent default
  (separator ``"\\n\\n"``, 1024 tokens, no overlap), a missing ``parent_mode`` is
  ``"paragraph"`` and a missing ``subchunk_segmentation`` uses the child default (separator
  ``"\\n"``, 512 tokens, no overlap) — the values Dify's console proposes.

``max_tokens`` must lie between :data:`MIN_SEGMENT_TOKENS` and :data:`MAX_SEGMENT_TOKENS`;
``chunk_overlap`` must be at least 0 and below ``max_tokens``. Separators written with escapes
(``"\\\\n"``, ``"\\\\t"``, ``"\\\\r"`` as sent by forms that escape them) are turned into the
real characters, and line endings in separators are normalised to ``"\\n"`` like the text is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MIN_SEGMENT_TOKENS = 50
"""Smallest accepted ``max_tokens`` of a segmentation."""
MAX_SEGMENT_TOKENS = 4000
"""Largest accepted ``max_tokens`` (Dify's ``INDEXING_MAX_SEGMENTATION_TOKENS_LENGTH``)."""

ProcessRuleMode = Literal["automatic", "custom", "hierarchical"]
PreProcessingRuleId = Literal["remove_extra_spaces", "remove_urls_emails"]
ParentMode = Literal["full-doc", "paragraph"]

PROCESS_RULE_MODES: tuple[str, ...] = get_args(ProcessRuleMode)
"""Accepted ``mode`` values."""
PRE_PROCESSING_RULE_IDS: tuple[str, ...] = get_args(PreProcessingRuleId)
"""Known cleaning rule ids, in the order they are listed on the wire."""
PARENT_MODES: tuple[str, ...] = get_args(ParentMode)
"""Accepted ``parent_mode`` values."""

_ESCAPES = (("\\n", "\n"), ("\\t", "\t"), ("\\r", "\r"))


class ProcessRuleError(ValueError):
    """An invalid ``process_rule``; the message starts with "Process rule"."""


def unescape_separator(value: str) -> str:
    """Turn escaped ``\\n``/``\\t``/``\\r`` into real characters and normalise line endings.

    Idempotent: a separator that already holds real newlines is returned unchanged.
    """
    for escaped, real in _ESCAPES:
        value = value.replace(escaped, real)
    return value.replace("\r\n", "\n").replace("\r", "\n")


class PreProcessingRule(BaseModel):
    """One cleaning rule switch."""

    model_config = ConfigDict(frozen=True)

    id: PreProcessingRuleId
    enabled: bool


class Segmentation(BaseModel):
    """How text is cut: hard delimiter, chunk size bound and overlap (estimated tokens)."""

    model_config = ConfigDict(frozen=True)

    separator: str = Field(default="\n", min_length=1)
    max_tokens: int = Field(ge=MIN_SEGMENT_TOKENS, le=MAX_SEGMENT_TOKENS)
    chunk_overlap: int = Field(default=0, ge=0)

    @field_validator("separator", mode="before")
    @classmethod
    def _unescape(cls, value: object) -> object:
        return unescape_separator(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Segmentation:
        if self.chunk_overlap >= self.max_tokens:
            raise ValueError("chunk_overlap must be less than max_tokens")
        return self


class Rules(BaseModel):
    """The ``rules`` object; ``parent_mode``/``subchunk_segmentation`` only in hierarchical mode."""

    model_config = ConfigDict(frozen=True)

    pre_processing_rules: tuple[PreProcessingRule, ...] = ()
    segmentation: Segmentation
    parent_mode: ParentMode | None = None
    subchunk_segmentation: Segmentation | None = None


class ProcessRule(BaseModel):
    """A validated ``process_rule``."""

    model_config = ConfigDict(frozen=True)

    mode: ProcessRuleMode
    rules: Rules

    def is_enabled(self, rule_id: str) -> bool:
        """Whether the cleaning rule ``rule_id`` is switched on."""
        return any(r.id == rule_id and r.enabled for r in self.rules.pre_processing_rules)

    @property
    def enabled_rule_ids(self) -> frozenset[str]:
        """Ids of the cleaning rules switched on."""
        return frozenset(r.id for r in self.rules.pre_processing_rules if r.enabled)

    def to_wire(self) -> dict[str, Any]:
        """The JSON shape ``{"mode", "rules"}`` as documents show it (``dataset_process_rule``)."""
        return self.model_dump(mode="json", exclude_none=True)


def _cleaning(remove_extra_spaces: bool, remove_urls_emails: bool) -> tuple[PreProcessingRule, ...]:
    return (
        PreProcessingRule(id="remove_extra_spaces", enabled=remove_extra_spaces),
        PreProcessingRule(id="remove_urls_emails", enabled=remove_urls_emails),
    )


AUTOMATIC_RULES = Rules(
    pre_processing_rules=_cleaning(True, False),
    segmentation=Segmentation(separator="\n", max_tokens=500, chunk_overlap=50),
)
"""Rules applied in ``automatic`` mode (whatever the request sends)."""

DEFAULT_RULES = Rules(
    pre_processing_rules=_cleaning(True, False),
    segmentation=Segmentation(separator="\n", max_tokens=1024, chunk_overlap=50),
)
"""Rules of the server default process rule (mode ``custom``)."""

HIERARCHICAL_PARENT_SEGMENTATION = Segmentation(separator="\n\n", max_tokens=1024, chunk_overlap=0)
"""Parent segmentation used in hierarchical mode when the request omits ``segmentation``."""
HIERARCHICAL_CHILD_SEGMENTATION = Segmentation(separator="\n", max_tokens=512, chunk_overlap=0)
"""Child segmentation used when a hierarchical request omits ``subchunk_segmentation``."""


def default_process_rule() -> ProcessRule:
    """The rule used when neither the request nor the dataset supplies one."""
    return ProcessRule(mode="custom", rules=DEFAULT_RULES)


def automatic_process_rule() -> ProcessRule:
    """The ``automatic`` mode rule."""
    return ProcessRule(mode="automatic", rules=AUTOMATIC_RULES)


def parse_process_rule(raw: object) -> ProcessRule:
    """Validate a decoded ``process_rule`` value; ``None`` gives :func:`default_process_rule`.

    Raises :class:`ProcessRuleError` with a "Process rule …" message on any problem.
    """
    if raw is None:
        return default_process_rule()
    if not isinstance(raw, Mapping):
        raise ProcessRuleError("Process rule is invalid")
    mode = raw.get("mode")
    if mode is None or mode == "":
        raise ProcessRuleError("Process rule mode is required")
    if not isinstance(mode, str) or mode not in PROCESS_RULE_MODES:
        raise ProcessRuleError("Process rule mode is invalid")
    if mode == "automatic":
        return automatic_process_rule()

    rules = raw.get("rules")
    if rules is None:
        raise ProcessRuleError("Process rule rules is required")
    if not isinstance(rules, Mapping):
        raise ProcessRuleError("Process rule rules is invalid")
    cleaning = _parse_pre_processing(rules.get("pre_processing_rules"))
    hierarchical = mode == "hierarchical"
    raw_segmentation = rules.get("segmentation")
    if raw_segmentation is None and hierarchical:
        segmentation = HIERARCHICAL_PARENT_SEGMENTATION
    else:
        segmentation = _parse_segmentation(raw_segmentation, "segmentation")
    if not hierarchical:
        return ProcessRule(
            mode="custom", rules=Rules(pre_processing_rules=cleaning, segmentation=segmentation)
        )

    raw_parent_mode = rules.get("parent_mode")
    parent_mode: ParentMode = "paragraph"
    if raw_parent_mode == "full-doc":
        parent_mode = "full-doc"
    elif raw_parent_mode not in (None, "paragraph"):
        raise ProcessRuleError("Process rule parent_mode is invalid")
    raw_sub = rules.get("subchunk_segmentation")
    sub = (
        HIERARCHICAL_CHILD_SEGMENTATION
        if raw_sub is None
        else _parse_segmentation(raw_sub, "subchunk_segmentation")
    )
    return ProcessRule(
        mode="hierarchical",
        rules=Rules(
            pre_processing_rules=cleaning,
            segmentation=segmentation,
            parent_mode=parent_mode,
            subchunk_segmentation=sub,
        ),
    )


def _parse_pre_processing(raw: object) -> tuple[PreProcessingRule, ...]:
    """Both known rules in wire order; later duplicates of an id win, absent ids are off."""
    if raw is None:
        return _cleaning(False, False)
    if not isinstance(raw, list):
        raise ProcessRuleError("Process rule pre_processing_rules is invalid")
    enabled: dict[str, bool] = {}
    for item in raw:
        if not isinstance(item, Mapping):
            raise ProcessRuleError("Process rule pre_processing_rules is invalid")
        rule_id = item.get("id")
        if rule_id is None or rule_id == "":
            raise ProcessRuleError("Process rule pre_processing_rules id is required")
        if not isinstance(rule_id, str) or rule_id not in PRE_PROCESSING_RULE_IDS:
            raise ProcessRuleError("Process rule pre_processing_rules id is invalid")
        flag = item.get("enabled")
        if not isinstance(flag, bool):
            raise ProcessRuleError("Process rule pre_processing_rules enabled is invalid")
        enabled[rule_id] = flag
    return _cleaning(
        enabled.get("remove_extra_spaces", False), enabled.get("remove_urls_emails", False)
    )


def _parse_segmentation(raw: object, name: str) -> Segmentation:
    prefix = f"Process rule {name}"
    if raw is None:
        raise ProcessRuleError(f"{prefix} is required")
    if not isinstance(raw, Mapping):
        raise ProcessRuleError(f"{prefix} is invalid")

    separator = raw.get("separator")
    if separator is None:
        separator = "\n"
    if not isinstance(separator, str):
        raise ProcessRuleError(f"{prefix} separator is invalid")
    if separator == "":
        raise ProcessRuleError(f"{prefix} separator is required")

    max_tokens = raw.get("max_tokens")
    if max_tokens is None:
        raise ProcessRuleError(f"{prefix} max_tokens is required")
    if (
        not isinstance(max_tokens, int)
        or isinstance(max_tokens, bool)
        or not MIN_SEGMENT_TOKENS <= max_tokens <= MAX_SEGMENT_TOKENS
    ):
        raise ProcessRuleError(f"{prefix} max_tokens is invalid")

    overlap = raw.get("chunk_overlap")
    if overlap is None:
        overlap = 0
    if (
        not isinstance(overlap, int)
        or isinstance(overlap, bool)
        or overlap < 0
        or overlap >= max_tokens
    ):
        raise ProcessRuleError(f"{prefix} chunk_overlap is invalid")
    return Segmentation(separator=separator, max_tokens=max_tokens, chunk_overlap=overlap)
