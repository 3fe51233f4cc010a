"""Multivariate drift: PCA reconstruction error per window against the reference band."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.ingest import ingest_predictions
from core.monitoring import multivariate
from core.monitoring.drift import drift_by_window
from core.monitoring.multivariate import reconstruction_drift
from core.monitoring.windows import WindowSpec
from core.registry import RegistrationSpec, features_of, get_model, get_version, register_version
from core.store import Store

COLUMNS = ["window_start", "window_end", "n", "value", "lower", "upper", "alert"]
RHO = 0.9
DAILY = WindowSpec.parse("D")


def _pair(rng: np.random.Generator, n: int, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """Two standard normal inputs with correlation RHO (each one N(0, 1) whatever RHO is)."""
    a = rng.standard_normal(n)
    return a, rho * a + math.sqrt(1 - rho**2) * rng.standard_normal(n)


def _register(store: Store, folder: Path, name: str, reference: pd.DataFrame) -> None:
    rng = np.random.default_rng(99)
    reference = reference.assign(score=rng.uniform(0, 1, len(reference)))
    reference["target"] = (rng.uniform(0, 1, len(reference)) < reference["score"]).astype(int)
    path = folder / f"{name}-reference.parquet"
    reference.to_parquet(path)
    register_version(
        store,
        spec=RegistrationSpec(
            model=name, reference=path, target="target", prediction="score", task="binary"
        ),
    )


def _log(store: Store, folder: Path, name: str, days: list[tuple[str, pd.DataFrame]]) -> None:
    """Log each frame on its day (one row a minute from midnight), all in one file."""
    frames = [
        rows.assign(timestamp=pd.date_range(day, periods=len(rows), freq="min", tz="UTC"))
        for day, rows in days
    ]
    logged = pd.concat(frames, ignore_index=True)
    logged["score"] = np.random.default_rng(7).uniform(0, 1, len(logged))
    logged["request_id"] = [f"{name}-{i}" for i in range(len(logged))]
    path = folder / f"{name}-logs.parquet"
    logged.to_parquet(path)
    [result] = ingest_predictions(store, model=name, files=[path])
    assert result.rows_ingested == len(logged), result


def _multivariate(store: Store, name: str, spec: WindowSpec = DAILY) -> pd.DataFrame:
    with store.read() as r:
        model = get_model(r, name=name)
        return reconstruction_drift(r, model=model, version=get_version(r, model=model), spec=spec)


def _centre(found: pd.DataFrame) -> float:
    return float((found["lower"].iloc[0] + found["upper"].iloc[0]) / 2)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """'pairs': x1, x2 with correlation 0.9 in a 4,000-row reference; logged 1,000 rows on
    2026-03-02 like the reference, 1,000 on 03-03 with correlation -0.9 (same marginals) and
    3 on 03-04 like the reference."""
    folder = tmp_path_factory.mktemp("multivariate")
    store = Store(folder / "store.duckdb", lock_wait_seconds=30)
    store.init()
    rng = np.random.default_rng(0)
    x1, x2 = _pair(rng, 4000, RHO)
    _register(store, folder, "pairs", pd.DataFrame({"x1": x1, "x2": x2}))
    days = []
    for day, rho, n in (
        ("2026-03-02", RHO, 1000),
        ("2026-03-03", -RHO, 1000),
        ("2026-03-04", RHO, 3),
    ):
        a, b = _pair(rng, n, rho)
        days.append((day, pd.DataFrame({"x1": a, "x2": b})))
    _log(store, folder, "pairs", days)
    return store


def _expected_reference_error(rho: float) -> float:
    """Mean error of rows like the reference, by hand: standardised, the 65% PCA keeps the
    first axis only, so a row's error is |z1 - z2| / sqrt(2) ~ |N(0, 1 - rho)|."""
    return math.sqrt(1 - rho) * math.sqrt(2 / math.pi)


