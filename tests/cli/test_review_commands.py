"""`modelbridge reject | request-changes | audit list`: who may decide, what each decision
records, and how the audit trail is filtered. The CLI runs in this process (`core.cli.main`), as
`python -m core` does."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from core import users, workflow
from core.auth import Identity
from core.monitoring.policy import update_settings
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.store import Store
from tests.conftest import Ran, copy_store, in_process_cli
from tests.factories import ADMIN, Case

ENGINEER = Identity("erin", "ml_engineer")
OWNER = Identity("olga", "product_owner")
PASSWORDS = {"erin": "erin-pw", "olga": "olga-pw", "max": "max-pw", "dora": "dora-pw"}
ROLES = {"erin": "ml_engineer", "olga": "product_owner", "max": "manager", "dora": "domain_expert"}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, binary_files: Case) -> Path:
    """'credit' v1 live, v2 in review and v3 registered, all three registered by erin. Users
    erin, olga, max and dora."""
    store = Store(tmp_path_factory.mktemp("review-cli") / "store.duckdb", lock_wait_seconds=60)
    store.init()
    for name, password in PASSWORDS.items():
        users.add_user(store, username=name, role=ROLES[name], password=password, by=ADMIN)
    for _ in (1, 2, 3):
        register_version(store, spec=RegistrationSpec(
            model="credit", reference=binary_files.reference, target="defaulted",
            prediction="score", model_file=binary_files.model_file, created_by="erin",
        ))  # fmt: skip
    # A busy test machine must not decide approvals through the latency gate.
    update_settings(store, model="credit", changes={"gates.latency_budget_ms": 10_000}, by=OWNER)
    workflow.request_review(store, model="credit", version=1, by=ENGINEER)
    workflow.sign(store, model="credit", version=1, by=OWNER, decision="approve", comment="ok")
    workflow.promote(store, model="credit", version=1, by=OWNER)
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


def _event_count(store: Store) -> int:
    """Audit events other than sign-ins (every sign-in, refused or not, is recorded)."""
    with store.read() as r:
        return r.rows("SELECT count(*) FROM audit_event WHERE action NOT LIKE 'sign_in%'")[0][0]


def _evidence_sha(store: Store, version: int) -> str:
    with store.read() as r:
        return workflow.open_review(
            r, model=get_model(r, name="credit"), version=version
        ).evidence_sha256


def _events(ran: Ran) -> list[dict]:
    """`audit list --json` events with before/after parsed."""
    assert ran.code == 0, ran.err
    found = ran.json()
    for event in found:
        event["before"], event["after"] = json.loads(event["before"]), json.loads(event["after"])
    return found


def test_reject_moves_the_version_to_rejected_and_audits_who_why_and_on_what(
    fresh: Store, cli
) -> None:
    sha = _evidence_sha(fresh, 2)

    ran = cli("reject", "credit", "2", "--comment", "not better than v1", "--json", user="olga")
    trail = _events(cli("audit", "list", "--model", "credit", "--limit", "2", "--json"))

    assert ran.code == 0, ran.err
    assert ran.json() == {
        "model": "credit", "version": 2, "decision": "reject", "stage": "rejected",
        "evidence_sha256": sha,
    }  # fmt: skip
    assert _stage(fresh, 2) == "rejected"
    assert [
        (e["actor"], e["role"], e["action"], e["model"], e["version"], e["before"], e["after"])
        for e in trail
    ] == [
        ("olga", "product_owner", "reject", "credit", 2, {"stage": "in_review"},
         {"stage": "rejected"}),
        ("olga", "product_owner", "sign_off_reject", "credit", 2, {},
         {"comment": "not better than v1", "evidence_sha256": sha}),
    ]  # fmt: skip
    with fresh.read() as r:
        [history] = workflow.history(r, model=get_model(r, name="credit"), version=2)
    assert history["status"] == "rejected"
    assert [(s["user"], s["decision"]) for s in history["sign_offs"]] == [("olga", "reject")]


def test_request_changes_sends_the_version_back_to_its_authors_and_is_audited(
    fresh: Store, cli
) -> None:
    sha = _evidence_sha(fresh, 2)

    ran = cli("request-changes", "credit", "2", "--comment", "  add the Q1 data  ", user="olga")
    trail = _events(cli("audit", "list", "--actor", "olga", "--limit", "2", "--json"))

    assert (ran.code, ran.out, ran.err) == (0, "request changes recorded; v2 is now registered\n",
                                            "")  # fmt: skip
    assert _stage(fresh, 2) == "registered"
    assert [(e["action"], e["role"], e["before"], e["after"]) for e in trail] == [
        ("request_changes", "product_owner", {"stage": "in_review"}, {"stage": "registered"}),
        ("sign_off_request_changes", "product_owner", {},
         {"comment": "add the Q1 data", "evidence_sha256": sha}),
    ]  # fmt: skip
    # Back with its authors, it can be put in review again.
    again = cli("request-review", "credit", "2", "--json", user="erin")
    assert again.code == 0, again.err
    assert _stage(fresh, 2) == "in_review"


@pytest.mark.parametrize(
    ("command", "user", "message"),
    [
        ("reject", "max", "max (Manager) may not reject; that needs Product owner"),
        ("reject", "dora", "dora (Domain expert) may not reject; that needs Product owner"),
        ("request-changes", "erin",
         "erin (ML engineer) may not request changes; that needs Product owner"),
        ("request-changes", "max",
         "max (Manager) may not request changes; that needs Product owner"),
    ],
)  # fmt: skip
def test_the_wrong_role_is_refused_in_one_line_with_exit_2_and_nothing_is_recorded(
    fresh: Store, cli, command: str, user: str, message: str
) -> None:
    events = _event_count(fresh)

    ran = cli(command, "credit", "2", "--comment", "no", user=user)

    assert (ran.code, ran.out) == (2, "")
    assert ran.err == f"modelbridge: error: {message}\n"
    assert _stage(fresh, 2) == "in_review"
    assert _event_count(fresh) == events


def test_a_decision_without_a_comment_or_on_a_version_not_in_review_is_refused(cli) -> None:
    blank = cli("reject", "credit", "2", "--comment", "   ", user="olga")
    registered = cli("request-changes", "credit", "3", "--comment", "why", user="olga")

    assert (blank.code, blank.err) == (
        2, "modelbridge: error: a sign-off needs a comment saying why\n",
    )  # fmt: skip
    assert (registered.code, registered.err) == (
        2,
        "modelbridge: error: v3 is registered: 'request changes' is not possible from there "
        "(possible: request review)\n",
    )


def test_audit_list_filters_by_model_actor_and_action_newest_first(fresh: Store, cli) -> None:
    promoted = _events(cli("audit", "list", "--action", "promote", "--json"))
    by_erin = _events(cli("audit", "list", "--actor", "erin", "--json"))
    newest = _events(cli("audit", "list", "--limit", "1", "--json"))
    every = _events(cli("audit", "list", "--limit", "1000", "--json"))
    nobody = cli("audit", "list", "--actor", "nobody")
    elsewhere = cli("audit", "list", "--model", "fraud", "--json")

    assert [(e["actor"], e["role"], e["version"], e["after"]["previous"]) for e in promoted] == [
        ("olga", "product_owner", 1, None)
    ]
    assert [(e["action"], e["version"]) for e in by_erin] == [
        ("request_review", 2),
        ("request_review", 1),
        ("register_version", 3),
        ("register_version", 2),
        ("register_version", 1),
    ]
    assert {e["role"] for e in by_erin if e["action"] == "request_review"} == {"ml_engineer"}
    assert [e["id"] for e in every] == sorted((e["id"] for e in every), reverse=True)
    assert newest == every[:1]
    assert (newest[0]["actor"], newest[0]["action"]) == ("erin", "request_review")
    assert len(every) == _event_count(fresh)
    assert (nobody.code, nobody.out) == (0, "no events\n")
    assert (elsewhere.code, elsewhere.json()) == (0, [])
