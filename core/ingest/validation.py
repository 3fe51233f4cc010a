"""Row checks for incoming logs, as DuckDB SQL over values parsed once (no Python loops).

Each value is parsed once into a typed column of the verdict table (SQL from `numeric_sql`,
`timestamp_sql`, ...), chosen by the type the file gave the column: a Parquet DOUBLE is used as
it is, text is parsed. Checks are conditions over those typed columns. Problems that make a row
unusable send it to the quarantine; flags (out-of-range values, unknown categories, missing
values a feature sometimes had in the reference) are counted but the row is kept, because the
prediction really happened with that input and monitoring should see it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.files.sources import quote_literal
from core.registry.features import Feature, is_numeric_type

FUTURE_SLACK = "INTERVAL 5 MINUTE"
EPOCH_RANGE = (946684800, 32503680000)  # epoch seconds accepted: 2000-01-01 up to year 3000
TIMESTAMP_FORMATS = [
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y%m%dT%H%M%S",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y",
]


# Longer request ids are not ids but pasted text or an attack on the tables that key on them.
MAX_REQUEST_ID = 200


@dataclass(frozen=True)
class Check:
    """One named condition; `rejects` says whether it quarantines the row."""

    reason: str
    condition: str
    rejects: bool = True


def _is_text(duck_type: str) -> bool:
    return duck_type.upper() == "VARCHAR"


def text_sql(expr: str, duck_type: str = "VARCHAR") -> str:
    """SQL for a value as text."""
    return expr if _is_text(duck_type) else f"CAST({expr} AS VARCHAR)"


def present_sql(expr: str, duck_type: str = "VARCHAR") -> str:
    """SQL true when a value was sent (not null, not blank)."""
    if _is_text(duck_type):
        return f"({expr} IS NOT NULL AND trim({expr}) <> '')"
    return f"({expr} IS NOT NULL)"


def numeric_sql(expr: str, duck_type: str = "VARCHAR") -> str:
    """SQL for a number as received (text that is not a number gives NULL)."""
    if is_numeric_type(duck_type):
        return f"CAST({expr} AS DOUBLE)"
    return f"TRY_CAST({text_sql(expr, duck_type)} AS DOUBLE)"


def number_sql(expr: str, duck_type: str = "VARCHAR") -> str:
    """SQL for a number where NaN counts as missing (NULL), as in the reference profile."""
    # Not NULLIF(x, 'NaN'): the optimizer folds x = NaN to false, while at run time NaN = NaN.
    value = numeric_sql(expr, duck_type)
    return f"CASE WHEN isnan({value}) THEN NULL ELSE {value} END"


def number_sent_sql(expr: str, duck_type: str = "VARCHAR") -> str:
    """SQL true when a value was sent for a number: not blank and not NaN."""
    nan = f"COALESCE(isnan({numeric_sql(expr, duck_type)}), false)"
    return f"({present_sql(expr, duck_type)} AND NOT {nan})"


def timestamp_sql(expr: str, duck_type: str = "VARCHAR") -> str:
    """SQL for a UTC timestamp: ISO 8601 with or without zone, epoch seconds, or d/m/Y forms."""
    kind = duck_type.upper()
    if kind in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return f"({expr} AT TIME ZONE 'UTC')"
    if kind.startswith("TIMESTAMP") or kind == "DATE":
        return f"CAST({expr} AS TIMESTAMP)"
    lo, hi = EPOCH_RANGE
    if is_numeric_type(kind):
        return (
            f"CASE WHEN {expr} BETWEEN {lo} AND {hi} "
            f"THEN to_timestamp(CAST({expr} AS DOUBLE)) AT TIME ZONE 'UTC' END"
        )
    text = text_sql(expr, duck_type)
    formats = ", ".join(quote_literal(f) for f in TIMESTAMP_FORMATS)
    # A zone-less text is read in the session's zone, which the store pins to UTC. COALESCE
    # only evaluates a later form for the rows the earlier ones left NULL, as long as no
    # sub-expression repeats: the optimizer would hoist a repeated one and compute it for every
    # row. Hence TRY_CAST in the test and CAST (safe there) in the conversion.
    return (
        f"COALESCE(TRY_CAST({text} AS TIMESTAMPTZ) AT TIME ZONE 'UTC', "
        f"try_strptime({text}, [{formats}]), "
        f"CASE WHEN TRY_CAST({text} AS DOUBLE) BETWEEN {lo} AND {hi} "
        f"THEN to_timestamp(CAST({text} AS DOUBLE)) AT TIME ZONE 'UTC' END)"
    )


def feature_checks(feature: Feature, tolerance: float, value: str, sent: str) -> list[Check]:
    """Checks of one feature: VALUE is its typed column, SENT is true when a value came.

    Flags hold for kept rows whatever SENT is, so they can be counted on stored values with
    SENT = "VALUE IS NOT NULL".
    """
    name = feature.name
    checks = [Check(f"missing:{name}", f"NOT {sent}", rejects=feature.missing_rate == 0)]
    if feature.kind == "numeric":
        checks.append(Check(f"wrong_type:{name}", f"{sent} AND {value} IS NULL"))
        checks.append(Check(f"not_finite:{name}", f"NOT isfinite({value})"))
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
        known = ", ".join(quote_literal(c) for c in feature.categories)
        checks.append(
            Check(
                f"unknown_category:{name}",
                f"{sent} AND NOT ({value} IN ({known}))",
                rejects=False,
            )
        )
    return checks


def any_sql(checks: list[Check]) -> str:
    """SQL true when at least one of CHECKS holds."""
    return " OR ".join(f"({c.condition})" for c in checks) if checks else "false"


def reasons_sql(checks: list[Check]) -> str:
    """SQL list of the reasons of CHECKS that hold (without NULLs)."""
    if not checks:
        return "CAST([] AS VARCHAR[])"
    parts = ", ".join(f"CASE WHEN {c.condition} THEN {quote_literal(c.reason)} END" for c in checks)
    return f"list_filter([{parts}], lambda x: x IS NOT NULL)"
