"""Registering model versions: baseline, metrics and lineage round trips, and refused inputs."""

from __future__ import annotations

import builtins
import hashlib
import math
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn import metrics as skm
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from core import audit
from core.auth import Identity
from core.errors import InvalidInput
from core.registry import (
    RegistrationSpec,
    features_of,
    get_model,
    get_version,
    list_models,
    list_versions,
    pickle_files,
    reference_frame,
    register_version,
)
from core.registry.artifacts import load_model
from core.store import Store
from tests.factories import ADMIN, FEATURES, Case, kept_model_files


class HomeMadeClassifier(LogisticRegression):
    """Defined in a test module, so outside the skops allow-list."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _register_credit(store: Store, reference: Path, **options: object) -> object:
    return register_version(
        store,
        spec=RegistrationSpec(
            model="credit", reference=reference, target="defaulted", prediction="score", **options
        ),
    )


def _binary_pipeline(classifier: object) -> object:
    return make_pipeline(
        make_column_transformer(
            (StandardScaler(), ["income", "debt ratio"]),
            (OneHotEncoder(handle_unknown="ignore"), ["segment"]),
        ),
        classifier,
    )


def _versions(store: Store, model: str) -> list[int]:
    with store.read() as r:
        return [v.version for v in list_versions(r, model=get_model(r, name=model))]


# --- round trips ----------------------------------------------------------------------------


def test_registering_a_binary_model_from_csv_records_its_features_and_baseline(
    store: Store, binary_files: Case
) -> None:
    reference = pd.read_csv(binary_files.reference)

    result = _register_credit(store, binary_files.reference, created_by="ci")

    assert (result.model, result.version, result.task) == ("credit", 1, "binary")
    assert result.features == FEATURES
    assert result.reference_rows == len(reference) == 1500
    assert result.warnings == []
    with store.read() as r:
        model = get_model(r, name="credit")
        version = get_version(r, model=model)
        features = {f.name: f for f in features_of(version)}
        stored = reference_frame(r, model=model, version=version)
    assert (model.task, model.positive_label) == ("binary", "1")
    assert {name: f.kind for name, f in features.items()} == {
        "income": "numeric",
        "debt ratio": "numeric",
        "segment": "categorical",
    }
    assert features["income"].min == reference["income"].min()
    assert features["income"].max == reference["income"].max()
    assert features["debt ratio"].min == reference["debt ratio"].min()
    assert features["debt ratio"].max == reference["debt ratio"].max()
    assert features["segment"].categories == ["corporate", "retail", "sme"]
    assert all(f.missing_rate == 0 for f in features.values())
    assert len(stored) == 1500
    np.testing.assert_allclose(stored["score"], reference["score"])
    np.testing.assert_allclose(stored["income"], reference["income"])
    assert stored["y"].tolist() == reference["defaulted"].astype(float).tolist()


def test_the_logs_id_and_time_columns_need_not_be_in_the_reference_and_are_never_features(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    # A tester had to invent "Lot ID" and "Logged At" columns in a validation set to register.
    without = _register_credit(
        store, binary_files.reference, timestamp="Logged At", id_column="Lot ID"
    )
    frame = pd.read_csv(binary_files.reference).assign(**{"Lot ID": "x", "Logged At": "2026"})
    frame.to_csv(tmp_path / "with_ids.csv", index=False)
    with_them = _register_credit(
        store, tmp_path / "with_ids.csv", timestamp="Logged At", id_column="Lot ID"
    )

    assert without.features == with_them.features == FEATURES
    with store.read() as r:
        version = get_version(r, model=get_model(r, name="credit"), version=1)
    assert (version.timestamp_column, version.id_column) == ("Logged At", "Lot ID")


def test_binary_reference_metrics_equal_scikit_learns_on_the_same_rows(
    store: Store, binary_files: Case
) -> None:
    reference = pd.read_csv(binary_files.reference)
    y, score = reference["defaulted"], reference["score"]
    decided = (score >= 0.5).astype(int)

    metrics = _register_credit(store, binary_files.reference).metrics

    assert metrics == pytest.approx(
        {
            "roc_auc": skm.roc_auc_score(y, score),
            "accuracy": skm.accuracy_score(y, decided),
            "precision": skm.precision_score(y, decided),
            "recall": skm.recall_score(y, decided),
            "f1": skm.f1_score(y, decided),
            "brier": skm.brier_score_loss(y, score),
            "positive_rate": y.mean(),
        },
        rel=1e-9,
    )
    assert 0.6 < metrics["roc_auc"] < 1


def test_registering_a_regression_model_from_parquet_records_its_metrics(
    store: Store, regression_files: Case
) -> None:
    reference = pd.read_parquet(regression_files.reference)
    y, predicted = reference["loss"], reference["predicted"]

    result = register_version(
        store,
        spec=RegistrationSpec(
            model="loss",
            reference=regression_files.reference,
            target="loss",
            prediction="predicted",
            model_file=regression_files.model_file,
        ),
    )

    assert (result.task, result.version, result.reference_rows) == ("regression", 1, 800)
    assert result.warnings == []
    assert result.metrics == pytest.approx(
        {
            "mae": skm.mean_absolute_error(y, predicted),
            "rmse": math.sqrt(skm.mean_squared_error(y, predicted)),
            "mape": float(np.mean(np.abs((y - predicted) / y))),
            "r2": skm.r2_score(y, predicted),
        },
        rel=1e-9,
    )
    with store.read() as r:
        model = get_model(r, name="loss")
        features = {f.name: f for f in features_of(get_version(r, model=model))}
    assert model.positive_label is None
    assert features["debt ratio"].max == reference["debt ratio"].max()
    assert features["segment"].categories == sorted(reference["segment"].unique())


def test_a_binary_model_registered_from_parquet_is_recognised_as_binary(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    reference = pd.read_csv(binary_files.reference)
    reference.to_parquet(tmp_path / "reference.parquet", index=False)

    result = _register_credit(store, tmp_path / "reference.parquet")

    assert result.task == "binary"
    assert result.metrics["roc_auc"] == pytest.approx(
        skm.roc_auc_score(reference["defaulted"], reference["score"]), rel=1e-9
    )


def test_a_version_records_its_lineage(store: Store, binary_files: Case) -> None:
    _register_credit(
        store,
        binary_files.reference,
        model_file=binary_files.model_file,
        git_sha="0a1b2c3d",
        created_by="alice",
        description="first cut",
    )

    with store.read() as r:
        version = get_version(r, model=get_model(r, name="credit"))
        events = [(e.action, e.actor, e.version) for e in _events(r)]
    assert version.data_sha256 == _sha256(binary_files.reference)
    assert version.data_rows == 1500
    assert list(version.data_columns) == [*FEATURES, "defaulted", "score"]
    assert (version.git_sha, version.created_by, version.description) == (
        "0a1b2c3d",
        "alice",
        "first cut",
    )
    assert version.created_at.tzinfo is not None
    assert kept_model_files(store) == {
        f"{version.artifact_sha256}.skops": binary_files.model_file.read_bytes()
    }
    assert version.artifact_path == f"{store.artifact_home}/{version.artifact_sha256}.skops"
    assert version.artifact_sha256 == _sha256(binary_files.model_file)
    assert version.artifact_format == "skops"
    assert events == [("register_version", "alice", 1)]


def _events(r: object) -> list:
    from sqlmodel import select

    from core.store import AuditEvent

    return list(r.session.exec(select(AuditEvent).order_by(AuditEvent.id)).all())


def test_registering_the_same_model_again_makes_version_2(
    credit_store: Store, binary_files: Case
) -> None:
    second = _register_credit(credit_store, binary_files.reference, git_sha="def456")

    assert second.version == 2
    assert _versions(credit_store, "credit") == [2, 1]
    with credit_store.read() as r:
        model = get_model(r, name="credit")
        newest = get_version(r, model=model)
        first = get_version(r, model=model, version=1)
        assert [m.name for m in list_models(r)] == ["credit"]
        assert audit.verify(r) == []
    assert (newest.version, newest.git_sha, first.git_sha) == (2, "def456", "abc123")
    assert [f.column for f in features_of(newest)] == [f.column for f in features_of(first)]
    assert newest.metrics == first.metrics


def test_a_model_file_that_disagrees_with_the_prediction_column_is_registered_with_a_warning(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    shifted = pd.read_csv(binary_files.reference)
    shifted["score"] = shifted["score"] * 0.5
    shifted.to_csv(tmp_path / "shifted.csv", index=False)

    result = _register_credit(store, tmp_path / "shifted.csv", model_file=binary_files.model_file)

    assert result.version == 1
    assert len(result.warnings) == 1
    assert (
        "scores differ from the reference's prediction column on 1,500 of 1,500 rows"
        in result.warnings[0]
    )


# --- refused inputs --------------------------------------------------------------------------


def _catalogue(store: Store) -> list[tuple[str, list[int]]]:
    with store.read() as r:
        return [(m.name, [v.version for v in list_versions(r, model=m)]) for m in list_models(r)]


def _refused(store: Store, reference: Path, **options: object) -> str:
    """Register and expect a refusal; return its message after checking nothing was written."""
    before = _catalogue(store)
    with pytest.raises(InvalidInput) as refused:
        register_version(
            store, spec=RegistrationSpec(reference=reference, **{"model": "credit", **options})
        )
    assert _catalogue(store) == before
    return str(refused.value)


def test_a_reference_without_the_target_column_is_refused(store: Store, binary_files: Case) -> None:
    message = _refused(store, binary_files.reference, target="default_flag", prediction="score")

    assert "no column(s) default_flag" in message
    assert "its columns are income, debt ratio, segment, defaulted, score" in message
    with store.read() as r:
        assert list_models(r) == []


def test_a_reference_without_the_prediction_column_is_refused(
    store: Store, binary_files: Case
) -> None:
    message = _refused(store, binary_files.reference, target="defaulted", prediction="proba")

    assert "no column(s) proba" in message
    with store.read() as r:
        assert list_models(r) == []


def test_a_binary_model_with_three_target_classes_is_refused(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    frame = pd.read_csv(binary_files.reference)
    frame.loc[::3, "defaulted"] = 2
    frame.to_csv(tmp_path / "three.csv", index=False)

    message = _refused(
        store, tmp_path / "three.csv", target="defaulted", prediction="score", task="binary"
    )

    assert "has more than two values" in message
    assert "use --task multiclass or regression" in message


def test_binary_scores_outside_0_1_are_refused(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    frame = pd.read_csv(binary_files.reference)
    frame["score"] = frame["score"] * 10 - 2
    frame.to_csv(tmp_path / "logits.csv", index=False)

    message = _refused(
        store, tmp_path / "logits.csv", target="defaulted", prediction="score", task="binary"
    )

    low, high = frame["score"].min(), frame["score"].max()
    assert "must be probabilities of the positive label in [0, 1]" in message
    assert f"found {low:g} to {high:g}" in message


def test_an_ambiguous_positive_label_is_refused_until_it_is_named(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    frame = pd.read_csv(binary_files.reference)
    frame["defaulted"] = frame["defaulted"].map({1: "bad", 0: "good"})
    frame.to_csv(tmp_path / "words.csv", index=False)

    message = _refused(store, tmp_path / "words.csv", target="defaulted", prediction="score")
    assert "cannot tell the positive label" in message
    assert "--positive-label" in message

    named = _register_credit(store, tmp_path / "words.csv", positive_label="bad")
    assert named.task == "binary"
    assert named.metrics["positive_rate"] == pytest.approx((frame["defaulted"] == "bad").mean())
    with store.read() as r:
        assert get_model(r, name="credit").positive_label == "bad"


def test_a_reference_of_another_task_is_refused_for_an_existing_model(
    credit_store: Store, regression_files: Case
) -> None:
    message = _refused(
        credit_store, regression_files.reference, target="loss", prediction="predicted"
    )

    assert message == "model 'credit' is a binary model; this reference looks regression"
    assert _versions(credit_store, "credit") == [1]


def test_a_model_file_that_cannot_score_the_features_is_refused(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    other = pd.DataFrame({"age": rng.normal(size=50), "tenure": rng.normal(size=50)})
    sio.dump(LogisticRegression().fit(other, other["age"] > 0), tmp_path / "other.skops")

    message = _refused(
        store,
        binary_files.reference,
        target="defaulted",
        prediction="score",
        model_file=tmp_path / "other.skops",
    )

    assert message.startswith("the model file cannot score the reference's feature columns")
    with store.read() as r:
        assert list_models(r) == []


def test_a_joblib_file_holding_no_model_is_refused(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    joblib.dump({"weights": [1, 2, 3]}, tmp_path / "weights.joblib")
    pickle_files.set_allowed(store, allow=True, by=ADMIN)

    before = _catalogue(store)
    with pytest.raises(InvalidInput) as refused:
        register_version(
            store,
            spec=RegistrationSpec(
                model="credit",
                reference=binary_files.reference,
                target="defaulted",
                prediction="score",
                model_file=tmp_path / "weights.joblib",
            ),
            by=Identity("erin", "ml_engineer"),
        )
    assert _catalogue(store) == before
    message = str(refused.value)

    assert message == (
        f"{tmp_path / 'weights.joblib'}: holds a dict, not a model with a predict() method"
    )
    assert kept_model_files(store) == {}  # no copy of the refused file is kept


def test_a_classifier_of_three_classes_is_refused_though_its_reference_looks_like_regression(
    store: Store, tmp_path: Path
) -> None:
    # Predicted classes 0, 1, 2 in the prediction column made the reference look like a
    # regression; a tester's iris model was registered and then "explained" in fractions of a
    # class.
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {"petal length": rng.normal(4, 1.5, 150), "petal width": rng.normal(1, 0.6, 150)}
    )
    frame["species"] = np.digitize(frame["petal length"], [3.5, 5.0])
    model = LogisticRegression().fit(frame[["petal length", "petal width"]], frame["species"])
    frame["predicted"] = model.predict(frame[["petal length", "petal width"]])
    frame.to_csv(tmp_path / "iris.csv", index=False)
    sio.dump(model, tmp_path / "iris.skops")

    message = _refused(
        store,
        tmp_path / "iris.csv",
        model="iris",
        target="species",
        prediction="predicted",
        model_file=tmp_path / "iris.skops",
    )

    assert message == (
        f"{tmp_path / 'iris.skops'}: a classifier of 3 classes (0, 1, 2); register it with "
        "--task multiclass and one probability column per class (--proba-prefix)"
    )


def test_a_skops_file_with_a_type_outside_the_allow_list_is_refused(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    frame = pd.read_csv(binary_files.reference)
    model = _binary_pipeline(HomeMadeClassifier()).fit(frame[FEATURES], frame["defaulted"])
    sio.dump(model, tmp_path / "home_made.skops")

    message = _refused(
        store,
        binary_files.reference,
        target="defaulted",
        prediction="score",
        model_file=tmp_path / "home_made.skops",
    )

    assert "refused, it contains types outside the allow-list" in message
    assert "tests.registry.test_registration.HomeMadeClassifier" in message
    with store.read() as r:
        assert list_models(r) == []


def test_a_skops_pipeline_chaining_builtin_functions_cannot_run_code(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    # Every name in this file starts with builtins./numpy./sklearn.; chained, they run a string.
    marker = tmp_path / "code-ran"
    payload = f"open({str(marker)!r}, 'w').write('pwned')"
    model = make_pipeline(
        FunctionTransformer(np.full_like, kw_args={"fill_value": payload, "dtype": object}),
        FunctionTransformer(np.ravel),
        FunctionTransformer(builtins.min),
        FunctionTransformer(builtins.exec),
        LogisticRegression(),
    )
    sio.dump(model, tmp_path / "chain.skops")

    message = _refused(
        store,
        binary_files.reference,
        target="defaulted",
        prediction="score",
        model_file=tmp_path / "chain.skops",
    )

    assert "outside the allow-list" in message
    assert "builtins.exec" in message
    assert not marker.exists()


def test_a_joblib_file_changed_after_registration_is_refused(tmp_path: Path) -> None:
    artifact = tmp_path / "model.joblib"
    joblib.dump(LogisticRegression(), artifact)
    registered = _sha256(artifact)
    joblib.dump(LogisticRegression(C=2.0), artifact)

    with pytest.raises(InvalidInput) as refused:
        load_model(artifact, expected_sha256=registered)
    assert "its sha256 differs from the one registered" in str(refused.value)
    with pytest.raises(InvalidInput) as unregistered:
        load_model(artifact, expected_sha256=None)
    assert "joblib files load only with a registered sha256" in str(unregistered.value)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("   ", "the model name is empty"),
        ("m" * 100_000, "the model name is 100,000 characters long; at most 100 are allowed"),
        ("cred\u200bit", "the model name holds characters that cannot be seen (U+200B)"),
        ("credit\u202etluafed", "the model name holds characters that cannot be seen (U+202E)"),
        ("credit\x07", "the model name holds characters that cannot be seen (U+0007)"),
    ],
)
def test_a_model_name_people_could_not_read_or_tell_apart_is_refused(
    store: Store, binary_files: Case, name: str, message: str
) -> None:
    found = _refused(
        store, binary_files.reference, model=name, target="defaulted", prediction="score"
    )

    assert found.startswith(message)


def test_a_model_name_is_stored_trimmed_and_composed(store: Store, binary_files: Case) -> None:
    decomposed = "cre\u0301dit "  # 'e' + combining acute, and a trailing space

    register_version(
        store,
        spec=RegistrationSpec(
            model=decomposed,
            reference=binary_files.reference,
            target="defaulted",
            prediction="score",
        ),
    )

    with store.read() as r:
        assert [m.name for m in list_models(r)] == ["cr\u00e9dit"]
        assert get_model(r, name=decomposed).name == "cr\u00e9dit"
