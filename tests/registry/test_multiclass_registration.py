"""Registering multiclass models: classes from the probability columns, checked against the
model file and the reference, stored for the logs; refused inputs name what is wrong."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn import metrics as skm

from core.errors import InvalidInput
from core.registry import (
    RegistrationSpec,
    classes,
    get_model,
    get_version,
    list_models,
    register_version,
)
from core.store import Store
from tests.multiclass_cases import MulticlassCase, iris_case


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> MulticlassCase:
    return iris_case(tmp_path_factory.mktemp("iris"))


def _spec(reference: Path, **options: object) -> RegistrationSpec:
    given: dict[str, object] = {"task": "multiclass", "model": "iris", **options}
    return RegistrationSpec(reference=reference, target="kind", prediction="predicted", **given)


def _refused(store: Store, reference: Path, **options: object) -> str:
    with pytest.raises(InvalidInput) as refused:
        register_version(store, spec=_spec(reference, **options))
    with store.read() as r:
        assert list_models(r) == []  # nothing of the refused version was kept
    return str(refused.value)


def test_an_iris_model_registers_with_its_classes_and_reference_metrics_equal_sklearns(
    store: Store, iris: MulticlassCase
) -> None:
    done = register_version(store, spec=_spec(iris.reference, model_file=iris.model_file))

    ref = pd.read_csv(iris.reference)
    proba = ref[[f"p_{c}" for c in iris.classes]].to_numpy()
    assert done.task == "multiclass"
    assert done.features == list(ref.columns[:4])  # neither the prediction nor p_* are inputs
    assert done.warnings == []  # the model file reproduces every class probability
    assert done.metrics["accuracy"] == pytest.approx(skm.accuracy_score(ref.kind, ref.predicted))
    assert done.metrics["macro_f1"] == pytest.approx(
        skm.f1_score(ref.kind, ref.predicted, average="macro")
    )
    assert done.metrics["log_loss"] == pytest.approx(
        skm.log_loss(ref.kind, proba, labels=iris.classes)
    )
    with store.read() as r:
        model = get_model(r, name="iris")
        outputs = classes.class_outputs(get_version(r, model=model, version=1))
    assert model.classes == ["setosa", "versicolor", "virginica"]
    assert outputs is not None
    assert outputs.predicted.categories == ["setosa", "versicolor", "virginica"]
    assert list(outputs.probabilities) == model.classes


def test_a_class_of_the_model_without_its_probability_column_is_refused(
    store: Store, iris: MulticlassCase, tmp_path: Path
) -> None:
    frame = pd.read_csv(iris.reference)
    frame["p_versicolor"] += frame.pop("p_virginica")
    frame.assign(
        kind=frame.kind.replace("virginica", "versicolor"),
        predicted=frame.predicted.replace("virginica", "versicolor"),
    ).to_csv(tmp_path / "two.csv", index=False)

    message = _refused(store, tmp_path / "two.csv", model_file=iris.model_file)

    assert message == (
        f"{iris.model_file}: the model has class 'virginica' but the reference has no "
        "p_virginica column"
    )


def test_a_probability_column_for_a_class_the_model_does_not_know_is_refused(
    store: Store, iris: MulticlassCase, tmp_path: Path
) -> None:
    pd.read_csv(iris.reference).assign(p_unicorn=0.0).to_csv(tmp_path / "more.csv", index=False)

    message = _refused(store, tmp_path / "more.csv", model_file=iris.model_file)

    assert message == (
        f"{iris.model_file}: column p_unicorn names a class the model does not know (its "
        "classes are ['setosa', 'versicolor', 'virginica'])"
    )


def test_a_target_value_that_is_no_class_is_refused_naming_it(
    store: Store, iris: MulticlassCase, tmp_path: Path
) -> None:
    frame = pd.read_csv(iris.reference)
    frame.loc[3, "kind"] = "unicorn"
    frame.to_csv(tmp_path / "odd.csv", index=False)

    message = _refused(store, tmp_path / "odd.csv")

    assert message == (
        f"{tmp_path / 'odd.csv'}: target column 'kind' holds 'unicorn', which is not one of the "
        "classes ['setosa', 'versicolor', 'virginica'] (one per p_<class> column); add a "
        "p_unicorn column or fix the target"
    )


def test_probabilities_that_do_not_sum_to_one_are_refused_naming_the_first_row(
    store: Store, iris: MulticlassCase, tmp_path: Path
) -> None:
    frame = pd.read_csv(iris.reference)
    frame.loc[[4, 9], "p_setosa"] = frame.loc[[4, 9], "p_setosa"] / 2 + 0.2
    frame.to_csv(tmp_path / "sums.csv", index=False)
    total = frame.loc[4, ["p_setosa", "p_versicolor", "p_virginica"]].sum()

    message = _refused(store, tmp_path / "sums.csv")

    assert message == (
        f"{tmp_path / 'sums.csv'}: the p_<class> probabilities of 2 row(s) do not sum to 1 "
        f"(data row 5: {total:.4g}); each row's must, within 0.01"
    )


def test_probability_columns_under_another_prefix_register_with_proba_prefix(
    store: Store, iris: MulticlassCase, tmp_path: Path
) -> None:
    frame = pd.read_csv(iris.reference)
    frame.columns = [c.replace("p_", "prob.") for c in frame.columns]
    frame.to_csv(tmp_path / "prob.csv", index=False)

    assert "found 0 (none)" in _refused(store, tmp_path / "prob.csv")
    done = register_version(
        store, spec=_spec(tmp_path / "prob.csv", proba_prefix="prob.", model_file=iris.model_file)
    )

    assert done.warnings == []
    assert done.features == list(frame.columns[:4])


def test_a_probability_prefix_without_the_multiclass_task_is_refused(
    store: Store, iris: MulticlassCase
) -> None:
    message = _refused(store, iris.reference, task=None, proba_prefix="p_")

    assert message == "--proba-prefix names the class probabilities; add --task multiclass"


def test_a_second_version_with_other_classes_is_refused(
    store: Store, iris: MulticlassCase, tmp_path: Path
) -> None:
    register_version(store, spec=_spec(iris.reference))
    pd.read_csv(iris.reference).assign(p_unicorn=0.0).to_csv(tmp_path / "more.csv", index=False)

    with pytest.raises(InvalidInput) as refused:
        register_version(store, spec=_spec(tmp_path / "more.csv"))

    assert str(refused.value) == (
        "model 'iris' has classes ['setosa', 'versicolor', 'virginica']; this reference's "
        "probability columns name ['setosa', 'versicolor', 'virginica', 'unicorn']"
    )
