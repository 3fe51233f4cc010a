"""A team store counts what the business value figures need per day, so its replicas give the
money of the embedded store's logs without reading its own: realized and estimated value per
window, the threshold curve, the totals, the decisions per period, for binary and regression
models; a moved threshold reads the logs until the days are counted at the new one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.aggregates import refresh_day_counts
from core.auth import Identity
from core.ingest import ingest_labels, ingest_predictions
from core.monitoring.windows import WindowSpec
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.store import Store, TeamStore
from core.value import business_case, figures, kpi, value_days
from tests.factories import Case

OWNER = Identity("olga", "product_owner")
BINARY_CASE = {"threshold": 0.3, "value_tp": -150, "value_fp": 60, "value_tn": 300,
               "value_fn": -2500, "period": "W", "unit": "EUR"}  # fmt: skip
REGRESSION_CASE = {"cost_under": 3.0, "cost_over": 1.25, "period": "D", "unit": "EUR"}


def _filled(store: Store, case: Case, *, task: str) -> Store:
    binary = task == "binary"
    register_version(
        store,
        spec=RegistrationSpec(
            model="m", reference=case.reference, target="defaulted" if binary else "loss",
            prediction="score" if binary else "predicted", model_file=case.model_file,
            created_by="ci", task=task,
        ),
    )  # fmt: skip
    ingest_predictions(store, model="m", files=[case.logs])
    ingest_labels(store, model="m", files=[case.labels])
    changes = BINARY_CASE if binary else REGRESSION_CASE
    business_case.save(store, model="m", changes=changes, by=OWNER)
    return store


def _embedded(path: Path) -> Store:
    store = Store(path)
    store.init()
    return store


def _forget_logs(store: TeamStore) -> None:
    """Delete the prediction and label files: only the counts can answer after this."""
    for kind in ("kind=prediction", "kind=label"):
        for path in (store.log_location / kind).rglob("*.parquet"):
            path.unlink()


def _value(store: Store, period: str) -> dict[str, Any]:
    with store.read() as r:
        model = get_model(r, name="m")
        version = get_version(r, model=model, version=1)
        return {
            "windows": kpi.by_window(
                r, model=model, version=version, spec=WindowSpec.parse(period)
            ),
            "summary": kpi.summary(r, model=model, version=version),
            "overall": figures.realized_overall(r, model=model, version=version),
            "volume": kpi.decisions_per_period(r, model=model),
            "counted": value_days.counted(
                r,
                model=model,
                version=version,
                threshold=business_case.current(model)["threshold"],
            ),  # fmt: skip
        }


def _same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert len(got["windows"]) == len(want["windows"]) > 0
    pd.testing.assert_frame_equal(
        got["windows"], want["windows"], check_exact=False, rtol=1e-9, check_dtype=False
    )
    for field in ("summary", "overall"):
        for name, value in vars(got[field]).items():
            expected = vars(want[field])[name]
            if isinstance(value, float):
                assert value == pytest.approx(expected, rel=1e-9), (field, name)
            elif field == "overall" and name == "basis":
                assert value == expected
            else:
                assert value == expected, (field, name)
    assert got["volume"] == (pytest.approx(want["volume"][0], rel=1e-12), want["volume"][1])


@pytest.mark.parametrize("period", ["D", "W", "M"])
def test_binary_value_from_day_counts_equals_the_embedded_stores_from_its_logs(
    team_store: TeamStore, binary_files: Case, tmp_path: Path, period: str
) -> None:
    embedded = _filled(_embedded(tmp_path / "embedded.duckdb"), binary_files, task="binary")
    _filled(team_store, binary_files, task="binary")
    refresh_day_counts(team_store)
    _forget_logs(team_store)

    got, want = _value(team_store, period), _value(embedded, period)

    assert got["counted"] and not want["counted"]
    _same(got, want)
    windows = got["windows"]
    assert windows["n_labeled"].sum() > 0 and windows["estimated_value_per_decision"].notna().all()
    assert got["summary"].optimal_threshold is not None


@pytest.mark.parametrize("period", ["D", "W"])
def test_regression_value_from_day_counts_equals_the_embedded_stores_from_its_logs(
    team_store: TeamStore, regression_files: Case, tmp_path: Path, period: str
) -> None:
    embedded = _embedded(tmp_path / "embedded.duckdb")
    _filled(embedded, regression_files, task="regression")
    _filled(team_store, regression_files, task="regression")
    refresh_day_counts(team_store)
    _forget_logs(team_store)

    got, want = _value(team_store, period), _value(embedded, period)

    assert got["counted"]
    _same(got, want)
    costs = got["windows"]["realized_value_per_decision"]
    assert (costs < 0).all() and got["windows"]["n_labeled"].sum() == 200


def test_a_moved_threshold_reads_the_logs_until_its_days_are_counted_again(
    team_store: TeamStore, binary_files: Case, tmp_path: Path
) -> None:
    embedded = _filled(_embedded(tmp_path / "embedded.duckdb"), binary_files, task="binary")
    _filled(team_store, binary_files, task="binary")
    refresh_day_counts(team_store)
    for store in (embedded, team_store):
        business_case.save(store, model="m", changes={"threshold": 0.55}, by=OWNER)

    moved = _value(team_store, "W")
    assert not moved["counted"]  # counted at 0.3: the logs answer
    _same(moved, _value(embedded, "W"))

    with team_store.read() as r:
        days = r.catalog("SELECT count(DISTINCT day) FROM day_decision").scalar()
    assert refresh_day_counts(team_store).days == {"m": days}
    _forget_logs(team_store)
    again = _value(team_store, "W")
    assert again["counted"]
    _same(again, _value(embedded, "W"))


def test_value_counts_hold_each_decision_once(team_store: TeamStore, binary_files: Case) -> None:
    _filled(team_store, binary_files, task="binary")
    refresh_day_counts(team_store)
    with team_store.read() as r:
        n, labelled, sides = r.catalog(
            "SELECT sum(n), sum(labelled), count(DISTINCT threshold) FROM day_decision"
        ).one()
        curve = r.catalog("SELECT sum(labelled) FROM day_curve").scalar()
        logged = r.rows(
            "SELECT count(*), count(l.y) FROM pred_m1 p LEFT JOIN label l USING (request_id)"
        )[0]
    assert (n, labelled) == logged and curve == labelled and sides == 1
    assert np.isclose(float(n), 400)


@pytest.mark.spark
def test_spark_counts_a_regression_models_errors_exactly_as_embedded_duckdb(
    postgres_server: Any, regression_files: Case, tmp_path: Path, spark: Any
) -> None:
    stored = {}
    for engine in ("duckdb", "spark"):
        store = TeamStore(postgres_server.create(), lock_wait_seconds=10)
        store.init(logs=tmp_path / engine)
        _filled(store, regression_files, task="regression")
        assert refresh_day_counts(store, engine=engine).days["m"] > 1
        with store.read() as r:
            stored[engine] = r.catalog_frame("SELECT * FROM day_error ORDER BY version, day")
    assert len(stored["duckdb"]) > 1
    pd.testing.assert_frame_equal(stored["spark"], stored["duckdb"], check_exact=False, rtol=1e-12)
