"""Traffic aggregates (core/monitoring/traffic.py) and the Traffic page, for logs with and
without the optional latency_ms column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core import auth
from core.auth import Identity
from core.ingest import ingest_predictions
from core.monitoring import latency_bins, traffic
from core.registry import RegistrationSpec, get_model, register_version
from core.store import Store
from tests.conftest import copy_store
from tests.factories import Case
from tests.ui_helpers import MAIN, PAGE_TITLES, switch_path


def _register_loss_model(store: Store, files: Case) -> None:
    register_version(store, spec=RegistrationSpec(
        model="loss", reference=files.reference, target="loss", prediction="predicted",
        model_file=files.model_file, created_by="erin",
    ))  # fmt: skip
    ingest_predictions(store, model="loss", files=[files.logs])


@pytest.fixture(scope="module")
def no_latency(tmp_path_factory: pytest.TempPathFactory, regression_files: Case) -> Path:
    """'loss' v1 (registered, never promoted) with 200 hourly logs that carry no latency_ms."""
    assert "latency_ms" not in regression_files.frame.columns
    store = Store(tmp_path_factory.mktemp("traffic") / "store.duckdb", lock_wait_seconds=60)
    store.init()
    _register_loss_model(store, regression_files)
    return store.path


def test_daily_traffic_without_latency_counts_every_day_and_leaves_latency_empty(
    no_latency: Path, regression_files: Case
) -> None:
    with Store(no_latency).read() as r:
        daily = traffic.daily_traffic(r, flt=traffic.TrafficFilter(get_model(r, name="loss").id))
    logged = regression_files.frame.assign(
        day=pd.to_datetime(regression_files.frame["timestamp"]).dt.date
    )
    expected = logged.groupby("day").agg(n=("predicted", "size"), mean=("predicted", "mean"))
    assert [d.date() for d in daily["day"]] == list(expected.index)
    assert daily["predictions"].tolist() == expected["n"].tolist()
    np.testing.assert_allclose(daily["mean_score"], expected["mean"])
    for column in ("latency_p50", "latency_p95", "latency_p99"):
        assert daily[column].dtype == float
        assert daily[column].isna().all()


def test_daily_traffic_reads_latency_percentiles_per_day(
    credit_store: Store, binary_files: Case
) -> None:
    ingest_predictions(credit_store, model="credit", files=[binary_files.logs])
    with credit_store.read() as r:
        daily = traffic.daily_traffic(r, flt=traffic.TrafficFilter(get_model(r, name="credit").id))
    logged = binary_files.frame.assign(day=binary_files.frame["timestamp"].dt.date)
    per_day = logged.groupby("day")["latency_ms"]
    for column, q in (("latency_p50", 0.5), ("latency_p95", 0.95), ("latency_p99", 0.99)):
        exact = per_day.quantile(q).to_numpy()
        # read from 1%-wide bins: within one bin of the exact figure, not on it
        np.testing.assert_allclose(daily[column], exact, rtol=latency_bins.RELATIVE_WIDTH)
        assert not np.allclose(daily[column], exact, rtol=1e-9)


def test_totals_without_latency_have_no_p95(no_latency: Path) -> None:
    with Store(no_latency).read() as r:
        found = traffic.totals(r, flt=traffic.TrafficFilter(get_model(r, name="loss").id))
    assert (found["predictions"], found["latency_p95"], found["slow_share"]) == (200, None, None)


@pytest.mark.parametrize(
    "role", [role for role, pages in auth.PAGES_BY_ROLE.items() if "traffic" in pages]
)
def test_the_traffic_page_of_a_model_without_latency_shows_dashes(
    no_latency: Path,
    regression_files: Case,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    role: str,
) -> None:
    db = copy_store(no_latency, tmp_path).path
    monkeypatch.setenv("MODELBRIDGE_DB", str(db))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(MAIN), default_timeout=60)
    at.session_state["identity"] = Identity("someone", role)
    at.run()
    at.switch_page(switch_path("traffic")).run()

    assert not at.exception, at.exception
    assert [t.value for t in at.title] == [PAGE_TITLES["traffic"]]
    logged = regression_files.frame
    days = pd.to_datetime(logged["timestamp"]).dt.date.nunique()
    assert {m.label: m.value for m in at.metric} == {
        "Predictions": "200",
        "Per day": f"{200 / days:,.0f}",
        "Mean prediction": f"{logged['predicted'].mean():,.4g}",  # not a score out of 100
        "Latency p95": "–",
    }
    assert len(at.get("plotly_chart")) == 3


def test_the_score_scale_is_zero_to_one_for_a_probability_and_the_reference_middle_otherwise(
    no_latency: Path, regression_files: Case, store: Store, binary_files: Case
) -> None:
    predicted = pd.read_parquet(regression_files.reference)["predicted"].to_numpy()
    register_version(store, spec=RegistrationSpec(
        model="credit", reference=binary_files.reference, target="defaulted", prediction="score",
    ))  # fmt: skip

    with Store(no_latency).read() as r:
        loss = traffic.score_range(r, model=get_model(r, name="loss"))
    with store.read() as r:
        credit = traffic.score_range(r, model=get_model(r, name="credit"))

    assert loss == pytest.approx(tuple(np.quantile(predicted, [0.01, 0.99])))
    assert credit == (0.0, 1.0)
