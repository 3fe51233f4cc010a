"""Every page under every role that may open it, the sign-in form and the page guard (AppTest)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.navigation import PAGES
from core import auth, registry
from core.monitoring import latency_bins
from core.store import Store, log_tables
from core.words import STAGES
from core.words import score as score_words
from data.build_demo import CLASS_MODEL, DEMO_PASSWORD, DEMO_USERS, MODEL, truth_path
from tests.ui_helpers import (  # noqa: F401  (fixtures)
    ALLOWED,
    PAGE_TITLES,
    REFUSED,
    USER_OF_ROLE,
    app_as_fixture,
    demo_db_fixture,
    switch_path,
)

AppAs = Callable[[str | None], AppTest]


def open_page(app_as: AppAs, role: str, page: str) -> AppTest:
    """The app signed in as ROLE, showing PAGE."""
    at = app_as(role)
    return at.switch_page(switch_path(page)).run()


def texts(elements: object) -> list[str]:
    """The values of a list of AppTest text elements."""
    return [e.value for e in elements]


def chart_titles(at: AppTest) -> list[str | None]:
    """Titles of the plotly charts on the page, in order (None for an untitled chart)."""
    layouts = [json.loads(chart.proto.spec)["layout"] for chart in at.get("plotly_chart")]
    return [layout.get("title", {}).get("text") for layout in layouts]


def table_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first st.dataframe with COLUMN (AppTest has no keys for read-only tables)."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def store_totals(db: Path, version: int | None = None) -> dict[str, object]:
    """What the traffic page's headline metrics must say, counted straight from the store."""
    with Store(db).read() as r:
        table = log_tables.pred_table(registry.get_model(r, name=MODEL).id)
        where, params = ("WHERE version = ?", [version]) if version is not None else ("", [])
        n, days, mean, exact = r.rows(
            "SELECT count(*), count(DISTINCT ts::DATE), avg(score), "
            f"quantile_cont(latency_ms, 0.95) FROM {table} {where}",
            params,
        )[0]
        binned = r.rows(
            f"SELECT {latency_bins.bin_sql('latency_ms')} AS bin, count(*) FROM {table} {where} "
            f"{'AND' if where else 'WHERE'} latency_ms IS NOT NULL GROUP BY bin",
            params,
        )
    # the page reads p95 from 1%-wide bins: within 1% of the exact figure
    p95 = latency_bins.quantiles(*np.array(binned).T, [0.95])[0] if binned else None
    assert p95 == (None if exact is None else pytest.approx(exact, rel=latency_bins.RELATIVE_WIDTH))
    return {
        "Predictions": f"{n:,}",
        "Per day": f"{n / max(days, 1):,.0f}",
        "Mean score": "–" if mean is None else f"{mean * 100:.0f} / 100",
        "Latency p95": "–" if p95 is None else f"{p95:.0f} ms",
    }


def store_counts(db: Path) -> tuple[int, int]:
    """Logged predictions and arrived labels of the demo model."""
    with Store(db).read() as r:
        model = registry.get_model(r, name=MODEL)
        [(predictions,)] = r.rows(f"SELECT count(*) FROM {log_tables.pred_table(model.id)}")
        [(labels,)] = r.rows("SELECT count(*) FROM label WHERE model_id = ?", [model.id])
    return predictions, labels


def store_stages(db: Path) -> dict[int, str]:
    """Stage of each version of the demo model."""
    with Store(db).read() as r:
        return {
            v.version: v.stage
            for v in registry.list_versions(r, model=registry.get_model(r, name=MODEL))
        }


def latest_requests(db: Path, n: int) -> list[tuple[str, float]]:
    """The N most recent (request id, score) pairs logged for the demo model."""
    with Store(db).read() as r:
        table = log_tables.pred_table(registry.get_model(r, name=MODEL).id)
        return r.rows(f"SELECT request_id, score FROM {table} ORDER BY ts DESC LIMIT ?", [n])


