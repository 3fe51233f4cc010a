"""Release gates: each verdict with its numbers, and which of them block approval."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from core.auth import Identity
from core.errors import InvalidInput
from core.ingest import ingest_labels, ingest_predictions
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.registry.features import Feature
from core.store import Model, ModelVersion, Store
from core.value import business_case, figures
from core.words import money
from core.workflow import gates, latency, lifecycle
from tests.factories import FEATURES, Case

OWNER = Identity("olga", "product_owner")
CASE = {"threshold": 0.2, "value_tp": -150, "value_fp": 60, "value_tn": 300, "value_fn": -2500}


def _model(task: str = "binary", **settings: Any) -> Model:
    return Model(id=1, name="credit", task=task, settings={"gates": settings})


def _version(
    version: int = 2, metrics: dict | None = None, features: list[Feature] | None = None, **more
) -> ModelVersion:
    schema = {"features": [f.to_json() for f in features or []]}
    return ModelVersion(
        model_id=1, version=version, metrics=metrics or {}, feature_schema=schema, **more
    )


def _numeric(name: str) -> Feature:
    return Feature(name, "numeric", f"f_{name}")


def _categorical(name: str, *categories: str) -> Feature:
    return Feature(name, "categorical", f"f_{name}", categories=list(categories))


# --- metrics --------------------------------------------------------------------------------


def test_a_metric_below_its_configured_minimum_fails() -> None:
    found = gates.metrics_gate(
        _model(min={"roc_auc": 0.9, "recall": 0.1}),
        _version(metrics={"roc_auc": 0.75, "recall": 0.4}),
        None,
    )
    assert (found.name, found.status, found.blocking) == ("metrics", "fail", True)
    assert found.summary == (
        "Below the minimum set for release: AUC (how often a real case scores above one that "
        "is not) is 0.75, and release needs at least 0.9."
    )
    assert found.numbers == {"candidate": {"roc_auc": 0.75, "recall": 0.4}, "live": None}


def test_the_metrics_gate_says_in_words_how_good_each_version_is() -> None:
    passed = gates.metrics_gate(_model(), _version(metrics={"roc_auc": 0.8234}), None)
    assert passed.summary == (
        "On its evaluation data it scores a real case above one that is not 82 times in 100 "
        "(AUC 0.823)."
    )
    worse = gates.metrics_gate(
        _model("regression"), _version(metrics={"rmse": 5.0}), _version(1, {"rmse": 4.0})
    )
    assert (worse.status, worse.summary) == (
        "warn",
        "On its own evaluation data it has a typical error of 5; the live version has a typical "
        "error of 4 on its own (RMSE 5.000 against 4.000).",
    )


def test_a_configured_metric_the_version_lacks_fails() -> None:
    found = gates.metrics_gate(_model(min={"roc_auc": 0.5}), _version(metrics={}), None)
    assert (found.status, found.summary) == (
        "fail",
        "Below the minimum set for release: AUC (how often a real case scores above one that "
        "is not) was not measured, and release needs at least 0.5.",
    )


@pytest.mark.parametrize(
    ("task", "mine", "theirs", "status"),
    [
        ("binary", {"roc_auc": 0.70}, {"roc_auc": 0.75}, "warn"),  # 0.05 worse, over 2 %
        ("binary", {"roc_auc": 0.74}, {"roc_auc": 0.75}, "pass"),  # 0.01 worse, within 2 %
        ("binary", {"roc_auc": 0.80}, {"roc_auc": 0.75}, "pass"),
        ("regression", {"rmse": 110.0}, {"rmse": 100.0}, "warn"),  # lower is better
        ("regression", {"rmse": 90.0}, {"rmse": 100.0}, "pass"),
    ],
)
def test_without_minimums_the_candidate_is_compared_with_the_live_version(
    task: str, mine: dict, theirs: dict, status: str
) -> None:
    found = gates.metrics_gate(_model(task), _version(metrics=mine), _version(1, theirs))
    [key] = mine
    better_high = key == "roc_auc"
    assert found.status == status
    assert found.numbers["difference"] == pytest.approx(
        (mine[key] - theirs[key]) if better_high else (theirs[key] - mine[key])
    )


# --- compatibility --------------------------------------------------------------------------


def test_with_nothing_live_the_candidate_is_compatible() -> None:
    found = gates.compatibility_gate(_version(features=[_numeric("income")]), None)
    assert (found.status, found.summary) == ("pass", "Nothing is live yet to be compatible with.")


def test_an_input_production_lacks_or_a_changed_kind_fails() -> None:
    live = _version(1, features=[_numeric("income"), _categorical("segment", "retail")])
    candidate = _version(features=[_numeric("income"), _numeric("segment"), _numeric("age")])

    found = gates.compatibility_gate(candidate, live)

    assert found.status == "fail"
    assert found.numbers["missing"] == ["age"]
    assert found.numbers["kind_changed"] == ["segment (categorical → numeric)"]
    assert found.summary.endswith("age, segment (categorical → numeric)")


def test_production_categories_new_to_the_candidate_warn() -> None:
    live = _version(1, features=[_categorical("segment", "retail", "sme", "corporate")])
    candidate = _version(features=[_categorical("segment", "retail")])

    found = gates.compatibility_gate(candidate, live)

    assert found.status == "warn"
    assert found.numbers["unknown_to_candidate"] == {"segment": ["corporate", "sme"]}
    assert "segment: corporate, sme" in found.summary


def test_the_same_inputs_are_compatible() -> None:
    features = [_numeric("income"), _categorical("segment", "retail", "sme")]
    found = gates.compatibility_gate(_version(features=features), _version(1, features=features))
    assert found.status == "pass"


# --- which gates block ----------------------------------------------------------------------


def test_metrics_reproduction_compatibility_kpi_and_latency_block_by_default() -> None:
    assert gates.blocking_names(_model()) == (
        "metrics", "reproduction", "compatibility", "kpi", "latency",
    )  # fmt: skip
    assert gates.blocking_names(_model(blocking=["drift"])) == ("drift",)


# --- latency --------------------------------------------------------------------------------


def _with_file(binary_files: Case) -> ModelVersion:
    return _version(
        features=[_numeric("income"), _numeric("debt ratio"), _categorical("segment")],
        artifact_path=str(binary_files.model_file),
        artifact_sha256=hashlib.sha256(binary_files.model_file.read_bytes()).hexdigest(),
    )


def test_latency_over_the_budget_fails_with_its_p95(binary_files: Case) -> None:
    found = latency.latency_gate(
        _model(latency_budget_ms=0.001), _with_file(binary_files), binary_files.frame
    )
    assert found.status == "fail"
    assert found.numbers["rows"] == 50 and found.numbers["budget_ms"] == 0.001
    assert found.numbers["rounds"] == latency.LATENCY_ROUNDS
    assert found.numbers["p95_ms"] > found.numbers["p50_ms"] * 0.5 > 0.0005
    assert found.summary.endswith("(p95, best of 3 rounds of 50), over the 0 ms budget.")


def test_latency_within_the_default_budget_passes(binary_files: Case) -> None:
    found = latency.latency_gate(_model(), _with_file(binary_files), binary_files.frame)
    assert found.status == "pass"
    assert found.numbers["budget_ms"] == latency.DEFAULT_LATENCY_BUDGET_MS
    assert found.numbers["rounds"] == 1


class _Timed:
    """A predict function whose calls sleep as SLOW says (call number -> seconds)."""

    def __init__(self, slow: Any) -> None:
        self.slow, self.calls, self.threads = slow, 0, set()

    def __call__(self, row: pd.DataFrame) -> None:
        from threadpoolctl import threadpool_info

        self.threads |= {lib["num_threads"] for lib in threadpool_info()}
        time.sleep(self.slow(self.calls))
        self.calls += 1


ROWS = pd.DataFrame({"x": range(20)})


def test_first_calls_are_not_timed_and_the_model_runs_on_one_thread() -> None:
    predict = _Timed(lambda call: 0.3 if call < 4 else 0.0)  # lazy set-up in the first calls

    p95, timings, rounds = latency.one_row_p95(predict, ROWS, budget_ms=50)

    assert (rounds, len(timings), predict.calls) == (1, 20, 5 + 20)
    assert p95 < 50
    assert predict.threads <= {1}


def test_a_busy_moment_is_measured_again_and_the_best_round_counts() -> None:
    predict = _Timed(lambda call: 0.06 if 5 <= call < 25 else 0.0)  # the first round is slow

    p95, timings, rounds = latency.one_row_p95(predict, ROWS, budget_ms=50)

    assert (rounds, predict.calls) == (2, 5 + 40)
    assert p95 < 50 and max(timings) < 50


def test_a_model_slower_than_the_budget_fails_every_round() -> None:
    predict = _Timed(lambda call: 0.02)

    p95, timings, rounds = latency.one_row_p95(predict, ROWS, budget_ms=5)

    assert (rounds, predict.calls) == (latency.LATENCY_ROUNDS, 5 + 20 * latency.LATENCY_ROUNDS)
    assert p95 >= 20 and min(timings) >= 20


def test_without_a_model_file_latency_is_unknown() -> None:
    found = latency.latency_gate(_model(), _version(), pd.DataFrame())
    assert (found.status, found.summary) == (
        "warn",
        "No model file registered: serving time unknown.",
    )


# --- KPI against the live version, on the same decisions ------------------------------------


@pytest.fixture(scope="module")
def rivals(tmp_path_factory: pytest.TempPathFactory, binary_files: Case) -> Store:
    """'credit' v1 (the factory model, with labelled traffic) and v2 trained on inverted
    outcomes, so it ranks good customers as risky; the demo's business case."""
    from sklearn.base import clone

    folder = tmp_path_factory.mktemp("gates")
    store = Store(folder / "store.duckdb", lock_wait_seconds=30)
    store.init()
    register_version(store, spec=RegistrationSpec(
        model="credit", reference=binary_files.reference, target="defaulted", prediction="score",
        model_file=binary_files.model_file,
    ))  # fmt: skip
    ingest_predictions(store, model="credit", files=[binary_files.logs])
    ingest_labels(store, model="credit", files=[binary_files.labels])
    reference = pd.read_csv(binary_files.reference)
    inverted = clone(binary_files.model).fit(reference[FEATURES], 1 - reference["defaulted"])
    sio.dump(inverted, folder / "inverted.skops")
    reference.assign(score=inverted.predict_proba(reference[FEATURES])[:, 1]).to_csv(
        folder / "inverted.csv", index=False
    )
    register_version(store, spec=RegistrationSpec(
        model="credit", reference=folder / "inverted.csv", target="defaulted", prediction="score",
        model_file=folder / "inverted.skops",
    ))  # fmt: skip
    business_case.save(store, model="credit", changes={**CASE, "volume_per_period": 1000}, by=OWNER)
    return store