def _expected_capped_error(rho_ref: float, rho_now: float) -> float:
    """Mean error of rows with correlation RHO_NOW, each capped at the reference's 99th
    percentile error: E[min(|Y|, c)] for Y ~ N(0, s^2), s^2 = 1 - rho_now."""
    s = math.sqrt(1 - rho_now)
    cap = math.sqrt(1 - rho_ref) * 2.5758  # 99th percentile of |N(0, 1 - rho_ref)|
    tail = math.erfc(cap / s / math.sqrt(2))  # P(|Y| > cap)
    return s * math.sqrt(2 / math.pi) * (1 - math.exp(-(cap**2) / (2 * s**2))) + cap * tail


def test_each_window_reports_its_size_value_and_band(pairs: Store) -> None:
    found = _multivariate(pairs, "pairs")

    assert list(found.columns) == COLUMNS
    assert [(f"{s:%Y-%m-%d}", f"{e:%Y-%m-%d}", int(n)) for s, e, n in found.iloc[:, :3].values] == [
        ("2026-03-02", "2026-03-03", 1000),
        ("2026-03-03", "2026-03-04", 1000),
        ("2026-03-04", "2026-03-05", 3),
    ]
    assert found["alert"].tolist() == [False, True, False]


def test_a_window_like_the_reference_stays_inside_a_band_centred_on_its_error(
    pairs: Store,
) -> None:
    same = _multivariate(pairs, "pairs").iloc[0]

    centre = (same["lower"] + same["upper"]) / 2
    assert centre == pytest.approx(_expected_reference_error(RHO), rel=0.05)
    assert same["value"] == pytest.approx(centre, rel=0.05)
    assert same["lower"] < same["value"] < same["upper"]
    assert not same["alert"]


def test_a_reversed_correlation_with_unchanged_marginals_is_detected(pairs: Store) -> None:
    found = _multivariate(pairs, "pairs")
    reversed_ = found.iloc[1]

    assert bool(reversed_["alert"])
    assert reversed_["value"] > reversed_["upper"]
    assert reversed_["value"] == pytest.approx(_expected_capped_error(RHO, -RHO), rel=0.08)
    assert reversed_["value"] > 2 * _centre(found)


def test_the_univariate_checks_see_nothing_in_the_reversed_window(pairs: Store) -> None:
    """Same marginals: only the multivariate check can tell the windows apart."""
    with pairs.read() as r:
        model = get_model(r, name="pairs")
        table = drift_by_window(r, model=model, version=get_version(r, model=model), spec=DAILY)
    day = table[(table["window_start"] == pd.Timestamp("2026-03-03")) & table["primary"]]

    assert sorted(day["feature"]) == ["prediction", "x1", "x2"]
    assert not day["drifted"].any()


def test_the_band_narrows_with_the_square_root_of_the_window_size(pairs: Store) -> None:
    found = _multivariate(pairs, "pairs")
    margins = (found["upper"] - found["lower"]) / 2

    assert margins.iloc[0] == pytest.approx(margins.iloc[1])  # same size, same band
    assert margins.iloc[2] / margins.iloc[0] == pytest.approx(math.sqrt(1000 / 3))
    # A three-row window like the reference: a wide band, so no alert from sampling noise.
    three = found.iloc[2]
    assert three["lower"] < three["value"] < three["upper"]


