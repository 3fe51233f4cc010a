"""A team store's per-day counts, kept in its catalog so the dashboard never scans the logs.

A batch of predictions or labels lists the days it changes in `day_stale` in the same commit
as its files (core.store.team_logs). `refresh_day_counts` counts those days again on the
team's engine (embedded DuckDB over the unit's views of the files, or Spark over the files the
catalog lists) and replaces their rows in `day_numeric` (each numeric input and the score on
the version's reference bins), `day_category` (each categorical input's values) and
`day_score` (score bins with labels), and the traffic and quality tables of
core.aggregates.day_traffic, a multiclass model's performance and value
(core.aggregates.class_counts). Weeks and months are sums of days. A day changed while
it was being counted keeps its `day_stale` row (its generation moved on) for the next refresh.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import ibis
import pandas as pd

from core.aggregates.class_counts import daily_class_counts
from core.aggregates.day_traffic import traffic_day_counts
from core.aggregates.engines import Engine, StoreTables, spark_engine
from core.aggregates.feature_counts import daily_category_counts, daily_numeric_counts
from core.aggregates.score_counts import ScoreBins, daily_score_counts
from core.aggregates.value_counts import daily_decisions, daily_errors
from core.errors import InvalidInput
from core.monitoring.class_calibration import ClassCalibration, fit_class_calibration
from core.monitoring.drift import checked_features
from core.monitoring.drift_reference import NumericReference, references
from core.monitoring.performance import threshold_of
from core.registry import get_version
from core.registry.classes import ClassOutputs, class_outputs
from core.store import Model, ModelVersion, Store, Work, log_tables

ENGINES = ("duckdb", "spark")
# Days counted per statement: a month keeps each statement's result small on a long backfill.
DAYS_PER_PASS = 31
# The threshold curve's bins (core.value.kpi.CURVE_BINS, and a bin for scores of 1).
CURVE_BINS = ScoreBins(1000, ones_apart=True)


@dataclass
class Refreshed:
    """What a refresh counted: days per model name, and rows written per table."""

    days: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@dataclass(frozen=True)
class CatalogFiles:
    """A model's Parquet log files as the catalog lists them (never a folder's listing, which
    would include files of a batch that did not commit)."""

    root: Any
    predictions: dict[tuple[int, date], list[str]]
    labels: list[str]

    def prediction_files(self, *, model_id: int, version: int | None, days: Any) -> list[str]:
        """The listed files of VERSION (None: every version) on DAYS."""
        wanted = set(days)
        return sorted(
            path
            for (v, d), paths in self.predictions.items()
            if d in wanted and (version is None or v == version)
            for path in paths
        )

    def label_files(self, *, model_id: int) -> list[str]:
        """The model's listed label files."""
        return list(self.labels)


