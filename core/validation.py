"""Row checks for incoming prediction logs, written as one DuckDB SQL pass (no Python loops).

Problems that make a row unusable send it to the quarantine; flags (out-of-range values,
unknown categories, extra columns) are counted and reported but the row is kept, because the
prediction really happened with that input and monitoring should see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.features import Feature
from core.readers import quote_ident

FUTURE_SLACK = "INTERVAL 5 MINUTE"
TIMESTAMP_FORMATS = [
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y%m%dT%H%M%S",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y",
]


@dataclass(frozen=True)
class Check:
    """One named condition; `rejects` says whether it quarantines the row."""

    reason: str
    condition: str
    rejects: bool = True


def timestamp_sql(expr: str) -> str:
    """SQL parsing a timestamp as received (ISO 8601 with or without zone, epoch, d/m/Y) to UTC."""
    text = f"CAST({expr} AS VARCHAR)"
    formats = ", ".join("'" + f + "'" for f in TIMESTAMP_FORMATS)
    return (
        f"COALESCE(TRY_CAST({text} AS TIMESTAMPTZ) AT TIME ZONE 'UTC', "
        f"try_strptime({text}, [{formats}]), "
        f"CASE WHEN TRY_CAST({text} AS DOUBLE) BETWEEN 0 AND 32503680000 "
        f"THEN to_timestamp(TRY_CAST({text} AS DOUBLE)) AT TIME ZONE 'UTC' END)"
    )


def numeric_sql(expr: str) -> str:
    """SQL for a number as received ('' and whitespace count as missing)."""
    return f"TRY_CAST(NULLIF(trim(CAST({expr} AS VARCHAR)), '') AS DOUBLE)"


def present_sql(expr: str) -> str:
    """SQL true when a value was sent (not null, not blank)."""
    return f"({expr} IS NOT NULL AND trim(CAST({expr} AS VARCHAR)) <> '')"


def feature_checks(feature: Feature, tolerance: float) -> list[Check]:
    """Checks of one feature column against the reference profile."""
    col = quote_ident(feature.name)
    name = feature.name
    checks = []
    if feature.missing_rate == 0:
        checks.append(Check(f"missing:{name}", f"NOT {present_sql(col)}"))
    else:
        checks.append(Check(f"missing:{name}", f"NOT {present_sql(col)}", rejects=False))
    if feature.kind == "numeric":
        value = numeric_sql(col)
        checks.append(Check(f"wrong_type:{name}", f"{present_sql(col)} AND {value} IS NULL"))
        checks.append(Check(f"not_finite:{name}", f"{value} IS NOT NULL AND NOT isfinite({value})"))
        if feature.min is not None and feature.max is not None:
            slack = tolerance * max(feature.max - feature.min, abs(feature.max), 1e-12)
            lo, hi = feature.min - slack, feature.max + slack
            checks.append(
                Check(
                    f"out_of_range:{name}",
                    f"isfinite({value}) AND ({value} < {lo!r} OR {value} > {hi!r})",
                    rejects=False,
                )
            )
    elif feature.categories and not feature.open_categories:
        checks.append(
            Check(
                f"unknown_category:{name}",
                f"{present_sql(col)} AND NOT list_contains(?, CAST({col} AS VARCHAR))",
                rejects=False,
            )
        )
    return checks


def reasons_sql(checks: list[Check]) -> tuple[str, str]:
    """Two SQL list expressions: rejecting reasons and flags, each without NULLs."""

    def as_list(items: list[Check]) -> str:
        if not items:
            return "CAST([] AS VARCHAR[])"
        parts = ", ".join(
            f"CASE WHEN {c.condition} THEN '{c.reason.replace(chr(39), chr(39) * 2)}' END"
            for c in items
        )
        return f"list_filter([{parts}], lambda x: x IS NOT NULL)"

    return as_list([c for c in checks if c.rejects]), as_list([c for c in checks if not c.rejects])


def category_params(features: list[Feature]) -> list[Any]:
    """Parameters for the unknown-category checks, in the order the checks appear."""
    return [
        f.categories
        for f in features
        if f.kind == "categorical" and f.categories and not f.open_categories
    ]