def test_only_a_sample_of_a_big_window_is_scored_and_its_band_follows_the_sample(
    pairs: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = _multivariate(pairs, "pairs")
    monkeypatch.setattr(multivariate, "SAMPLE_PER_WINDOW", 100)
    sampled = _multivariate(pairs, "pairs")

    assert sampled["n"].tolist() == [1000, 1000, 3]  # n still counts every logged row
    full_margin = (full["upper"] - full["lower"]) / 2
    margin = (sampled["upper"] - sampled["lower"]) / 2
    assert margin.iloc[0] / full_margin.iloc[0] == pytest.approx(math.sqrt(1000 / 100))
    assert margin.iloc[2] == pytest.approx(full_margin.iloc[2])  # 3 rows: all of them
    assert sampled["value"].iloc[0] != full["value"].iloc[0]
    assert sampled["alert"].tolist() == [False, True, False]


def test_chunks_of_rows_are_windows_too(pairs: Store) -> None:
    found = _multivariate(pairs, "pairs", WindowSpec.parse(chunk_size=500))

    assert found["n"].tolist() == [500, 500, 500, 500, 3]
    assert found["alert"].tolist() == [False, False, True, True, False]


# --- edge cases -------------------------------------------------------------------------------


def test_a_model_with_one_input_has_no_multivariate_drift(store: Store, tmp_path: Path) -> None:
    folder = tmp_path
    rng = np.random.default_rng(1)
    _register(store, folder, "single", pd.DataFrame({"x": rng.standard_normal(200)}))
    _log(store, folder, "single", [("2026-03-02", pd.DataFrame({"x": rng.standard_normal(50)}))])

    found = _multivariate(store, "single")

    assert found.empty
    assert list(found.columns) == COLUMNS


def test_a_version_with_no_logs_yet_has_no_windows(store: Store, tmp_path: Path) -> None:
    folder = tmp_path
    x1, x2 = _pair(np.random.default_rng(2), 300, RHO)
    _register(store, folder, "quiet", pd.DataFrame({"x1": x1, "x2": x2}))

    found = _multivariate(store, "quiet")

    assert found.empty
    assert list(found.columns) == COLUMNS


@pytest.mark.parametrize("rows", [1, 3])
def test_a_reference_too_small_for_a_band_gives_no_windows_instead_of_failing(
    store: Store, tmp_path: Path, rows: int
) -> None:
    """The band is the spread of errors on held-out reference rows: two are needed at least."""
    folder = tmp_path
    rng = np.random.default_rng(3)
    x1, x2 = _pair(rng, rows, RHO)
    _register(store, folder, "tiny", pd.DataFrame({"x1": x1, "x2": x2}))
    a, b = _pair(rng, 20, RHO)
    _log(store, folder, "tiny", [("2026-03-02", pd.DataFrame({"x1": a, "x2": b}))])

    found = _multivariate(store, "tiny")

    assert found.empty
    assert list(found.columns) == COLUMNS


def _with_gaps(rng: np.random.Generator, n: int, missing: float) -> pd.DataFrame:
    """x1, x2 (correlation 0.9) and a category c following x1; MISSING of x1 and of c blank."""
    x1, x2 = _pair(rng, n, RHO)
    c = np.where(x1 > 0, "high", "low").astype(object)
    x1[rng.uniform(0, 1, n) < missing] = np.nan
    c[rng.uniform(0, 1, n) < missing] = None
    return pd.DataFrame({"x1": x1, "x2": x2, "c": c})


def test_windows_with_missing_values_are_scored_and_more_gaps_than_usual_alert(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path
    rng = np.random.default_rng(4)
    _register(store, folder, "gaps", _with_gaps(rng, 4000, 0.1))
    _log(
        store,
        folder,
        "gaps",
        [("2026-03-02", _with_gaps(rng, 1000, 0.1)), ("2026-03-03", _with_gaps(rng, 1000, 0.6))],
    )
    with store.read() as r:
        model = get_model(r, name="gaps")
        column = {f.name: f.column for f in features_of(get_version(r, model=model))}
        blanks = r.rows(
            f"SELECT count(*) FILTER (WHERE {column['x1']} IS NULL), "
            f"count(*) FILTER (WHERE {column['c']} IS NULL) "
            f"FROM pred_m{model.id} WHERE ts < '2026-03-03'"
        )[0]

    found = _multivariate(store, "gaps")

    assert 50 < blanks[0] < 150 and 50 < blanks[1] < 150  # the gaps really were logged
    assert found["n"].tolist() == [1000, 1000]
    assert np.isfinite(found[["value", "lower", "upper"]].to_numpy(float)).all()
    usual, gappy = found.iloc[0], found.iloc[1]
    assert usual["lower"] < usual["value"] < usual["upper"]
    assert not usual["alert"]
    assert gappy["value"] > gappy["upper"]
    assert bool(gappy["alert"])
