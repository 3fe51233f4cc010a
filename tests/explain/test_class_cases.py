"""A multiclass model's decisions explained from the store: reasons for the predicted class
or any other, every class's probability, a what-if's moves, and the model's importance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

from core.errors import InvalidInput
from core.explain import explainer_for
from core.explain.cases import explain_case, explain_values
from core.explain.class_probabilities import probability_moves
from core.explain.global_importance import global_importance, importance_over_time
from core.ingest import ingest_predictions
from core.registry import (
    RegistrationSpec,
    get_model,
    get_version,
    reference_frame,
    register_version,
)
from core.store import Store
from tests.multiclass_cases import MulticlassCase, bundled_case

CLASSES = ["setosa", "versicolor", "virginica"]


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> MulticlassCase:
    """An iris forest: half the flowers as reference, half as logged traffic."""
    return bundled_case(
        tmp_path_factory.mktemp("iris"),
        data="iris",
        model=RandomForestClassifier(30, max_depth=4, random_state=0),
    )


@pytest.fixture(scope="module")
def store(iris: MulticlassCase, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A store with the iris forest registered and its traffic logged."""
    s = Store(tmp_path_factory.mktemp("store") / "store.duckdb", lock_wait_seconds=10)
    s.init()
    register_version(
        s,
        spec=RegistrationSpec(
            model="iris", reference=iris.reference, target="kind", prediction="predicted",
            task="multiclass", model_file=iris.model_file,
        ),
    )  # fmt: skip
    ingest_predictions(s, model="iris", files=[iris.logs])
    return s


def least_sure(iris: MulticlassCase) -> pd.Series:
    """The logged flower the forest was least sure about (its classes closest)."""
    logged = iris.logs_frame
    return logged.loc[logged[[f"p_{c}" for c in CLASSES]].max(axis=1).idxmin()]


def test_a_case_is_explained_for_its_predicted_class_with_every_class_probability(
    store: Store, iris: MulticlassCase
) -> None:
    row = least_sure(iris)

    case = explain_case(store, model="iris", request_id=row["request_id"])

    assert case.classes is not None
    assert case.classes.probabilities == pytest.approx(
        {c: row[f"p_{c}"] for c in CLASSES}, abs=1e-12
    )
    assert list(case.classes.probabilities) == CLASSES
    assert case.classes.predicted == case.classes.explained == row["predicted"]
    e = case.explanation
    assert e.method == "tree" and e.units == "probability"
    assert e.output == pytest.approx(row[f"p_{row['predicted']}"], abs=1e-12)
    assert abs(e.base_value + sum(e.contributions.values()) - e.output) <= 1e-9
    assert case.reasons and all(
        f"the probability of {row['predicted']} by" in r.sentence for r in case.reasons
    )
    data = case.as_dict()
    assert (data["class"], data["predicted_class"]) == (row["predicted"], row["predicted"])
    assert data["probabilities"] == case.classes.probabilities
    assert case.threshold is None and case.counterfactual is None


def test_any_other_class_is_explained_on_request_and_the_classes_contributions_cancel(
    store: Store, iris: MulticlassCase
) -> None:
    row = least_sure(iris)
    others = [c for c in CLASSES if c != row["predicted"]]

    cases = {
        c: explain_case(store, model="iris", request_id=row["request_id"], class_=c) for c in others
    }
    cases[row["predicted"]] = explain_case(store, model="iris", request_id=row["request_id"])

    for c in others:
        case = cases[c]
        assert case.classes is not None
        assert (case.classes.explained, case.classes.predicted) == (c, row["predicted"])
        assert case.explanation.output == pytest.approx(row[f"p_{c}"], abs=1e-12)
        total = case.explanation.base_value + sum(case.explanation.contributions.values())
        assert total == pytest.approx(row[f"p_{c}"], abs=1e-9)
        assert all(f"the probability of {c} by" in r.sentence for r in case.reasons)
        assert case.similar["text"].endswith(f"were {c}.")
    for name in cases[others[0]].explanation.contributions:
        # the three probabilities always sum to 1: an input moves them by amounts summing to 0
        assert abs(sum(cases[c].explanation.contributions[name] for c in CLASSES)) <= 1e-9
    spelled = explain_case(store, model="iris", request_id=row["request_id"], class_="SETOSA")
    assert spelled.classes is not None and spelled.classes.explained == "setosa"


