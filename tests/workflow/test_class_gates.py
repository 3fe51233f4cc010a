"""Release gates of a multiclass model, on a real store with real fitted models: its metrics,
every class probability reproduced, the same classes as production, value by the value matrix
against the live version, drift of its inputs, and review, sign-off and promotion end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.auth import Identity
from core.errors import InvalidInput
from core.ingest import ingest_labels, ingest_predictions
from core.monitoring.policy import update_settings
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.registry.artifacts import load_model
from core.registry.features import Feature
from core.store import Model, ModelVersion, Store
from core.value import business_case
from core.words import money
from core.workflow import class_gates, gates, lifecycle, model_card, promotion
from tests.conftest import copy_store
from tests.multiclass_cases import MulticlassCase, rotated_version, simulated_case

ENGINEER = Identity("erin", "ml_engineer")
OWNER = Identity("olga", "product_owner")
FEATURES = ["x1", "x2"]
# What deciding "predicted" is worth when "actual" holds: right calls gain, a missed high costs.
MATRIX = {
    ("low", "low"): 10.0, ("mid", "mid"): 20.0, ("high", "high"): 50.0,
    ("high", "low"): -200.0, ("high", "mid"): -80.0, ("low", "high"): -15.0,
}  # fmt: skip
VOLUME = 1000


def _register(store: Store, reference: Path, model_file: Path) -> None:
    register_version(store, spec=RegistrationSpec(
        model="levels", reference=reference, target="kind", prediction="predicted",
        task="multiclass", model_file=model_file, created_by="erin",
    ))  # fmt: skip


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> MulticlassCase:
    """Six days of 400 labelled rows of three classes, the inputs shifting."""
    return simulated_case(
        tmp_path_factory.mktemp("levels"), shift=2.0, concept_drift=False, windows=6
    )


@pytest.fixture(scope="module")
def rivals(tmp_path_factory: pytest.TempPathFactory, case: MulticlassCase) -> Store:
    """'levels' v1 (the case's model) with labelled traffic; v2 trained on classes moved one
    along (tests.multiclass_cases.rotated_version), so it decides worse; v3 the same model as
    v1; a value matrix and a volume of 1,000 decisions a month."""
    folder = tmp_path_factory.mktemp("class-gates")
    store = Store(folder / "store.duckdb", lock_wait_seconds=30)
    store.init()
    _register(store, case.reference, case.model_file)
    ingest_predictions(store, model="levels", files=[case.logs])
    ingest_labels(store, model="levels", files=[case.labels])
    _register(store, *rotated_version(case, folder / "rotated"))
    _register(store, case.reference, case.model_file)
    changes: dict[str, Any] = {business_case.cell_key(a, p): v for (a, p), v in MATRIX.items()}
    business_case.save(
        store, model="levels", changes={**changes, "volume_per_period": VOLUME}, by=OWNER
    )
    # A busy test machine must not decide approvals through the latency gate.
    update_settings(store, model="levels", changes={"gates.latency_budget_ms": 10_000}, by=OWNER)
    return store


def _versions(store: Store, *numbers: int | None) -> tuple[Model, list[ModelVersion | None]]:
    with store.read() as r:
        model = get_model(r, name="levels")
        return model, [
            None if n is None else get_version(r, model=model, version=n) for n in numbers
        ]


def _worth(actual: pd.Series, decided: Any) -> np.ndarray:
    return np.array([MATRIX.get((a, str(p)), 0.0) for a, p in zip(actual, decided, strict=True)])


# --- metrics --------------------------------------------------------------------------------


def _model(**settings: Any) -> Model:
    return Model(id=1, name="levels", task="multiclass", settings={"gates": settings})


def _version(version: int, metrics: dict[str, float], classes: list[str] = ()) -> ModelVersion:
    outputs = {
        "predicted": Feature("predicted", "categorical", "f_predicted").to_json(),
        "probabilities": [
            {"class": c, "feature": Feature(f"p_{c}", "numeric", f"f_p_{c}").to_json()}
            for c in classes
        ],
    }
    schema = {"features": [Feature("x1", "numeric", "f_x1").to_json()], "outputs": outputs}
    return ModelVersion(model_id=1, version=version, metrics=metrics, feature_schema=schema)


def test_the_metrics_gate_says_in_words_how_often_a_multiclass_model_decides_right() -> None:
    found = gates.metrics_gate(
        _model(), _version(2, {"accuracy": 0.9534, "macro_f1": 0.9412, "log_loss": 0.2}), None
    )

    assert (found.status, found.summary) == (
        "pass",
        "On its evaluation data it decides the right class 95 times in 100 and balances finding "
        "each class and not mistaking others for it at 0.941 out of 1, averaged over its classes "
        "(accuracy 0.953, macro F1 0.941).",
    )


def test_a_multiclass_candidate_below_the_minimum_macro_f1_fails() -> None:
    found = gates.metrics_gate(
        _model(min={"macro_f1": 0.9}), _version(2, {"accuracy": 0.9, "macro_f1": 0.62}), None
    )

    assert (found.status, found.summary) == (
        "fail",
        "Below the minimum set for release: macro F1 (the balance of finding each class and not "
        "mistaking others for it, averaged over the classes) is 0.62, and release needs at "
        "least 0.9.",
    )


def test_a_multiclass_candidate_worse_than_the_live_version_warns_naming_the_metric() -> None:
    found = gates.metrics_gate(
        _model(),
        _version(2, {"accuracy": 0.80, "macro_f1": 0.79}),
        _version(1, {"accuracy": 0.81, "macro_f1": 0.85}),
    )

    assert (found.status, found.numbers["difference"]) == ("warn", pytest.approx(-0.01))
    assert found.summary == (
        "On its own evaluation data it balances finding each class and not mistaking others for "
        "it at 0.79 out of 1, averaged over its classes; the live version balances finding each "
        "class and not mistaking others for it at 0.85 out of 1, averaged over its classes on its "
        "own (macro F1 0.790 against 0.850)."
    )


# --- compatibility --------------------------------------------------------------------------


def test_the_same_inputs_and_classes_as_production_are_compatible() -> None:
    classes = ["high", "low", "mid"]
    found = class_gates.compatibility_gate(_version(2, {}, classes), _version(1, {}, classes))

    assert (found.status, found.summary) == (
        "pass",
        "Same inputs, kinds and categories as production, and the same 3 classes.",
    )


def test_a_class_new_to_production_or_one_the_candidate_lacks_fails_compatibility() -> None:
    live = _version(1, {}, ["high", "low", "mid"])

    added = class_gates.compatibility_gate(_version(2, {}, ["high", "low", "mid", "top"]), live)
    dropped = class_gates.compatibility_gate(_version(2, {}, ["high", "low"]), live)

    assert (added.status, added.blocking, added.summary) == (
        "fail",
        True,
        "It decides between other classes than production (classes production does not "
        "decide: top).",
    )
    assert (dropped.numbers["new_classes"], dropped.numbers["missing_classes"]) == ([], ["mid"])
    assert dropped.summary == (
        "It decides between other classes than production (production's classes it cannot "
        "decide: mid)."
    )


# --- reproduction ---------------------------------------------------------------------------


def test_the_model_file_reproduces_every_class_probability_of_the_reference(
    rivals: Store,
) -> None:
    model, [candidate] = _versions(rivals, 2)
    with rivals.read() as r:
        found = class_gates.reproduction_gate(r, model=model, candidate=candidate)

    assert (found.status, found.blocking) == ("pass", True)
    assert found.numbers == {"rows": 2000, "differing": 0, "max_gap": found.numbers["max_gap"],
                             "classes": 3}  # fmt: skip
    assert found.numbers["max_gap"] < 1e-12
    assert found.summary == (
        "The model file reproduces all 3 class probabilities of the reference on 2,000 rows, so "
        "the version's metrics are this model's."
    )


def test_invented_class_probabilities_fail_the_reproduction_gate(
    store: Store, case: MulticlassCase, tmp_path: Path
) -> None:
    # Each row's probabilities moved one class along: they still sum to 1 and name a class.
    frame = pd.read_csv(case.reference)
    columns = [f"p_{c}" for c in case.classes]
    frame[columns] = frame[columns[1:] + columns[:1]].to_numpy()
    frame.to_csv(tmp_path / "claimed.csv", index=False)
    register_version(store, spec=RegistrationSpec(
        model="levels", reference=tmp_path / "claimed.csv", target="kind",
        prediction="predicted", task="multiclass", model_file=case.model_file,
    ))  # fmt: skip
    with store.read() as r:
        model = get_model(r, name="levels")
        found = class_gates.reproduction_gate(r, model=model, candidate=get_version(r, model=model))

    assert (found.status, found.blocking) == ("fail", True)
    assert found.numbers["differing"] == 2000
    assert found.summary.startswith(
        "The model file's class probabilities differ from the reference's on 2,000 of 2,000 rows"
    )


# --- kpi ------------------------------------------------------------------------------------


def _live_value(case: MulticlassCase, estimator: Any) -> float:
    """Value per month of ESTIMATOR's decisions on the case's labelled logs."""
    rows = case.logs_frame
    return float(_worth(rows["kind"], estimator.predict(rows[FEATURES])).mean() * VOLUME)


def test_a_multiclass_candidate_earning_less_than_the_live_version_fails(
    rivals: Store, case: MulticlassCase, tmp_path: Path
) -> None:
    model, [candidate, live] = _versions(rivals, 2, 1)
    assert candidate is not None
    rotated = load_model(
        Path(candidate.artifact_path or ""), expected_sha256=candidate.artifact_sha256
    )

    found = class_gates.kpi_gate(rivals, model=model, candidate=candidate, live=live)

    assert (found.name, found.status, found.blocking) == ("kpi", "fail", True)
    assert found.numbers["live"] == pytest.approx(_live_value(case, case.model))
    assert found.numbers["candidate"] == pytest.approx(_live_value(case, rotated))
    assert found.numbers["decisions"] == len(case.logs_frame) == 2400
    assert (found.numbers["unit"], found.numbers["per"]) == ("EUR", "per month")
    assert found.summary.startswith(
        "On the same 2,400 latest decisions with outcomes, v2 would earn "
    )
    assert " less per month than v1, each valued by the value matrix." in found.summary
    assert [row["Version"] for row in found.numbers["table"]] == ["v1", "v2"]


def test_the_same_model_as_live_earns_the_same_and_passes(
    rivals: Store, case: MulticlassCase
) -> None:
    model, [candidate, live] = _versions(rivals, 3, 1)

    found = class_gates.kpi_gate(rivals, model=model, candidate=candidate, live=live)

    assert found.status == "pass"
    assert (
        found.numbers["candidate"]
        == found.numbers["live"]
        == pytest.approx(_live_value(case, case.model))
    )


def test_with_nothing_live_a_multiclass_candidate_is_priced_on_its_reference(
    rivals: Store, case: MulticlassCase
) -> None:
    model, [candidate] = _versions(rivals, 1)
    reference = pd.read_csv(case.reference)

    found = class_gates.kpi_gate(rivals, model=model, candidate=candidate, live=None)

    expected = _worth(reference["kind"], reference["predicted"]).mean()
    figure = found.numbers["reference_figure"]
    assert found.status == "pass"
    assert figure["value_per_decision"] == pytest.approx(expected)
    assert figure["value_per_period"] == pytest.approx(expected * VOLUME)
    assert figure["with_outcomes"] == len(reference) == 4000
    logged = found.numbers["latest_figure"]
    assert logged["value_per_decision"] == pytest.approx(
        _worth(case.logs_frame["kind"], case.logs_frame["predicted"]).mean()
    )
    assert found.summary.startswith("Nothing is live yet to compare with. On its reference: ")
    assert "Measured on the 4,000 reference rows of v1 with outcomes" in found.summary


def test_without_a_value_matrix_the_kpi_gate_says_nothing_is_priced(
    store: Store, case: MulticlassCase
) -> None:
    _register(store, case.reference, case.model_file)
    model, [candidate] = _versions(store, 1)

    found = class_gates.kpi_gate(store, model=model, candidate=candidate, live=None)

    assert (found.status, found.numbers) == ("pass", {})
    assert found.summary == (
        "Nothing is live yet to compare with, and no value matrix says what a decision is worth."
    )


# --- drift, and the whole review ------------------------------------------------------------


def test_the_drift_gate_counts_a_multiclass_models_inputs_not_its_outputs(rivals: Store) -> None:
    model, [candidate, live] = _versions(rivals, 3, 1)
    with rivals.read() as r:
        found = gates.drift_gate(r, model=model, candidate=candidate, live=live)

    assert found.numbers["features"] == 2
    assert set(found.numbers["drifted"]) <= {"x1", "x2"}


def test_a_multiclass_version_goes_through_review_sign_off_and_promotion(
    rivals: Store, tmp_path: Path
) -> None:
    store = copy_store(rivals.path, tmp_path, lock_wait_seconds=30)
    first = lifecycle.request_review(store, model="levels", version=1, by=ENGINEER)
    lifecycle.sign(store, model="levels", version=1, by=OWNER, decision="approve", comment="ok")
    promotion.promote(store, model="levels", version=1, by=OWNER)
    worse = lifecycle.request_review(store, model="levels", version=2, by=ENGINEER)
    same = lifecycle.request_review(store, model="levels", version=3, by=ENGINEER)

    verdicts = {g["name"]: g["status"] for g in first.evidence["gates"]}
    assert verdicts == {
        "metrics": "pass", "reproduction": "pass", "compatibility": "pass", "kpi": "pass",
        "drift": verdicts["drift"], "latency": "pass", "explanations": "pass",
        "settings": "pass",
    }  # fmt: skip
    explained = next(g for g in first.evidence["gates"] if g["name"] == "explanations")
    assert explained["numbers"]["max_additivity_gap"] < 1e-9  # every class's probability
    assert {g["name"]: g["status"] for g in worse.evidence["gates"]}["kpi"] == "fail"
    with pytest.raises(InvalidInput) as refused:
        lifecycle.sign(store, model="levels", version=2, by=OWNER, decision="approve", comment="x")
    assert "blocking gates failed, so it cannot be approved: " in str(refused.value)
    assert "kpi (On the same 2,400 latest decisions with outcomes, v2 would earn" in str(
        refused.value
    )
    assert {g["name"]: g["status"] for g in same.evidence["gates"]}["kpi"] == "pass"
    lifecycle.sign(store, model="levels", version=3, by=OWNER, decision="approve", comment="same")
    done = promotion.promote(store, model="levels", version=3, by=OWNER)
    assert done == {"model": "levels", "version": 3, "archived": 1}


def test_the_model_card_of_a_multiclass_version_shows_its_classes_and_value_matrix(
    rivals: Store, case: MulticlassCase, tmp_path: Path
) -> None:
    from sklearn.metrics import precision_recall_fscore_support

    store = copy_store(rivals.path, tmp_path, lock_wait_seconds=30)
    lifecycle.request_review(store, model="levels", version=1, by=ENGINEER)
    lifecycle.sign(store, model="levels", version=1, by=OWNER, decision="approve", comment="ok")

    card = model_card.render(store, model="levels", version=1)

    reference = pd.read_csv(case.reference)
    precision, recall, _, _ = precision_recall_fscore_support(
        reference["kind"], reference["predicted"], labels=case.classes, zero_division=0
    )
    assert "<tr><th>Classes</th><td>high, low, mid</td></tr>" in card
    for name, p, r in zip(case.classes, precision, recall, strict=True):
        assert f"<tr><td>{name}</td><td>{p:.3f}</td><td>{r:.3f}</td></tr>" in card
    assert "<h2>Value matrix (EUR per decision)</h2>" in card
    assert "<tr><th>actually high</th><td>50.00</td><td>-200.00</td><td>-80.00</td></tr>" in card
    per_month = _worth(reference["kind"], reference["predicted"]).mean() * VOLUME
    assert f"<tr><th>On the reference</th><td>{money(per_month, 'EUR')} per month. " in card
    assert "Measured on the 4,000 reference rows of v1 with outcomes" in card
