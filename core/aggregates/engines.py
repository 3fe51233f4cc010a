"""Where the aggregates run and where a model's logs are read: embedded DuckDB or Spark.

An Engine is an Ibis backend plus a log location: the per-model tables of a DuckDB store
(`pred_m{id}`, `label`), or plain Parquet folders partitioned
`kind=prediction/model=<id>/version=<v>/day=<YYYY-MM-DD>/*.parquet` (labels under
`kind=label/model=<id>/`), the layout of core.logfiles, which DuckDB and Spark both read
without plugins. The aggregates are written once in Ibis and compiled to each engine's SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol

import ibis
import ibis.expr.types as ir
import pandas as pd

from core.store import log_tables

PREDICTIONS, LABELS = "kind=prediction", "kind=label"


@dataclass(frozen=True)
class StoreTables:
    """Logs in the embedded store's tables: `pred_m{id}` and `label`."""


@dataclass(frozen=True)
class ParquetLogs:
    """Logs as Parquet files under ROOT, partitioned by kind, model, version and day.

    The files hold the log table's own columns (request_id, version, ts, score, latency_ms,
    f1..fN; labels: request_id, y): the partition folders only choose which files to read.
    """

    root: Path

    def prediction_files(
        self, *, model_id: int, version: int | None, days: Sequence[date]
    ) -> list[str]:
        """The prediction files of a model's VERSION (None: every version) on DAYS."""
        folder = self.root / PREDICTIONS / f"model={int(model_id)}"
        versions = "*" if version is None else f"version={int(version)}"
        wanted = {f"day={d.isoformat()}" for d in days}
        return sorted(
            str(p) for p in folder.glob(f"{versions}/day=*/*.parquet") if p.parent.name in wanted
        )

    def label_files(self, *, model_id: int) -> list[str]:
        """Every label file of a model, however it is partitioned below the model folder."""
        folder = self.root / LABELS / f"model={int(model_id)}"
        return sorted(str(p) for p in folder.rglob("*.parquet"))


class FileListing(Protocol):
    """Which Parquet files hold a model's logs: a folder's layout (ParquetLogs) or the files
    a team catalog lists (core.aggregates.day_counts.CatalogFiles)."""

    def prediction_files(
        self, *, model_id: int, version: int | None, days: Sequence[date]
    ) -> list[str]: ...

    def label_files(self, *, model_id: int) -> list[str]: ...


LogLocation = StoreTables | FileListing


@dataclass
class Engine:
    """An Ibis backend (DuckDB or PySpark) and where it reads a model's logs."""

    backend: Any
    logs: LogLocation
    _views: list[str] = field(default_factory=list, repr=False)

    @property
    def name(self) -> str:
        """'duckdb' or 'spark'."""
        return "spark" if self.backend.name == "pyspark" else str(self.backend.name)

    def predictions(
        self, *, model_id: int, version: int | None, days: Sequence[date]
    ) -> ir.Table | None:
        """A model's prediction logs of VERSION (None: all) on DAYS; None when there are none."""
        if not days:
            return None
        if isinstance(self.logs, StoreTables):
            table = self.backend.table(log_tables.pred_table(model_id))
        else:
            files = self.logs.prediction_files(model_id=model_id, version=version, days=days)
            if not files:
                return None
            table = self._read_parquet(files)
        first, last = min(days), max(days)
        start = datetime.combine(first, time.min)
        end = datetime.combine(last + timedelta(days=1), time.min)
        # The folders already chose the days; the rows are checked too, so a file that strays
        # from its partition, or a store table, gives the same counts.
        keep = (table.ts >= start) & (table.ts < end)
        if len(set(days)) < (last - first).days + 1:
            keep &= table.ts.date().isin(sorted(set(days)))
        if version is not None:
            keep &= table.version == int(version)
        return table.filter(keep)

    def labels(self, *, model_id: int) -> ir.Table:
        """A model's labels: request_id and y (1 for the positive class)."""
        if isinstance(self.logs, StoreTables):
            table = self.backend.table("label")
            return table.filter(table.model_id == int(model_id)).select("request_id", "y")
        files = self.logs.label_files(model_id=model_id)
        if not files:
            empty = pd.DataFrame({"request_id": pd.Series(dtype=str), "y": pd.Series(dtype=float)})
            return ibis.memtable(empty).cast({"request_id": "string", "y": "float64"})
        return self._read_parquet(files).select("request_id", "y")

    def frame(self, expr: ir.Table) -> pd.DataFrame:
        """Run an expression and return its rows; the Parquet views it read are dropped after."""
        try:
            return expr.to_pandas()
        finally:
            for view in self._views:
                self._drop_view(view)
            self._views.clear()

    def _drop_view(self, name: str) -> None:
        # Ibis's drop_view renders "DROP VIEW IF EXISTS" without the name under sqlglot 30.
        if self.name == "spark":
            self.backend._session.catalog.dropTempView(name)
        else:
            self.backend.raw_sql(f'DROP VIEW IF EXISTS "{name}"')

    def _read_parquet(self, files: list[str]) -> ir.Table:
        name = ibis.util.gen_name("modelbridge_logs")
        self._views.append(name)
        if self.name == "spark":
            # Files written before a feature was added lack its column: merge the schemas.
            reader = self.backend._session.read.option("mergeSchema", "true")
            reader.parquet(*files).createOrReplaceTempView(name)
            return self.backend.table(name)
        return self.backend.read_parquet(
            files, table_name=name, union_by_name=True, hive_partitioning=False
        )


def duckdb_engine(con: Any, *, logs: LogLocation) -> Engine:
    """Aggregates on embedded DuckDB, over a cursor of CON (so Ibis's session settings stay
    off the store's own connection)."""
    return Engine(ibis.duckdb.from_connection(con.cursor()), logs)


def spark_engine(session: Any, *, logs: FileListing) -> Engine:
    """Aggregates on Spark over Parquet logs."""
    return Engine(ibis.pyspark.connect(session), logs)
