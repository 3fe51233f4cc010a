"""Sign-off workflow: the transition table, roles, four eyes, frozen evidence, required
sign-offs, atomic promotion, rollback, racing promotions and the model card."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from core import audit, workflow
from core.auth import ROLE_LABELS, Identity
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.ingest import ingest_labels, ingest_predictions
from core.monitoring.policy import update_settings
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.store import (
    STAGES,
    AuditEvent,
    Model,
    ModelVersion,
    Promotion,
    Review,
    SignOff,
    Store,
)
from core.value import business_case
from core.words import ROLES
from core.workflow import model_card, promotion, rules
from tests.conftest import ROOT, copy_store
from tests.factories import Case

ENGINEER = Identity("erin", "ml_engineer")  # registers every version and asks for review
OWNER = Identity("olga", "product_owner")
OTHER_OWNER = Identity("otto", "product_owner")
ADMIN = Identity("ada", "admin")
MANAGER = Identity("max", "manager")
DESCRIPTION = "<script>alert('card')</script> Probability of default & loss"

# The lifecycle as issue 7 states it: action -> (from stages, to stage, roles by default).
EXPECTED = {
    "request_review": (
        {"registered", "rejected", "archived"},
        "in_review",
        {"ml_engineer", "product_owner", "admin"},
    ),
    "approve": ({"in_review"}, "approved", {"product_owner"}),
    "reject": ({"in_review"}, "rejected", {"product_owner"}),
    "request_changes": ({"in_review"}, "registered", {"product_owner"}),
    "promote": ({"approved"}, "production", {"product_owner"}),
    "rollback": ({"production"}, "archived", {"product_owner"}),
}


def _model(**settings: Any) -> Model:
    return Model(id=1, name="credit", task="binary", settings={"workflow": settings})


def _version(stage: str) -> ModelVersion:
    return ModelVersion(model_id=1, version=7, stage=stage, created_by="erin")


# --- the transition table ---------------------------------------------------------------


def test_the_actions_table_is_the_lifecycle_of_the_issue() -> None:
    assert {
        name: (set(a.sources), a.target, set(a.roles)) for name, a in rules.ACTIONS.items()
    } == EXPECTED
    assert {s for pair in rules.TRANSITIONS for s in pair} == set(STAGES)


@pytest.mark.parametrize(("action", "stage"), [(a, s) for a in rules.ACTIONS for s in STAGES])
def test_an_action_is_possible_from_its_source_stages_and_refused_elsewhere(
    action: str, stage: str
) -> None:
    allowed_from, _, roles = EXPECTED[action]
    by = Identity("someone", sorted(roles)[0])
    if stage in allowed_from:
        assert rules.check(_model(), _version(stage), action, by) is rules.ACTIONS[action]
        return
    possible = sorted(a.replace("_", " ") for a, e in EXPECTED.items() if stage in e[0])
    with pytest.raises(InvalidInput) as refused:
        rules.check(_model(), _version(stage), action, by)
    assert str(refused.value) == (
        f"v7 is {stage}: '{action.replace('_', ' ')}' is not possible from there "
        f"(possible: {', '.join(possible) or 'nothing'})"
    )


@pytest.mark.parametrize(("action", "role"), [(a, r) for a in rules.ACTIONS for r in ROLES])
def test_only_the_actions_roles_may_take_it(action: str, role: str) -> None:
    allowed_from, _, roles = EXPECTED[action]
    version = _version(sorted(allowed_from)[0])
    by = Identity("someone", role)
    if role in roles:
        rules.check(_model(), version, action, by)
        return
    with pytest.raises(PermissionDenied) as refused:
        rules.check(_model(), version, action, by)
    assert str(refused.value).startswith(
        f"someone ({ROLE_LABELS[role]}) may not {action.replace('_', ' ')}; that needs "
    )


@pytest.mark.parametrize("action", ["approve", "reject", "request_changes", "promote", "rollback"])
def test_admins_sign_promote_and_roll_back_only_where_configured(action: str) -> None:
    version = _version(sorted(EXPECTED[action][0])[0])
    with pytest.raises(PermissionDenied):
        rules.check(_model(), version, action, ADMIN)
    rules.check(_model(admins_may_sign=True), version, action, ADMIN)


def test_a_required_sign_off_role_may_decide_but_not_promote() -> None:
    model = _model(required_signoffs={"product_owner": 1, "admin": 1})
    rules.check(model, _version("in_review"), "approve", ADMIN)
    with pytest.raises(PermissionDenied):
        rules.check(model, _version("approved"), "promote", ADMIN)


# --- a store with a live version, one in review and one registered ------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, binary_files: Case) -> Path:
    """'credit': v1 live (approved by olga, with labelled traffic), v2 in review (asked by
    erin), v3 registered. Tests work on copies (see `fresh`)."""
    store = Store(tmp_path_factory.mktemp("workflow") / "store.duckdb", lock_wait_seconds=60)
    store.init()
    for version in (1, 2, 3):
        register_version(store, spec=RegistrationSpec(
            model="credit", reference=binary_files.reference, target="defaulted",
            prediction="score", model_file=binary_files.model_file, created_by="erin",
            git_sha=f"sha-{version}", description=DESCRIPTION if version == 1 else "",
        ))  # fmt: skip
        if version == 1:
            # A busy test machine must not decide approvals through the latency gate.
            update_settings(
                store, model="credit", changes={"gates.latency_budget_ms": 10_000}, by=OWNER
            )
            workflow.request_review(store, model="credit", version=1, by=ENGINEER)
            workflow.sign(
                store, model="credit", version=1, by=OWNER, decision="approve", comment="ok"
            )
            workflow.promote(store, model="credit", version=1, by=OWNER)
            ingest_predictions(store, model="credit", files=[binary_files.logs])
            ingest_labels(store, model="credit", files=[binary_files.labels])
    workflow.request_review(store, model="credit", version=2, by=ENGINEER)
    return store.path


@pytest.fixture
def fresh(template: Path, tmp_path: Path) -> Store:
    """A private copy of the template store."""
    return copy_store(template, tmp_path, lock_wait_seconds=60)


def _stages(store: Store) -> dict[int, str]:
    with store.read() as r:
        return {
            v.version: v.stage
            for v in r.session.exec(select(ModelVersion).order_by(ModelVersion.version)).all()
        }


def _live_row(store: Store) -> list[tuple]:
    with store.read() as r:
        return r.rows("SELECT model_id, version, promoted_by FROM production_version")


def _events(store: Store) -> list[AuditEvent]:
    with store.read() as r:
        return list(r.session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all())


def _review(store: Store, version: int) -> Review:
    with store.read() as r:
        return workflow.open_review(r, model=get_model(r, name="credit"), version=version)


def _sign_offs(store: Store) -> list[SignOff]:
    with store.read() as r:
        return list(r.session.exec(select(SignOff).order_by(col(SignOff.id))).all())


def _approve(store: Store, version: int, by: Identity = OWNER) -> SignOff:
    return workflow.sign(
        store, model="credit", version=version, by=by, decision="approve", comment="good"
    )


def test_the_template_has_one_live_version_one_in_review_and_one_registered(fresh: Store):
    assert _stages(fresh) == {1: "production", 2: "in_review", 3: "registered"}
    assert _live_row(fresh) == [(1, 1, "olga")]
    with fresh.read() as r:
        assert audit.verify(r) == []


# --- lifecycle through the real functions -------------------------------------------------


def test_approving_then_promoting_archives_the_previous_version_in_one_transaction(
    fresh: Store,
) -> None:
    _approve(fresh, 2)
    assert _stages(fresh)[2] == "approved"
    before = len(_events(fresh))

    done = workflow.promote(fresh, model="credit", version=2, by=OWNER)

    assert done == {"model": "credit", "version": 2, "archived": 1}
    assert _stages(fresh) == {1: "archived", 2: "production", 3: "registered"}
    assert _live_row(fresh) == [(1, 2, "olga")]
    new = _events(fresh)[before:]
    assert [(e.action, e.version, e.before_state, e.after_state) for e in new] == [
        ("archive", 1, {"stage": "production"}, {"stage": "archived", "replaced_by": 2}),
        ("promote", 2, {"stage": "approved"}, {"stage": "production", "previous": 1}),
    ]


def test_a_promotion_that_fails_half_way_changes_nothing(
    fresh: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _approve(fresh, 2)
    before = (_stages(fresh), _live_row(fresh), len(_events(fresh)))

    def broken(*args: object) -> None:
        raise RuntimeError("the disk is full")

    # v1 is archived first, then _go_live fails: the archive must be rolled back with it.
    monkeypatch.setattr(promotion, "_go_live", broken)
    with pytest.raises(RuntimeError, match="the disk is full"):
        workflow.promote(fresh, model="credit", version=2, by=OWNER)

    assert (_stages(fresh), _live_row(fresh), len(_events(fresh))) == before
    assert before[0] == {1: "production", 2: "approved", 3: "registered"}


def test_request_changes_sends_the_version_back_and_it_can_be_reviewed_again(fresh: Store):
    first = _review(fresh, 2)
    workflow.sign(
        fresh, model="credit", version=2, by=OWNER, decision="request_changes",
        comment="explain the new feature",
    )  # fmt: skip
    assert _stages(fresh)[2] == "registered"
    with fresh.read() as r:
        assert r.session.get(Review, first.id).status == "changes_requested"
        with pytest.raises(NotFound, match="has no open review; request one first"):
            workflow.open_review(r, model=get_model(r, name="credit"), version=2)

    again = workflow.request_review(fresh, model="credit", version=2, by=ENGINEER)

    assert _stages(fresh)[2] == "in_review"
    assert again.id != first.id and again.evidence_sha256 != first.evidence_sha256


def test_a_rejected_version_can_be_put_in_review_again(fresh: Store) -> None:
    workflow.sign(
        fresh, model="credit", version=2, by=OWNER, decision="reject", comment="worse on SMEs"
    )
    assert _stages(fresh)[2] == "rejected"
    assert _review_status(fresh, 2) == ["rejected"]

    workflow.request_review(fresh, model="credit", version=2, by=ENGINEER)

    assert _stages(fresh)[2] == "in_review"


def _review_status(store: Store, version: int) -> list[str]:
    with store.read() as r:
        return [
            rv.status
            for rv in r.session.exec(
                select(Review).where(Review.version == version).order_by(col(Review.id))
            ).all()
        ]


def test_moves_the_table_does_not_have_are_refused_through_the_real_functions(fresh: Store):
    with pytest.raises(InvalidInput, match=r"v3 is registered: 'promote' is not possible"):
        workflow.promote(fresh, model="credit", version=3, by=OWNER)
    with pytest.raises(InvalidInput, match=r"v3 is registered: 'approve' is not possible"):
        _approve(fresh, 3)
    with pytest.raises(InvalidInput, match=r"v2 is in_review: 'request review' is not possible"):
        workflow.request_review(fresh, model="credit", version=2, by=ENGINEER)
    with pytest.raises(
        InvalidInput, match="v1 replaced nothing when it was promoted; there is no version to roll"
    ):
        workflow.rollback(fresh, model="credit", by=OWNER)
    assert _stages(fresh) == {1: "production", 2: "in_review", 3: "registered"}


# --- who signs ------------------------------------------------------------------------------


def test_the_registrant_cannot_approve_even_as_a_product_owner(fresh: Store) -> None:
    with pytest.raises(PermissionDenied, match=r"erin registered this version .*\(four eyes\)"):
        _approve(fresh, 2, by=Identity("erin", "product_owner"))
    assert _stages(fresh)[2] == "in_review"
    assert len(_sign_offs(fresh)) == 1  # v1's approval in the template


@pytest.mark.parametrize("spelling", ["ERIN", "Erin", " erin "])
def test_the_registrant_cannot_approve_under_another_spelling_of_the_name(
    fresh: Store, spelling: str
) -> None:
    # v2 was registered as 'erin': a product owner signing in as 'ERIN' is the same person.
    with pytest.raises(PermissionDenied, match=r"registered this version .*\(four eyes\)"):
        _approve(fresh, 2, by=Identity(spelling, "product_owner"))
    assert _stages(fresh)[2] == "in_review"


def test_whoever_requested_the_review_cannot_approve_it(fresh: Store) -> None:
    workflow.request_review(fresh, model="credit", version=3, by=OWNER)

    with pytest.raises(PermissionDenied, match="four eyes"):
        _approve(fresh, 3, by=OWNER)
    _approve(fresh, 3, by=OTHER_OWNER)

    assert _stages(fresh)[3] == "approved"


@pytest.mark.parametrize("who", [ENGINEER, MANAGER, Identity("dora", "domain_expert"), ADMIN])
def test_roles_other_than_product_owner_cannot_sign(fresh: Store, who: Identity) -> None:
    with pytest.raises(
        PermissionDenied, match=rf"{who.username} \({ROLE_LABELS[who.role]}\) may not approve"
    ):
        _approve(fresh, 2, by=who)
    assert _stages(fresh)[2] == "in_review"


@pytest.mark.parametrize("comment", ["", "   \n "])
def test_a_sign_off_needs_a_comment(fresh: Store, comment: str) -> None:
    with pytest.raises(InvalidInput, match="a sign-off needs a comment saying why"):
        workflow.sign(
            fresh, model="credit", version=2, by=OWNER, decision="approve", comment=comment
        )
    assert len(_sign_offs(fresh)) == 1


def test_an_unknown_decision_is_refused(fresh: Store) -> None:
    with pytest.raises(InvalidInput, match="unknown decision 'maybe'"):
        workflow.sign(fresh, model="credit", version=2, by=OWNER, decision="maybe", comment="x")


def test_two_required_roles_must_both_approve(fresh: Store) -> None:
    update_settings(
        fresh, model="credit", changes={"workflow.required_signoffs": "product_owner,admin"},
        by=OWNER,
    )  # fmt: skip

    _approve(fresh, 2, by=OWNER)
    assert _stages(fresh)[2] == "in_review"
    assert _review(fresh, 2).status == "open"
    _approve(fresh, 2, by=ADMIN)

    assert _stages(fresh)[2] == "approved"
    [rv] = [h for h in _history(fresh, 2)]
    assert [(s["user"], s["role"], s["decision"]) for s in rv["sign_offs"]] == [
        ("olga", "product_owner", "approve"),
        ("ada", "admin", "approve"),
    ]


def test_the_same_person_approving_twice_counts_once(fresh: Store) -> None:
    update_settings(
        fresh, model="credit", changes={"workflow.required_signoffs": "product_owner:2"},
        by=OWNER,
    )  # fmt: skip

    _approve(fresh, 2, by=OWNER)
    _approve(fresh, 2, by=OWNER)
    assert _stages(fresh)[2] == "in_review"
    _approve(fresh, 2, by=OTHER_OWNER)

    assert _stages(fresh)[2] == "approved"


def _history(store: Store, version: int) -> list[dict[str, Any]]:
    with store.read() as r:
        return workflow.history(r, model=get_model(r, name="credit"), version=version)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("workflow.required_signoffs", "ml_engineer", "a comma-separated list of product_owner"),
        ("workflow.required_signoffs", "product_owner:0", "a comma-separated list of product_"),
        ("workflow.admins_may_sign", "perhaps", "true or false"),
        ("gates.min.roc_auc", "high", "a number"),
        ("gates.min.happiness", "1", "model 'credit' records no metric 'happiness'"),
        ("gates.blocking", "metrics,vibes", "a comma-separated list of metrics, reproduction,"),
        ("gates.max_drifted_features", "-1", "a whole number of inputs, 0 or more"),
        ("gates.kpi_tolerance", "-0.1", "a share of the live version's value"),
        ("gates.latency_budget_ms", "0", "a positive number of milliseconds"),
    ],
)
def test_gate_and_sign_off_settings_are_checked(
    fresh: Store, key: str, value: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        update_settings(fresh, model="credit", changes={key: value}, by=OWNER)


@pytest.mark.parametrize(
    "key", ["gates.blocking", "gates.min.roc_auc", "workflow.required_signoffs"]
)
def test_an_ml_engineer_cannot_loosen_the_approval_policy(fresh: Store, key: str) -> None:
    value = {
        "gates.blocking": "latency",
        "gates.min.roc_auc": "0",
        "workflow.required_signoffs": "admin",
    }
    before = _settings(fresh)

    with pytest.raises(PermissionDenied, match="edit approval policy; that needs Product owner"):
        update_settings(
            fresh, model="credit", changes={"alerts.consecutive": "3", key: value[key]},
            by=ENGINEER,
        )  # fmt: skip

    assert _settings(fresh) == before
    update_settings(fresh, model="credit", changes={"alerts.consecutive": "3"}, by=ENGINEER)
    assert _settings(fresh)["alerts"]["consecutive"] == 3


def _settings(store: Store) -> dict[str, Any]:
    with store.read() as r:
        return get_model(r, name="credit").settings


# --- gates and frozen evidence --------------------------------------------------------------


def test_approval_is_refused_while_a_blocking_gate_failed(fresh: Store) -> None:
    update_settings(fresh, model="credit", changes={"gates.min.roc_auc": "0.99"}, by=OWNER)
    review = workflow.request_review(fresh, model="credit", version=3, by=ENGINEER)
    [metrics] = [g for g in review.evidence["gates"] if g["name"] == "metrics"]
    assert (metrics["status"], metrics["blocking"]) == ("fail", True)
    assert workflow.blocking_failures(review.evidence) == [metrics]

    with pytest.raises(InvalidInput, match=r"blocking gates failed, so it cannot be approved: "):
        _approve(fresh, 3)
    assert _stages(fresh)[3] == "in_review"

    workflow.sign(fresh, model="credit", version=3, by=OWNER, decision="reject", comment="AUC")
    assert _stages(fresh)[3] == "rejected"


def test_a_failed_gate_that_is_not_blocking_does_not_stop_approval(fresh: Store) -> None:
    update_settings(
        fresh,
        model="credit",
        changes={"gates.min.roc_auc": "0.99", "gates.blocking": "compatibility,kpi,latency"},
        by=OWNER,
    )
    review = workflow.request_review(fresh, model="credit", version=3, by=ENGINEER)
    [metrics] = [g for g in review.evidence["gates"] if g["name"] == "metrics"]
    assert (metrics["status"], metrics["blocking"]) == ("fail", False)

    _approve(fresh, 3)

    assert _stages(fresh)[3] == "approved"


def test_the_evidence_hash_is_stored_and_every_sign_off_names_it(fresh: Store) -> None:
    review = _review(fresh, 2)
    assert review.evidence_sha256 == workflow.evidence_hash(review.evidence)
    assert len(review.evidence_sha256) == 64
    assert {g["name"] for g in review.evidence["gates"]} == {
        "metrics", "reproduction", "compatibility", "kpi", "drift", "latency", "explanations",
        "settings",
    }  # fmt: skip
    asked = [e for e in _events(fresh) if e.action == "request_review" and e.version == 2]
    assert asked[-1].after_state["evidence_sha256"] == review.evidence_sha256

    signed = _approve(fresh, 2)

    assert signed.evidence_sha256 == review.evidence_sha256
    assert _sign_offs(fresh)[-1].evidence_sha256 == review.evidence_sha256
    last_two = _events(fresh)[-2:]
    assert [e.action for e in last_two] == ["sign_off_approve", "approve"]
    assert {e.after_state["evidence_sha256"] for e in last_two} == {review.evidence_sha256}


def test_evidence_changed_after_it_was_frozen_cannot_be_signed(fresh: Store) -> None:
    review = _review(fresh, 2)
    tampered = {
        **review.evidence,
        "gates": [{**g, "status": "pass"} for g in review.evidence["gates"]],
    }
    tampered["metrics"] = {**tampered["metrics"], "candidate": {"roc_auc": 0.99}}
    with fresh.write() as w:
        stored = w.session.get(Review, review.id)
        stored.evidence = tampered
        w.session.add(stored)

    with pytest.raises(InvalidInput, match="the evidence changed after it was frozen"):
        _approve(fresh, 2)

    assert _stages(fresh)[2] == "in_review"
    assert len(_sign_offs(fresh)) == 1


# --- promotion, rollback and what serving systems poll --------------------------------------


def test_rollback_restores_the_previous_version_and_is_audited(fresh: Store) -> None:
    _approve(fresh, 2)
    workflow.promote(fresh, model="credit", version=2, by=OWNER)
    with pytest.raises(PermissionDenied, match=r"erin \(ML engineer\) may not rollback"):
        workflow.rollback(fresh, model="credit", by=ENGINEER)
    before = len(_events(fresh))

    done = workflow.rollback(fresh, model="credit", by=OWNER)

    assert done == {"model": "credit", "version": 1, "archived": 2}
    assert _stages(fresh) == {1: "production", 2: "archived", 3: "registered"}
    assert _live_row(fresh) == [(1, 1, "olga")]
    assert [(e.actor, e.action, e.version) for e in _events(fresh)[before:]] == [
        ("olga", "rollback_archive", 2),
        ("olga", "rollback", 1),
    ]
    with fresh.read() as r:
        last = r.session.exec(select(Promotion).order_by(col(Promotion.id).desc())).first()
        assert (last.kind, last.version, last.previous_version) == ("rollback", 1, 2)
        assert audit.verify(r) == []


def test_a_rolled_back_version_can_be_reviewed_and_promoted_again(fresh: Store) -> None:
    _approve(fresh, 2)
    workflow.promote(fresh, model="credit", version=2, by=OWNER)
    workflow.rollback(fresh, model="credit", by=OWNER)
    with pytest.raises(InvalidInput, match=r"v2 is archived: 'promote' is not possible from there "
                       r"\(possible: request review\)"):  # fmt: skip
        workflow.promote(fresh, model="credit", version=2, by=OWNER)

    workflow.request_review(fresh, model="credit", version=2, by=ENGINEER)
    _approve(fresh, 2)
    workflow.promote(fresh, model="credit", version=2, by=OWNER)

    assert _stages(fresh) == {1: "archived", 2: "production", 3: "registered"}
    assert _live_row(fresh)[0][:2] == (1, 2)
    with fresh.read() as r:
        assert audit.verify(r) == []


def test_a_second_rollback_never_puts_the_rolled_back_version_live_again(fresh: Store):
    # A tester rolled back twice: the second rollback read the first one's record ("v1 replaced
    # v2") and put the rolled-back v2 live again without gates or sign-off.
    _approve(fresh, 2)
    workflow.promote(fresh, model="credit", version=2, by=OWNER)
    workflow.rollback(fresh, model="credit", by=OWNER)

    with pytest.raises(InvalidInput, match="v1 replaced nothing when it was promoted"):
        workflow.rollback(fresh, model="credit", by=OWNER)

    assert _stages(fresh) == {1: "production", 2: "archived", 3: "registered"}
    assert _live_row(fresh)[0][:2] == (1, 1)


def test_rollbacks_step_back_through_the_versions_each_one_replaced(fresh: Store) -> None:
    _approve(fresh, 2)
    workflow.promote(fresh, model="credit", version=2, by=OWNER)
    workflow.request_review(fresh, model="credit", version=3, by=ENGINEER)
    _approve(fresh, 3)
    workflow.promote(fresh, model="credit", version=3, by=OWNER)

    first = workflow.rollback(fresh, model="credit", by=OWNER)
    second = workflow.rollback(fresh, model="credit", by=OWNER)

    assert (first["version"], first["archived"]) == (2, 3)
    assert (second["version"], second["archived"]) == (1, 2)
    assert _stages(fresh) == {1: "production", 2: "archived", 3: "archived"}
    with pytest.raises(InvalidInput, match="no version to roll back to"):
        workflow.rollback(fresh, model="credit", by=OWNER)


def test_every_stage_change_in_the_audit_trail_is_in_the_transition_table(fresh: Store):
    _approve(fresh, 2)
    workflow.promote(fresh, model="credit", version=2, by=OWNER)
    workflow.rollback(fresh, model="credit", by=OWNER)
    workflow.request_review(fresh, model="credit", version=3, by=ENGINEER)
    workflow.sign(fresh, model="credit", version=3, by=OWNER, decision="reject", comment="no")

    moves = [
        (e.before_state["stage"], e.after_state["stage"])
        for e in _events(fresh)
        if "stage" in e.before_state
    ]

    assert len(moves) >= 10
    assert set(moves) <= rules.TRANSITIONS


def test_production_tells_a_serving_system_what_is_live(fresh: Store, binary_files: Case):
    found = workflow.production(fresh, model="credit")

    assert set(found) == {
        "model", "version", "artifact_path", "artifact_sha256", "approved_by", "approved_at",
        "rollback_to", "no_rollback_because",
    }  # fmt: skip
    assert (found["model"], found["version"], found["approved_by"]) == ("credit", 1, "olga")
    assert (found["rollback_to"], found["no_rollback_because"]) == (
        None,
        "v1 replaced nothing when it was promoted; there is no version to roll back to",
    )
    artifact = Path(found["artifact_path"])
    digest = hashlib.sha256(binary_files.model_file.read_bytes()).hexdigest()
    assert hashlib.sha256(artifact.read_bytes()).hexdigest() == found["artifact_sha256"] == digest
    approved = _sign_offs(fresh)[0]
    assert datetime.fromisoformat(found["approved_at"]) == approved.signed_at


def test_production_of_a_model_with_nothing_live_is_not_found(
    fresh: Store, binary_files: Case
) -> None:
    register_version(fresh, spec=RegistrationSpec(
        model="fresh", reference=binary_files.reference, target="defaulted", prediction="score",
    ))  # fmt: skip
    with pytest.raises(NotFound, match="fresh has no production version"):
        workflow.production(fresh, model="fresh")


def _two_approved(store: Store) -> None:
    _approve(store, 2)
    workflow.request_review(store, model="credit", version=3, by=ENGINEER)
    _approve(store, 3)
    assert _stages(store) == {1: "production", 2: "approved", 3: "approved"}


def _one_live(store: Store) -> int:
    """The single production version, after checking every record agrees on it."""
    stages = _stages(store)
    live = [v for v, s in stages.items() if s == "production"]
    assert len(live) == 1, stages
    assert sorted(s for v, s in stages.items() if v not in live) == ["archived", "archived"]
    assert _live_row(store) == [(1, live[0], "olga")]
    with store.read() as r:
        assert audit.verify(r) == []
        promotions = r.session.exec(select(Promotion).order_by(col(Promotion.id))).all()
    # Each promotion replaced the one before it: v1, then the first winner, then the second.
    assert [p.previous_version for p in promotions] == [None, 1, promotions[1].version]
    assert promotions[-1].version == live[0]
    return live[0]


RACER = """
import sys
from core.auth import Identity
from core.store import Store
from core import workflow
store = Store(sys.argv[1], lock_wait_seconds=60)
print("ready", flush=True)
sys.stdin.readline()
print(workflow.promote(store, model="credit", version=int(sys.argv[2]),
                       by=Identity("olga", "product_owner")))
