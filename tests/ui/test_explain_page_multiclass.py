"""The explanation page (AppTest) on a multiclass model: the predicted class, every class's
probability, a class picker for the reasons, and a what-if's moving probabilities."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from sklearn.ensemble import RandomForestClassifier
from streamlit.testing.v1 import AppTest

from core.auth import Identity
from core.store import Store
from tests.multiclass_cases import MulticlassCase, bundled_case, logged
from tests.ui_helpers import MAIN, switch_path

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
def db(iris: MulticlassCase, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the iris forest registered and its traffic logged."""
    store = Store(tmp_path_factory.mktemp("store") / "store.duckdb", lock_wait_seconds=60)
    store.init()
    logged(store, iris, model="iris")
    return store.path


@pytest.fixture(scope="module")
def row(iris: MulticlassCase) -> pd.Series:
    """The logged flower the forest was least sure about."""
    logged = iris.logs_frame
    return logged.loc[logged[[f"p_{c}" for c in CLASSES]].max(axis=1).idxmin()]


def explain_page(db: Path, request_id: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The explanation page as a domain expert, with REQUEST_ID typed in."""
    monkeypatch.setenv("MODELBRIDGE_DB", str(db))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(MAIN), default_timeout=60)
    at.session_state["identity"] = Identity("dora", "domain_expert")
    at.run()
    at = at.switch_page(switch_path("explain")).run()
    at.text_input(key="explain_request_id").input(request_id).run()
    assert not at.exception, at.exception
    return at


def shown(at: AppTest) -> list[str]:
    """Markdown and captions shown by the page, with their escapes removed."""
    return [m.value.replace("\\", "") for m in [*at.markdown, *at.caption]]


def test_a_case_shows_its_predicted_class_every_probability_and_reasons_for_it(
    db: Path, row: pd.Series, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = explain_page(db, row["request_id"], monkeypatch)

    texts = shown(at)
    assert f"### Predicted class: {row['predicted']}" in texts
    shares = " · ".join(f"{c} {row[f'p_{c}']:.0%}" for c in CLASSES)
    assert f"Probability of each class: {shares}" in texts
    picker = at.selectbox(key=f"explain_class_iris_{row['request_id']}")
    assert picker.options == CLASSES and picker.value == row["predicted"]
    assert any(f"the probability of {row['predicted']} by" in t for t in texts)


def test_picking_another_class_gives_the_reasons_for_that_class(
    db: Path, row: pd.Series, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = next(c for c in CLASSES if c != row["predicted"])
    at = explain_page(db, row["request_id"], monkeypatch)

    at.selectbox(key=f"explain_class_iris_{row['request_id']}").select(other).run()

    assert not at.exception, at.exception
    texts = shown(at)
    assert any(f"the probability of {other} by" in t for t in texts)
    assert not any(f"the probability of {row['predicted']} by" in t for t in texts)
    assert f"### Predicted class: {row['predicted']}" in texts  # the prediction stays


def test_a_what_if_shows_how_every_class_probability_moves(
    db: Path, row: pd.Series, iris: MulticlassCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = explain_page(db, row["request_id"], monkeypatch)
    features = [c for c in iris.logs_frame.columns if c.endswith("(cm)")]
    values = {f: float(row[f]) for f in features} | {"petal length (cm)": 1.5}
    petal = next(n for n in at.number_input if n.label.startswith("Petal length"))

    petal.set_value(1.5).run()

    assert not at.exception, at.exception
    want = iris.model.predict_proba(pd.DataFrame([values])[features])[0]  # type: ignore[attr-defined]
    was = [row[f"p_{c}"] for c in CLASSES]
    moves = next(d.value for d in at.dataframe if "Change (points)" in d.value.columns)
    assert moves["Class"].tolist() == CLASSES
    assert moves["Now"].tolist() == [f"{p:.1%}" for p in want]
    assert moves["Was"].tolist() == [f"{p:.1%}" for p in was]
    assert moves["Change (points)"].tolist() == [
        f"{(a - b) * 100:.1f}".removesuffix(".0") for a, b in zip(want, was, strict=True)
    ]
    assert "### Predicted class: setosa" in shown(at)  # a short petal: the what-if's class


def test_recent_decisions_show_the_predicted_class_and_its_probability(
    db: Path, iris: MulticlassCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = explain_page(db, "", monkeypatch)

    table = next(d.value for d in at.dataframe if "Predicted class" in d.value.columns)
    logged = iris.logs_frame.sort_values(["timestamp", "request_id"], ascending=[False, True])
    latest = logged.iloc[0]
    assert table.iloc[0]["Request id"] == latest["request_id"]
    assert table.iloc[0]["Predicted class"] == latest["predicted"]
    assert table.iloc[0]["Its probability"] == f"{latest[f'p_{latest.predicted}']:.1%}"