def _kpi_gate(store: Store, candidate: int, live: int | None) -> gates.Gate:
    with store.read() as r:
        model = get_model(r, name="credit")
        return gates.kpi_gate(
            store,
            model=model,
            candidate=get_version(r, model=model, version=candidate),
            live=None if live is None else get_version(r, model=model, version=live),
        )


def _value_per_period(binary_files: Case, estimator: Any) -> float:
    """The demo case's value of ESTIMATOR's decisions on the labelled factory logs."""
    labels = pd.read_csv(binary_files.labels)
    rows = binary_files.frame.merge(labels, on="request_id")
    flagged = estimator.predict_proba(rows[FEATURES])[:, 1] >= CASE["threshold"]
    y = rows["defaulted"].to_numpy() == 1
    cells = np.where(
        flagged,
        np.where(y, CASE["value_tp"], CASE["value_fp"]),
        np.where(y, CASE["value_fn"], CASE["value_tn"]),
    )
    return float(cells.mean() * 1000)


def test_a_candidate_earning_less_than_the_live_version_fails(
    rivals: Store, binary_files: Case
) -> None:
    found = _kpi_gate(rivals, candidate=2, live=1)

    assert (found.status, found.blocking) == ("fail", True)
    assert found.numbers["decisions"] == len(pd.read_csv(binary_files.labels))
    assert found.numbers["live"] == pytest.approx(
        _value_per_period(binary_files, binary_files.model)
    )
    assert found.numbers["candidate"] < found.numbers["live"]
    lost = found.numbers["live"] - found.numbers["candidate"]
    assert (found.numbers["unit"], found.numbers["per"]) == ("EUR", "per month")
    n = found.numbers["decisions"]
    assert found.summary.startswith(
        f"On the same {n:,} latest decisions with outcomes, v2 would earn {money(lost, 'EUR')} "
        f"less per month than v1 at the current threshold. Measured on the {n:,} latest "
        "decisions of v1 with outcomes, from "
    )
    assert found.summary.endswith(
        ", EUR; per month at 1,000 decisions (the business case's volume)."
    )


