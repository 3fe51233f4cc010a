"""Value on the reference (training/validation data) against a hand computation over the same
rows, in the CLI and on the Business value page; the kpi command's windows; the business-case
command changing and refusing values."""

from __future__ import annotations

import dataclasses
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core import users
from core.auth import Identity
from core.ingest import ingest_labels, ingest_predictions
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.store import Store
from core.value import business_case, kpi
from core.words import money
from tests.conftest import Ran, run_cli
from tests.factories import ADMIN, Case
from tests.ui_helpers import MAIN, switch_path

OWNER = Identity("olga", "product_owner")
PASSWORD = "olga-secret"
CREDIT_CASE = {"threshold": 0.2, "value_tp": -150, "value_fp": 60, "value_tn": 300,
               "value_fn": -2500, "volume_per_period": None, "period": "W",
               "unit": "EUR"}  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kpi-reference")


@pytest.fixture(scope="module")
def credit_reference(folder: Path, binary_files: Case) -> pd.DataFrame:
    """The binary reference with every seventh outcome missing."""
    frame = pd.read_csv(binary_files.reference).astype({"defaulted": "Int64"})
    frame.loc[::7, "defaulted"] = pd.NA
    frame.to_csv(folder / "credit-reference.csv", index=False)
    return frame


@pytest.fixture(scope="module")
def loss_reference(folder: Path, regression_files: Case) -> pd.DataFrame:
    """The regression reference with every fifth outcome missing."""
    frame = pd.read_parquet(regression_files.reference)
    frame.loc[::5, "loss"] = None
    frame.to_parquet(folder / "loss-reference.parquet")
    return frame


@pytest.fixture(scope="module")
def store(
    folder: Path,
    binary_files: Case,
    regression_files: Case,
    credit_reference: pd.DataFrame,
    loss_reference: pd.DataFrame,
) -> Store:
    """'credit' (binary, real model, logs and labels), 'loss' (regression, real model, no logs)
    and 'blank' (binary, a reference without outcomes); olga may sign in."""
    store = Store(folder / "store.duckdb", lock_wait_seconds=60)
    store.init()
    register_version(store, spec=RegistrationSpec(
        model="credit", reference=folder / "credit-reference.csv", target="defaulted",
        prediction="score", model_file=binary_files.model_file,
    ))  # fmt: skip
    ingest_predictions(store, model="credit", files=[binary_files.logs])
    ingest_labels(store, model="credit", files=[binary_files.labels])
    register_version(store, spec=RegistrationSpec(
        model="loss", reference=folder / "loss-reference.parquet", target="loss",
        prediction="predicted", task="regression", model_file=regression_files.model_file,
    ))  # fmt: skip
    credit_reference.assign(defaulted=pd.NA).to_csv(folder / "blank.csv", index=False)
    register_version(store, spec=RegistrationSpec(
        model="blank", reference=folder / "blank.csv", target="defaulted", prediction="score",
        task="binary",
    ))  # fmt: skip
    users.add_user(store, username="olga", role="product_owner", password=PASSWORD, by=ADMIN)
    return store


def _reference(store: Store, name: str) -> kpi.ReferenceValue:
    with store.read() as r:
        model = get_model(r, name=name)
        return kpi.on_reference(r, model=model, version=get_version(r, model=model))


def _case(store: Store, name: str) -> business_case.BusinessCase:
    with store.read() as r:
        return business_case.current(get_model(r, name=name))


def _weeks(timestamps: pd.Series) -> pd.Series:
    return pd.to_datetime(timestamps).dt.tz_localize(None).dt.to_period("W")


# --- the value on the reference ---------------------------------------------------------------


def test_the_binary_reference_value_is_the_confusion_matrix_over_its_labelled_rows(
    store: Store, credit_reference: pd.DataFrame, binary_files: Case
) -> None:
    business_case.save(store, model="credit", changes=CREDIT_CASE, by=OWNER)
    labelled = credit_reference.dropna(subset=["defaulted"])
    flagged = labelled["score"].to_numpy() >= CREDIT_CASE["threshold"]
    positive = labelled["defaulted"].to_numpy(dtype=int) == 1
    each = np.select(
        [flagged & positive, flagged & ~positive, ~flagged & ~positive],
        [CREDIT_CASE["value_tp"], CREDIT_CASE["value_fp"], CREDIT_CASE["value_tn"]],
        CREDIT_CASE["value_fn"],
    ).astype(float)
    se = each.std() / math.sqrt(len(each))
    per_week = len(binary_files.frame) / _weeks(binary_files.frame["timestamp"]).nunique()

    found = _reference(store, "credit")

    assert found.n_labeled == len(labelled) == 1500 - len(range(0, 1500, 7))
    assert found.threshold == CREDIT_CASE["threshold"]
    assert found.value_per_decision == pytest.approx(each.mean(), rel=1e-12)
    assert found.lower == pytest.approx(each.mean() - 2 * se, rel=1e-9)
    assert found.upper == pytest.approx(each.mean() + 2 * se, rel=1e-9)
    # 400 decisions logged over three calendar weeks (2026-03-01 is a Sunday).
    assert (found.decisions_per_period, found.decisions_per_period_from) == (
        pytest.approx(per_week),
        "production logs",
    )
    assert per_week == pytest.approx(400 / 3)
    assert found.value_per_period == pytest.approx(each.mean() * per_week, rel=1e-12)
    assert (found.period, found.unit, found.reason) == ("W", "EUR", None)