"""


def test_two_processes_promoting_at_once_leave_exactly_one_live_version(fresh: Store):
    _two_approved(fresh)
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(fresh.path), str(version)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for version in (2, 3)
    ]
    for racer in racers:  # both have imported everything and wait for the signal
        assert racer.stdout.readline() == "ready\n"
    for racer in racers:
        racer.stdin.write("go\n")
        racer.stdin.flush()
    results = [racer.communicate(timeout=120) for racer in racers]

    assert [racer.returncode for racer in racers] == [0, 0], results
    assert _one_live(fresh) in (2, 3)


def test_two_dashboard_sessions_promoting_at_once_leave_exactly_one_live_version(fresh: Store):
    _two_approved(fresh)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def promote(version: int) -> None:
        start.wait()
        try:
            workflow.promote(fresh, model="credit", version=version, by=OWNER)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=promote, args=(v,)) for v in (2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert _one_live(fresh) in (2, 3)


# --- model card ----------------------------------------------------------------------------


def test_the_model_card_shows_purpose_case_lineage_metrics_gates_and_sign_offs(fresh: Store):
    business_case.save(
        fresh,
        model="credit",
        changes={"decision": "Send <b>risky</b> applications to review", "value_fn": "-2500"},
        by=OWNER,
    )
    # The KPI gate reads the case: changing it sent v2's review back, to be asked for again.
    assert _stages(fresh)[2] == "registered"
    workflow.request_review(fresh, model="credit", version=2, by=ENGINEER)
    review = _review(fresh, 2)
    workflow.sign(
        fresh, model="credit", version=2, by=OWNER, decision="approve",
        comment="<img src=x onerror=alert(1)> fine",
    )  # fmt: skip
    with fresh.read() as r:
        version = get_version(r, model=get_model(r, name="credit"), version=2)

    page = model_card.render(fresh, model="credit", version=2)

    for heading in (
        "Purpose and business case",
        "Data lineage",
        "Metrics on the evaluation data",
        "Release gates (frozen evidence)",
        "Sign-offs",
    ):
        assert f"<h2>{heading}</h2>" in page
    assert (
        "&lt;script&gt;alert(&#x27;card&#x27;)&lt;/script&gt; Probability of default &amp; loss"
        in page
    )
    assert "Send &lt;b&gt;risky&lt;/b&gt; applications to review" in page
    # Unset numbers read as dashes, not "None" or "( None)" (a tester's card said "Target 50000.0").
    assert "<tr><th>Decisions per month</th><td>—</td></tr>" in page
    assert "<tr><th>Baseline (value per decision)</th><td>—</td></tr>" in page
    assert "None" not in page
    assert "&lt;img src=x onerror=alert(1)&gt; fine" in page
    assert "<script" not in page.lower() and "<img" not in page and "<b>" not in page
    assert review.evidence_sha256 in page
    assert version.data_sha256 in page and version.artifact_sha256 in page and "sha-2" in page
    assert f"{version.metrics['roc_auc']:.4f}" in page
    assert "olga (product_owner)" in page
    for gate in review.evidence["gates"]:
        assert f"<td>{gate['name']}</td>" in page


def test_a_model_card_is_only_for_approved_versions(fresh: Store, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="v3 is registered; model cards are for approved"):
        model_card.render(fresh, model="credit", version=3)
    written = model_card.write(
        fresh, model="credit", version=1, target=tmp_path / "cards" / "v1.html"
    )
    assert written.read_text(encoding="utf-8").startswith("<!doctype html>")
