"""Each drift statistic, computed through the store (DuckDB bins), against scipy on the raw rows.

One model is registered with a reference of 4,000 rows (x normal, y lognormal, c categorical)
and two monthly windows of 3,000 logged rows: March shifted (x by 0.2 sd, log y by 0.2, c's
shares moved), April drawn like the reference. Tolerances and why:

* KS: the statistic is read at fine-bin edges only, so it can fall short of scipy's, by at most
  the largest share a single fine bin holds in either sample; the p-value uses the limiting
  Kolmogorov distribution where scipy uses the finite-n one (within 5% on a log scale).
* Wasserstein: each value is moved to its bin's position (interior bins at their centre, tails
  at their mean), so by the triangle inequality the result is within the mean distance moved in
  the two samples (computed from the raw rows); in practice within 0.005 (a twentieth of the
  threshold).
* PSI and Jensen–Shannon over numbers use the reference deciles snapped to fine-bin edges: on
  those groups they equal the hand computation and scipy exactly; against exact deciles they are
  within 0.005 (a twentieth of the Jensen–Shannon threshold, a fortieth of PSI's).
* Categories are counted exactly: chi-square, PSI and Jensen–Shannon agree to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from core.ingest import ingest_predictions
from core.monitoring import histograms as h
from core.monitoring.drift import drift_by_window
from core.monitoring.drift_statistics import coarse_edges, ks_pvalue
from core.monitoring.windows import WindowSpec
from core.registry import RegistrationSpec, features_of, get_model, get_version, register_version
from core.store import Store, log_tables

N_REF, N_WINDOW = 4000, 3000
MONTHS = {"shifted": "2026-03", "unshifted": "2026-04"}
SHARES = {"reference": [0.4, 0.3, 0.2, 0.1], "shifted": [0.3, 0.3, 0.25, 0.15]}


def _rows(rng: np.random.Generator, n: int, x_mean: float, log_y_mean: float, shares: list):
    return pd.DataFrame(
        {
            "x": rng.normal(x_mean, 10, n),
            "y": rng.lognormal(log_y_mean, 0.5, n),
            "c": rng.choice(list("abcd"), n, p=shares),
            "score": rng.beta(2, 5, n),
        }
    )


@dataclass(frozen=True)
class Scenario:
    """The raw rows, what drift_by_window made of them, and the store's bins per window."""

    reference: pd.DataFrame
    windows: dict[str, pd.DataFrame]
    drift: pd.DataFrame
    store: Store


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    folder = tmp_path_factory.mktemp("drift_stats")
    rng = np.random.default_rng(3)
    reference = _rows(rng, N_REF, 50, 3.0, SHARES["reference"])
    reference["target"] = (rng.random(N_REF) < reference["score"]).astype(int)
    windows = {
        "shifted": _rows(rng, N_WINDOW, 52, 3.2, SHARES["shifted"]),
        "unshifted": _rows(rng, N_WINDOW, 50, 3.0, SHARES["reference"]),
    }
    for name, frame in windows.items():
        frame["timestamp"] = pd.date_range(
            f"{MONTHS[name]}-02", periods=N_WINDOW, freq="5min", tz="UTC"
        )
    logged = pd.concat(windows.values(), ignore_index=True)
    logged["request_id"] = [f"r{i}" for i in range(len(logged))]
    reference.to_parquet(folder / "reference.parquet")
    logged.to_parquet(folder / "logs.parquet")
    store = Store(folder / "store.duckdb", lock_wait_seconds=10)
    store.init()
    register_version(store, spec=RegistrationSpec(
        model="m", reference=folder / "reference.parquet", target="target", prediction="score",
    ))  # fmt: skip
    [result] = ingest_predictions(store, model="m", files=[folder / "logs.parquet"])
    assert result.rows_ingested == 2 * N_WINDOW
    with store.read() as r:
        model = get_model(r, name="m")
        drift = drift_by_window(
            r, model=model, version=get_version(r, model=model), spec=WindowSpec.parse("M")
        )
    return Scenario(reference, windows, drift, store)


