"""A model trained on 0/1 whose outcomes read 'bad'/'good': `--positive-label bad --model-class 1`,
and scores, labels, metrics, gates and explanations that agree on what "positive" means."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from core.errors import InvalidInput
from core.explain.cases import explain_case
from core.ingest import ingest_labels, ingest_predictions
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.store import Store
from core.workflow import gates
from tests.conftest import run_cli
from tests.factories import Case, drop_column


@pytest.fixture(scope="module")
def worded(tmp_path_factory: pytest.TempPathFactory, binary_files: Case) -> Path:
    """The binary case's reference, logs' labels with 1 → 'bad' and 0 → 'good' (the model file
    still has classes 0 and 1)."""
    folder = tmp_path_factory.mktemp("worded")
    words = {1: "bad", 0: "good"}
    reference = pd.read_csv(binary_files.reference)
    reference.assign(defaulted=reference["defaulted"].map(words)).to_csv(
        folder / "reference.csv", index=False
    )
    labels = pd.read_csv(binary_files.labels)
    labels.assign(defaulted=labels["defaulted"].map(words)).to_csv(
        folder / "labels.csv", index=False
    )
    return folder


def _spec(worded: Path, binary_files: Case, **options: object) -> RegistrationSpec:
    return RegistrationSpec(**{  # type: ignore[arg-type]
        "model": "credit", "reference": worded / "reference.csv", "target": "defaulted",
        "prediction": "score", "model_file": binary_files.model_file, "positive_label": "bad",
        **options,
    })  # fmt: skip


def test_outcome_words_that_are_not_the_models_classes_are_refused_naming_both_and_the_option(
    store: Store, worded: Path, binary_files: Case
) -> None:
    with pytest.raises(InvalidInput) as refused:
        register_version(store, spec=_spec(worded, binary_files))

    assert str(refused.value) == (
        f"{binary_files.model_file}: the model's classes are ['0', '1'] and the reference's "
        "outcomes are ['bad', 'good']; say which of the model's classes means 'bad' with "
        "--model-class (e.g. --positive-label bad --model-class 1)"
    )


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"model_class": "7"}, "--model-class '7' is not one of the model's classes ['0', '1']"),
        ({"model_class": "1", "model_file": None}, "--model-class names a class of the model file"),
    ],
    ids=["not-a-class", "no-model-file"],
)
def test_a_model_class_that_cannot_apply_is_refused(
    store: Store, worded: Path, binary_files: Case, options: dict, expected: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        register_version(store, spec=_spec(worded, binary_files, **options))

    assert expected in str(refused.value)


def test_scores_labels_metrics_gates_and_explanations_agree_on_the_positive_class(
    store: Store, worded: Path, binary_files: Case
) -> None:
    registered = register_version(store, spec=_spec(worded, binary_files, model_class="1"))
    ingest_predictions(store, model="credit", files=[binary_files.logs])
    (labelled,) = ingest_labels(store, model="credit", files=[worded / "labels.csv"])

    reference = pd.read_csv(worded / "reference.csv")
    is_bad = (reference["defaulted"] == "bad").astype(int)
    assert registered.warnings == []
    assert registered.metrics["roc_auc"] == pytest.approx(
        skm.roc_auc_score(is_bad, reference["score"]), abs=1e-12
    )
    assert labelled.rows_quarantined == 0
    with store.read() as r:
        model = get_model(r, name="credit")
        version = get_version(r, model=model)
        found = gates.reproduction_gate(r, model=model, candidate=version)
        y = r.rows("SELECT y FROM label ORDER BY request_id")
    assert (model.positive_label, version.positive_class) == ("bad", "1")
    assert found.status == "pass"
    expected_y = pd.read_csv(binary_files.labels).sort_values("request_id")["defaulted"]
    np.testing.assert_array_equal([v for (v,) in y], expected_y.to_numpy(dtype=float))
    case = explain_case(store, model="credit", request_id="req-00007")
    logged = binary_files.frame.set_index("request_id").loc["req-00007", "score"]
    assert case.explanation.output == pytest.approx(logged, abs=1e-9)


def test_the_cli_takes_model_class_and_an_old_store_gains_the_column(
    store: Store, worded: Path, binary_files: Case
) -> None:
    with store.write() as w:  # a store as schema 4 left it
        drop_column(w, "model_version", "positive_class")
        w.catalog("UPDATE store_meta SET value = '4' WHERE key = 'schema_version'")

    ran = run_cli(
        "register", "credit", "--reference", worded / "reference.csv", "--target", "defaulted",
        "--prediction", "score", "--model-file", binary_files.model_file,
        "--positive-label", "bad", "--model-class", "1", "--json", db=store.target,
    )  # fmt: skip

    assert ran.code == 0, ran.err
    with store.read() as r:
        version = get_version(r, model=get_model(r, name="credit"))
    assert version.positive_class == "1"