def metrics(at: AppTest) -> dict[str, str]:
    """The page's st.metric values by label."""
    return {m.label: m.value for m in at.metric}


def check_overview(at: AppTest, db: Path, role: str) -> None:
    assert texts(at.subheader) == [
        "Is it earning what it should?",
        "Is it healthy?",
        "What needs attention?",
    ]
    live = next(v for v, stage in store_stages(db).items() if stage == "production")
    assert f"Live version: v{live} (production)" in texts(at.caption)
    assert chart_titles(at)[0].startswith("Value per period")
    # Links to the detail pages only ever point at pages this role may open.
    links = [link.proto.label for link in at.get("page_link")]
    allowed = {PAGE_TITLES[key] for key in auth.pages_for(role)}
    assert set(links) <= allowed
    if "kpi" in auth.pages_for(role):
        assert PAGE_TITLES["kpi"] in links


def check_kpi(at: AppTest, db: Path, role: str) -> None:
    assert {"Where to set the threshold", "Over time"} <= set(texts(at.subheader))
    windows = table_with(at, "With outcomes")
    predictions, labels = store_counts(db)
    counted = [
        windows[c].str.replace(",", "").astype(int).sum() for c in ("Decisions", "With outcomes")
    ]
    assert counted == [predictions, labels]
    assert "Value per month" in windows.columns and "value_per_period" not in windows.columns
    assert windows["Month"].tolist()[:2] == ["May 2026", "Jun 2026"]
    assert windows["Value per month"].str.endswith(" EUR").all()
    assert labels > 0, "the demo store should have outcomes for the threshold curve"
    assert "Value per decision by threshold" in chart_titles(at)


def check_traffic(at: AppTest, db: Path, role: str) -> None:
    assert metrics(at) == store_totals(db)
    assert int(metrics(at)["Predictions"].replace(",", "")) > 1000
    assert chart_titles(at) == [
        "Predictions per day",
        "Prediction scores per day",
        "Latency per day (ms)",
    ]


def check_models(at: AppTest, db: Path, role: str) -> None:
    assert texts(at.subheader) == [MODEL, CLASS_MODEL]
    versions = at.dataframe[0].value  # credit-default's, the first by name
    shown = dict(zip(versions["Version"], versions["Stage"], strict=True))
    assert shown == {f"v{v}": STAGES[s] for v, s in store_stages(db).items()}
    assert shown["v1"] == "live" and set(shown) == {"v1", "v2"}
    # How good, in a sentence; metrics and fingerprints only in the technical view.
    assert (
        versions["How good, on its validation data"]
        .str.match(r"^Scores a real case above one that is not \d+ times in 100\.$")
        .all()
    )
    assert not any("sha256" in c or "auc" in c.lower() for c in versions.columns)
    technical = role in ("ml_engineer", "admin")
    per_model = [
        *(["Technical view: metrics on the validation data"] if technical else []),
        "v2 inputs" + (" and lineage" if technical else ""),
        "v1 inputs" + (" and lineage" if technical else ""),
    ]
    assert [e.label for e in at.expander] == per_model * 2  # both models have v1 and v2
    lineage = [m for m in texts(at.markdown) if "training data fingerprint" in m]
    assert len(lineage) == (4 if technical else 0)


def check_data_quality(at: AppTest, db: Path, role: str) -> None:
    headline = [*at.success, *at.warning, *at.error]
    assert headline, "the data-quality headline is missing"
    assert "requests" in headline[0].value
    assert "Requests received" in chart_titles(at)
    assert {"Inputs per feature", "Latency"} <= set(texts(at.subheader))


def check_drift(at: AppTest, db: Path, role: str) -> None:
    [status] = texts(at.info)
    assert "features" in status
    assert chart_titles(at)[0].startswith("Drift per feature and window")
    ranking = table_with(at, "Windows drifted").rename(columns={"Input": "feature"})
    with Store(db).read() as r:
        version = registry.get_version(r, model=registry.get_model(r, name=MODEL))
        features = {f.name for f in registry.features_of(version)}
    assert set(ranking["feature"]) == features | {"prediction"}
    # The demo drifts exactly these inputs; the page must rank them first.
    drifted = set(json.loads(truth_path(Store(db)).read_text())["drifted_features"])
    assert set(ranking["feature"].head(len(drifted))) == drifted


