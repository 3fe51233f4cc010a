"""A team store counts a multiclass model's performance and value per day, so its replicas give
the embedded store's figures from its logs without reading their own: realized and estimated
metrics with their bands, the confusion matrices, value per decision per window and overall;
late labels and a changed calibration read the logs until their days are counted again, and a
new value matrix needs no recount."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.aggregates import refresh_day_counts
from core.auth import Identity
from core.ingest import ingest_labels, ingest_predictions
from core.monitoring import class_calibration, class_days, class_performance
from core.monitoring.windows import WindowSpec
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.store import Store, TeamStore
from core.value import business_case, class_value
from tests.factories import Case
from tests.multiclass_cases import MulticlassCase, logged, simulated_case

OWNER = Identity("olga", "product_owner")
MATRIX = {
    ("low", "low"): 10.0, ("mid", "mid"): 20.0, ("high", "high"): 50.0,
    ("high", "low"): -200.0, ("high", "mid"): -80.0, ("low", "high"): -15.0,
}  # fmt: skip
CLASS_TABLES = ("day_class", "day_class_cell", "day_class_moment")


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> MulticlassCase:
    """A logistic regression of three classes on shifted traffic: 10 days of 160 rows."""
    return simulated_case(
        tmp_path_factory.mktemp("classes"), shift=2.0, concept_drift=False, windows=10,
        per_window=160,
    )  # fmt: skip


def _labels(case: MulticlassCase, folder: Path, *, late: bool) -> Path:
    """Most outcomes of the first five days and a quarter of the later ones (fewer than 100 a
    day: estimated, not measured); LATE: the rest."""
    logged = case.logs_frame
    day = np.arange(len(logged)) // 160
    early = np.where(day < 5, np.arange(len(logged)) % 5 != 0, np.arange(len(logged)) % 4 == 0)
    keep = ~early if late else early
    path = folder / ("late.csv" if late else "labels.csv")
    logged.loc[keep, ["request_id", "kind"]].to_csv(path, index=False)
    return path


def _filled(store: Store, case: MulticlassCase, folder: Path) -> Store:
    logged(store, case)
    ingest_labels(store, model="m", files=[_labels(case, folder, late=False)])
    changes = {business_case.cell_key(a, p): v for (a, p), v in MATRIX.items()}
    business_case.save(store, model="m", changes=changes, by=OWNER)
    return store


def _embedded(case: MulticlassCase, folder: Path) -> Store:
    store = Store(folder / "embedded.duckdb")
    store.init()
    return _filled(store, case, folder)


def _forget_logs(store: TeamStore) -> None:
    """Delete the prediction and label files: only the counts can answer after this."""
    for kind in ("kind=prediction", "kind=label"):
        for path in (store.log_location / kind).rglob("*.parquet"):
            path.unlink()


def _figures(store: Store, period: str) -> dict[str, Any]:
    spec = WindowSpec.parse(period)
    with store.read() as r:
        model = get_model(r, name="m")
        version = get_version(r, model=model, version=1)
        keys = {"model": model, "version": version}
        calibration = class_calibration.fit_class_calibration(
            r, outputs=class_performance._outputs(version), **keys
        )
        return {
            "performance": class_performance.performance_by_window(r, spec=spec, **keys),
            "confusion": class_performance.confusion_by_window(r, spec=spec, **keys),
            "realized": class_performance.realized_by_window(r, spec=spec, **keys),
            "value": class_value.by_window(r, spec=spec, **keys),
            "overall": class_value.overall(r, **keys),
            "counted": class_days.counted(r, spec=spec, calibration=calibration, **keys),
        }


def _same(got: dict[str, Any], want: dict[str, Any]) -> None:
    for name in ("performance", "confusion", "realized", "value"):
        assert len(got[name]) == len(want[name]) > 0, name
        pd.testing.assert_frame_equal(
            got[name], want[name], check_exact=False, rtol=1e-9, check_dtype=False, obj=name
        )
    for field, value in vars(got["overall"]).items():
        expected = vars(want["overall"])[field]
        if isinstance(value, float):
            assert value == pytest.approx(expected, rel=1e-9), field
        else:
            assert value == expected, field


@pytest.mark.parametrize("period", ["D", "W"])
def test_class_performance_and_value_from_day_counts_equal_the_embedded_stores_from_its_logs(
    team_store: TeamStore, case: MulticlassCase, tmp_path: Path, period: str
) -> None:
    embedded = _embedded(case, tmp_path)
    _filled(team_store, case, tmp_path)
    assert refresh_day_counts(team_store).days == {"m": 10}
    _forget_logs(team_store)

    got, want = _figures(team_store, period), _figures(embedded, period)

    assert got["counted"] and not want["counted"]
    _same(got, want)
    performance, value = got["performance"], got["value"]
    assert performance["realized"].notna().any() and performance["realized"].isna().any()
    assert performance["estimated_lower"].notna().all()
    assert value["measured"].any() and not value["measured"].all()
    assert got["overall"].n == 1600 and got["overall"].realized is not None


def test_each_row_is_counted_once(
    team_store: TeamStore, case: MulticlassCase, tmp_path: Path
) -> None:
    _filled(team_store, case, tmp_path)
    refresh_day_counts(team_store)
    with team_store.read() as r:
        n, labelled = r.catalog("SELECT sum(n), sum(labelled) FROM day_class").one()
        cells, expected = r.catalog("SELECT sum(labelled), sum(expected) FROM day_class_cell").one()
        # over every pair a <= b, q_a q_b sums to (sum q)² less the cross terms counted once
        moments = r.catalog_frame("SELECT a, b, qq FROM day_class_moment")
        logged = r.rows(
            "SELECT count(*), count(l.y) FROM pred_m1 p LEFT JOIN label l USING (request_id)"
        )[0]
    assert (n, labelled) == logged == (1600, 5 * 128 + 5 * 40)
    assert cells == labelled
    assert float(expected) == pytest.approx(1600, rel=1e-9)  # calibrated rows sum to 1
    both = np.where(moments["a"] < moments["b"], 2.0, 1.0)
    assert float((moments["qq"] * both).sum()) == pytest.approx(1600, rel=1e-9)


def test_late_labels_read_the_logs_until_their_days_are_counted_again(
    team_store: TeamStore, case: MulticlassCase, tmp_path: Path
) -> None:
    embedded = _embedded(case, tmp_path)
    _filled(team_store, case, tmp_path)
    refresh_day_counts(team_store)
    for store in (embedded, team_store):
        ingest_labels(store, model="m", files=[_labels(case, tmp_path, late=True)])

    late = _figures(team_store, "W")
    assert not late["counted"]  # the days of the late labels wait: the logs answer
    _same(late, _figures(embedded, "W"))

    assert refresh_day_counts(team_store).days == {"m": 10}
    _forget_logs(team_store)
    again = _figures(team_store, "W")
    assert again["counted"]
    _same(again, _figures(embedded, "W"))
    assert again["overall"].n_labeled == 1600


def test_a_changed_calibration_reads_the_logs_until_the_days_are_counted_under_it(
    team_store: TeamStore, case: MulticlassCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedded = _embedded(case, tmp_path)
    _filled(team_store, case, tmp_path)
    refresh_day_counts(team_store)
    # a release that asks more outcomes of a class before calibrating it: the top probability
    # is calibrated instead, and every day counted under the old maps no longer holds
    monkeypatch.setattr(class_calibration, "MIN_CLASS_LABELS", 1500)

    moved = _figures(team_store, "D")
    assert not moved["counted"]
    _same(moved, _figures(embedded, "D"))
    assert "highest probability" in moved["performance"]["estimate_basis"].iloc[0]

    assert refresh_day_counts(team_store).days == {"m": 10}
    _forget_logs(team_store)
    again = _figures(team_store, "D")
    assert again["counted"]
    _same(again, _figures(embedded, "D"))


def test_a_new_value_matrix_is_read_from_the_same_counts(
    team_store: TeamStore, case: MulticlassCase, tmp_path: Path
) -> None:
    embedded = _embedded(case, tmp_path)
    _filled(team_store, case, tmp_path)
    refresh_day_counts(team_store)
    _forget_logs(team_store)
    changes = {
        business_case.cell_key("mid", "low"): -40.0,
        business_case.cell_key("low", "low"): 3.0,
    }
    for store in (embedded, team_store):
        business_case.save(store, model="m", changes=changes, by=OWNER)

    got, want = _figures(team_store, "W"), _figures(embedded, "W")

    assert got["counted"]
    _same(got, want)


def test_a_team_store_from_schema_9_lists_only_its_multiclass_models_days_on_upgrade(
    team_store: TeamStore, case: MulticlassCase, binary_files: Case, tmp_path: Path
) -> None:
    _filled(team_store, case, tmp_path)
    register_version(
        team_store,
        spec=RegistrationSpec(
            model="credit", reference=binary_files.reference, target="defaulted",
            prediction="score", model_file=binary_files.model_file, created_by="ci",
        ),
    )  # fmt: skip
    ingest_predictions(team_store, model="credit", files=[binary_files.logs])
    refresh_day_counts(team_store)
    with team_store.write() as w:  # as schema 9 left it: every day counted, no class counts
        for table in CLASS_TABLES:
            w.catalog(f"DELETE FROM {table}")
        w.catalog("UPDATE store_meta SET value = '9' WHERE key = 'schema_version'")

    reopened = TeamStore(team_store.url)
    reopened.open()

    with reopened.read() as r:
        waiting = r.catalog(
            "SELECT m.name, count(*) FROM day_stale s JOIN model m ON m.id = s.model_id "
            "GROUP BY m.name"
        ).fetchall()
    assert [tuple(x) for x in waiting] == [("m", 10)]
    assert refresh_day_counts(reopened).days == {"m": 10}
    assert _figures(reopened, "W")["counted"]


@pytest.mark.spark
def test_spark_counts_a_multiclass_models_days_exactly_as_embedded_duckdb(
    postgres_server: Any, case: MulticlassCase, tmp_path: Path, spark: Any
) -> None:
    stored: dict[str, dict[str, pd.DataFrame]] = {}
    for engine in ("duckdb", "spark"):
        store = TeamStore(postgres_server.create(), lock_wait_seconds=10)
        store.init(logs=tmp_path / engine)
        _filled(store, case, tmp_path)
        assert refresh_day_counts(store, engine=engine).days == {"m": 10}
        with store.read() as r:
            stored[engine] = {
                table: r.catalog_frame(f"SELECT * FROM {table} ORDER BY {', '.join(_keys(table))}")
                for table in CLASS_TABLES
            }
    for table in CLASS_TABLES:
        want, got = stored["duckdb"][table], stored["spark"][table]
        assert len(want) > 0
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12, obj=table)


def _keys(table: str) -> list[str]:
    more = {"day_class": [], "day_class_cell": ["actual"], "day_class_moment": ["a", "b"]}
    return ["version", "day", "predicted", *more[table]]