def test_the_volume_in_the_business_case_wins_over_the_logged_traffic(store: Store) -> None:
    business_case.save(store, model="credit", changes={**CREDIT_CASE, "volume_per_period": 1000},
                  by=OWNER)  # fmt: skip

    found = _reference(store, "credit")

    assert (found.decisions_per_period, found.decisions_per_period_from) == (1000, "business case")
    assert found.value_per_period == pytest.approx(found.value_per_decision * 1000, rel=1e-12)


def test_the_regression_reference_value_is_minus_the_mean_asymmetric_cost(
    store: Store, loss_reference: pd.DataFrame
) -> None:
    business_case.save(
        store, model="loss", changes={"cost_under": 3, "cost_over": 0.5, "volume_per_period": None},
        by=OWNER,
    )  # fmt: skip
    labelled = loss_reference.dropna(subset=["loss"])
    error = labelled["loss"] - labelled["predicted"]
    cost = 3 * error.clip(lower=0) + 0.5 * (-error).clip(lower=0)
    se = cost.std(ddof=1) / math.sqrt(len(cost))

    found = _reference(store, "loss")

    assert found.n_labeled == len(labelled) == 800 - 160
    assert found.threshold is None
    assert found.value_per_decision == pytest.approx(-cost.mean(), rel=1e-9)
    assert found.lower == pytest.approx(-cost.mean() - 2 * se, rel=1e-9)
    assert found.upper == pytest.approx(-cost.mean() + 2 * se, rel=1e-9)
    # No decision logged and no volume in the case: no invented value per period.
    assert (found.decisions_per_period, found.value_per_period) == (None, None)
    assert found.reason == (
        "no decisions are logged in production yet and the business case sets no volume per "
        "period, so the value per period is unknown"
    )

    business_case.save(store, model="loss", changes={"volume_per_period": 500}, by=OWNER)

    assert _reference(store, "loss").value_per_period == pytest.approx(-cost.mean() * 500)


def test_a_reference_without_outcomes_has_no_value_and_says_why(store: Store) -> None:
    found = _reference(store, "blank")

    assert (found.value_per_decision, found.lower, found.upper) == (None, None, None)
    assert (found.n_labeled, found.value_per_period) == (0, None)
    assert found.reason == (
        "the reference of v1 has no outcomes (its target column is empty), so its value "
        "cannot be measured"
    )


# --- the kpi command ------------------------------------------------------------------------


def _kpi(store: Store, *args: str) -> Ran:
    return run_cli("kpi", "credit", *args, db=store.path)


def test_kpi_reports_the_reference_value_in_json_and_in_words(store: Store) -> None:
    business_case.save(store, model="credit", changes=CREDIT_CASE, by=OWNER)
    expected = dataclasses.asdict(_reference(store, "credit"))

    with ThreadPoolExecutor(2) as pool:
        as_json, as_text = pool.map(lambda a: _kpi(store, *a), [("--json",), ()])

    assert as_json.code == 0, as_json.err
    assert as_json.json()["reference"] == expected
    assert as_text.code == 0, as_text.err
    line = as_text.out.splitlines()[1]
    assert line.startswith(
        "on the reference (training/validation data): value per decision "
        f"{expected['value_per_decision']:,.2f} EUR ({expected['lower']:,.2f} to "
        f"{expected['upper']:,.2f}), {expected['value_per_period']:,.2f} per week"
    )  # the business case's period


def test_kpi_text_names_the_business_cases_period_whatever_the_windows(store: Store) -> None:
    # A tester read "value_per_period" under weekly windows for a monthly volume.
    business_case.save(store, model="credit", changes={**CREDIT_CASE, "period": "M"}, by=OWNER)

    ran = _kpi(store, "--period", "W")

    assert ran.code == 0, ran.err
    assert " per month (" in ran.out.splitlines()[1]
    header = ran.out.splitlines()[2].split()
    assert header[-1] == "value_per_month" and "value_per_period" not in ran.out


