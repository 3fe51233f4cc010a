"""Multiclass prediction logs and labels: the predicted class and each class's probability are
stored, in a DuckDB file and in a team store's Parquet logs alike; unknown classes and bad
probabilities are quarantined with a reason a person understands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.ingest import ingest_labels, ingest_predictions, quarantine
from core.registry import RegistrationSpec, classes, get_model, get_version, register_version
from core.store import Store, TeamStore, log_tables
from tests.multiclass_cases import MulticlassCase, iris_case


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> MulticlassCase:
    return iris_case(tmp_path_factory.mktemp("iris"))


def _registered(store: Store, case: MulticlassCase) -> Store:
    register_version(
        store,
        spec=RegistrationSpec(
            model="iris",
            reference=case.reference,
            target="kind",
            prediction="predicted",
            task="multiclass",
            model_file=case.model_file,
        ),
    )
    return store


def _stored(store: Store) -> pd.DataFrame:
    """The logged rows with the predicted class and probabilities under their own names."""
    with store.read() as r:
        model = get_model(r, name="iris")
        outputs = classes.class_outputs(get_version(r, model=model, version=1))
        assert outputs is not None and model.id is not None
        probabilities = ", ".join(f"{f.column} AS p_{c}" for c, f in outputs.probabilities.items())
        return r.frame(
            f"SELECT request_id, score, {outputs.predicted.column} AS predicted, {probabilities} "
            f"FROM {log_tables.pred_table(model.id)} ORDER BY request_id"
        )


def _check_logs_round_trip(store: Store, case: MulticlassCase) -> None:
    [result] = ingest_predictions(store, model="iris", files=[case.logs])
    assert (result.rows_ingested, result.rows_quarantined) == (75, 0)
    stored = _stored(store)
    sent = case.logs_frame
    columns = [f"p_{c}" for c in case.classes]
    assert stored["request_id"].tolist() == sent["request_id"].tolist()
    assert stored["predicted"].tolist() == sent["predicted"].tolist()
    np.testing.assert_allclose(stored[columns].to_numpy(), sent[columns].to_numpy())
    # The score is the probability of the predicted class: the model's confidence.
    np.testing.assert_allclose(stored["score"], sent[columns].max(axis=1))


def test_logs_keep_the_predicted_class_and_every_class_probability(
    store: Store, iris: MulticlassCase
) -> None:
    _check_logs_round_trip(_registered(store, iris), iris)


def test_a_team_stores_parquet_logs_keep_them_too(
    team_store: TeamStore, iris: MulticlassCase
) -> None:
    _check_logs_round_trip(_registered(team_store, iris), iris)
    assert list(team_store.log_location.glob("**/kind=prediction/**/*.parquet"))


def test_unknown_classes_and_bad_probabilities_are_quarantined_with_their_reason(
    store: Store, iris: MulticlassCase, tmp_path: Path
) -> None:
    _registered(store, iris)
    logs = pd.read_parquet(iris.logs).head(6)
    logs.loc[0, "predicted"] = "unicorn"
    logs.loc[1, "predicted"] = None
    logs.loc[2, "p_setosa"] = None
    logs.loc[3, ["p_setosa", "p_versicolor", "p_virginica"]] = [1.4, -0.2, -0.2]
    logs.loc[4, "p_setosa"] += 0.5
    logs.loc[5, "predicted"] = " VERSICOLOR "  # the class, spelled loosely: kept as the class
    logs.to_csv(tmp_path / "bad.csv", index=False)

    [result] = ingest_predictions(store, model="iris", files=[tmp_path / "bad.csv"])

    assert (result.rows_ingested, result.rows_quarantined) == (1, 5)
    found = quarantine.rows(store, model="iris")
    assert [list(r) for r in found["reasons"]] == [
        ["unknown_predicted_class"],
        ["missing_prediction"],
        ["missing:p_setosa"],
        ["probability_outside_0_1"],
        ["probabilities_not_summing_to_1"],
    ]
    assert _stored(store)["predicted"].tolist() == ["versicolor"]


def test_labels_hold_the_class_index_and_an_unknown_class_is_quarantined(
    store: Store, iris: MulticlassCase, tmp_path: Path
) -> None:
    _registered(store, iris)
    ingest_predictions(store, model="iris", files=[iris.logs])
    labels = pd.read_csv(iris.labels).head(4)
    labels["kind"] = ["setosa", "Virginica ", "versicolor", "unicorn"]
    labels.to_csv(tmp_path / "labels.csv", index=False)

    [result] = ingest_labels(store, model="iris", files=[tmp_path / "labels.csv"])

    assert (result.rows_ingested, result.rows_quarantined) == (3, 1)
    assert result.reasons == {"unknown_class": 1}
    with store.read() as r:
        stored = r.rows("SELECT label, y FROM label ORDER BY request_id")
    assert stored == [("setosa", 0.0), ("Virginica ", 2.0), ("versicolor", 1.0)]
