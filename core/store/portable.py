"""Portable catalog SQL on a plain DB-API connection, without SQLAlchemy: the light read unit
(`CatalogRead`) that commands a serving system polls use, and the values both catalogs give
back read alike (JSON as Python objects, timestamps in UTC).

The connection itself is opened in core.store.engine (DuckDB) or core.store.team (PostgreSQL).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

# SQLAlchemy's own rule for a bound parameter in text(): a colon and a name, not `::` (a cast).
_NAMED = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")


class CatalogReader(Protocol):
    """What a catalog query needs: portable SQL with named :params (a Work or a CatalogRead)."""

    audit_key: bytes | None

    def catalog(self, query: str, params: dict[str, Any] | None = None) -> Any:
        """Run portable SQL on the catalog; a result with first(), fetchall() and keys()."""
        ...


class Rows:
    """The fetched rows of one query, read as a SQLAlchemy result is."""

    def __init__(self, names: list[str], rows: list[tuple]) -> None:
        self._names = names
        self._rows = rows

    def keys(self) -> list[str]:
        """The column names."""
        return self._names

    def fetchall(self) -> list[tuple]:
        """Every row."""
        return self._rows

    all = fetchall

    def first(self) -> tuple | None:
        """The first row, None when there is none."""
        return self._rows[0] if self._rows else None

    def one(self) -> tuple:
        """The one row (a LookupError when there is not exactly one)."""
        if len(self._rows) != 1:
            raise LookupError(f"expected one row, found {len(self._rows)}")
        return self._rows[0]

    def scalar(self) -> Any:
        """The first column of the first row, None when there is none."""
        return self._rows[0][0] if self._rows else None

    def __iter__(self) -> Iterator[tuple]:
        return iter(self._rows)


class CatalogRead:
    """A read-only unit of work on the catalog alone: a plain DB-API connection whose
    statements run in one transaction that is rolled back at the end."""

    def __init__(
        self,
        connection: Any,
        *,
        dialect: str,
        placeholder: Callable[[str], str],
        audit_key: bytes | None,
    ) -> None:
        self._connection = connection
        self.dialect = dialect
        self._placeholder = placeholder
        self.audit_key = audit_key

    def catalog(self, query: str, params: dict[str, Any] | None = None) -> Rows:
        """Run portable SQL (named :params) on the catalog; its fetched rows."""
        given = params or {}
        used: dict[str, Any] = {}

        def bind(match: re.Match[str]) -> str:
            used[match.group(1)] = given[match.group(1)]
            return self._placeholder(match.group(1))

        if self.dialect == "postgresql":
            query = query.replace("%", "%%")  # psycopg reads % as its own placeholders
        # Both drivers' execute() return what holds the result (a DuckDB cursor would be a
        # connection of its own, outside this unit's transaction).
        result = self._connection.execute(_NAMED.sub(bind, query), used)
        names = [d[0] for d in result.description or ()]
        return Rows(names, [tuple(r) for r in result.fetchall()] if names else [])


def json_value(value: Any) -> Any:
    """A JSON column's value as Python objects (DuckDB gives its text, psycopg parses it)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def utc(value: datetime) -> datetime:
    """A catalog timestamp as an aware UTC datetime (PostgreSQL gives the session's zone)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