def test_a_class_the_model_does_not_have_is_refused_naming_its_classes(store: Store) -> None:
    with pytest.raises(InvalidInput) as refused:
        explain_case(store, model="iris", request_id="r-00001", class_="rose")

    assert str(refused.value) == (
        "'iris' has no class 'rose'; its classes are setosa, versicolor, virginica"
    )


def test_a_what_if_gives_how_every_class_probability_moves(
    store: Store, iris: MulticlassCase
) -> None:
    row = least_sure(iris)
    before = explain_case(store, model="iris", request_id=row["request_id"])
    values = {**before.explanation.values, "petal length (cm)": 1.5, "petal width (cm)": 0.2}

    after = explain_values(store, model="iris", values=values, version=1)

    assert before.classes is not None and after.classes is not None
    features = list(before.explanation.values)
    want = iris.model.predict_proba(pd.DataFrame([values])[features])[0]  # type: ignore[attr-defined]
    moves = probability_moves(before.classes, after.classes)
    assert moves["class"].tolist() == CLASSES
    assert moves["after"].tolist() == pytest.approx(list(want), abs=1e-12)
    assert moves["before"].tolist() == pytest.approx([row[f"p_{c}"] for c in CLASSES])
    assert moves["change"].tolist() == pytest.approx(list(want - moves["before"]), abs=1e-12)
    assert moves["change"].sum() == pytest.approx(0, abs=1e-12)
    assert after.classes.predicted == "setosa"  # a short, narrow petal
    assert moves.loc[moves["predicted_after"], "class"].tolist() == ["setosa"]
    assert after.explanation.output == pytest.approx(want[0], abs=1e-12)


def test_importance_of_a_multiclass_model_is_each_rows_contribution_to_its_predicted_class(
    store: Store,
) -> None:
    importance = global_importance(store, model="iris").set_index("feature")

    with store.read() as r:
        model = get_model(r, name="iris")
        version = get_version(r, model=model)
        reference = reference_frame(r, model=model, version=version, limit=20000)
    rows = reference.sample(n=min(100, len(reference)), random_state=0)
    first = explainer_for(store, model=model, version=version, class_="setosa")
    features = first.names
    predicted = np.asarray(CLASSES)[first.model.predict_proba(rows[features]).argmax(axis=1)]
    shares = []
    for (_, x), c in zip(rows.iterrows(), predicted, strict=True):
        explainer = explainer_for(store, model=model, version=version, class_=str(c))
        [e] = explainer.explain(x.to_frame().T[features].astype(float), overview=True)
        shares.append(e.contributions)
    want = pd.DataFrame(shares).abs().mean()
    assert importance["reference"].to_dict() == pytest.approx(want.to_dict(), abs=1e-12)
    # The petals tell iris flowers apart
    assert set(importance.index[:2]) == {"petal length (cm)", "petal width (cm)"}
    for_setosa = global_importance(store, model="iris", class_="setosa")
    assert for_setosa["reference"].tolist() != importance["reference"].tolist()


def test_importance_over_time_ranks_the_inputs_of_each_day_by_their_predicted_class_share(
    store: Store,
) -> None:
    ranks = importance_over_time(store, model="iris", period="D")

    assert ranks["window_start"].nunique() == 6  # the traffic's six days
    assert (ranks.groupby("window_start")["rank"].apply(sorted) == [[1, 2, 3, 4]] * 6).all()
    top = ranks[ranks["rank"] <= 2].groupby("window_start")["feature"].apply(set)
    assert all(found == {"petal length (cm)", "petal width (cm)"} for found in top)


def test_importance_for_a_class_the_model_does_not_have_is_refused(store: Store) -> None:
    with pytest.raises(InvalidInput, match="has no class 'rose'"):
        global_importance(store, model="iris", class_="rose")


def test_explaining_a_multiclass_model_needs_its_model_file(
    iris: MulticlassCase, tmp_path: Path
) -> None:
    bare = Store(tmp_path / "bare.duckdb", lock_wait_seconds=10)
    bare.init()
    register_version(
        bare,
        spec=RegistrationSpec(
            model="iris", reference=iris.reference, target="kind", prediction="predicted",
            task="multiclass",
        ),
    )  # fmt: skip
    ingest_predictions(bare, model="iris", files=[iris.logs])

    with pytest.raises(Exception, match="has no model file") as refused:
        explain_case(bare, model="iris", request_id="r-00001")
    assert type(refused.value).__name__ == "NotFound"
