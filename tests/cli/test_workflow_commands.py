"""The sign-off workflow from a CI/CD pipeline: `modelbridge` subprocesses against a store.

Each subprocess costs seconds of imports, so independent commands run side by side."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from core import audit, users, workflow
from core.auth import Identity
from core.ingest import ingest_labels, ingest_predictions
from core.monitoring.policy import update_settings
from core.registry import RegistrationSpec, get_model, get_version, list_versions, register_version
from core.store import Store
from tests.conftest import Ran, copy_store, run_cli
from tests.factories import ADMIN, Case

ENGINEER = Identity("erin", "ml_engineer")
OWNER = Identity("olga", "product_owner")
PASSWORDS = {"erin": "erin-pw", "olga": "olga-pw", "max": "max-pw"}
ROLES = {"erin": "ml_engineer", "olga": "product_owner", "max": "manager"}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, binary_files: Case) -> Path:
    """'credit' v1 live with labelled traffic, v2 and v3 registered by erin; users erin
    (ML engineer), olga (product owner) and max (manager)."""
    store = Store(tmp_path_factory.mktemp("workflow-cli") / "store.duckdb", lock_wait_seconds=60)
    store.init()
    for name, password in PASSWORDS.items():
        users.add_user(store, username=name, role=ROLES[name], password=password, by=ADMIN)
    for version in (1, 2, 3):
        register_version(store, spec=RegistrationSpec(
            model="credit", reference=binary_files.reference, target="defaulted",
            prediction="score", model_file=binary_files.model_file, created_by="erin",
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
    return store.path


@pytest.fixture
def fresh(template: Path, tmp_path: Path) -> Store:
    """A private copy of the template store."""
    return copy_store(template, tmp_path, lock_wait_seconds=60)


def cli(store: Store, *args: str, user: str | None = None, password: str | None = None) -> Ran:
    """`modelbridge ARGS --db STORE`, signed in as USER when given."""
    if user is None:
        return run_cli(*args, db=store.path)
    env = {"MODELBRIDGE_PASSWORD": password or PASSWORDS[user]}
    return run_cli(*args, "--user", user, db=store.path, env=env)


def side_by_side(*calls: tuple) -> list[Ran]:
    """Run several `cli` calls at once (each is (store, *args[, {"user": ...}]))."""
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [
            pool.submit(cli, *c[:-1], **c[-1]) if isinstance(c[-1], dict) else pool.submit(cli, *c)
            for c in calls
        ]
    return [f.result() for f in futures]


def _stage(store: Store, version: int) -> str:
    with store.read() as r:
        return get_version(r, model=get_model(r, name="credit"), version=version).stage


def test_a_pipeline_requests_review_a_product_owner_signs_promotes_and_rolls_back(
    fresh: Store, binary_files: Case
) -> None:
    asked = cli(fresh, "request-review", "credit", "2", "--json", user="erin")
    assert asked.code == 0, asked.err
    review = asked.json()
    with fresh.read() as r:
        stored = workflow.open_review(r, model=get_model(r, name="credit"), version=2)
    assert review["evidence_sha256"] == stored.evidence_sha256
    assert review["gates"] == stored.evidence["gates"]
    assert [g["name"] for g in review["gates"]] == [
        "metrics", "reproduction", "compatibility", "kpi", "drift", "latency", "explanations",
        "settings",
    ]  # fmt: skip

    signed = cli(
        fresh, "approve", "credit", "2", "--comment", "beats v1 on cost", "--json", user="olga"
    )
    assert signed.code == 0, signed.err
    assert signed.json() == {
        "model": "credit",
        "version": 2,
        "decision": "approve",
        "stage": "approved",
        "evidence_sha256": stored.evidence_sha256,
    }

    promoted = cli(fresh, "promote", "credit", "2", "--json", user="olga")
    assert promoted.code == 0, promoted.err
    assert promoted.json() == {"model": "credit", "version": 2, "archived": 1}

    live = cli(fresh, "production", "credit", "--json")
    assert live.code == 0, live.err
    found = live.json()
    assert set(found) == {
        "model", "version", "artifact_path", "artifact_sha256", "approved_by", "approved_at",
        "rollback_to", "no_rollback_because",
    }  # fmt: skip
    assert (found["model"], found["version"], found["approved_by"]) == ("credit", 2, "olga")
    assert (found["rollback_to"], found["no_rollback_because"]) == (1, None)
    digest = hashlib.sha256(binary_files.model_file.read_bytes()).hexdigest()
    assert found["artifact_sha256"] == digest
    assert hashlib.sha256(Path(found["artifact_path"]).read_bytes()).hexdigest() == digest
    assert pd.Timestamp(found["approved_at"]).tzinfo is not None

    rolled = cli(fresh, "rollback", "credit", "--json", user="olga")
    assert rolled.code == 0, rolled.err
    assert rolled.json() == {"model": "credit", "version": 1, "archived": 2}
    assert (_stage(fresh, 1), _stage(fresh, 2)) == ("production", "archived")


def test_the_cli_refuses_what_the_rules_refuse_in_one_line_with_exit_2(fresh: Store) -> None:
    workflow.request_review(fresh, model="credit", version=2, by=ENGINEER)
    passing = cli(fresh, "gate", "credit", "2")
    # A gate setting changed while v2 is in review sends v2 back (core.gate_settings).
    update_settings(fresh, model="credit", changes={"gates.min.roc_auc": "0.99"}, by=OWNER)
    workflow.request_review(fresh, model="credit", version=3, by=ENGINEER)

    # The rules themselves are tested in-process (test_workflow); here, that the CLI obeys them.
    failing, manager, wrong = side_by_side(
        (fresh, "gate", "credit", "3", "--json"),
        (fresh, "approve", "credit", "3", "--comment", "ok", {"user": "max"}),
        (fresh, "approve", "credit", "3", "--comment", "ok", {"user": "olga", "password": "x"}),
    )

    assert (passing.code, passing.out) == (0, "all blocking gates pass\n")
    assert failing.code == 1
    assert failing.json()["passed"] is False
    assert [g["name"] for g in failing.json()["gates"] if g["status"] == "fail"] == ["metrics"]
    refusals = {
        "manager": (manager, "max (Manager) may not approve; that needs Product owner"),
        "password": (wrong, "unknown user or wrong password"),
    }
    for what, (ran, message) in refusals.items():
        assert ran.code == 2, (what, ran.err)
        assert ran.out == "" and ran.err.count("\n") == 1, (what, ran.err)
        assert ran.err.startswith(f"modelbridge: error: {message}"), (what, ran.err)
    assert (_stage(fresh, 2), _stage(fresh, 3)) == ("registered", "in_review")


def test_audit_verify_detects_tampering_and_export_writes_csv(
    fresh: Store, template: Path, tmp_path: Path
) -> None:
    with fresh.read() as r:
        n = r.rows("SELECT count(*) FROM audit_event")[0][0]
    with duckdb.connect(str(fresh.path)) as con:
        con.execute("UPDATE audit_event SET actor = 'mallory' WHERE id = 2")
        con.execute("DELETE FROM audit_event WHERE id = 4")
    intact = Store(template)
    out = tmp_path / "audit.csv"

    tampered, clean, exported, card = side_by_side(
        (fresh, "audit", "verify", "--json"),
        (intact, "audit", "verify"),
        (intact, "audit", "export", "--out", str(out)),
        (intact, "model-card", "credit", "1", "--out", str(tmp_path / "card.html")),
    )

    assert tampered.code == 1
    assert tampered.json() == {
        "ok": False,
        "problems": [
            "event 2: content changed after it was written",
            "event 5: does not follow the previous event (one was removed)",
            "credit v1: no event records its registration",  # event 4 was that record
        ],
    }
    assert (clean.code, clean.out) == (0, "the audit trail is intact\n")
    assert exported.code == 0, exported.err
    assert exported.out == f"{n} event(s) written to {out}\n"
    frame = pd.read_csv(out, keep_default_na=False)
    with intact.read() as r:
        assert frame["hash"].tolist() == audit.events(r, limit=None)["hash"].tolist()[::-1]
    assert card.code == 0, card.err
    page = (tmp_path / "card.html").read_text(encoding="utf-8")
    assert "<h2>Sign-offs</h2>" in page and "olga (product_owner)" in page


def test_a_signed_in_registration_is_recorded_under_the_user_and_needs_an_engineer(
    fresh: Store, binary_files: Case
) -> None:
    register = ("register", "credit", "--reference", str(binary_files.reference), "--target",
                "defaulted", "--prediction", "score", "--created-by", "someone-else")  # fmt: skip

    manager = cli(fresh, *register, user="max")
    wrong = cli(fresh, *register, user="erin", password="not-erins")
    engineer = cli(fresh, *register, user="erin")

    assert (manager.code, manager.err) == (
        2,
        "modelbridge: error: max (Manager) may not register version; that needs ML engineer "
        "or Administrator\n",
    )
    assert (wrong.code, wrong.err) == (2, "modelbridge: error: unknown user or wrong password\n")
    assert (engineer.code, engineer.out.split(":")[0]) == (0, "credit v4 registered")
    with fresh.read() as r:
        model = get_model(r, name="credit")
        assert sorted(v.version for v in list_versions(r, model=model)) == [1, 2, 3, 4]
        assert (
            get_version(r, model=model, version=4).created_by == "erin"
        )  # not the --created-by given
