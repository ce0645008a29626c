"""Multi-row INSERTs for the hot path, without SQLAlchemy's per-row parameter machinery."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Dialect, Table, bindparam, insert

__all__ = ["BulkInsert"]

_Bind = Callable[[Any], Any] | None
ROWS_PER_STATEMENT = 500  # with RETURNING; 500 rows of 21 columns stay under both drivers' limits


class BulkInsert:
    """``INSERT INTO table (columns) VALUES (...)`` for many rows at once.

    ``connection.execute(insert(table), rows)`` builds and processes a parameter dict per
    row in Python (about a third of a batch's time on the writer). This binds each row as
    a tuple through the same type processors (UTC timestamps, JSON), compiled once per
    dialect, and hands the rows to the driver: all of them to one ``executemany``, or, with
    ``returning``, as multi-row ``VALUES`` of up to :data:`ROWS_PER_STATEMENT` rows (one
    statement compiled per row count), whose returned rows come back in no promised order.
    """

    def __init__(
        self, table: Table, columns: Sequence[str], *, returning: Sequence[str] = ()
    ) -> None:
        self.table = table
        self.columns = list(columns)
        self.returning = [table.c[name] for name in returning]
        self._binds: dict[int, tuple[str, list[_Bind]]] = {}
        self._multi: dict[tuple[int, int], str] = {}

    def __call__(
        self, connection: Connection, rows: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Any, ...]]:
        """Insert ``rows`` (each a mapping with every column); the ``returning`` rows."""
        if not rows:
            return []
        dialect = connection.dialect
        sql, binds = self._binds.get(id(dialect)) or self._compile(dialect)
        pairs = list(zip(self.columns, binds, strict=True))
        values = [
            [row[name] if bind is None else bind(row[name]) for name, bind in pairs] for row in rows
        ]
        if not self.returning:
            connection.exec_driver_sql(sql, [tuple(row) for row in values])
            return []
        returned: list[tuple[Any, ...]] = []
        for start in range(0, len(values), ROWS_PER_STATEMENT):
            chunk = values[start : start + ROWS_PER_STATEMENT]
            flat = tuple(value for row in chunk for value in row)
            result = connection.exec_driver_sql(self._multi_sql(dialect, len(chunk)), flat)
            returned += [tuple(row) for row in result]
        return returned

    def _compile(self, dialect: Dialect) -> tuple[str, list[_Bind]]:
        """The one-row statement and each column's bind processor, in column order."""
        statement = (
            insert(self.table)
            .inline()
            .values({name: bindparam(name, type_=self.table.c[name].type) for name in self.columns})
        )
        compiled = statement.compile(dialect=dialect)
        # Both drivers' paramstyles are positional, in the order the columns are given.
        assert compiled.positiontup == self.columns, compiled.positiontup
        processors = compiled._bind_processors  # a column's processor is one callable
        binds = [cast(_Bind, processors.get(name)) for name in self.columns]
        self._binds[id(dialect)] = (compiled.string, binds)
        return compiled.string, binds

    def _multi_sql(self, dialect: Dialect, count: int) -> str:
        """``INSERT ... VALUES (...), ... (count rows) RETURNING ...`` for ``dialect``."""
        key = (id(dialect), count)
        if key not in self._multi:
            statement = (
                insert(self.table)
                .values(
                    [
                        {
                            name: bindparam(f"{name}_{n}", type_=self.table.c[name].type)
                            for name in self.columns
                        }
                        for n in range(count)
                    ]
                )
                .returning(*self.returning)
            )
            compiled = statement.compile(dialect=dialect)
            expected = [f"{name}_{n}" for n in range(count) for name in self.columns]
            assert compiled.positiontup == expected  # row by row, columns in order
            self._multi[key] = compiled.string
        return self._multi[key]
