"""The manager's view: earnings against target and baseline, health lights, what needs doing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.auth import Identity
from core.ingest import ingest_labels, ingest_predictions
from core.monitoring.policy import update_settings
from core.monitoring.windows import WindowSpec
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.registry.feature_metadata import FeatureInfo, Vocabulary
from core.store import Model, ModelVersion, Store
from core.value import business_case, kpi, overview
from tests.factories import Case

OWNER = Identity("olga", "product_owner")
ENGINEER = Identity("erin", "ml_engineer")
CASE = {
    "threshold": 0.5, "value_tp": 50, "value_fp": -10, "value_tn": 5, "value_fn": -100,
    "period": "W", "volume_per_period": 10_000, "target": 200_000,
    "baseline": "every case reviewed by hand", "baseline_value": 2,
}  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, regression_files: Case) -> Store:
    """Model 'm': calibrated scores over three weeks of March 2026, every request answered in
    40 ms, outcomes only for the first two weeks; model 'bare' without a business case;
    regression model 'loss' whose last 50 of 200 hourly decisions have no outcome yet."""
    folder = tmp_path_factory.mktemp("health")
    store = Store(folder / "store.duckdb", lock_wait_seconds=30)
    store.init()
    register_version(store, spec=RegistrationSpec(
        model="loss", reference=regression_files.reference, target="loss", prediction="predicted",
        task="regression",
    ))  # fmt: skip
    ingest_predictions(store, model="loss", files=[regression_files.logs])
    pd.read_csv(regression_files.labels).iloc[:150].to_csv(folder / "loss.csv", index=False)
    ingest_labels(store, model="loss", files=[folder / "loss.csv"])
    rng = np.random.default_rng(5)
    for name in ("m", "bare"):
        score = rng.uniform(0, 1, 3000)
        pd.DataFrame(
            {"x": rng.normal(0, 1, 3000), "score": score, "target": rng.random(3000) < score}
        ).astype({"target": int}).to_parquet(folder / f"{name}-ref.parquet")
        register_version(store, spec=RegistrationSpec(
            model=name, reference=folder / f"{name}-ref.parquet", target="target",
            prediction="score", task="binary",
        ))  # fmt: skip
    score = rng.uniform(0, 1, 2100)
    logs = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(2100)],
            "timestamp": pd.date_range("2026-03-02", "2026-03-22 23:00", periods=2100, tz="UTC"),
            "x": 0.0,
            "score": score,
            "latency_ms": 40.0,
        }
    )
    logs.to_parquet(folder / "logs.parquet")
    labelled = logs[logs["timestamp"] < "2026-03-16"].assign(
        target=lambda f: (rng.random(len(f)) < f["score"]).astype(int)
    )
    labelled[["request_id", "target"]].to_csv(folder / "labels.csv", index=False)
    ingest_predictions(store, model="m", files=[folder / "logs.parquet"])
    ingest_labels(store, model="m", files=[folder / "labels.csv"])
    business_case.save(store, model="m", changes=CASE, by=OWNER)
    return store


def _earnings(store: Store, name: str) -> overview.Earnings:
    with store.read() as r:
        model = get_model(r, name=name)
        return overview.earnings(r, model=model, version=get_version(r, model=model))


def test_without_a_business_case_the_overview_says_who_can_add_one(store: Store) -> None:
    found = _earnings(store, "bare")
    assert found.value is None and found.trend.empty
    assert found.sentence == (
        "No business case yet: a product owner can say what each decision is worth on the "
        "Business value page."
    )


def test_a_regression_model_without_costs_has_no_business_case_yet(store: Store) -> None:
    found = _earnings(store, "loss")
    assert found.value is None
    assert found.sentence.startswith("No business case yet")


def test_a_regression_period_without_outcomes_is_not_valued(store: Store) -> None:
    business_case.save(
        store, model="loss", changes={"cost_under": 2, "cost_over": 1, "period": "W"}, by=OWNER
    )

    found = _earnings(store, "loss")

    # Regression value needs outcomes; the newest week (2026-03-09) has none yet: the headline
    # is the latest week they measured, and says why.
    assert found.trend["realized_value_per_decision"].notna().tolist() == [True, True, False]
    assert found.figure is not None and found.figure.basis.kind == "realized"
    assert found.figure.basis.start == pd.Timestamp("2026-03-02") == found.trend["window_start"][1]
    assert found.label == "The week of 2 Mar 2026, measured"
    assert found.caveat == (
        "The outcomes of the week of 9 Mar 2026 are not in yet; without them the value of a "
        "regression model's decisions cannot be estimated."
    )


def test_this_periods_earnings_are_estimated_until_outcomes_arrive(store: Store) -> None:
    found = _earnings(store, "m")
    with store.read() as r:
        model = get_model(r, name="m")
        weekly = kpi.by_window(
            r, model=model, version=get_version(r, model=model), spec=WindowSpec.parse("W")
        )

    last = weekly.iloc[-1]
    assert found.figure is not None
    assert found.figure.basis.start == pd.Timestamp("2026-03-16") == last["window_start"]
    assert found.estimated is True and pd.isna(last["realized_value_per_decision"])
    assert found.value == pytest.approx(last["estimated_value_per_decision"] * 10_000)
    assert (found.target, found.baseline) == (200_000, 20_000)
    assert len(found.trend) == 3
    assert found.label == "The week of 16 Mar 2026, estimated"
    gap, gain = found.value - 200_000, found.value - 20_000
    assert found.sentence == (
        f"Estimated in the week of 16 Mar 2026: {found.figure.per_period_words()}, "
        f"{overview.money(abs(gap), 'EUR')} {'above' if gap >= 0 else 'below'} the target; "
        f"{overview.money(abs(gain), 'EUR')} {'more' if gain >= 0 else 'less'} than "
        "every case reviewed by hand. Estimated from the scores of 697 decisions of v1 in the "
        "week of 16 Mar 2026, no outcomes yet, EUR; per week at 10,000 decisions (the business "
        "case's volume)."
    )
    # Calibrated scores: the estimate held in both weeks whose outcomes are in.
    assert (
        found.caveat == "The estimate held when outcomes last checked it (the week of 9 Mar 2026)."
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3_456_789, "3.46 M EUR"),
        (25_400, "25 k EUR"),
        (9_999.4, "9,999 EUR"),
        (-1_234.4, "-1,234 EUR"),
        (-2_500_000, "-2.50 M EUR"),
        (None, "–"),
    ],
)
def test_money_reads_like_a_manager_would_say_it(value: float | None, text: str) -> None:
    assert overview.money(value, "EUR") == text


@pytest.mark.parametrize(
    ("slo", "status", "sentence"),
    [
        (200, "green", "95% of answers took under 40 ms (target 200 ms)."),
        (30, "amber", "Answers are slow: 95% under 40 ms, target 30 ms."),
        (15, "red", "Answers are slow: 95% under 40 ms, target 15 ms."),
    ],
)
def test_the_speed_light_compares_p95_latency_with_the_target(
    store: Store, slo: float, status: str, sentence: str
) -> None:
    update_settings(store, model="m", changes={"latency_slo_ms": slo}, by=ENGINEER)
    with store.read() as r:
        model = get_model(r, name="m")
        auc = get_version(r, model=model).metrics["roc_auc"]
        lights = {
            light.name: light
            for light in overview.lights(r, model=model, version=get_version(r, model=model))
        }

    assert list(lights) == ["Inputs", "Data quality", "Speed", "Accuracy"]
    assert (lights["Speed"].status, lights["Speed"].sentence) == (status, sentence)
    assert lights["Inputs"].status == "green"
    # No "AUC" for a manager: what it means, in words, from the version's own metric.
    assert lights["Accuracy"].sentence == (
        "Performance is in line with training, where it scores a real case above one that is "
        f"not {round(auc * 100)} times in 100."
    )


def _lights(store: Store, name: str) -> dict[str, overview.Light]:
    with store.read() as r:
        model = get_model(r, name=name)
        return {
            light.name: light
            for light in overview.lights(r, model=model, version=get_version(r, model=model))
        }


def test_the_speed_light_is_unknown_not_fine_when_the_logs_carry_no_latency(
    store: Store,
) -> None:
    speed = _lights(store, "loss")["Speed"]
    assert (speed.status, speed.sentence) == (
        overview.UNKNOWN,
        "No latency measured on 9 Mar 2026: log latency_ms with the predictions to watch speed.",
    )


def test_a_model_without_traffic_has_unknown_data_quality_and_speed(store: Store) -> None:
    lights = _lights(store, "bare")
    assert (lights["Data quality"].status, lights["Data quality"].sentence) == (
        overview.UNKNOWN,
        "No traffic has been logged yet.",
    )
    assert (lights["Speed"].status, lights["Speed"].sentence) == (
        overview.UNKNOWN,
        "No latency measurements yet: no requests are logged.",
    )


def _alert(kind: str, subject: str, since: str, severity: str = "medium") -> dict:
    return {"kind": kind, "subject": subject, "since": since, "severity": severity}


def test_input_drift_is_amber_and_red_once_the_scores_move_too() -> None:
    drifted = [
        _alert("drift", "income", "2026-03-10T00:00:00"),
        _alert("drift", "age", "2026-03-12T00:00:00"),
    ]
    words = Vocabulary(
        {"income": FeatureInfo("Annual income"), "age": FeatureInfo("Age")}, "", "", ""
    )
    amber = overview._drift_light(drifted, words)
    red = overview._drift_light(
        [*drifted, _alert("prediction_drift", "score", "2026-03-11")], words
    )

    # Dates and inputs as people read them, the inputs by their registered words.
    assert (amber.status, amber.sentence) == (
        "amber",
        "Inputs changed since 10 Mar 2026 (age, annual income).",
    )
    assert red.status == "red"
    assert red.sentence.endswith("(age, annual income) and the model's scores moved with them.")


def test_accuracy_is_red_when_outcomes_confirm_a_drop_and_amber_on_estimates_only() -> None:
    version = ModelVersion(model_id=1, version=1, metrics={"roc_auc": 0.8})
    model = Model(id=1, name="m", task="binary")
    confirmed = overview._performance_light(
        [_alert("performance", "roc_auc", "2026-03-09T00:00:00", "high")], version, model
    )
    estimated = overview._performance_light(
        [_alert("performance", "roc_auc", "2026-03-09T00:00:00")], version, model
    )
    assert (confirmed.status, estimated.status) == ("red", "amber")
    assert "worse since 9 Mar 2026; retraining is recommended" in confirmed.sentence


def test_waiting_versions_are_listed_for_attention(store: Store) -> None:
    with store.read() as r:
        before = overview.attention(r, model=get_model(r, name="bare"))
    assert before == ["Version 1 is registered and not yet in review."]
    with store.write() as w:
        version = get_version(w, model=get_model(w, name="bare"))
        version.stage = "approved"
        w.session.add(version)
    with store.read() as r:
        assert overview.attention(r, model=get_model(r, name="bare")) == [
            "Version 1 is approved and ready to go live."
        ]
