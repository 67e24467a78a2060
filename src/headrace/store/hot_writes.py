"""Hot-path writes: Core statements compiled once per dialect and run straight on the DB-API
cursor by SQLite's writer thread.

Every chat turn writes its rows three times. Measured here for one small UPDATE in its own
transaction: ~460 µs through an ORM session, ~300 µs through a Core connection, ~20 µs for the
same SQL on the sqlite3 cursor. So the few statements on that path are compiled once (SQL text,
parameter order and SQLAlchemy's own bind processors, so JSON and timestamps are stored exactly
as the ORM stores them) and executed without SQLAlchemy's execution layer. PostgreSQL runs the
same statements through an ordinary session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, insert
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

    def compiled(self, dialect: Dialect) -> CompiledWrite:
        """The statement compiled for `dialect` (cached)."""
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = _compile(self.statement, dialect)
        return found


def _compile(statement: UpdateBase, dialect: Dialect) -> CompiledWrite:
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
