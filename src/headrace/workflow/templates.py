"""`{{#node.var#}}` templates (dsl.md §3.2): parsing into segments and rendering values as
text (prompts, HTTP, conditions) or markdown (Answer nodes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from headrace.workflow.variables import MISSING, VariablePool, is_file

PATTERN = re.compile(r"\{\{#([a-zA-Z0-9_]{1,50}(?:\.[a-zA-Z_][a-zA-Z0-9_]{0,29}){1,10})#\}\}")


@dataclass(frozen=True, slots=True)
class Segment:
    """Literal text, or a selector to fill in."""

    text: str = ""
    selector: tuple[str, ...] | None = None


def parse(template: str) -> list[Segment]:
    """Split a template into literal and variable segments."""
    segments: list[Segment] = []
    position = 0
    for match in PATTERN.finditer(template):
        if match.start() > position:
            segments.append(Segment(text=template[position : match.start()]))
        segments.append(Segment(text=match.group(1), selector=tuple(match.group(1).split("."))))
        position = match.end()
    if position < len(template):
        segments.append(Segment(text=template[position:]))
    return segments


def selectors_in(template: str) -> list[tuple[str, ...]]:
    """Every selector a template references, in order."""
    return [s.selector for s in parse(template) if s.selector is not None]


def _json(value: Any, indent: bool = False) -> str:
    """Objects as JSON, non-ASCII kept: indented for markdown, spaced separators for text."""
    if indent:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()
    return json.dumps(value, ensure_ascii=False, default=str)


def _py_str(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return "None"
    if isinstance(value, list):
        return "[" + ", ".join(_py_repr(v) for v in value) + "]"
    return str(value)


def _py_repr(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_py_repr(k)}: {_py_repr(v)}" for k, v in value.items()) + "}"
    return _py_str(value)


def to_text(value: Any) -> str:
    """The "text" rendering of a value."""
    if value is None or value is MISSING:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return _py_str(value)
    if is_file(value):
        return ""
    if isinstance(value, Mapping):
        return _json(value)
    if isinstance(value, list):
        if not value:
            return ""
        if all(is_file(v) for v in value):
            return ""
        if all(isinstance(v, str) for v in value):
            return _json(value)
        return _py_str(value)
    return str(value)


def _file_link(value: Mapping[str, Any]) -> str:
    name = value.get("filename") or ""
    url = value.get("url") or value.get("remote_url") or ""
    return f"![{name}]({url})" if value.get("type") == "image" else f"[{name}]({url})"


def to_markdown(value: Any) -> str:
    """The "markdown" rendering of a value (Answer nodes)."""
    if value is None or value is MISSING:
        return ""
    if is_file(value):
        return _file_link(value)
    if isinstance(value, Mapping):
        return _json(value, indent=True)
    if isinstance(value, list):
        if value and all(is_file(v) for v in value):
            return "\n".join(_file_link(v) for v in value)
        return "\n".join(f"- {v if isinstance(v, str) else _py_str(v)}" for v in value)
    return to_text(value)


def render(template: str, pool: VariablePool, markdown: bool = False) -> str:
    """Fill a template from the pool; an unresolved reference renders as its dotted text."""
    if "{{#" not in template:
        return template
    out: list[str] = []
    for segment in parse(template):
        if segment.selector is None:
            out.append(segment.text)
            continue
        value = pool.get(segment.selector)
        if value is MISSING:
            out.append(segment.text)
        else:
            out.append(to_markdown(value) if markdown else to_text(value))
    return "".join(out)
