"""Hot-path writes: Core statements compiled once per dialect and run straight on the DB-API
cursor by SQLite's writer thread.

Every chat turn writes its rows three times. Measured here for one small UPDATE in its own
transaction: ~460 µs through an ORM session, ~300 µs through a Core connection, ~20 µs for the
same SQL on the sqlite3 cursor. So the few statements on that path are compiled once (SQL text,
parameter order and SQLAlchemy's own bind processors, so JSON and timestamps are stored exactly
as the ORM stores them) and executed without SQLAlchemy's execution layer: on SQLite's writer
thread, or on PostgreSQL with asyncpg (`pg_hot`), where the writes of one transaction run as
one statement when they can (`fused_postgres`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Table, bindparam, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import UpdateBase

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class CompiledWrite:
    """One statement for one dialect: positional SQL and how to fill its parameters."""

    sql: str
    names: tuple[str, ...]
    literals: tuple[tuple[bool, Any], ...]  # (is a literal, its value) per position
    processors: tuple[Processor, ...]

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The positional DB-API parameters for `values` (keyed by bind name)."""
        out = []
        for name, (literal, constant), process in zip(
            self.names, self.literals, self.processors, strict=True
        ):
            value = constant if literal else values[name]
            out.append(process(value) if process is not None else value)
        return tuple(out)


class HotWrite:
    """A Core statement whose parameters are all named `bindparam`s, compiled per dialect."""

    def __init__(self, statement: UpdateBase) -> None:
        self.statement = statement
        self._compiled: dict[str, CompiledWrite] = {}

    @property
    def table(self) -> Any:
        """The table the statement writes."""
        return self.statement.table

    def compiled(self, dialect: Dialect) -> CompiledWrite:
        """The statement compiled for `dialect` (cached)."""
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = compile_statement(self.statement, dialect)
        return found


_PLACEHOLDER = re.compile(r"\$(\d+)")
_FUSED: dict[tuple[str, tuple[HotWrite, ...]], str] = {}


def _shift_placeholders(sql: str, offset: int) -> str:
    """`sql` with its `$n` placeholders renumbered from `offset + 1`."""

    def shifted(match: re.Match[str]) -> str:
        return f"${int(match[1]) + offset}"

    return _PLACEHOLDER.sub(shifted, sql)


def fusable(writes: Writes) -> bool:
    """Whether the writes can run as one PostgreSQL statement (`fused_postgres`): each writes
    a different table. (Two changes to one row in one statement would leave only one.)"""
    tables = [write.table for write, _ in writes]
    return len(set(tables)) == len(tables)


def fused_postgres(writes: Writes, dialect: Dialect) -> tuple[str, list[Any]]:
    """SQL and parameters running `writes` as ONE statement, all but the last in data-modifying
    `WITH` clauses: atomic without `BEGIN`/`COMMIT`, so one round trip instead of two plus one
    per statement. Foreign keys are checked at the statement's end, so a row may refer to a
    row inserted by an earlier clause. Only for `fusable` writes."""
    key = tuple(write for write, _ in writes)
    parameters: list[Any] = []
    for write, values in writes:
        parameters.extend(write.compiled(dialect).parameters(values))
    sql = _FUSED.get((dialect.name, key))
    if sql is None:
        clauses: list[str] = []
        offset = 0
        for write in key:
            compiled = write.compiled(dialect)
            clauses.append(_shift_placeholders(compiled.sql, offset))
            offset += len(compiled.names)
        *first, last = clauses
        sql = last
        if first:
            ctes = ", ".join(f"hot_{i} AS ({clause})" for i, clause in enumerate(first))
            sql = f"WITH {ctes} {last}"
        if len(_FUSED) < 1000:
            _FUSED[dialect.name, key] = sql
    return sql, parameters


def compile_statement(statement: UpdateBase | Select[Any], dialect: Dialect) -> CompiledWrite:
    """SQL and parameter handling of a statement whose parameters are all named binds (or
    literals) for `dialect` (hot reads use it too)."""
    compiled = statement.compile(dialect=dialect)
    if not compiled.positiontup:
        raise ValueError("hot writes need a positional-parameter dialect")
    names = tuple(compiled.positiontup)
    literals = []
    processors: list[Processor] = []
    for name in names:
        bind = compiled.binds[name]
        if bind.required:
            literals.append((False, None))
        elif bind.value is not None:
            literals.append((True, bind.effective_value))
        else:
            # A column default or onupdate the compiler added: only SQLAlchemy's execution
            # layer would fill it, so it must be a declared parameter instead.
            raise ValueError(f"parameter {name!r} has no value: declare it with bindparam()")
        processors.append(bind.type.dialect_impl(dialect).bind_processor(dialect))
    return CompiledWrite(str(compiled), names, tuple(literals), tuple(processors))


def insert_row(table: Table) -> HotWrite:
    """An INSERT of every column of `table` (fill rows with `full_row`)."""
    return HotWrite(insert(table).values({c.key: bindparam(c.key) for c in table.columns}))


def full_row(table: Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` plus the Python-side defaults of the columns they leave out."""
    row = dict(values)
    for key, default in _defaults(table):
        if key not in row:
            row[key] = default() if callable(default) else default
    return row


_DEFAULTS: dict[Table, tuple[tuple[str, Any], ...]] = {}


def _defaults(table: Table) -> tuple[tuple[str, Any], ...]:
    """Per column: its scalar default, or a zero-argument callable making one (cached)."""
    found = _DEFAULTS.get(table)
    if found is not None:
        return found
    defaults: list[tuple[str, Any]] = []
    for column in table.columns:
        default = column.default
        if default is None:
            defaults.append((column.key, None))
        elif default.is_scalar:
            value = default.arg  # type: ignore[attr-defined]
            defaults.append((column.key, value))
        elif default.is_callable:
            # SQLAlchemy wraps zero-argument defaults to take an execution context.
            make = default.arg  # type: ignore[attr-defined]
            defaults.append((column.key, lambda make=make: make(None)))
        else:
            raise ValueError(f"column {column.key!r} has a default a hot write cannot compute")
    _DEFAULTS[table] = found = tuple(defaults)
    return found


Writes = Sequence[tuple[HotWrite, Mapping[str, Any]]]
