"""Per-model analytic tables: typed columns, one per feature, so aggregates need no JSON parsing.

`pred_m{id}` holds prediction logs, `ref_m{id}` each version's reference rows. Feature names
as users spell them map to generated column names (`f1`, `f2`, ...) through `feature_column`,
so no user text ever becomes an SQL identifier.
"""

from __future__ import annotations

from sqlmodel import select

from core.store import FeatureColumn, Work


def pred_table(model_id: int) -> str:
    """Name of a model's prediction-log table."""
    return f"pred_m{int(model_id)}"


def ref_table(model_id: int) -> str:
    """Name of a model's reference-rows table."""
    return f"ref_m{int(model_id)}"


def insert_target(w: Work, *, table: str) -> str:
    """The table that rows appended to log table TABLE are inserted into in this unit of work."""
    return table if w.space is None else w.space.insert_target(table)


def ensure_tables(w: Work, *, model_id: int) -> None:
    """Create a model's log and reference tables if they are missing."""
    if w.space is not None:  # a team store's log tables are views over its files
        w.space.before(f"{pred_table(model_id)} {ref_table(model_id)}")
        return
    w.sql(
        f"CREATE TABLE IF NOT EXISTS {pred_table(model_id)} ("
        "request_id VARCHAR NOT NULL, version INTEGER NOT NULL, ts TIMESTAMP NOT NULL, "
        "score DOUBLE NOT NULL, latency_ms DOUBLE, batch_id VARCHAR NOT NULL, extra VARCHAR)"
    )
    w.sql(
        f"CREATE TABLE IF NOT EXISTS {ref_table(model_id)} ("
        "version INTEGER NOT NULL, row_no BIGINT NOT NULL, target VARCHAR, y DOUBLE, "
        "score DOUBLE NOT NULL)"
    )


def feature_column(w: Work, *, model_id: int, name: str, kind: str) -> str:
    """The log column for a feature of this kind, adding it to both tables on first use."""
    found = w.session.exec(
        select(FeatureColumn).where(
            FeatureColumn.model_id == model_id,
            FeatureColumn.name == name,
            FeatureColumn.kind == kind,
        )
    ).first()
    if found:
        return found.column
    taken = w.session.exec(select(FeatureColumn).where(FeatureColumn.model_id == model_id)).all()
    column = f"f{len(taken) + 1}"
    sql_type = "DOUBLE" if kind == "numeric" else "VARCHAR"
    for table in (pred_table(model_id), ref_table(model_id)):
        if w.space is not None:
            w.space.add_column(table=table, column=column, sql_type=sql_type)
        else:
            w.sql(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
    w.session.add(FeatureColumn(model_id=model_id, name=name, kind=kind, column=column))
    w.session.flush()
    return column
