"""Pages that read like a report (issue 18): charts that mean something at a glance, alerts in
plain words for business roles with the statistic only in the technical view."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.auth import Identity
from core.ingest import ingest_predictions
from core.registry import RegistrationSpec, features_of, get_model, get_version, register_version
from core.store import Store
from data.build_demo import MODEL
from tests.ui_helpers import (  # noqa: F401  (fixtures)
    MAIN,
    app_as_fixture,
    demo_db_fixture,
    switch_path,
)

AppAs = Callable[[str | None], AppTest]


def charts(at: AppTest) -> dict[str, dict]:
    """Each plotly chart's figure by its title."""
    found = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return {f["layout"].get("title", {}).get("text"): f for f in found}


def notes(figure: dict) -> list[str]:
    return [a["text"] for a in figure["layout"].get("annotations", [])]


@pytest.fixture(scope="module")
def numeric_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model of two numeric inputs, none ever missing, with a week of traffic."""
    folder = tmp_path_factory.mktemp("numeric")
    rng = np.random.default_rng(7)
    x = pd.DataFrame({"income": rng.uniform(1_000, 9_000, 700), "age": rng.uniform(18, 80, 700)})
    score = 1 / (1 + np.exp(-(x["age"] - 50) / 10))
    x.iloc[:500].assign(
        score=score[:500], defaulted=(rng.random(500) < score[:500]).astype(int)
    ).to_parquet(folder / "reference.parquet")
    x.iloc[500:].assign(
        request_id=[f"r{i}" for i in range(200)],
        timestamp=pd.date_range("2026-03-02", periods=200, freq="50min").strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        score=score[500:].to_numpy(),
    ).to_csv(folder / "logs.csv", index=False)
    store = Store(folder / "store.duckdb", lock_wait_seconds=60)
    store.init()
    register_version(store, spec=RegistrationSpec(
        model="plain", reference=folder / "reference.parquet", target="defaulted",
        prediction="score", created_by="erin",
    ))  # fmt: skip
    ingest_predictions(store, model="plain", files=[folder / "logs.csv"])
    return store.path


def test_a_model_without_missing_values_or_categories_says_there_is_nothing_to_show(
    numeric_only: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELBRIDGE_DB", str(numeric_only))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(MAIN), default_timeout=60)
    at.session_state["identity"] = Identity("erin", "ml_engineer")
    at.run().switch_page(switch_path("data_quality")).run()

    assert not at.exception, at.exception
    shown = charts(at)
    # No colour scale of solid blocks: a sentence saying why there is nothing.
    for title, said in (
        ("Missing values", "Nothing to show: no input was missing in these days."),
        ("Unknown categories", "Nothing to show: no input has a fixed list of categories."),
    ):
        assert shown[title]["data"] == [], title
        assert notes(shown[title]) == [said]


def test_the_unknown_categories_chart_leaves_out_every_numeric_input(
    app_as: AppAs, demo_db: Path
) -> None:
    at = app_as("ml_engineer").switch_page(switch_path("data_quality")).run()
    with Store(demo_db).read() as r:
        model = get_model(r, name=MODEL)
        features = features_of(get_version(r, model=model))

    [heatmap] = charts(at)["Unknown categories"]["data"]
    closed = [f.name for f in features if f.kind == "categorical" and not f.open_categories]
    assert sorted(heatmap["y"]) == sorted(closed)
    assert not {f.name for f in features if f.kind == "numeric"} & set(heatmap["y"])
    # Missing values concern every input.
    [missing] = charts(at)["Missing values"]["data"]
    assert sorted(missing["y"]) == sorted(f.name for f in features)


def test_the_rejection_chart_names_the_reason_the_headline_names(app_as: AppAs) -> None:
    at = app_as("ml_engineer").switch_page(switch_path("data_quality")).run()
    [headline] = [e.value for e in (*at.success, *at.warning, *at.error)][:1]

    named = re.search(r"mostly (?:an? )?(.+?) \(\d+ rows?\)", headline.replace("\\", ""))
    assert named, headline
    traces = [
        t["name"] for t in charts(at)["Why requests were rejected (share of requests)"]["data"]
    ]
    assert len(traces) <= 9  # eight reasons at most, then one series for the rest
    assert named[1][:1].upper() + named[1][1:] in traces
    assert not [t for t in traces if t == "other"]


def test_the_rank_chart_draws_the_8_strongest_inputs_and_offers_the_rest(app_as: AppAs) -> None:
    at = app_as("domain_expert").switch_page(switch_path("explain")).run()
    title = "What drives the model, week by week (1 = strongest)"
    [picker] = at.multiselect
    assert len(picker.options) == 10 and len(picker.value) == 8
    assert len(charts(at)[title]["data"]) == 8

    left_out = next(o for o in picker.options if o not in picker.value)
    picker.select(left_out).run()

    assert not at.exception, at.exception
    assert len(charts(at)[title]["data"]) == 9


def test_alerts_read_in_plain_words_and_only_the_engineer_sees_the_statistic(
    app_as: AppAs,
) -> None:
    drift = app_as("ml_engineer").switch_page(switch_path("drift")).run()
    overview = app_as("manager")

    lines = [m.value for m in drift.markdown if "**medium**" in m.value or "**low**" in m.value]
    technical = [c.value for c in drift.caption if c.value.startswith("Technical: ")]
    assert lines and len(technical) == len(lines)
    assert all("values differ" in m and "wasserstein" not in m.lower() for m in lines)
    assert any(re.search(r"wasserstein|jensen", t) for t in technical)
    # "The income mix has shifted a lot since training": for the manager, no statistic.
    said = [m.value for m in overview.markdown]
    assert any(
        re.fullmatch(
            r"- Since \d+ \w+ 2026, annual income values differ (a lot|noticeably) "
            r"from those the model was trained on\.",
            m,
        )
        for m in said
    ), said
    page = " ".join([*said, *(c.value for c in overview.caption)])
    assert not re.search(r"wasserstein|jensen|reconstruction|AUC", page, re.IGNORECASE)