def _value(s: Scenario, window: str, feature: str, method: str) -> float:
    start = pd.Timestamp(f"{MONTHS[window]}-01")
    rows = s.drift[
        (s.drift["window_start"] == start)
        & (s.drift["feature"] == feature)
        & (s.drift["method"] == method)
    ]
    assert len(rows) == 1
    return float(rows["value"].iloc[0])


@dataclass(frozen=True)
class Bins:
    """The fine bins of one feature as the store computes them, for the reference and a window."""

    bins: h.NumericBins
    ref: np.ndarray
    ref_positions: np.ndarray
    cur: np.ndarray
    cur_positions: np.ndarray

    def largest_share(self) -> float:
        """The largest share of its sample that any one fine bin holds."""
        return max((self.ref / self.ref.sum()).max(), (self.cur / self.cur.sum()).max())

    def index(self, values: np.ndarray) -> np.ndarray:
        """Each raw value's fine bin, as the SQL of histograms.NumericBins computes it."""
        b = self.bins
        inner = 1 + np.minimum(np.floor((values - b.lo) / b.width), h.FINE_BINS - 1)
        fine = np.where(values < b.lo, 0, np.where(values >= b.hi, h.FINE_BINS + 1, inner))
        return fine.astype(int)


def _store_bins(s: Scenario, window: str, feature: str) -> Bins:
    """Fine-bin counts of the reference and one window, on the bins drift_by_window uses."""
    with s.store.read() as r:
        model = get_model(r, name="m")
        column = {f.name: f.column for f in features_of(get_version(r, model=model))}.get(
            feature, "score"
        )
        ref_src = f"(SELECT *, 0 AS w FROM {log_tables.ref_table(model.id)} WHERE version = 1)"
        win_src = (
            f"(SELECT *, 0 AS w FROM {log_tables.pred_table(model.id)} "
            "WHERE strftime(ts, '%Y-%m') = ?)"
        )
        bins = h.numeric_bins(r, table=ref_src, column=column, where="TRUE", params=[])
        ref = h.numeric_counts(
            r, table=ref_src, column=column, bins=bins, window_sql="w", where="TRUE", params=[]
        )
        cur = h.numeric_counts(
            r,
            table=win_src,
            column=column,
            bins=bins,
            window_sql="w",
            where="TRUE",
            params=[MONTHS[window]],
        )
    ref_counts, ref_positions, _ = h.dense_numeric(ref, bins)
    cur_counts, cur_positions, _ = h.dense_numeric(cur, bins)
    return Bins(bins, ref_counts, ref_positions, cur_counts, cur_positions)


def _as_logged(feature: str) -> str:
    return "prediction" if feature == "score" else feature


def _decile_shares(reference: np.ndarray, values: np.ndarray) -> np.ndarray:
    cuts = np.quantile(reference, np.linspace(0, 1, 11)[1:-1])
    counts = np.bincount(np.searchsorted(cuts, values, side="right"), minlength=10)
    return counts / counts.sum()


def _category_counts(frame: pd.DataFrame) -> np.ndarray:
    return frame["c"].value_counts().reindex(list("abcd"), fill_value=0).to_numpy(float)


NUMERIC = [("x",), ("y",), ("score",)]
CASES = [(w, f) for w in MONTHS for (f,) in NUMERIC]


@pytest.mark.parametrize(("window", "feature"), CASES)
def test_ks_statistic_from_the_store_bins_falls_short_of_scipys_by_at_most_one_fine_bin(
    scenario: Scenario, window: str, feature: str
) -> None:
    fine = _store_bins(scenario, window, feature)
    exact = stats.ks_2samp(scenario.reference[feature], scenario.windows[window][feature])

    binned, _ = ks_pvalue(fine.ref, fine.cur)

    assert exact.statistic - fine.largest_share() <= binned <= exact.statistic + 1e-12