def test_the_kpi_tolerance_forgives_a_smaller_loss(rivals: Store) -> None:
    loss = _kpi_gate(rivals, candidate=2, live=1).numbers
    share = (loss["live"] - loss["candidate"]) / abs(loss["live"])
    with rivals.write() as w:
        model = get_model(w, name="credit")
        model.settings = {**model.settings, "gates": {"kpi_tolerance": share * 1.01}}
        w.session.add(model)

    assert _kpi_gate(rivals, candidate=2, live=1).status == "pass"


def test_the_kpi_gate_passes_when_nothing_is_live_and_warns_without_labels(rivals: Store):
    nothing_live = _kpi_gate(rivals, candidate=2, live=None)
    with rivals.read() as r:
        model = get_model(r, name="credit")
        reference = figures.reference(
            r, model=model, version=get_version(r, model=model, version=2)
        )
    # Nothing to compare with, yet priced by the business case on its reference (issue 18).
    assert (nothing_live.status, nothing_live.summary) == (
        "pass",
        f"Nothing is live yet to compare with. On its reference: "
        f"{reference.per_period_words()}. {reference.basis.words()} No decisions have been "
        "logged yet.",
    )
    assert nothing_live.numbers["reference_figure"] == reference.record()
    assert nothing_live.numbers["latest_figure"] is None
    found = _kpi_gate(rivals, candidate=1, live=2)  # v2 has logged nothing
    assert found.status == "warn"
    assert found.summary == "Not compared in money: no labelled production decisions for v2 yet"