def test_kpi_text_says_first_when_no_business_case_was_set(
    tmp_path: Path, binary_files: Case
) -> None:
    # A tester read "decision threshold 0.5 (best 0)" and zeros, with no word of why.
    fresh = Store(tmp_path / "store.duckdb")
    fresh.init()
    register_version(fresh, spec=RegistrationSpec(
        model="credit", reference=binary_files.reference, target="defaulted", prediction="score",
    ))  # fmt: skip

    ran = _kpi(fresh)

    assert ran.code == 0, ran.err
    assert ran.out.splitlines()[0] == (
        "No business case yet: every decision is worth 0, so these values say nothing. Set what "
        "each outcome is worth with `modelbridge business-case credit --set ...`."
    )


@pytest.mark.parametrize(
    ("args", "sizes"),
    [
        (("--period", "W"), None),
        (("--period", "d"), None),
        (("--chunk-size", "150"), [150, 150, 100]),
        (("--chunk-size", "1000"), [400]),
    ],
)
def test_kpi_cuts_the_logs_into_the_windows_asked_for(
    store: Store, binary_files: Case, args: tuple[str, str], sizes: list[int] | None
) -> None:
    if sizes is None:
        stamps = pd.to_datetime(binary_files.frame["timestamp"]).dt.tz_localize(None)
        sizes = stamps.dt.to_period(args[1].upper()).value_counts().sort_index().tolist()

    ran = _kpi(store, *args, "--json")

    assert ran.code == 0, ran.err
    assert [w["n"] for w in ran.json()["windows"]] == sizes
    assert sum(sizes) == 400


# --- the business-case command --------------------------------------------------------------


def _business_case(store: Store, *args: str) -> Ran:
    return run_cli(
        "business-case", "credit", *args, "--user", "olga", db=store.path,
        env={"MODELBRIDGE_PASSWORD": PASSWORD},
    )  # fmt: skip


def test_business_case_set_saves_a_new_revision_that_the_kpi_follows(store: Store) -> None:
    before = _case(store, "credit")

    ran = _business_case(store, "--set", "threshold=0.35", "--set", "unit=USD", "--json")

    assert ran.code == 0, ran.err
    after = _case(store, "credit")
    assert ran.json() == {"revision": before.revision + 1, **after.values}
    assert (after["threshold"], after["unit"]) == (0.35, "USD")
    assert after["value_fn"] == before["value_fn"]
    found = _reference(store, "credit")
    assert (found.threshold, found.unit) == (0.35, "USD")


def test_business_case_refuses_a_bad_value_in_one_line_with_exit_2(store: Store) -> None:
    before = _case(store, "credit")

    ran = _business_case(store, "--set", "threshold=1.5")

    assert (ran.code, ran.out) == (2, "")
    assert ran.err == "modelbridge: error: the threshold is a score between 0 and 1, not 1.5\n"
    assert _case(store, "credit") == before


# --- the Business value page ----------------------------------------------------------------


def test_the_business_value_page_shows_the_value_on_the_reference(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    business_case.save(store, model="credit", changes=CREDIT_CASE, by=OWNER)
    credit, blank = _reference(store, "credit"), _reference(store, "blank")
    with store.read() as r:
        model = get_model(r, name="credit")
        summary = kpi.summary(r, model=model, version=get_version(r, model=model))
    monkeypatch.setenv("MODELBRIDGE_DB", str(store.path))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(MAIN), default_timeout=60)
    at.session_state["identity"] = OWNER
    at.run()
    at.switch_page(switch_path("kpi")).run()

    # Models are listed by name: 'blank' comes first.
    assert not at.exception, at.exception
    reference = "On the reference (training/validation data)"
    assert {m.label: m.value for m in at.metric}[reference] == "–"
    assert f"On the reference: {blank.reason}." in [i.value for i in at.info]

    at.selectbox(key="kpi_model").set_value("credit").run()

    assert not at.exception, at.exception
    assert "On the reference and in production" in [s.value for s in at.subheader]
    shown = {m.label: m.value for m in at.metric}
    assert shown[reference] == money(credit.value_per_decision, "EUR")
    assert shown["Measured in production"] == money(summary.value_per_decision_at_threshold, "EUR")
    assert "Estimated in production, latest period" in shown
    [said] = [c.value for c in at.caption if c.value.startswith("On the reference")]
    assert said.startswith(f"On the reference: {money(credit.value_per_period, 'EUR')} per week")
    assert f"Measured on the {credit.n_labeled:,} reference rows of v1 with outcomes" in said
    assert said.endswith("per week at 133 decisions (the average logged per week).")
