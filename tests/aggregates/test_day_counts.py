"""A team store keeps per-day counts in its catalog: every batch lists the days it changes, a
refresh counts them again (on DuckDB or Spark), and drift and performance read the counts and
give exactly what the embedded store computes from its logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from core.aggregates import refresh_day_counts
from core.ingest import ingest_labels, ingest_predictions
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.store import Store, TeamStore
from tests.factories import Case

# core.aggregates.day_traffic's tables
TRAFFIC_TABLES = ("day_traffic", "day_latency", "day_traffic_score", "day_quality", "day_batch")


def _registered(store: Store, case: Case) -> None:
    register_version(
        store,
        spec=RegistrationSpec(
            model="credit", reference=case.reference, target="defaulted", prediction="score",
            model_file=case.model_file, created_by="ci",
        ),
    )  # fmt: skip


def _filled(store: Store, case: Case, *, labels: bool = True) -> Store:
    _registered(store, case)
    ingest_predictions(store, model="credit", files=[case.logs])
    if labels:
        ingest_labels(store, model="credit", files=[case.labels])
    return store


def _stale(store: Store) -> list[tuple[Any, ...]]:
    with store.read() as r:
        return [tuple(x) for x in r.catalog("SELECT version, day FROM day_stale").fetchall()]


def _stored(store: Store, table: str) -> pd.DataFrame:
    with store.read() as r:
        got = r.catalog_frame(f"SELECT * FROM {table}")
    keys = [c for c in got.columns if c not in ("n", "total", "score_sum", "labelled", "positives")]
    return got.sort_values(keys, na_position="first").reset_index(drop=True)


def test_a_batch_lists_its_days_and_a_refresh_counts_them_once(
    team_store: TeamStore, binary_files: Case
) -> None:
    _filled(team_store, binary_files, labels=False)
    with team_store.read() as r:
        days = r.rows("SELECT count(DISTINCT ts::DATE), count(*) FROM pred_m1")[0]
    assert len(_stale(team_store)) == days[0] > 1

    done = refresh_day_counts(team_store)

    assert done.days == {"credit": days[0]}
    assert _stale(team_store) == []
    scores = _stored(team_store, "day_score")
    assert scores["n"].sum() == days[1] == 400
    assert scores["labelled"].sum() == 0
    numeric = _stored(team_store, "day_numeric")
    # income, debt ratio and the score: every row counted once per numeric column
    assert sorted(numeric.groupby("feature")["n"].sum().tolist()) == [400, 400, 400]
    assert refresh_day_counts(team_store).days == {}  # nothing left to count


def test_labels_mark_the_days_of_their_predictions_and_are_counted(
    team_store: TeamStore, binary_files: Case
) -> None:
    _filled(team_store, binary_files, labels=False)
    refresh_day_counts(team_store)
    ingest_labels(team_store, model="credit", files=[binary_files.labels])
    with team_store.read() as r:
        labelled_days = r.rows(
            "SELECT count(DISTINCT p.ts::DATE), count(*) FROM pred_m1 p JOIN label l "
            "ON l.request_id = p.request_id"
        )[0]
    assert len(_stale(team_store)) == labelled_days[0] > 0

    refresh_day_counts(team_store)

    assert _stored(team_store, "day_score")["labelled"].sum() == labelled_days[1] > 0


def _figures(store: Store, period: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    from core.monitoring.drift import drift_by_window
    from core.monitoring.performance import performance_by_window
    from core.monitoring.windows import WindowSpec

    spec = WindowSpec.parse(period)
    with store.read() as r:
        model = get_model(r, name="credit")
        version = get_version(r, model=model, version=1)
        drift = drift_by_window(r, model=model, version=version, spec=spec)
        perf = performance_by_window(r, model=model, version=version, spec=spec)
    return drift, perf


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert len(got) == len(want) > 0
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want.reset_index(drop=True), check_exact=False, rtol=1e-12,
        check_dtype=False,
    )  # fmt: skip


def _counted_beside_embedded(team_store: TeamStore, case: Case, folder: Path) -> Store:
    """CASE in TEAM_STORE, counted, and in an embedded store (returned). The team store's
    prediction and label files are deleted: only its counts can give its figures."""
    embedded = Store(folder / "embedded.duckdb")
    embedded.init()
    _filled(embedded, case)
    _filled(team_store, case)
    refresh_day_counts(team_store)
    for kind in ("kind=prediction", "kind=label"):
        for path in (team_store.log_location / kind).rglob("*.parquet"):
            path.unlink()
    return embedded


@pytest.mark.parametrize("period", ["D", "W", "M"])
def test_drift_and_performance_from_day_counts_equal_the_embedded_stores_from_its_logs(
    team_store: TeamStore, binary_files: Case, tmp_path: Path, period: str
) -> None:
    embedded = _counted_beside_embedded(team_store, binary_files, tmp_path)

    got_drift, got_perf = _figures(team_store, period)
    want_drift, want_perf = _figures(embedded, period)

    _same(got_drift, want_drift)
    _same(got_perf, want_perf)
    assert got_perf["n_labeled"].sum() > 0  # the labels were counted too


def _distributions(store: Store, period: str) -> list[pd.DataFrame]:
    from core.monitoring.drift import drift_by_window
    from core.monitoring.drift_report import distributions
    from core.monitoring.windows import WindowSpec

    spec = WindowSpec.parse(period)
    with store.read() as r:
        model = get_model(r, name="credit")
        version = get_version(r, model=model, version=1)
        starts = drift_by_window(r, model=model, version=version, spec=spec)["window_start"]
        return [
            distributions(r, model=model, version=version, spec=spec, feature=f, window_start=s)
            for f in ("income", "debt ratio", "segment", "prediction")
            for s in sorted(starts.unique())[:: max(1, starts.nunique() // 3)]
        ]


@pytest.mark.parametrize("period", ["D", "W"])
def test_the_drift_pages_distributions_from_day_counts_equal_the_embedded_stores(
    team_store: TeamStore, binary_files: Case, tmp_path: Path, period: str
) -> None:
    embedded = _counted_beside_embedded(team_store, binary_files, tmp_path)

    got, want = _distributions(team_store, period), _distributions(embedded, period)

    assert len(got) == len(want) >= 8
    for g, e in zip(got, want, strict=True):
        assert len(e) > 1 and e["window"].sum() == pytest.approx(1.0)
        pd.testing.assert_frame_equal(g, e, check_exact=False, rtol=1e-12)


def test_days_waiting_to_be_counted_are_read_from_the_logs(
    team_store: TeamStore, binary_files: Case, tmp_path: Path
) -> None:
    embedded = Store(tmp_path / "embedded.duckdb")
    embedded.init()
    _filled(embedded, binary_files)
    _filled(team_store, binary_files, labels=False)
    refresh_day_counts(team_store)
    ingest_labels(team_store, model="credit", files=[binary_files.labels])  # not counted yet

    _same(_figures(team_store, "W")[1], _figures(embedded, "W")[1])


@pytest.mark.spark
def test_spark_counts_the_days_exactly_as_embedded_duckdb(
    postgres_server: Any, binary_files: Case, tmp_path: Path, spark: Any
) -> None:
    stores = {}
    for engine in ("duckdb", "spark"):
        store = TeamStore(postgres_server.create(), lock_wait_seconds=10)
        store.init(logs=tmp_path / engine)
        _filled(store, binary_files)
        assert refresh_day_counts(store, engine=engine).days["credit"] > 1
        stores[engine] = store

    for table in ("day_numeric", "day_category", "day_score", "day_decision", "day_curve",
                  *TRAFFIC_TABLES):  # fmt: skip
        # each store's ingest named its batch itself
        want, got = (
            _stored(stores[e], table).drop(columns="batch_id", errors="ignore")
            for e in ("duckdb", "spark")
        )
        assert len(want) > 0
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)


def _cli(*args: str) -> Any:
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "core", *args], capture_output=True, text=True, timeout=300
    )


def test_the_cli_counts_a_batchs_days_and_aggregate_has_nothing_left(
    team_store: TeamStore, binary_files: Case, tmp_path: Path
) -> None:
    import json

    _registered(team_store, binary_files)
    db = ["--db", team_store.url]
    done = _cli("ingest", "credit", str(binary_files.logs), *db, "--no-alerts", "--json")
    assert done.returncode == 0, done.stderr
    assert _stale(team_store) == []
    assert _stored(team_store, "day_score")["n"].sum() == 400

    again = _cli("aggregate", *db, "--engine", "duckdb", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["days"] == {}

    embedded = tmp_path / "one.duckdb"
    refused = _cli("aggregate", "--db", str(embedded))
    assert refused.returncode == 2
    assert "embedded store" in refused.stderr and "Traceback" not in refused.stderr


def test_a_version_without_logs_has_no_windows(team_store: TeamStore, binary_files: Case) -> None:
    _registered(team_store, binary_files)
    drift, perf = _figures(team_store, "W")
    assert drift.empty and perf.empty


def test_a_team_store_from_before_the_counts_lists_every_logged_day_on_upgrade(
    team_store: TeamStore, binary_files: Case
) -> None:
    _filled(team_store, binary_files)
    with team_store.write() as w:  # as schema 6 left it: files listed, nothing counted
        w.catalog("DELETE FROM day_stale")
        w.catalog("UPDATE store_meta SET value = '6' WHERE key = 'schema_version'")
    with team_store.read() as r:
        days = r.rows("SELECT count(DISTINCT (version, ts::DATE)) FROM pred_m1")[0][0]

    reopened = TeamStore(team_store.url)
    reopened.open()

    assert len(_stale(reopened)) == days > 1
    refresh_day_counts(reopened)
    assert _stored(reopened, "day_score")["labelled"].sum() == 200


def test_a_multiclass_models_drift_from_day_counts_equals_the_embedded_stores(
    team_store: TeamStore, tmp_path: Path
) -> None:
    from core.monitoring.drift import drift_by_window
    from core.monitoring.windows import WindowSpec
    from tests.multiclass_cases import iris_case

    case = iris_case(tmp_path / "iris")
    embedded = Store(tmp_path / "embedded.duckdb")
    embedded.init()
    for store in (embedded, team_store):
        register_version(
            store,
            spec=RegistrationSpec(
                model="iris", reference=case.reference, target="kind", prediction="predicted",
                task="multiclass", model_file=case.model_file,
            ),
        )  # fmt: skip
        ingest_predictions(store, model="iris", files=[case.logs])
    assert refresh_day_counts(team_store).days["iris"] > 1
    for path in (team_store.log_location / "kind=prediction").rglob("*.parquet"):
        path.unlink()  # only the counts can answer now

    def drift(store: Store) -> pd.DataFrame:
        with store.read() as r:
            model = get_model(r, name="iris")
            version = get_version(r, model=model, version=1)
            return drift_by_window(r, model=model, version=version, spec=WindowSpec("D"))

    got, want = drift(team_store), drift(embedded)
    # the predicted class and each class probability are checked, and counted, like inputs
    assert {"predicted", *(f"p_{c}" for c in case.classes)} <= set(got["feature"])
    _same(got, want)