def refresh_day_counts(
    store: Store, *, engine: str = "duckdb", model: str | None = None
) -> Refreshed:
    """Count again every day a batch changed since the last refresh (of MODEL, or of all)."""
    if engine not in ENGINES:
        raise InvalidInput(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    out = Refreshed()
    if not store.keeps_day_counts:
        return out  # an embedded store reads its own logs directly
    _relist_moved_thresholds(store)
    _relist_changed_calibrations(store)
    with store.open().read() as r:
        stale = r.catalog_frame(
            "SELECT m.name, s.model_id, s.version, s.day, s.generation FROM day_stale s "
            "JOIN model m ON m.id = s.model_id ORDER BY m.name, s.version, s.day"
        )
    if model is not None:
        stale = stale[stale["name"] == model]
    for (name, model_id, version), days in stale.groupby(["name", "model_id", "version"]):
        listed = list(days.itertuples(index=False))
        for start in range(0, len(listed), DAYS_PER_PASS):
            part = listed[start : start + DAYS_PER_PASS]
            with store.open().write() as w:
                w.serialise(f"day_counts:{int(model_id)}")
                _count_days(w, engine, int(model_id), int(version), part, out)
            out.days[str(name)] = out.days.get(str(name), 0) + len(part)
    return out


def _relist_moved_thresholds(store: Store) -> None:
    """List again the days whose decisions were counted at a threshold other than the
    business case's current one (the value figures read the logs until they are counted)."""
    with store.open().write() as w:
        found = w.catalog_frame(
            "SELECT DISTINCT model_id, version, day, threshold FROM day_decision"
        )
        if found.empty:
            return
        models = {int(m): w.session.get(Model, int(m)) for m in found["model_id"].unique()}
        now = found["model_id"].map(lambda m: threshold_of(models[int(m)]))
        moved = found[found["threshold"] != now]
        if not moved.empty:
            _relist(w, moved)


def _relist_changed_calibrations(store: Store) -> None:
    """List again the days whose multiclass counts were made under another calibration than
    the version's current one (its performance and value read the logs until they are
    counted)."""
    with store.open().write() as w:
        found = w.catalog_frame(
            "SELECT DISTINCT model_id, version, day, calibration FROM day_class"
        )
        moved = []
        for (model_id, version), days in found.groupby(["model_id", "version"]):
            model = w.session.get(Model, int(model_id))
            assert model is not None
            _, now = _calibration(w, model, get_version(w, model=model, version=int(version)))
            moved.append(days[days["calibration"] != now.fingerprint()])
        if moved and not (changed := pd.concat(moved)).empty:
            _relist(w, changed)


def _calibration(
    w: Work, model: Model, version: ModelVersion
) -> tuple[ClassOutputs, ClassCalibration]:
    """A multiclass VERSION's class outputs and its current calibration."""
    outputs = class_outputs(version)
    assert outputs is not None
    return outputs, fit_class_calibration(w, model=model, version=version, outputs=outputs)


def _relist(w: Work, days: pd.DataFrame) -> None:
    """List DAYS (model_id, version, day) as waiting to be counted, bumping the generation of
    those already waiting."""
    w.catalog(
        "INSERT INTO day_stale (model_id, version, day, generation) "
        "VALUES (:model, :version, :day, 1) ON CONFLICT (model_id, version, day) "
        "DO UPDATE SET generation = day_stale.generation + 1",
        [
            {
                "model": int(r["model_id"]),
                "version": int(r["version"]),
                "day": pd.Timestamp(r["day"]).date(),
            }
            for r in days.drop_duplicates(["model_id", "version", "day"]).to_dict("records")
        ],
    )


def _count_days(
    w: Work, engine_name: str, model_id: int, version: int, stale: list, out: Refreshed
) -> None:
    entry = w.session.get(Model, model_id)
    assert entry is not None
    target = get_version(w, model=entry, version=version)
    days = sorted({pd.Timestamp(s.day).date() for s in stale})
    checked = checked_features(target)
    refs = references(w, model=entry, version=target, checked=checked)
    bins = {
        f.column: refs[f.name].bins for f in checked if isinstance(refs[f.name], NumericReference)
    }
    categorical = [f.column for f in checked if not isinstance(refs[f.name], NumericReference)]
    engine = _engine(w, engine_name, model_id, days)
    numeric = daily_numeric_counts(engine, model_id=model_id, version=version, days=days, bins=bins)
    category = daily_category_counts(
        engine, model_id=model_id, version=version, days=days, columns=categorical
    )
    score = daily_score_counts(engine, model_id=model_id, version=version, days=days)
    keys = {"model": model_id, "version": version}
    counts = [("day_numeric", numeric), ("day_category", category), ("day_score", score)]
    counts += _value_counts(engine, entry, version, days)
    if entry.task == "multiclass":
        outputs, calibration = _calibration(w, entry, target)
        counts += daily_class_counts(
            engine, model_id=model_id, version=version, days=days, outputs=outputs,
            calibration=calibration,
        ).items()  # fmt: skip
    counts += traffic_day_counts(w, engine=engine, model=entry, version=target, days=days).items()
    for table, frame in counts:
        w.catalog(
            f"DELETE FROM {table} WHERE model_id = :model AND version = :version AND day = :day",
            [{**keys, "day": d} for d in days],
        )
        records = _records(frame, model_id)
        if records:
            columns = list(records[0])
            w.catalog(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                f"({', '.join(':' + c for c in columns)})",
                records,
            )
        out.rows[table] += len(records)
    w.catalog(
        "DELETE FROM day_stale WHERE model_id = :model AND version = :version AND day = :day "
        "AND generation = :generation",
        [
            {**keys, "day": pd.Timestamp(s.day).date(), "generation": int(s.generation)}
            for s in stale
        ],
    )


def _value_counts(
    engine: Engine, model: Model, version: int, days: list[date]
) -> list[tuple[str, pd.DataFrame]]:
    """The business value figures' counts of a binary or regression model (a multiclass
    model's are its class counts)."""
    assert model.id is not None
    if model.task == "regression":
        return [("day_error", daily_errors(engine, model_id=model.id, version=version, days=days))]
    if model.task != "binary":
        return []
    threshold = threshold_of(model)
    decisions = daily_decisions(
        engine, model_id=model.id, version=version, days=days, threshold=threshold
    )
    curve = daily_score_counts(
        engine, model_id=model.id, version=version, days=days, bins=CURVE_BINS
    )
    curve = curve[curve["labelled"] > 0][["day", "bin", "labelled", "positives"]]
    return [
        ("day_decision", decisions.assign(threshold=threshold)),
        ("day_curve", curve.assign(version=version)),
    ]


def _engine(w: Work, name: str, model_id: int, days: list[date]) -> Engine:
    if name == "duckdb":
        # The unit's own connection: its views of the files are temporary, seen by it alone.
        w.space.before(f"{log_tables.pred_table(model_id)} label")
        return Engine(ibis.duckdb.from_connection(w.db), StoreTables())
    from sqlmodel import select

    from core.aggregates.spark import require_s3a, spark_address, team_spark_session
    from core.logfiles import LogFile

    found = w.session.exec(select(LogFile).where(LogFile.model_id == model_id)).all()
    root = w.space.location
    session = team_spark_session()
    if root.remote is not None:
        require_s3a(session, location=root.stored)
    predictions: dict[tuple[int, date], list[str]] = defaultdict(list)
    labels = []
    for row in found:
        path = spark_address(root, row.path)
        if row.kind == "prediction" and row.version is not None and row.day in days:
            predictions[(row.version, row.day)].append(path)
        elif row.kind == "label":
            labels.append(path)
    return spark_engine(session, logs=CatalogFiles(root, dict(predictions), labels))


def _records(frame: pd.DataFrame, model_id: int) -> list[dict[str, Any]]:
    """FRAME's rows as catalog parameters: plain Python values, NaN and NA as NULL."""
    if frame.empty:
        return []
    out = frame.assign(model_id=model_id, day=frame["day"].dt.date)
    out = out.astype(object).where(out.notna(), None)
    return [{str(k): v for k, v in r.items()} for r in out.to_dict("records")]