def test_evaluate_marks_exactly_the_configured_gates_as_blocking(rivals: Store) -> None:
    with rivals.write() as w:
        model = get_model(w, name="credit")
        model.settings = {**model.settings, "gates": {"blocking": ["drift", "explanations"]}}
        w.session.add(model)
    with rivals.read() as r:
        model = get_model(r, name="credit")
        found, samples = gates.evaluate(
            rivals,
            w=r,
            model=model,
            candidate=get_version(r, model=model, version=2),
            live=get_version(r, model=model, version=1),
        )

    assert [(g.name, g.blocking) for g in found] == [
        ("metrics", False),
        ("reproduction", False),
        ("compatibility", False),
        ("kpi", False),
        ("drift", True),
        ("latency", False),
        ("explanations", True),
    ]
    assert {g.status for g in found} <= {"pass", "warn", "fail"}
    assert len(samples) == 3
    assert [g for g in found if g.name == "kpi"][0].status == "fail"
    with rivals.read() as r:
        metrics = get_version(r, model=get_model(r, name="credit"), version=2).metrics
    assert gates.as_dict(found[0])["numbers"]["candidate"] == metrics


def test_no_traffic_means_no_drift_to_block_on(rivals: Store) -> None:
    with rivals.read() as r:
        model = get_model(r, name="credit")
        found = gates.drift_gate(
            r, model=model, candidate=get_version(r, model=model, version=2), live=None
        )
    assert (found.status, found.summary) == ("pass", "No production traffic to compare with yet.")


