"""The drift and explanations gates judged against live traffic: a candidate trained on data
unlike what production sees fails the drift gate, and a blocking failure stops approval through
the CLI, which runs in this process (`core.cli.main`), as `python -m core` does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import users, workflow
from core.auth import Identity
from core.ingest import ingest_labels, ingest_predictions
from core.monitoring.policy import update_settings
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.store import Store
from core.workflow import gates
from tests.conftest import Ran, copy_store, in_process_cli
from tests.factories import ADMIN, Case

ENGINEER = Identity("erin", "ml_engineer")
OWNER = Identity("olga", "product_owner")
PASSWORDS = {"erin": "erin-pw", "olga": "olga-pw"}
ROLES = {"erin": "ml_engineer", "olga": "product_owner"}
DRIFTED_SUMMARY = (
    "3 inputs differ from its training data in the last 30 days: debt ratio, income, segment."
)


def _shifted_reference(binary_files: Case, folder: Path) -> Path:
    """The credit reference as if drawn from another population: richer, more indebted
    applicants, mostly corporate; targets and scores as they were."""
    reference = pd.read_csv(binary_files.reference)
    rng = np.random.default_rng(5)
    reference["income"] = (reference["income"] * 3).round(2)
    reference["debt ratio"] = (reference["debt ratio"] + 40).round(1)
    reference["segment"] = rng.choice(["retail", "sme", "corporate"], len(reference),
                                      p=[0.1, 0.2, 0.7])  # fmt: skip
    path = folder / "shifted.csv"
    reference.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, binary_files: Case) -> Path:
    """'credit' v1 live with labelled traffic; v2 (trained like v1) in review; v3 (trained on
    data unlike the traffic, no model file) registered. Drift blocks approval past one
    drifted input. Users erin (ML engineer) and olga (product owner)."""
    folder = tmp_path_factory.mktemp("gates-live")
    store = Store(folder / "store.duckdb", lock_wait_seconds=60)
    store.init()
    for name, password in PASSWORDS.items():
        users.add_user(store, username=name, role=ROLES[name], password=password, by=ADMIN)
    for _ in (1, 2):
        register_version(
            store,
            spec=RegistrationSpec(
                model="credit",
                reference=binary_files.reference,
                target="defaulted",
                prediction="score",
                model_file=binary_files.model_file,
                created_by="erin",
            ),
        )
    register_version(
        store,
        spec=RegistrationSpec(
            model="credit",
            reference=_shifted_reference(binary_files, folder),
            target="defaulted",
            prediction="score",
            created_by="erin",
        ),
    )
    update_settings(
        store,
        model="credit",
        changes={
            # A busy test machine must not decide approvals through the latency gate.
            "gates.latency_budget_ms": 10_000,
            "gates.max_drifted_features": 1,
            "gates.blocking": "metrics,compatibility,kpi,latency,drift",
        },
        by=OWNER,
    )
    workflow.request_review(store, model="credit", version=1, by=ENGINEER)
    workflow.sign(store, model="credit", version=1, by=OWNER, decision="approve", comment="ok")
    workflow.promote(store, model="credit", version=1, by=OWNER)
    ingest_predictions(store, model="credit", files=[binary_files.logs])
    ingest_labels(store, model="credit", files=[binary_files.labels])
    workflow.request_review(store, model="credit", version=2, by=ENGINEER)
    return store.path


@pytest.fixture
def fresh(template: Path, tmp_path: Path) -> Store:
    """A private copy of the template store."""
    return copy_store(template, tmp_path, lock_wait_seconds=60)


@pytest.fixture
def cli(
    fresh: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Ran]:
    """`modelbridge ARGS --db FRESH` in this process, signed in as USER when given."""
    return in_process_cli(fresh, PASSWORDS, capsys, monkeypatch)


def _stage(store: Store, version: int) -> str:
    with store.read() as r:
        return get_version(r, model=get_model(r, name="credit"), version=version).stage


def _gate(evidence: dict, name: str) -> dict:
    [found] = [g for g in evidence["gates"] if g["name"] == name]
    return found


def _drift_gate(store: Store, version: int) -> gates.Gate:
    with store.read() as r:
        model = get_model(r, name="credit")
        live = get_version(r, model=model, version=1)
        return gates.drift_gate(
            r, model=model, candidate=get_version(r, model=model, version=version), live=live
        )


def test_a_candidate_trained_on_data_unlike_live_traffic_fails_the_drift_gate(
    fresh: Store,
) -> None:
    unlike, like = _drift_gate(fresh, 3), _drift_gate(fresh, 2)

    assert (unlike.status, unlike.blocking, unlike.summary) == ("fail", True, DRIFTED_SUMMARY)
    assert unlike.numbers == {
        "drifted": ["debt ratio", "income", "segment"], "features": 3, "days": 30, "max": 1,
    }  # fmt: skip
    assert (like.status, like.summary) == ("pass", "Recent traffic looks like its training data.")
    assert like.numbers["drifted"] == []


def test_the_drift_gate_warns_while_drifted_inputs_stay_within_the_limit(fresh: Store) -> None:
    update_settings(fresh, model="credit", changes={"gates.max_drifted_features": 3}, by=OWNER)

    found = _drift_gate(fresh, 3)

    assert (found.status, found.numbers["max"]) == ("warn", 3)
    assert found.summary == (
        "Recent traffic differs from its training data in debt ratio, income, segment."
    )


def test_a_blocking_drift_failure_stops_approval_through_the_cli(fresh: Store, cli) -> None:
    asked = cli("request-review", "credit", "3", "--json", user="erin")
    assert asked.code == 0, asked.err
    drift = _gate(asked.json(), "drift")

    gate3, gate2 = cli("gate", "credit", "3"), cli("gate", "credit", "2")
    refused = cli("approve", "credit", "3", "--comment", "ship it", user="olga")

    assert (drift["status"], drift["blocking"], drift["summary"]) == ("fail", True, DRIFTED_SUMMARY)
    assert [g["name"] for g in asked.json()["gates"] if g["status"] == "fail"] == ["drift"]
    assert (gate3.code, gate3.out) == (1, f"blocking gates failed: drift: {DRIFTED_SUMMARY}\n")
    assert (gate2.code, gate2.out) == (0, "all blocking gates pass\n")
    assert (refused.code, refused.out) == (2, "")
    assert refused.err == (
        "modelbridge: error: blocking gates failed, so it cannot be approved: "
        f"drift ({DRIFTED_SUMMARY})\n"
    )
    assert _stage(fresh, 3) == "in_review"


def test_the_explanations_gate_passes_with_a_model_file_and_warns_without(fresh: Store) -> None:
    with fresh.read() as r:
        model = get_model(r, name="credit")
        review = workflow.open_review(r, model=model, version=2)
        no_file = get_version(r, model=model, version=3)
        sample = pd.DataFrame({"income": [1.0], "debt ratio": [1.0], "segment": ["sme"]})
        unexplained, none = gates.explanation_gate(
            fresh, model=model, candidate=no_file, sample=sample
        )

    explained = _gate(review.evidence, "explanations")
    assert explained["status"] == "pass"
    assert explained["summary"] == (
        f"Explanations add up ({explained['numbers']['method']} explainer)."
    )
    assert explained["numbers"]["max_additivity_gap"] < 1e-4
    assert explained["blocking"] is False  # not among this model's blocking gates
    samples = review.evidence["sample_explanations"]
    assert len(samples) == 3
    assert all(len(s["top"]) == 3 for s in samples)
    assert (unexplained.status, unexplained.summary, none) == (
        "warn",
        "No model file: decisions cannot be explained.",
        [],
    )