def check_explain(at: AppTest, db: Path, role: str) -> None:
    assert [t.label for t in at.tabs] == ["A decision", "How the model decides"]
    cases = at.dataframe(key="explain_cases").value
    assert list(zip(cases["Request id"], cases["Score"], strict=True)) == [
        (request_id, score_words(value)) for request_id, value in latest_requests(db, len(cases))
    ]
    # "How the model decides" is drawn even before a decision is picked.
    assert chart_titles(at)[0] == "How much each input moves the score (average, in points)"


def check_approvals(at: AppTest, db: Path, role: str) -> None:
    waiting = {v: s for v, s in store_stages(db).items() if s in ("in_review", "approved")}
    assert texts(at.subheader) == [
        *(f"{MODEL} v{v} · {s.replace('_', ' ')}" for v, s in sorted(waiting.items())),
        f"{CLASS_MODEL} v2 · in review",  # the demo's multiclass candidate, registered later
        "Live versions",
    ]
    live = next(v for v, stage in store_stages(db).items() if stage == "production")
    assert any(m.startswith(f"**{MODEL} v{live}**") for m in texts(at.markdown))


def check_audit(at: AppTest, db: Path, role: str) -> None:
    assert texts(at.success) == ["The hash chain is intact: no event was edited or removed."]
    events = table_with(at, "Action")
    added = events.loc[events["Action"] == "user added", "After"]
    users = {re.search(r"username: ([^;]+)", a)[1] for a in added}
    assert users == set(DEMO_USERS)
    assert "register version" in set(events["Action"])
    assert events["Version"].isin(["v1", "v2", "–"]).all()


# Real content each page must show; a new page without an entry here fails the test below.
CONTENT_CHECKS: dict[str, Callable[[AppTest, Path, str], None]] = {
    "overview": check_overview,
    "approvals": check_approvals,
    "kpi": check_kpi,
    "traffic": check_traffic,
    "drift": check_drift,
    "explain": check_explain,
    "data_quality": check_data_quality,
    "models": check_models,
    "audit": check_audit,
}


def test_every_page_has_a_content_check() -> None:
    assert set(CONTENT_CHECKS) == set(PAGES)


def test_every_role_may_open_some_page() -> None:
    assert {role for role, _ in ALLOWED} == set(auth.ROLE_LABELS) == set(USER_OF_ROLE)


@pytest.mark.parametrize(("role", "key"), ALLOWED)
def test_role_sees_page_with_its_content(app_as: AppAs, demo_db: Path, role: str, key: str):
    at = open_page(app_as, role, key)
    assert not at.exception, at.exception
    assert texts(at.title) == [PAGE_TITLES[key]]
    assert not [e for e in at.error if e.value.startswith("Not allowed")]
    CONTENT_CHECKS[key](at, demo_db, role)
    check_tables_read_like_a_report(at, role)


# Statistics a manager, domain expert or product owner never reads in a table. (The audit trail
# names evidence hashes, which sign-offs refer to; the Models page shows none, see above.)
TECHNICAL_TERMS = re.compile(r"wasserstein|jensen|reconstruction|p-value", re.IGNORECASE)
# Data shown exactly as it arrived, not as a figure: the rejected row itself.
VERBATIM = {"Row as received"}
RAW = re.compile(r"\bNone\b|\bnan\b|\bNaT\b|00:00:00|\d\.\d{5,}|^\d{4}-\d\d-\d\d")


