"""Hot-path reads: Core SELECTs compiled once per dialect and run without SQLAlchemy's ORM or
execution layer, the reading twin of `hot_writes`.

A continued chat turn reads its conversation and its history first. Through an ORM session
on aiosqlite those two reads were most of the turn's cost: several hand-offs to aiosqlite's
thread (each a wait for the GIL) and the ORM's execution and loading, 260–350 turns a second
against ~1,300 when the same two reads ran on a plain connection. Values come back as tuples,
converted as the ORM converts them (JSON decoded, booleans, timestamps).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Select
from sqlalchemy.engine import Dialect

from headrace.store.hot_writes import CompiledWrite, compile_statement

Decoder = Callable[[Any], Any] | None
Reads = Sequence[tuple["HotRead", Mapping[str, Any]]]
Rows = list[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class CompiledRead:
    """One SELECT for one dialect: its SQL and parameters, and a decoder per column."""

    statement: CompiledWrite
    decoders: tuple[Decoder, ...]

    def rows(self, raw: Sequence[Sequence[Any]]) -> Rows:
        """Driver rows converted as the ORM would convert them."""
        if not any(self.decoders):
            return [tuple(row) for row in raw]
        return [
            tuple(
                value if decode is None or value is None else decode(value)
                for value, decode in zip(row, self.decoders, strict=True)
            )
            for row in raw
        ]


def _json_text(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


class HotRead:
    """A Core SELECT whose parameters are all named `bindparam`s, compiled per dialect."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, CompiledRead] = {}

    def compiled(self, dialect: Dialect) -> CompiledRead:
        """The statement compiled for `dialect` (cached)."""
        found = self._compiled.get(dialect.name)
        if found is None:
            decoders: list[Decoder] = []
            for column in self.statement.selected_columns:
                decode = column.type.dialect_impl(dialect).result_processor(dialect, None)
                if decode is None and isinstance(column.type, JSON):
                    # SQLAlchemy's asyncpg dialect decodes JSON with a codec it installs on
                    # its own connections; raw asyncpg hands the text over.
                    decode = _json_text
                decoders.append(decode)
            found = CompiledRead(compile_statement(self.statement, dialect), tuple(decoders))
            self._compiled[dialect.name] = found
        return found


def read_sqlite(connection: sqlite3.Connection, dialect: Dialect, reads: Reads) -> list[Rows]:
    """Run the reads on a sqlite3 connection (each sees the data committed when it starts)."""
    out = []
    for read, values in reads:
        compiled = read.compiled(dialect)
        statement = compiled.statement
        cursor = connection.execute(statement.sql, statement.parameters(values))
        out.append(compiled.rows(cursor.fetchall()))
    return out