def test_the_money_gate_of_a_regression_model_is_not_applicable_rather_than_passed(
    tmp_path: Path, regression_files: Case
) -> None:
    # A tester read "pass kpi (blocking)" for a regression model the money check never ran on.
    store = Store(tmp_path / "store.duckdb")
    store.init()
    register_version(store, spec=RegistrationSpec(
        model="loss", reference=regression_files.reference, target="loss", prediction="predicted",
        model_file=regression_files.model_file,
    ))  # fmt: skip
    with store.read() as r:
        model = get_model(r, name="loss")
        found, _ = gates.evaluate(
            store, w=r, model=model, candidate=get_version(r, model=model, version=1), live=None
        )

    [kpi] = [g for g in found if g.name == "kpi"]
    assert (kpi.status, kpi.blocking) == ("n/a", True)
    assert kpi.summary.startswith("Not compared in money")


# --- reproduction: the metrics are the model file's ---------------------------------------------


def _registered_with_scores(store: Store, binary_files: Case, folder: Path, scores: Any) -> Any:
    reference = pd.read_csv(binary_files.reference).assign(score=scores)
    reference.to_csv(folder / "claimed.csv", index=False)
    return register_version(store, spec=RegistrationSpec(
        model="credit", reference=folder / "claimed.csv", target="defaulted", prediction="score",
        model_file=binary_files.model_file,
    ))  # fmt: skip


def _reproduction(store: Store) -> gates.Gate:
    with store.read() as r:
        model = get_model(r, name="credit")
        return gates.reproduction_gate(r, model=model, candidate=get_version(r, model=model))


def test_invented_perfect_scores_fail_the_blocking_reproduction_gate(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    # A reference whose prediction column is the outcome itself: AUC 1.000 for any model file.
    outcomes = pd.read_csv(binary_files.reference)["defaulted"].astype(float)

    registered = _registered_with_scores(store, binary_files, tmp_path, outcomes)
    found = _reproduction(store)

    assert registered.metrics["roc_auc"] == 1.0
    assert (found.name, found.status, found.blocking) == ("reproduction", "fail", True)
    assert found.numbers["rows"] == len(outcomes)
    assert found.numbers["differing"] > len(outcomes) // 2
    assert found.summary.startswith(
        f"The model file's scores differ from the reference's prediction column on "
        f"{found.numbers['differing']:,} of {len(outcomes):,} rows, by up to 0."
    )
    assert found.summary.endswith("the version's metrics were not produced by this model file.")
    assert registered.warnings == [
        f"{found.summary} Check --model-file and --prediction; the review's reproduction gate "
        "fails until they match."
    ]
    review = lifecycle.request_review(
        store, model="credit", version=1, by=Identity("erin", "ml_engineer")
    )
    frozen = {g["name"]: g for g in review.evidence["gates"]}
    assert frozen["metrics"]["status"] == "pass"
    assert frozen["reproduction"]["summary"] == found.summary
    with pytest.raises(InvalidInput) as refused:
        lifecycle.sign(
            store, model="credit", version=1, by=OWNER, decision="approve", comment="AUC 1.0!"
        )
    assert "blocking gates failed, so it cannot be approved: reproduction (" in str(refused.value)


def test_the_model_files_own_scores_pass_the_reproduction_gate(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    frame = pd.read_csv(binary_files.reference)
    own = binary_files.model.predict_proba(frame[FEATURES])[:, 1]

    registered = _registered_with_scores(store, binary_files, tmp_path, own)
    found = _reproduction(store)

    assert registered.warnings == []
    assert (found.status, found.numbers["differing"]) == ("pass", 0)
    assert found.numbers["max_gap"] < 1e-12
    assert found.summary == (
        f"The model file reproduces the reference's scores on {len(frame):,} rows, so the "
        "version's metrics are this model's."
    )


def test_without_a_model_file_the_scores_cannot_be_checked_and_the_gate_warns() -> None:
    found = gates.reproduction_gate(None, model=_model(), candidate=_version())  # type: ignore[arg-type]

    assert (found.status, found.blocking) == ("warn", True)
    assert found.summary.startswith("No model file: the reference's scores")
