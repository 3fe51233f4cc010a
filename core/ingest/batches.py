"""What every ingested file shares: its result, its required columns, and the set-based passes
that split off the rejected rows (`__bad`), append the others, and quarantine and count them.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from core.errors import FileProblem
from core.files.loading import RawTable
from core.ingest.validation import Check, any_sql, reasons_sql
from core.store import Work, log_tables


@dataclass(frozen=True)
class BatchResult:
    """The accounting of one file: rows read = rows ingested + rows quarantined."""

    source: str
    batch_id: str | None
    rows_read: int = 0
    rows_ingested: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)
    extra_columns: list[str] = field(default_factory=list)
    # Rows quarantined by earlier batches that this batch ingested (fixed and sent again).
    resolved_from_quarantine: int = 0
    duplicate_of: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return dict(self.__dict__)


def require_columns(raw: RawTable, needed: dict[str, str], what: str) -> None:
    """Refuse the whole file when a column in NEEDED (name -> role) is missing."""
    unclaimed = [c for c in raw.columns if c not in needed]
    missing = [_missing(c, role, unclaimed) for c, role in needed.items() if c not in raw.columns]
    if missing and len(raw.columns) == 1 and raw.fmt == "csv":
        [only] = raw.columns
        raise FileProblem(
            f"{raw.source}: read as a single column ({only[:60]!r}); is the delimiter right? "
            "Pass --delimiter, or leave it out to have it detected"
        )
    if len(missing) == len(needed) and len(needed) > 1:
        raise FileProblem(
            f"{raw.source}: none of the {what} columns are present; is this another model's "
            f"file? Its columns are {', '.join(list(raw.columns)[:12])}"
        )
    if missing:
        raise FileProblem(
            f"{raw.source}: missing required column(s) {', '.join(missing)}; nothing was ingested "
            "from this file"
        )


def _missing(column: str, role: str, unclaimed: list[str]) -> str:
    """A missing column as the error names it, with the file's nearest other column if any."""
    near = difflib.get_close_matches(column.lower(), [c.lower() for c in unclaimed], n=1)
    hint = next((f", is it {c!r}?" for c in unclaimed if near and c.lower() == near[0]), "")
    return f"{column!r} ({role}{hint})"


def split_off_rejected(
    w: Work,
    *,
    raw: RawTable,
    typed: dict[str, str],
    joins: str,
    checks: list[Check],
    ts: str = "NULL",
    params: list[Any] | None = None,
) -> None:
    """__bad: the rows a check rejects, with their reasons, flags, timestamp and raw record."""
    problems = [c for c in checks if c.rejects]
    flags = [c for c in checks if not c.rejects]
    projections = ", ".join(f"{sql} AS {name}" for name, sql in typed.items())
    w.sql(
        "CREATE OR REPLACE TEMP TABLE __bad AS "
        f"WITH typed AS (SELECT r.*, {projections} FROM {raw.table} r) "
        f"SELECT t.__row, {reasons_sql(problems)} AS problems, {reasons_sql(flags)} AS flags, "
        f"{ts} AS ts, {raw.raw_sql} AS raw FROM typed t {joins} WHERE {any_sql(problems)}",
        params,
    )


def append_accepted(
    w: Work,
    *,
    raw: RawTable,
    table: str,
    values: dict[str, str],
    constants: dict[str, Any],
    params: list[Any] | None = None,
) -> int:
    """Insert the rows of RAW not in __bad into TABLE; return how many."""
    names = [*constants, *values]
    selected = ", ".join(["?"] * len(constants) + list(values.values()))
    return int(
        w.rows(
            f"INSERT INTO {log_tables.insert_target(w, table=table)} ({', '.join(names)}) "
            f"SELECT {selected} FROM {raw.table} r "
            "ANTI JOIN __bad b ON r.__row = b.__row",
            [*constants.values(), *(params or [])],
        )[0][0]
    )


def resolve_quarantined(
    w: Work, *, table: str, id_column: str, model_id: int, kind: str, batch_id: str
) -> int:
    """Close the open quarantined rows of earlier batches whose request id this batch stored.

    Someone who exports quarantined rows, fixes them and ingests them as a new file (rather
    than through `quarantine retry`) would otherwise leave them open for ever, and a later
    retry would quarantine each again as a duplicate of itself. They are marked as retried in
    this batch. The join builds on the few open rows and probes the batch's stored ids.
    """
    scope = "q.model_id = ? AND q.kind = ? AND q.retried_in IS NULL AND q.batch_id <> ?"
    params = [model_id, kind, batch_id]
    if not w.rows(
        f"SELECT count(*) FROM (SELECT 1 FROM quarantine q WHERE {scope} LIMIT 1)", params
    )[0][0]:
        return 0
    path = "$." + json.dumps(id_column, ensure_ascii=False)
    found = w.rows(
        "UPDATE quarantine SET retried_in = ? WHERE rowid IN (SELECT q.rowid FROM quarantine q "
        f"JOIN {table} s ON s.request_id = json_extract_string(q.raw, ?) "
        f"WHERE {scope} AND s.batch_id = ?)",
        [batch_id, path, *params, batch_id],
    )
    return int(found[0][0]) if found else 0


def quarantine_and_account(
    w: Work,
    *,
    raw: RawTable,
    batch_id: str,
    model_id: int,
    kind: str,
    good: int,
    flags: dict[str, int],
    extra: list[str],
    warnings: list[str],
    resolved: int = 0,
) -> BatchResult:
    """Quarantine the rows in __bad and the malformed lines; the file's accounting."""
    w.sql(
        "INSERT INTO quarantine SELECT ?, ?, ?, ?, __row, list_concat(problems, flags), raw, "
        "now() AT TIME ZONE 'UTC', NULL, ts FROM __bad",
        [model_id, batch_id, kind, raw.source],
    )
    w.sql(
        "INSERT INTO quarantine SELECT ?, ?, ?, ?, row, ['malformed_row'], "
        "CAST(to_json({'line': text}) AS VARCHAR), now() AT TIME ZONE 'UTC', NULL, NULL "
        f"FROM {raw.rejects_table}",
        [model_id, batch_id, kind, raw.source],
    )
    bad = w.rows("SELECT count(*) FROM __bad")[0][0]
    reasons = dict(
        w.rows(
            "SELECT r, count(*) FROM (SELECT unnest(problems) AS r FROM __bad) "
            "GROUP BY r ORDER BY 2 DESC, 1"
        )
    )
    if raw.rejects:
        reasons["malformed_row"] = len(raw.rejects)
    return BatchResult(
        source=raw.source,
        batch_id=batch_id,
        rows_read=raw.rows + len(raw.rejects),
        rows_ingested=good,
        rows_quarantined=int(bad) + len(raw.rejects),
        reasons={k: int(v) for k, v in reasons.items()},
        flags=dict(sorted(flags.items(), key=lambda kv: (-kv[1], kv[0]))),
        extra_columns=extra,
        resolved_from_quarantine=resolved,
        warnings=warnings,
    )
