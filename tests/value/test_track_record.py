"""Label-free estimates held to account: on calibrated scores the estimate holds and leads the
headline; once outcomes stop following the scores (concept drift) it is called unreliable and
the headline shows the latest measured period instead, saying why."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.auth import Identity
from core.ingest import ingest_labels, ingest_predictions
from core.monitoring.windows import WindowSpec
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.store import Store
from core.value import business_case, figures, kpi, track_record

OWNER = Identity("olga", "product_owner")
CASE = {"threshold": 0.3, "value_tp": 40.0, "value_fp": -7.5, "value_tn": 2.0, "value_fn": -90.0,
        "period": "M", "volume_per_period": 10_000, "unit": "EUR"}  # fmt: skip
PER_MONTH = 3000
MONTHS = ("2026-01-01", "2026-02-01", "2026-03-01")


def _model(store: Store, folder: Path, name: str, drifted: bool, seed: int) -> None:
    """NAME: a calibrated reference of 4,000 rows and 3,000 decisions in each of January to
    March 2026, with outcomes for January and February. DRIFTED: from February on, outcomes
    no longer follow the scores (every case defaults with probability 0.5 whatever its
    score)."""
    rng = np.random.default_rng(seed)
    score = rng.uniform(0, 1, 4000)
    pd.DataFrame(
        {"x": rng.normal(0, 1, 4000), "score": score, "target": (rng.random(4000) < score)}
    ).astype({"target": int}).to_parquet(folder / f"{name}-ref.parquet")
    register_version(store, spec=RegistrationSpec(
        model=name, reference=folder / f"{name}-ref.parquet", target="target", prediction="score",
        task="binary",
    ))  # fmt: skip
    frames = []
    for month, start in enumerate(MONTHS):
        score = rng.uniform(0, 1, PER_MONTH)
        p = np.full(PER_MONTH, 0.5) if drifted and month >= 1 else score
        frames.append(
            pd.DataFrame(
                {
                    "timestamp": pd.date_range(start, periods=PER_MONTH, freq="10min", tz="UTC"),
                    "score": score,
                    "target": np.where(month < 2, rng.random(PER_MONTH) < p, np.nan),
                }
            )
        )
    logs = pd.concat(frames, ignore_index=True)
    logs["request_id"] = [f"{name}-{i}" for i in range(len(logs))]
    logs["x"] = 0.0
    logs.drop(columns="target").to_parquet(folder / f"{name}-logs.parquet")
    labelled = logs[logs["target"].notna()].astype({"target": int})
    labelled[["request_id", "target"]].to_csv(folder / f"{name}-labels.csv", index=False)
    ingest_predictions(store, model=name, files=[folder / f"{name}-logs.parquet"])
    ingest_labels(store, model=name, files=[folder / f"{name}-labels.csv"])
    business_case.save(store, model=name, changes=CASE, by=OWNER)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Model 'steady' (outcomes follow the scores) and model 'shifted' (concept drift from
    February)."""
    folder = tmp_path_factory.mktemp("track-record")
    store = Store(folder / "store.duckdb", lock_wait_seconds=30)
    store.init()
    _model(store, folder, "steady", drifted=False, seed=3)
    _model(store, folder, "shifted", drifted=True, seed=4)
    return store


def _headline(store: Store, name: str) -> figures.Headline:
    with store.read() as r:
        model = get_model(r, name=name)
        return figures.headline(r, model=model, version=get_version(r, model=model))


def test_without_concept_drift_the_estimate_holds_and_leads_the_headline(store: Store):
    found = _headline(store, "steady")

    track = found.track
    assert track.status == track_record.RELIABLE and not track.misses
    assert [c.when for c in track.checks] == ["Jan 2026", "Feb 2026"]
    for check in track.checks:
        assert check.with_outcomes == PER_MONTH
        assert abs(check.estimated - check.measured) <= check.tolerance
    assert found.figure is not None and found.figure is found.estimate
    assert found.figure.basis.kind == figures.ESTIMATED and found.current
    assert found.label == "Mar 2026, estimated"
    assert found.sentence == "The estimate held when outcomes last checked it (Feb 2026)."


def test_under_concept_drift_the_estimate_is_unreliable_and_the_headline_is_measured(
    store: Store,
):
    found = _headline(store, "shifted")

    track = found.track
    assert track.status == track_record.UNRELIABLE
    [january, february] = track.checks
    assert not january.missed
    assert february.missed and track.misses == (february,)
    # Half the cases let through default: the estimate is far too high.
    assert february.estimated - february.measured > 3 * february.tolerance
    # The headline is February's measured value, not March's estimate, and says why.
    assert found.figure is not None and found.figure.basis.kind == figures.REALIZED
    assert found.label == "Feb 2026, measured" and not found.current
    assert found.figure.value_per_decision == pytest.approx(february.measured)
    assert found.figure.value_per_period == pytest.approx(february.measured * 10_000)
    assert found.estimate is not None and found.estimate.basis.when == "Mar 2026"
    assert found.sentence.startswith(
        "The estimate from the scores is unreliable: in Feb 2026 it missed what the outcomes "
        "measured by more than its margin of error: in Feb 2026 it said "
    )
    assert found.sentence.endswith(
        "Likely reason: the outcomes no longer follow the inputs as they did in training "
        "(concept drift), so scores no longer say what a decision will earn."
    )


def test_the_estimate_is_judged_on_the_decisions_whose_outcomes_are_in(store: Store):
    with store.read() as r:
        model = get_model(r, name="shifted")
        version = get_version(r, model=model)
        windows = kpi.by_window(r, model=model, version=version, spec=WindowSpec.parse("M"))
        track = figures.track_record(r, model=model, version=version)

    checked = windows[windows["measured"]]
    assert [c.estimated for c in track.checks] == pytest.approx(
        checked["checked_estimate_value_per_decision"].tolist()
    )
    assert [c.measured for c in track.checks] == pytest.approx(
        checked["realized_value_per_decision"].tolist()
    )
    # March has no outcomes: it is estimated, never judged.
    assert windows["measured"].tolist() == [True, True, False]


def test_a_period_with_few_outcomes_is_neither_measured_nor_judged() -> None:
    class Binary:
        task = "binary"
        settings = {"business_case": CASE}

    model = Binary()
    assert not kpi.enough_outcomes(model, kpi.MIN_OUTCOMES - 1, 0.0, 1.0)  # type: ignore[arg-type]
    # ±0.05 of the 130 EUR between the best and the worst decision: wide enough to count.
    assert kpi.enough_outcomes(model, 500, 10.0, 10.0 + 2 * 6.5)  # type: ignore[arg-type]
    assert not kpi.enough_outcomes(model, 500, 10.0, 10.0 + 2 * 6.6)  # type: ignore[arg-type]