@pytest.mark.parametrize(("window", "feature"), CASES)
def test_ks_p_value_agrees_with_scipys_within_the_binning_bound(
    scenario: Scenario, window: str, feature: str
) -> None:
    raw_ref, raw_cur = scenario.reference[feature], scenario.windows[window][feature]
    exact = stats.ks_2samp(raw_ref, raw_cur, method="asymp")
    fine = _store_bins(scenario, window, feature)
    binned, _ = ks_pvalue(fine.ref, fine.cur)
    root_en = np.sqrt(N_REF * N_WINDOW / (N_REF + N_WINDOW))
    at_scipys_statistic = stats.kstwobign.sf(exact.statistic * root_en)
    short_by = fine.largest_share()

    p = _value(scenario, window, _as_logged(feature), "ks")

    assert p == pytest.approx(stats.kstwobign.sf(binned * root_en), rel=1e-9)
    assert at_scipys_statistic <= p <= stats.kstwobign.sf((exact.statistic - short_by) * root_en)
    assert np.log(exact.pvalue) == pytest.approx(np.log(at_scipys_statistic), rel=0.05, abs=0.05)


def test_ks_p_values_tell_the_shifted_month_from_the_unshifted_one(scenario: Scenario) -> None:
    assert _value(scenario, "shifted", "y", "ks") < 1e-30
    assert _value(scenario, "shifted", "x", "ks") < 1e-6
    assert _value(scenario, "unshifted", "x", "ks") > 0.3


@pytest.mark.parametrize(("window", "feature"), CASES)
def test_wasserstein_is_scipys_distance_divided_by_the_reference_std(
    scenario: Scenario, window: str, feature: str
) -> None:
    raw_ref = scenario.reference[feature].to_numpy()
    raw_cur = scenario.windows[window][feature].to_numpy()
    scale = raw_ref.std(ddof=1)
    expected = stats.wasserstein_distance(raw_ref, raw_cur) / scale
    fine = _store_bins(scenario, window, feature)
    moved = (
        np.abs(raw_ref - fine.ref_positions[fine.index(raw_ref)]).mean()
        + np.abs(raw_cur - fine.cur_positions[fine.index(raw_cur)]).mean()
    ) / scale

    value = _value(scenario, window, _as_logged(feature), "wasserstein")

    assert value == pytest.approx(expected, abs=moved)
    assert value == pytest.approx(expected, abs=0.005)


def test_wasserstein_of_the_shifted_lognormal_is_far_past_its_threshold(
    scenario: Scenario,
) -> None:
    shifted = scenario.drift[
        (scenario.drift["feature"] == "y") & (scenario.drift["method"] == "wasserstein")
    ].set_index("window_start")
    assert shifted.loc[pd.Timestamp("2026-03-01"), "value"] > 0.35
    assert shifted.loc[pd.Timestamp("2026-03-01"), "drifted"]
    assert not shifted.loc[pd.Timestamp("2026-04-01"), "drifted"]


@pytest.mark.parametrize("window", MONTHS)
def test_chi_square_p_value_is_scipys_on_the_category_counts(
    scenario: Scenario, window: str
) -> None:
    ref_shares = _category_counts(scenario.reference) / N_REF
    observed = _category_counts(scenario.windows[window])
    expected = stats.chisquare(observed, ref_shares * observed.sum()).pvalue

    assert _value(scenario, window, "c", "chi_square") == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("window", MONTHS)
def test_jensen_shannon_of_categories_is_scipys_on_their_shares(
    scenario: Scenario, window: str
) -> None:
    ref = _category_counts(scenario.reference)
    cur = _category_counts(scenario.windows[window])
    expected = distance.jensenshannon(ref / ref.sum(), cur / cur.sum())

    assert _value(scenario, window, "c", "jensen_shannon") == pytest.approx(expected, rel=1e-9)


def _group_shares(fine: Bins, values: np.ndarray) -> np.ndarray:
    """Shares of raw values in the store's decile groups (fine bins merged by coarse_edges)."""
    edges = coarse_edges(fine.ref)
    group = np.searchsorted(edges, fine.index(values), side="right") - 1
    return np.bincount(group, minlength=len(edges) - 1) / len(values)


@pytest.mark.parametrize(("window", "feature"), CASES)
def test_numeric_groups_are_the_reference_deciles_snapped_to_fine_bin_edges(
    scenario: Scenario, window: str, feature: str
) -> None:
    fine = _store_bins(scenario, window, feature)

    reached = np.cumsum(_group_shares(fine, scenario.reference[feature].to_numpy()))

    assert len(reached) == 10
    targets = np.linspace(0.1, 1.0, 10)
    assert np.all(reached >= targets - 1e-12)
    assert np.all(reached <= targets + fine.largest_share())


