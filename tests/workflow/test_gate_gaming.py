"""No one turns a failing blocking gate of a version they registered or asked to review into a
pass (issue 15, points 2 and 3): the settings the gates read are frozen with the evidence; a
change to them by the candidate's registrant or requester since its registration fails the
"settings" gate; while it is in review they may not change them at all, and a change by anyone
else sends it back to be reviewed again, with the change in the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio
from sqlmodel import col, select

from core import audit, users, workflow
from core.auth import Identity
from core.errors import InvalidInput, PermissionDenied
from core.ingest import ingest_labels, ingest_predictions
from core.monitoring.policy import update_settings
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.store import AuditEvent, Review, Store
from core.value import business_case
from tests.conftest import Ran, copy_store, in_process_cli
from tests.factories import ADMIN, FEATURES, Case

ENGINEER = Identity("erin", "ml_engineer")  # registers every version
OWNER = Identity("olga", "product_owner")  # owns the business case and the gates
OTHER_OWNER = Identity("otto", "product_owner")
PASSWORDS = {"erin": "erin-pw", "olga": "olga-pw", "otto": "otto-pw"}
ROLES = {"erin": "ml_engineer", "olga": "product_owner", "otto": "product_owner"}
CASE = {
    "threshold": 0.2,
    "value_tp": -150,
    "value_fp": 60,
    "value_tn": 300,
    "value_fn": -2500,
    "volume_per_period": 1000,
}
ZERO = {"value_tp": 0, "value_fp": 0, "value_tn": 0, "value_fn": 0}
SILENT_DRIFT = {"drift.thresholds.wasserstein": 1000, "drift.thresholds.jensen_shannon": 1000}
INVERTED, SHIFTED, GOOD = 2, 3, 4  # the candidates, all registered by erin
ZEROED = (
    "business_case.value_tp -150 → 0 (erin), business_case.value_fp 60 → 0 (erin), "
    "business_case.value_tn 300 → 0 (erin), business_case.value_fn -2500 → 0 (erin)"
)
SINCE = "since the model's last approval, and not set again by anyone else"
ADVICE = "Put them back, or have someone who did not register it or ask for its review make them."


def _inverted(binary_files: Case, folder: Path) -> tuple[Path, Path]:
    """A model trained on inverted outcomes (it ranks good customers as risky), with its
    reference scored by it."""
    from sklearn.base import clone

    reference = pd.read_csv(binary_files.reference)
    model = clone(binary_files.model).fit(reference[FEATURES], 1 - reference["defaulted"])
    sio.dump(model, folder / "inverted.skops")
    scored = reference.assign(score=model.predict_proba(reference[FEATURES])[:, 1])
    scored.to_csv(folder / "inverted.csv", index=False)
    return folder / "inverted.csv", folder / "inverted.skops"


def _shifted(binary_files: Case, folder: Path) -> Path:
    """The credit reference as if drawn from richer, more indebted applicants."""
    reference = pd.read_csv(binary_files.reference)
    reference["income"] = (reference["income"] * 3).round(2)
    reference["debt ratio"] = (reference["debt ratio"] + 40).round(1)
    reference.to_csv(folder / "shifted.csv", index=False)
    return folder / "shifted.csv"


def _register(store: Store, reference: Path, model_file: Path | None) -> None:
    register_version(
        store,
        spec=RegistrationSpec(
            model="credit",
            reference=reference,
            target="defaulted",
            prediction="score",
            model_file=model_file,
            created_by="erin",
        ),
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, binary_files: Case) -> Path:
    """'credit' v1 live with labelled traffic; registered by erin: v2 (inverted: earns less
    than v1, so it fails the KPI gate), v3 (trained on other applicants, no model file: fails
    the drift gate) and v4 (trained like v1: passes). Olga set the gates and the business case
    after all four were registered."""
    folder = tmp_path_factory.mktemp("gate-gaming")
    store = Store(folder / "store.duckdb", lock_wait_seconds=60)
    store.init()
    for name, password in PASSWORDS.items():
        users.add_user(store, username=name, role=ROLES[name], password=password, by=ADMIN)
    _register(store, binary_files.reference, binary_files.model_file)
    _register(store, *_inverted(binary_files, folder))
    _register(store, _shifted(binary_files, folder), None)
    _register(store, binary_files.reference, binary_files.model_file)
    update_settings(
        store,
        model="credit",
        changes={
            "gates.latency_budget_ms": 10_000,  # a busy machine must not decide approvals
            "gates.max_drifted_features": 1,
            "gates.blocking": "metrics,compatibility,kpi,latency,drift",
        },
        by=OWNER,
    )
    business_case.save(store, model="credit", changes=CASE, by=OWNER)
    workflow.request_review(store, model="credit", version=1, by=ENGINEER)
    workflow.sign(store, model="credit", version=1, by=OWNER, decision="approve", comment="ok")
    workflow.promote(store, model="credit", version=1, by=OWNER)
    ingest_predictions(store, model="credit", files=[binary_files.logs])
    ingest_labels(store, model="credit", files=[binary_files.labels])
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


def _gate(evidence: dict, name: str) -> dict:
    [found] = [g for g in evidence["gates"] if g["name"] == name]
    return found


def _failed(evidence: dict) -> list[str]:
    return [g["name"] for g in evidence["gates"] if g["blocking"] and g["status"] == "fail"]


def _stage(store: Store, version: int) -> str:
    with store.read() as r:
        return get_version(r, model=get_model(r, name="credit"), version=version).stage


def _case(store: Store) -> dict:
    with store.read() as r:
        return business_case.current(get_model(r, name="credit")).values


def _approve(store: Store, version: int, by: Identity = OWNER) -> None:
    workflow.sign(store, model="credit", version=version, by=by, decision="approve", comment="ok")


# --- the attacks ---------------------------------------------------------------------------


def test_zeroing_the_business_case_does_not_pass_the_kpi_gate_of_ones_own_candidate(
    fresh: Store,
) -> None:
    business_case.save(fresh, model="credit", changes=ZERO, by=ENGINEER)
    review = workflow.request_review(fresh, model="credit", version=INVERTED, by=ENGINEER)
    with pytest.raises(PermissionDenied) as put_back:
        business_case.save(fresh, model="credit", changes=CASE, by=ENGINEER)
    with pytest.raises(InvalidInput) as approving:
        _approve(fresh, INVERTED)

    settings = _gate(review.evidence, "settings")
    assert _gate(review.evidence, "kpi")["status"] == "pass"  # every outcome is worth 0 now
    assert (settings["status"], settings["blocking"], _failed(review.evidence)) == (
        "fail",
        True,
        ["settings"],
    )
    assert settings["summary"] == (
        f"Set by v2's registrant or requester {SINCE}: {ZEROED}. {ADVICE}"
    )
    assert review.evidence["settings"]["business_case"]["value_tp"] == 0
    assert str(put_back.value) == (
        "erin registered credit v2 or asked for its review, which is open: they cannot change "
        "the settings its gates read (business_case.value_tp, business_case.value_fp, "
        "business_case.value_tn, business_case.value_fn) until it is decided"
    )
    assert str(approving.value).startswith(
        "blocking gates failed, so it cannot be approved: settings (Set by v2's registrant"
    )
    assert (_stage(fresh, INVERTED), _case(fresh)["value_tp"]) == ("in_review", 0)


def test_zeroing_the_business_case_through_the_cli_does_not_pass_the_kpi_gate(
    fresh: Store, cli: Callable[..., Ran]
) -> None:
    zero = [a for k, v in ZERO.items() for a in ("--set", f"{k}={v}")]
    restore = [a for k in ZERO for a in ("--set", f"{k}={CASE[k]}")]

    zeroed = cli("business-case", "credit", *zero, user="erin")
    asked = cli("request-review", "credit", "2", "--json", user="erin")
    put_back = cli("business-case", "credit", *restore, user="erin")
    refused = cli("approve", "credit", "2", "--comment", "looks fine", user="otto")
    gate = cli("gate", "credit", "2")

    assert (zeroed.code, asked.code) == (0, 0), zeroed.err + asked.err
    assert _failed(asked.json()) == ["settings"]
    assert (put_back.code, put_back.out) == (2, "")
    assert put_back.err == (
        "modelbridge: error: erin registered credit v2 or asked for its review, which is open: "
        "they cannot change the settings its gates read (business_case.value_tp, "
        "business_case.value_fp, business_case.value_tn, business_case.value_fn) until it is "
        "decided\n"
    )
    assert (refused.code, refused.out) == (2, "")
    assert refused.err == (
        "modelbridge: error: blocking gates failed, so it cannot be approved: settings (Set by "
        f"v2's registrant or requester {SINCE}: {ZEROED}. {ADVICE})\n"
    )
    assert gate.code == 1
    assert _stage(fresh, INVERTED) == "in_review"


def test_drift_thresholds_of_1000_set_by_the_registrant_do_not_pass_the_drift_gate(
    fresh: Store,
) -> None:
    update_settings(fresh, model="credit", changes=SILENT_DRIFT, by=ENGINEER)
    review = workflow.request_review(fresh, model="credit", version=SHIFTED, by=ENGINEER)
    with pytest.raises(InvalidInput):
        _approve(fresh, SHIFTED)
    with pytest.raises(PermissionDenied) as put_back:
        update_settings(
            fresh, model="credit", changes={"drift.thresholds.wasserstein": 0.1}, by=ENGINEER
        )

    assert _gate(review.evidence, "drift")["status"] == "pass"  # nothing counts as drift now
    assert _failed(review.evidence) == ["settings"]
    assert _gate(review.evidence, "settings")["summary"] == (
        f"Set by v3's registrant or requester {SINCE}: "
        "drift.thresholds.wasserstein unset → 1000 (erin), "
        f"drift.thresholds.jensen_shannon unset → 1000 (erin). {ADVICE}"
    )
    assert review.evidence["settings"]["drift"] == {
        "thresholds": {"wasserstein": 1000.0, "jensen_shannon": 1000.0}
    }
    assert "(drift.thresholds.wasserstein)" in str(put_back.value)
    assert _stage(fresh, SHIFTED) == "in_review"


def test_drift_thresholds_set_by_the_registrant_before_registering_still_fail_the_settings_gate(
    fresh: Store, binary_files: Case, tmp_path: Path
) -> None:
    update_settings(fresh, model="credit", changes=SILENT_DRIFT, by=ENGINEER)
    _register(fresh, _shifted(binary_files, tmp_path), None)  # v5, registered after the change
    review = workflow.request_review(fresh, model="credit", version=5, by=OTHER_OWNER)

    assert _gate(review.evidence, "drift")["status"] == "pass"
    assert _failed(review.evidence) == ["settings"]
    assert _gate(review.evidence, "settings")["summary"].startswith(
        f"Set by v5's registrant or requester {SINCE}: "
        "drift.thresholds.wasserstein unset → 1000 (erin)"
    )
    assert review.evidence["settings_changes"] == []  # none since v5 was registered


def test_a_requester_who_made_the_kpi_gate_non_blocking_does_not_pass_the_settings_gate(
    fresh: Store,
) -> None:
    update_settings(
        fresh,
        model="credit",
        changes={"gates.blocking": "metrics,compatibility,latency", "gates.min.roc_auc": 0.1},
        by=OTHER_OWNER,
    )
    review = workflow.request_review(fresh, model="credit", version=INVERTED, by=OTHER_OWNER)
    with pytest.raises(InvalidInput):
        _approve(fresh, INVERTED)

    kpi = _gate(review.evidence, "kpi")
    assert (kpi["status"], kpi["blocking"]) == ("fail", False)
    assert _failed(review.evidence) == ["settings"]
    assert _gate(review.evidence, "settings")["summary"] == (
        f"Set by v2's registrant or requester {SINCE}: "
        "gates.blocking metrics, compatibility, kpi, latency, drift → metrics, compatibility, "
        f"latency (otto), gates.min.roc_auc unset → 0.1 (otto). {ADVICE}"
    )


def test_a_change_put_back_or_made_by_someone_else_does_not_count_against_the_candidate(
    fresh: Store,
) -> None:
    business_case.save(fresh, model="credit", changes=ZERO, by=ENGINEER)
    business_case.save(fresh, model="credit", changes={"value_tp": -150}, by=ENGINEER)
    business_case.save(fresh, model="credit", changes={"value_fp": 60, "value_tn": 300}, by=OWNER)
    business_case.save(fresh, model="credit", changes={"value_fn": -2000}, by=OWNER)

    review = workflow.request_review(fresh, model="credit", version=INVERTED, by=ENGINEER)

    settings = _gate(review.evidence, "settings")
    assert (settings["status"], _failed(review.evidence)) == ("pass", ["kpi"])
    assert settings["summary"] == (
        "17 change(s) to the settings its gates read since v2 was registered; none made by its "
        "registrant or requester stands."
    )
    assert [(c["key"], c["by"]) for c in review.evidence["settings_changes"]][-3:] == [
        ("business_case.value_fp", "olga"),
        ("business_case.value_tn", "olga"),
        ("business_case.value_fn", "olga"),
    ]


# --- changes while a version is in review ---------------------------------------------------


@pytest.mark.parametrize(
    ("who", "change"),
    [
        ("registrant", lambda s: business_case.save(s, model="credit", changes={"value_fn": -1},
                                                    by=ENGINEER)),
        ("registrant", lambda s: update_settings(s, model="credit",
                                                 changes={"gates.max_drifted_features": 3},
                                                 by=Identity("ERIN", "admin"))),
        ("requester", lambda s: update_settings(s, model="credit",
                                                changes={"gates.kpi_tolerance": 0.5},
                                                by=OTHER_OWNER)),
        ("requester", lambda s: business_case.save(s, model="credit", changes={"threshold": 0.9},
                                                   by=OTHER_OWNER)),
    ],
)  # fmt: skip
def test_the_registrant_or_requester_cannot_change_what_the_gates_read_while_in_review(
    fresh: Store, who: str, change: Callable[[Store], object]
) -> None:
    workflow.request_review(fresh, model="credit", version=INVERTED, by=OTHER_OWNER)
    with fresh.read() as r:
        before = (
            get_model(r, name="credit").settings,
            len(r.session.exec(select(AuditEvent)).all()),
        )

    with pytest.raises(PermissionDenied) as refused:
        change(fresh)

    with fresh.read() as r:
        after = (
            get_model(r, name="credit").settings,
            len(r.session.exec(select(AuditEvent)).all()),
        )
    assert "registered credit v2 or asked for its review, which is open" in str(refused.value)
    assert after == before
    assert _stage(fresh, INVERTED) == "in_review"


def test_other_settings_stay_open_to_the_registrant_while_in_review(fresh: Store) -> None:
    workflow.request_review(fresh, model="credit", version=INVERTED, by=ENGINEER)

    update_settings(
        fresh, model="credit", changes={"latency_slo_ms": 150, "alerts.consecutive": 2}, by=ENGINEER
    )
    business_case.save(fresh, model="credit", changes=CASE, by=ENGINEER)  # the same values

    assert _stage(fresh, INVERTED) == "in_review"


def test_an_owners_change_during_review_sends_it_back_with_the_change_shown(
    fresh: Store,
) -> None:
    first = workflow.request_review(fresh, model="credit", version=GOOD, by=ENGINEER)

    business_case.save(fresh, model="credit", changes={"value_fn": -3000}, by=OWNER)

    with fresh.read() as r:
        model = get_model(r, name="credit")
        reviewed = r.session.exec(select(Review).where(Review.id == first.id)).one()
        [event] = r.session.exec(
            select(AuditEvent).where(AuditEvent.action == "review_stale")
        ).all()
    assert (reviewed.status, _stage(fresh, GOOD)) == ("stale", "registered")
    assert (event.actor, event.model, event.version) == ("olga", "credit", GOOD)
    assert event.before_state == {
        "stage": "in_review",
        "evidence_sha256": first.evidence_sha256,
        "settings": {"business_case.value_fn": -2500},
    }
    assert event.after_state == {
        "stage": "registered",
        "settings": {"business_case.value_fn": -3000},
        "reason": "olga changed what its gates read while it was in review; ask for review "
        "again to compute fresh evidence",
    }
    with pytest.raises(InvalidInput) as approving:
        _approve(fresh, GOOD)
    assert str(approving.value) == (
        "v4 is registered: 'approve' is not possible from there (possible: request review)"
    )
    again = workflow.request_review(fresh, model="credit", version=GOOD, by=ENGINEER)
    assert again.evidence["settings"]["business_case"]["value_fn"] == -3000
    _approve(fresh, GOOD)
    assert _stage(fresh, GOOD) == "approved"
    with fresh.read() as r:
        assert workflow.history(r, model=model, version=GOOD)[1]["status"] == "stale"
        assert audit.verify(r) == []  # the trail explains every stage it went through


def test_approval_is_refused_when_the_settings_differ_from_the_frozen_ones(fresh: Store) -> None:
    workflow.request_review(fresh, model="credit", version=GOOD, by=ENGINEER)
    with fresh.write() as w:  # past every check, as an UPDATE of the store file would be
        model = get_model(w, name="credit")
        model.settings = {
            **model.settings,
            "business_case": {**model.settings["business_case"], "value_tp": 0},
        }
        w.session.add(model)

    with pytest.raises(InvalidInput) as refused:
        _approve(fresh, GOOD)

    assert str(refused.value) == (
        "the settings its gates read are not the ones frozen with the evidence "
        "(business_case.value_tp -150 → 0); ask for review again"
    )
    assert _stage(fresh, GOOD) == "in_review"


# --- the legitimate flow --------------------------------------------------------------------


def test_an_owner_edits_the_case_an_engineer_asks_for_review_and_another_owner_approves(
    fresh: Store, cli: Callable[..., Ran]
) -> None:
    edited = cli("business-case", "credit", "--set", "value_fn=-3000", user="olga")
    asked = cli("request-review", "credit", str(GOOD), "--json", user="erin")
    approved = cli("approve", "credit", str(GOOD), "--comment", "earns as much", user="otto")
    promoted = cli("promote", "credit", str(GOOD), user="otto")

    assert [edited.code, asked.code, approved.code, promoted.code] == [0, 0, 0, 0], (
        edited.err + asked.err + approved.err + promoted.err
    )
    evidence = asked.json()
    assert _failed(evidence) == []
    assert _gate(evidence, "settings")["status"] == "pass"
    assert _stage(fresh, GOOD) == "production"
    with fresh.read() as r:
        model = get_model(r, name="credit")
        review = r.session.exec(
            select(Review).where(Review.version == GOOD).order_by(col(Review.id).desc())
        ).first()
    assert review is not None
    assert review.evidence["settings"]["business_case"]["value_fn"] == -3000
    assert review.evidence["settings_changes"][-1] == {
        "key": "business_case.value_fn",
        "before": -2500,
        "after": -3000,
        "by": "olga",
        "at": review.evidence["settings_changes"][-1]["at"],
    }
    assert review.evidence["settings"] == {
        "gates": model.settings["gates"],
        "drift": {},
        "business_case": model.settings["business_case"],
        "business_case_revision": 2,
    }
