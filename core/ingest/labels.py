"""Label files (late ground truth): the checks on request ids and labels, labels repeated or
conflicting in the file, ids never predicted, and labels already stored.
"""

from __future__ import annotations

from core.files.loading import RawTable
from core.files.sources import quote_ident, quote_literal
from core.ingest.batches import (
    BatchResult,
    append_accepted,
    quarantine_and_account,
    require_columns,
    resolve_quarantined,
    split_off_rejected,
)
from core.ingest.validation import MAX_REQUEST_ID, Check, numeric_sql, present_sql, text_sql
from core.registry import label_to_y_sql
from core.store import Model, ModelVersion, Work, log_tables

PLAIN_BINARY_LABELS = ("0", "1", "false", "true", "f", "t", "no", "yes")
# A multiclass label that reads but names no class of the model says so.
_BAD_LABEL = {False: "bad_label", True: "unknown_class"}


def append_labels(
    w: Work, *, raw: RawTable, batch_id: str, model: Model, version: ModelVersion
) -> BatchResult:
    """Check the loaded label rows, append the good ones, quarantine the rest."""
    assert model.id is not None
    id_col, target = version.id_column, version.target_column
    require_columns(raw, {id_col: "request id", target: "target"}, "label")
    rid = quote_ident(id_col), raw.columns[id_col]
    label = quote_ident(target), raw.columns[target]
    y_sql, y_params = label_to_y_sql(label[0], model.positive_label, classes=model.classes)
    valid = f"COALESCE({present_sql(*label)} AND ({_label_valid_sql(w, model, label)}), false)"
    typed = {
        "__mb_rid": text_sql(*rid),
        "__mb_rid_sent": present_sql(*rid),
        "__mb_label_sent": present_sql(*label),
        "__mb_valid": valid,
        "__mb_y": y_sql,
    }
    ids = f"(SELECT {typed['__mb_rid']} FROM {raw.table})"
    w.sql(
        "CREATE OR REPLACE TEMP TABLE __dup_file AS SELECT rid, min(__row) AS first_row, "
        "count(DISTINCT y) > 1 AS conflict FROM (SELECT "
        f"{typed['__mb_rid']} AS rid, {y_sql} AS y, __row FROM {raw.table} "
        f"WHERE {typed['__mb_rid_sent']} AND {valid}) GROUP BY rid HAVING count(*) > 1",
        y_params,
    )
    w.sql(
        "CREATE OR REPLACE TEMP TABLE __known AS SELECT DISTINCT request_id AS rid "
        f"FROM {log_tables.pred_table(model.id)} WHERE request_id IN {ids}"
    )
    w.sql(
        "CREATE OR REPLACE TEMP TABLE __stored AS SELECT request_id AS rid, min(y) AS lo, "
        f"max(y) AS hi FROM label WHERE model_id = ? AND request_id IN {ids} GROUP BY ALL",
        [model.id],
    )
    # Only rows with an id and a valid label take part in duplicate and conflict checks.
    in_file = "__mb_rid_sent AND __mb_valid AND f.rid IS NOT NULL"
    checks = [
        Check("missing_request_id", "NOT __mb_rid_sent"),
        Check("request_id_too_long", f"length(__mb_rid) > {MAX_REQUEST_ID}"),
        Check("missing_label", "NOT __mb_label_sent"),
        Check(_BAD_LABEL[model.task == "multiclass"], "__mb_label_sent AND NOT __mb_valid"),
        Check("conflicting_labels_in_file", f"{in_file} AND f.conflict"),
        Check("duplicate_label_in_file", f"{in_file} AND NOT f.conflict AND t.__row > f.first_row"),
        Check("unknown_request_id", "__mb_rid_sent AND k.rid IS NULL"),
        Check("already_labelled", "__mb_valid AND (s.lo = __mb_y OR s.hi = __mb_y)"),
        Check("conflicts_with_stored_label", "__mb_valid AND (s.lo <> __mb_y OR s.hi <> __mb_y)"),
    ]
    joins = (
        "LEFT JOIN __dup_file f ON f.rid = t.__mb_rid LEFT JOIN __known k ON k.rid = t.__mb_rid "
        "LEFT JOIN __stored s ON s.rid = t.__mb_rid"
    )
    split_off_rejected(w, raw=raw, typed=typed, joins=joins, checks=checks, params=y_params)
    stored = {
        "request_id": typed["__mb_rid"],
        "label": text_sql(*label),
        "y": y_sql,
        "arrived_at": "now() AT TIME ZONE 'UTC'",
    }
    good = append_accepted(
        w,
        raw=raw,
        table="label",
        values=stored,
        constants={"model_id": model.id, "batch_id": batch_id},
        params=y_params,
    )
    resolved = resolve_quarantined(
        w, table="label", id_column=id_col, model_id=model.id, kind="label", batch_id=batch_id
    )
    return quarantine_and_account(
        w,
        raw=raw,
        batch_id=batch_id,
        model_id=model.id,
        kind="label",
        good=good,
        flags={},
        extra=[],
        warnings=list(raw.warnings),
        resolved=resolved,
    )


def _label_valid_sql(w: Work, model: Model, label: tuple[str, str]) -> str:
    assert model.id is not None
    if model.task == "regression":
        return f"isfinite({numeric_sql(*label)})"
    if model.classes is not None:
        y_sql, _ = label_to_y_sql(label[0], None, classes=model.classes)
        return f"({y_sql}) IS NOT NULL"
    classes = [
        r[0]
        for r in w.rows(
            f"SELECT DISTINCT lower(trim(target)) FROM {log_tables.ref_table(model.id)} "
            "WHERE target IS NOT NULL"
        )
    ]
    if not classes:
        # A reference without outcomes shows no classes: take the positive label and the usual
        # spellings of a yes/no outcome rather than refusing every label.
        classes = [str(model.positive_label or "1").strip().lower(), *PLAIN_BINARY_LABELS]
    listed = ", ".join(quote_literal(c) for c in classes)
    text = f"lower(trim({text_sql(*label)}))"
    return (
        f"{text} IN ({listed}) OR TRY_CAST({text} AS DOUBLE) IN "
        f"(SELECT TRY_CAST(unnest([{listed}]) AS DOUBLE))"
    )