def check_tables_read_like_a_report(at: AppTest, role: str) -> None:
    """Every table: headers in words, every cell text with no None, NaN, midnight stamps or
    long decimals; for business roles no statistic's name, and ML metric names only beside
    what they measure."""
    for shown in at.dataframe:
        if shown.editing_mode != "read_only":  # a form to edit words, not a report
            continue
        frame = shown.value
        assert not [c for c in frame.columns if re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", str(c))]
        assert all(isinstance(c, str) for c in frame.to_numpy().ravel()), frame.dtypes
        cells = [str(c) for c in frame.drop(columns=[*VERBATIM & set(frame)]).to_numpy().ravel()]
        assert not [c for c in cells if RAW.search(c)], [c for c in cells if RAW.search(c)][:5]
        if role in ("ml_engineer", "admin"):
            continue
        words = [*map(str, frame.columns), *cells]
        assert not [w for w in words if TECHNICAL_TERMS.search(w)], frame.columns
        if any(re.search(r"\bAUC\b|\bF1\b", w) for w in words):
            assert "What it measures" in frame.columns


def version_label(version: int, stage: str) -> str:
    """How the traffic page names a version in its picker."""
    return f"v{version} ({stage})"


def test_traffic_metrics_follow_the_chosen_version(app_as: AppAs, demo_db: Path):
    at = open_page(app_as, "manager", "traffic")
    stages = store_stages(demo_db)
    assert at.selectbox(key="traffic_version").options == [
        "All versions",
        *(version_label(v, s) for v, s in sorted(stages.items(), reverse=True)),
    ]
    at.selectbox(key="traffic_version").select(version_label(1, stages[1])).run()
    assert not at.exception
    assert metrics(at) == store_totals(demo_db, version=1)


def test_traffic_of_a_version_without_traffic_shows_dashes(app_as: AppAs, demo_db: Path):
    at = open_page(app_as, "manager", "traffic")
    at.selectbox(key="traffic_version").select(version_label(2, store_stages(demo_db)[2])).run()
    assert not at.exception, at.exception
    assert metrics(at) == store_totals(demo_db, version=2)
    assert metrics(at)["Predictions"] == "0"


def test_explanation_of_a_logged_decision(app_as: AppAs, demo_db: Path):
    at = open_page(app_as, "domain_expert", "explain")
    [(request_id, score)] = latest_requests(demo_db, 1)
    at.text_input(key="explain_request_id").input(request_id).run()
    assert not at.exception, at.exception
    assert not at.error
    assert "From a typical case to this one" in chart_titles(at)
    assert any(m.startswith("### Decision: ") for m in texts(at.markdown))
    assert f"Score {score * 100:.0f} / 100" in " ".join(texts(at.caption))


def test_explaining_an_unknown_request_shows_an_error(app_as: AppAs):
    at = open_page(app_as, "domain_expert", "explain")
    at.text_input(key="explain_request_id").input("req-does-not-exist").run()
    assert not at.exception
    assert texts(at.error) == [
        f"no logged prediction with request id 'req-does-not-exist' for {MODEL}"
    ]


def test_signed_out_visitor_sees_only_the_sign_in_form(app_as: AppAs):
    at = app_as(None)
    assert not at.exception
    assert texts(at.title) == ["ModelBridge"]
    assert [w.key for w in at.text_input] == ["username", "password"]
    assert not at.metric and not at.dataframe and not at.get("plotly_chart")
    assert not at.sidebar.button
    for page in PAGES:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(switch_path(page))


def sign_in(at: AppTest, username: str, password: str) -> AppTest:
    """Fill in and submit the sign-in form."""
    at.text_input(key="username").input(username)
    at.text_input(key="password").input(password)
    return at.button[0].click().run()


def test_wrong_password_shows_an_error_and_stays_signed_out(app_as: AppAs):
    at = sign_in(app_as(None), "expert", "not-the-password")
    assert not at.exception
    assert texts(at.error) == ["Unknown user or wrong password."]
    assert "identity" not in at.session_state
    assert texts(at.title) == ["ModelBridge"]
    assert not at.metric


def test_unknown_user_gets_the_same_error(app_as: AppAs):
    at = sign_in(app_as(None), "nobody", DEMO_PASSWORD)
    assert texts(at.error) == ["Unknown user or wrong password."]
    assert "identity" not in at.session_state


@pytest.mark.parametrize(("username", "role"), DEMO_USERS.items())
def test_demo_user_signs_in_and_lands_on_the_overview(
    app_as: AppAs, username: str, role: str
) -> None:
    at = sign_in(app_as(None), username, DEMO_PASSWORD)
    assert not at.exception, at.exception
    assert at.session_state["identity"] == auth.Identity(username, role)
    assert texts(at.title) == ["Overview"]
    assert f"**{username}** · {auth.ROLE_LABELS[role]}" in texts(at.sidebar.markdown)


def test_sign_out_returns_to_the_form(app_as: AppAs):
    at = app_as("admin")
    at.sidebar.button(key="sign_out").click().run()
    assert "identity" not in at.session_state
    assert texts(at.title) == ["ModelBridge"]
    assert not at.metric


@pytest.mark.parametrize(("role", "key"), REFUSED)
def test_role_cannot_switch_to_a_page_it_lacks(app_as: AppAs, role: str, key: str):
    at = app_as(role)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(switch_path(key))


@pytest.mark.parametrize(("role", "key"), REFUSED)
def test_stale_link_to_a_refused_page_falls_back_to_an_allowed_one(
    app_as: AppAs, role: str, key: str
) -> None:
    # The session last showed PAGE under a role that had it; the next run asks for that page
    # again, as a bookmarked link does, but the navigation of ROLE has no such page.
    at = open_page(app_as, "admin", key)
    assert texts(at.title) == [PAGE_TITLES[key]]
    at.session_state["identity"] = auth.Identity(USER_OF_ROLE[role], role)
    at.run()
    assert not at.exception, at.exception
    assert texts(at.title) != [PAGE_TITLES[key]]
    assert texts(at.title)[0] in {PAGE_TITLES[p] for p in auth.pages_for(role)}


def guarded_page(page: str) -> None:
    """A stand-in page: the guard, then content that must stay hidden from other roles."""
    import streamlit as st

    from app.session import guard

    guard(page)
    st.markdown("secret content")


@pytest.mark.parametrize(("role", "key"), REFUSED)
def test_page_guard_stops_a_role_that_lacks_the_page(role: str, key: str):
    at = AppTest.from_function(guarded_page, args=(key,), default_timeout=30)
    at.session_state["identity"] = auth.Identity(USER_OF_ROLE[role], role)
    at.run()
    assert not at.exception
    assert texts(at.error) == [
        f"Not allowed: the {auth.ROLE_LABELS[role]} role cannot open this page."
    ]
    assert "secret content" not in texts(at.markdown)


def test_page_guard_stops_a_visitor_who_is_not_signed_in():
    at = AppTest.from_function(guarded_page, args=("overview",), default_timeout=30).run()
    assert texts(at.error) == ["Not allowed: sign in first."]
    assert "secret content" not in texts(at.markdown)


@pytest.mark.parametrize(("role", "key"), ALLOWED)
def test_page_guard_lets_an_allowed_role_through(role: str, key: str):
    at = AppTest.from_function(guarded_page, args=(key,), default_timeout=30)
    at.session_state["identity"] = auth.Identity(USER_OF_ROLE[role], role)
    at.run()
    assert not at.error
    assert texts(at.markdown) == ["secret content"]


@pytest.mark.parametrize("role", [None, "admin"])
def test_missing_store_shows_a_clear_error(
    app_as: AppAs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, role: str | None
) -> None:
    missing = tmp_path / "nowhere.duckdb"
    monkeypatch.setenv("MODELBRIDGE_DB", str(missing))
    at = app_as(role)
    assert not at.exception
    assert texts(at.title) == ["ModelBridge"]
    [error] = texts(at.error)
    assert f"No ModelBridge store at `{missing}`" in error
    assert "modelbridge demo" in error
    assert not at.text_input and not at.metric
    assert not missing.exists()
