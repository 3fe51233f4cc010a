"""Feature schemas: what a version's reference says each input looks like."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from core.files.sources import quote_ident

NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
)
MAX_CATEGORIES = 1000


@dataclass(frozen=True)
class Feature:
    """One input feature: its kind, its log column, and what the reference showed."""

    name: str
    kind: str  # "numeric" | "categorical"
    column: str
    missing_rate: float = 0.0
    min: float | None = None
    max: float | None = None
    categories: list[str] = field(default_factory=list)
    open_categories: bool = False

    def to_json(self) -> dict[str, Any]:
        """Plain dict for the registry's JSON column."""
        return asdict(self)

    @property
    def sql_type(self) -> str:
        """DuckDB type of the log column."""
        return "DOUBLE" if self.kind == "numeric" else "VARCHAR"


def schema_from_json(data: dict[str, Any]) -> list[Feature]:
    """Rebuild a version's feature list from its stored JSON (in registered order)."""
    return [Feature(**item) for item in data.get("features", [])]


def is_numeric_type(duck_type: str) -> bool:
    """Whether a DuckDB column type holds numbers."""
    return duck_type.upper().startswith(NUMERIC_TYPES) or duck_type.upper().startswith("DECIMAL")


def infer_kind(db: Any, table: str, column: str, duck_type: str) -> str:
    """numeric when every non-empty value parses as a finite-or-missing number, else categorical."""
    if is_numeric_type(duck_type):
        return "numeric"
    if duck_type.upper() != "VARCHAR":
        return "categorical"
    col = quote_ident(column)
    bad, total = db.execute(
        f"SELECT count(*) FILTER (WHERE {col} IS NOT NULL AND TRY_CAST({col} AS DOUBLE) IS NULL),"
        f" count({col}) FROM {table}"
    ).fetchall()[0]
    return "numeric" if total > 0 and bad == 0 else "categorical"


def profile(db: Any, table: str, name: str, kind: str, column: str) -> Feature:
    """Describe one reference column: missing rate, range or categories."""
    col = quote_ident(name)
    if kind == "numeric":
        value = f"TRY_CAST({col} AS DOUBLE)"
        miss, lo, hi = db.execute(
            f"SELECT avg(CASE WHEN {value} IS NULL OR isnan({value}) THEN 1 ELSE 0 END), "
            f"min({value}) FILTER (WHERE isfinite({value})), "
            f"max({value}) FILTER (WHERE isfinite({value})) FROM {table}"
        ).fetchall()[0]
        return Feature(name, kind, column, float(miss or 0), _num(lo), _num(hi))
    value = f"CAST({col} AS VARCHAR)"
    miss = db.execute(
        f"SELECT avg(CASE WHEN {col} IS NULL THEN 1 ELSE 0 END) FROM {table}"
    ).fetchall()[0][0]
    cats = db.execute(
        f"SELECT {value} AS v, count(*) AS n FROM {table} WHERE {col} IS NOT NULL "
        f"GROUP BY v ORDER BY n DESC, v LIMIT {MAX_CATEGORIES + 1}"
    ).fetchall()
    names = sorted(str(c[0]) for c in cats[:MAX_CATEGORIES])
    return Feature(
        name,
        kind,
        column,
        float(miss or 0),
        categories=names,
        open_categories=len(cats) > MAX_CATEGORIES,
    )


def _num(value: Any) -> float | None:
    return None if value is None else float(value)
