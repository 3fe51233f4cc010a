"""The logs of a team store, seen from one unit of work: Parquet files under the log location,
read and written through an in-memory DuckDB database, so the store's log SQL runs unchanged.

A log table (`pred_m{id}`, `ref_m{id}`, `label`) is a view of the files the catalog lists plus
the rows this unit of work has added (`<table>__staged`). At commit the staged rows are
written as Parquet (core.logfiles) and listed in the catalog in the same transaction as the
batch they belong to: until then no reader sees them, and a crash leaves only orphan files.
Catalog tables that log SQL joins (`quarantine`, `batch`) are copied in when a statement first
names them; quarantined rows added or marked as retried are written back at commit.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlmodel import select

from core.logfiles import LogFile, LogLocation, commit_rows, committed_view, write_files
from core.store.tables import FeatureColumn

PRED_COLUMNS = {
    "request_id": "VARCHAR", "version": "INTEGER", "ts": "TIMESTAMP", "score": "DOUBLE",
    "latency_ms": "DOUBLE", "batch_id": "VARCHAR", "extra": "VARCHAR",
}  # fmt: skip
REF_COLUMNS = {
    "version": "INTEGER", "row_no": "BIGINT", "target": "VARCHAR", "y": "DOUBLE",
    "score": "DOUBLE",
}  # fmt: skip
LABEL_COLUMNS = {
    "model_id": "INTEGER", "request_id": "VARCHAR", "label": "VARCHAR", "y": "DOUBLE",
    "arrived_at": "TIMESTAMP", "batch_id": "VARCHAR",
}  # fmt: skip
QUARANTINE_COLUMNS = {
    "model_id": "INTEGER", "batch_id": "VARCHAR", "kind": "VARCHAR", "source": "VARCHAR",
    "line": "BIGINT", "reasons": "VARCHAR[]", "raw": "VARCHAR", "quarantined_at": "TIMESTAMP",
    "retried_in": "VARCHAR", "ts": "TIMESTAMP",
}  # fmt: skip
BATCH_COLUMNS = {
    "batch_id": "VARCHAR", "model_id": "INTEGER", "version": "INTEGER", "kind": "VARCHAR",
    "source": "VARCHAR", "content_sha256": "VARCHAR", "rows_read": "BIGINT",
    "rows_ingested": "BIGINT", "rows_quarantined": "BIGINT", "reasons": "VARCHAR",
    "created_at": "TIMESTAMP",
}  # fmt: skip
MIRRORED = {"quarantine": QUARANTINE_COLUMNS, "batch": BATCH_COLUMNS}
KINDS = {"pred": "prediction", "ref": "reference"}

_MODEL_TABLE = re.compile(r"\b(pred|ref)_m(\d+)\b")
_NAMED = re.compile(r"\b(label|quarantine|batch)\b")
_QUARANTINE_KEY = ("model_id", "batch_id", "kind", "line")


class TeamLogs:
    """One unit of work's view of a team store's logs (see the module's docstring)."""

    def __init__(self, duck: Any, *, catalog: Any, location: LogLocation) -> None:
        self.duck = duck
        self.catalog = catalog  # Work.catalog: portable SQL on the catalog's transaction
        self.location = location
        self._ready: set[str] = set()
        self._session: Any = None

    def bind(self, session: Any) -> None:
        """The catalog session the unit of work adds LogFile rows to."""
        self._session = session

    def before(self, query: str) -> None:
        """Make the log tables and catalog copies QUERY names ready to read and write."""
        for prefix, model_id in _MODEL_TABLE.findall(query):
            self._model(prefix, int(model_id))
        for name in set(_NAMED.findall(query)):
            if name == "label":
                self._label()
            else:
                self._mirror(name)

    def insert_target(self, table: str) -> str:
        """Where rows appended to TABLE go until commit."""
        self.before(table)
        return f"{table}__staged"

    def add_column(self, *, table: str, column: str, sql_type: str) -> None:
        """A feature column added to a model's log table."""
        if table in self._ready:
            self.duck.execute(f"ALTER TABLE {table}__staged ADD COLUMN {column} {sql_type}")
            self._ready.discard(table)
            prefix, model_id = _MODEL_TABLE.findall(table)[0]
            self._model(prefix, int(model_id), extra={column: sql_type})

    def _columns(self, prefix: str, model_id: int) -> dict[str, str]:
        base = PRED_COLUMNS if prefix == "pred" else REF_COLUMNS
        features = self._session.exec(
            select(FeatureColumn).where(FeatureColumn.model_id == model_id)
        ).all()
        ordered = sorted(features, key=lambda f: int(f.column[1:]))
        return {**base, **{f.column: "DOUBLE" if f.kind == "numeric" else "VARCHAR"
                           for f in ordered}}  # fmt: skip

    def _files(self, kind: str, model_id: int | None) -> list[str]:
        query = select(LogFile.path).where(LogFile.kind == kind)
        if model_id is not None:
            query = query.where(LogFile.model_id == model_id)
        return list(self._session.exec(query).all())

    def _model(self, prefix: str, model_id: int, extra: dict[str, str] | None = None) -> None:
        table = f"{prefix}_m{model_id}"
        if table in self._ready:
            return
        columns = {**self._columns(prefix, model_id), **(extra or {})}
        self._view(table, kind=KINDS[prefix], model_id=model_id, columns=columns)

    def _label(self) -> None:
        if "label" not in self._ready:
            self._view("label", kind="label", model_id=None, columns=LABEL_COLUMNS)

    def _view(
        self, table: str, *, kind: str, model_id: int | None, columns: dict[str, str]
    ) -> None:
        listed = ", ".join(f"{c} {t}" for c, t in columns.items())
        self.duck.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table}__staged ({listed})")
        committed_view(
            self.duck,
            location=self.location,
            name=f"{table}__committed",
            files=self._files(kind, model_id),
            columns=columns,
        )
        names = ", ".join(columns)
        self.duck.execute(
            f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT {names} FROM {table}__committed "
            f"UNION ALL SELECT {names} FROM {table}__staged"
        )
        self._ready.add(table)

    def _mirror(self, name: str) -> None:
        if name in self._ready:
            return
        columns = MIRRORED[name]
        listed = ", ".join(f"{c} {t}" for c, t in columns.items())
        self.duck.execute(f"CREATE TEMP TABLE {name} ({listed})")
        import pandas as pd  # here: a light command that names no copied table never needs it

        result = self.catalog(f"SELECT {', '.join(columns)} FROM {name}")
        found = pd.DataFrame(result.fetchall(), columns=list(columns))
        if len(found):
            self.duck.register("__mirror_rows", found)
            self.duck.execute(f"INSERT INTO {name} SELECT * FROM __mirror_rows")
            self.duck.unregister("__mirror_rows")
        if name == "quarantine":
            keys = ", ".join(_QUARANTINE_KEY)
            self.duck.execute(
                f"CREATE TEMP TABLE quarantine__before AS SELECT {keys}, retried_in FROM quarantine"
            )
        self._ready.add(name)

    def flush(self) -> None:
        """Write the staged rows as files listed in the catalog, and the quarantine's changes;
        called just before the unit of work commits."""
        unit = "u-" + uuid.uuid4().hex
        for table in sorted(t for t in self._ready if t not in MIRRORED):
            staged = f"{table}__staged"
            if not self.duck.execute(f"SELECT count(*) FROM {staged}").fetchall()[0][0]:
                continue
            models = [int(m) for m in _MODEL_TABLE.findall(table)[0][1:]] if table != "label" else [
                int(m) for (m,) in self.duck.execute(
                    f"SELECT DISTINCT model_id FROM {staged} ORDER BY 1").fetchall()
            ]  # fmt: skip
            kind = "label" if table == "label" else KINDS[table.split("_m")[0]]
            for model_id in models:
                where = "WHERE model_id = ?" if table == "label" else ""
                files = write_files(
                    self.duck, location=self.location, kind=kind, model_id=model_id,
                    batch_id=unit, select_sql=f"SELECT * FROM {staged} {where}",
                    params=[model_id] if where else [],
                )  # fmt: skip
                for row in commit_rows(files, batch_id=unit, location=self.location):
                    self._session.add(row)
                self._mark_stale(table, model_id)
        if "quarantine" in self._ready:
            self._write_back_quarantine()

    def _mark_stale(self, table: str, model_id: int) -> None:
        """List the days whose counts the staged rows of TABLE change (core.aggregates.day_counts
        counts them again): a prediction's own day, or the day of the prediction a label is for."""
        if table.startswith("ref_"):
            return  # a reference has no days; drift reads it whole
        if table == "label":
            self._model("pred", model_id)
            days = self.duck.execute(
                f"SELECT DISTINCT p.version, p.ts::DATE FROM label__staged l "
                f"JOIN pred_m{model_id} p ON p.request_id = l.request_id WHERE l.model_id = ?",
                [model_id],
            ).fetchall()
        else:
            days = self.duck.execute(
                f"SELECT DISTINCT version, ts::DATE FROM {table}__staged"
            ).fetchall()
        if days:
            self.catalog(
                "INSERT INTO day_stale (model_id, version, day, generation) "
                "VALUES (:model, :version, :day, 1) ON CONFLICT (model_id, version, day) "
                "DO UPDATE SET generation = day_stale.generation + 1",
                [{"model": model_id, "version": v, "day": d} for v, d in days],
            )

    def _write_back_quarantine(self) -> None:
        keys = " AND ".join(f"q.{k} = b.{k}" for k in _QUARANTINE_KEY)
        added = self.duck.execute(
            f"SELECT q.* FROM quarantine q ANTI JOIN quarantine__before b ON {keys}"
        ).df()
        records = [
            {k: list(v) if k == "reasons" else (None if _missing(v) else v) for k, v in r.items()}
            for r in added.to_dict("records")
        ]
        if records:  # one statement for all of them (executemany)
            self.catalog(
                f"INSERT INTO quarantine ({', '.join(QUARANTINE_COLUMNS)}) VALUES "
                f"({', '.join(':' + c for c in QUARANTINE_COLUMNS)})",
                records,
            )
        retried = self.duck.execute(
            f"SELECT q.model_id, q.batch_id, q.kind, q.line, q.retried_in FROM quarantine q "
            f"JOIN quarantine__before b ON {keys} "
            "WHERE q.retried_in IS DISTINCT FROM b.retried_in"
        ).fetchall()
        for model_id, batch_id, kind, line, retried_in in retried:
            self.catalog(
                "UPDATE quarantine SET retried_in = :retried WHERE model_id = :model AND "
                "batch_id = :batch AND kind = :kind AND line = :line",
                {"retried": retried_in, "model": model_id, "batch": batch_id, "kind": kind,
                 "line": line},
            )  # fmt: skip


def _missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