@pytest.mark.parametrize(("window", "feature"), CASES)
def test_numeric_psi_and_jensen_shannon_equal_the_hand_computation_on_those_groups(
    scenario: Scenario, window: str, feature: str
) -> None:
    fine = _store_bins(scenario, window, feature)
    ref = _group_shares(fine, scenario.reference[feature].to_numpy())
    cur = _group_shares(fine, scenario.windows[window][feature].to_numpy())
    # No value is missing, so the missing bucket is empty on both sides and adds nothing.
    floored_ref, floored_cur = np.maximum(ref, 1e-4), np.maximum(cur, 1e-4)
    hand_psi = np.sum((floored_cur - floored_ref) * np.log(floored_cur / floored_ref))

    logged = _as_logged(feature)
    assert _value(scenario, window, logged, "psi") == pytest.approx(hand_psi, rel=1e-9)
    assert _value(scenario, window, logged, "jensen_shannon") == pytest.approx(
        distance.jensenshannon(ref, cur), rel=1e-9
    )


@pytest.mark.parametrize(("window", "feature"), CASES)
def test_numeric_psi_and_jensen_shannon_are_close_to_those_on_exact_deciles(
    scenario: Scenario, window: str, feature: str
) -> None:
    raw_ref = scenario.reference[feature].to_numpy()
    ref = _decile_shares(raw_ref, raw_ref)
    cur = _decile_shares(raw_ref, scenario.windows[window][feature].to_numpy())

    logged = _as_logged(feature)
    assert _value(scenario, window, logged, "psi") == pytest.approx(
        np.sum((cur - ref) * np.log(cur / ref)), abs=0.005
    )
    assert _value(scenario, window, logged, "jensen_shannon") == pytest.approx(
        distance.jensenshannon(ref, cur), abs=0.005
    )


@pytest.mark.parametrize("window", MONTHS)
def test_psi_of_categories_matches_a_hand_computation_on_their_shares(
    scenario: Scenario, window: str
) -> None:
    ref = _category_counts(scenario.reference) / N_REF
    cur = _category_counts(scenario.windows[window]) / N_WINDOW
    expected = float(np.sum((cur - ref) * np.log(cur / ref)))

    assert _value(scenario, window, "c", "psi") == pytest.approx(expected, rel=1e-9)


def test_every_result_carries_its_method_threshold_and_verdict(scenario: Scenario) -> None:
    methods = scenario.drift.groupby("feature")["method"].apply(sorted).to_dict()

    assert methods == {
        "c": ["chi_square"] * 2 + ["jensen_shannon"] * 2 + ["psi"] * 2,
        **{
            f: ["jensen_shannon"] * 2 + ["ks"] * 2 + ["psi"] * 2 + ["wasserstein"] * 2
            for f in ("prediction", "x", "y")
        },
    }
    # Tests keep their significance level; a distance's threshold is the top of its usual
    # range or its minimum effect, whichever is higher.
    tests = scenario.drift[scenario.drift["method"].isin(["ks", "chi_square"])]
    assert tests["threshold"].unique().tolist() == [0.01]
    distances = scenario.drift[~scenario.drift["method"].isin(["ks", "chi_square"])]
    assert (
        distances["threshold"] == np.fmax(distances["usual_high"], distances["minimum_effect"])
    ).all()
    assert distances.groupby("method")["minimum_effect"].unique().map(list).to_dict() == {
        "jensen_shannon": [0.04],
        "psi": [0.02],
        "wasserstein": [0.05],
    }
    assert (distances["signal"] == (distances["value"] > distances["threshold"])).all()
    primary = scenario.drift[scenario.drift["primary"]]
    assert primary.groupby("feature")["method"].unique().map(list).to_dict() == {
        "c": ["jensen_shannon"],
        "prediction": ["wasserstein"],
        "x": ["wasserstein"],
        "y": ["wasserstein"],
    }
    assert scenario.drift["n"].unique().tolist() == [N_WINDOW]
