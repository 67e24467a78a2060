"""Payload filters (see `base` for their meaning), evaluated in Python and compiled to SQL.

The two forms agree: Python equality by JSON type, SQLite `json_type`/`json_extract` guarded
by type, PostgreSQL JSONB containment (`payload @> '{"k": v}'`, served by a GIN index).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, literal, or_, true
from sqlalchemy.dialects.postgresql import JSONB

from headrace.knowledge.vectorstores.base import Filter

Scalar = str | int | float | bool | None
_KEY = re.compile(r'^[^"\\\x00-\x1f]{1,255}$')


def check_key(key: str) -> str:
    """`key` if it can be a payload filter key (no quotes, backslashes or control characters)."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValueError(f"invalid payload filter key: {key!r}")
    return key


def wanted_values(value: Any) -> list[Scalar]:
    """The accepted values of one filter entry: a list means any of them."""
    values = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
    for item in values:
        if item is not None and not isinstance(item, str | int | float | bool):
            raise TypeError(f"unsupported filter value {item!r}: use str, number, bool or None")
    return values


def normalize(filter: Filter | None) -> dict[str, list[Scalar]]:
    """A checked copy of `filter`: each key with its list of accepted values."""
    return {check_key(key): wanted_values(value) for key, value in (filter or {}).items()}


def _same(stored: Any, wanted: Scalar) -> bool:
    if wanted is None:
        return stored is None
    if isinstance(wanted, bool) or isinstance(stored, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored is wanted
    if isinstance(wanted, str):
        return isinstance(stored, str) and stored == wanted
    return isinstance(stored, int | float) and stored == wanted


def matches(payload: Mapping[str, Any], filter: Mapping[str, list[Scalar]]) -> bool:
    """Whether `payload` satisfies a normalised filter."""
    for key, values in filter.items():
        if key not in payload:
            return False
        if not any(_same(payload[key], wanted) for wanted in values):
            return False
    return True


def _sqlite_value(column: Any, key: str, wanted: Scalar) -> ColumnElement[bool]:
    path = '$."' + key + '"'
    kind = func.json_type(column, path)
    if wanted is None:
        return kind == "null"
    if isinstance(wanted, bool):
        return kind == ("true" if wanted else "false")
    value = func.json_extract(column, path)
    if isinstance(wanted, str):
        return and_(kind == "text", value == literal(wanted))
    return and_(kind.in_(["integer", "real"]), value == literal(wanted))


def _postgres_value(column: Any, key: str, wanted: Scalar) -> ColumnElement[bool]:
    document = literal({key: wanted}, type_=JSONB)
    return column.op("@>")(document)  # type: ignore[no-any-return]


def sql_condition(column: Any, filter: Mapping[str, list[Scalar]], dialect: str) -> Any:
    """A WHERE clause over a JSON payload `column` for a normalised filter on `dialect`."""
    build = _postgres_value if dialect == "postgresql" else _sqlite_value
    clauses: list[ColumnElement[bool]] = []
    for key, values in filter.items():
        if not values:
            return false()
        clauses.append(or_(*(build(column, key, wanted) for wanted in values)))
    return and_(*clauses) if clauses else true()
