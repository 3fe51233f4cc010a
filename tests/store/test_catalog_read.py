"""The light catalog read (Store.catalog_read) gives the same answers as a full unit of work, on
the embedded DuckDB file and on a team catalog (PostgreSQL): the live version, the versions
list, a version's open review, the alerts and the audit trail's check (issue 18)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from core import audit, registry, workflow
from core.auth import Identity
from core.errors import NotFound
from core.ingest import ingest_predictions
from core.monitoring import alert_list, alerts
from core.monitoring.policy import update_settings
from core.registry import RegistrationSpec, register_version
from core.store import Alert, Store, TeamStore, get_meta
from tests import postgres
from tests.factories import Case, tamper

ENGINEER, OWNER = Identity("engineer", "ml_engineer"), Identity("owner", "product_owner")


@pytest.fixture(params=["duckdb", "postgresql"])
def released(request: pytest.FixtureRequest, tmp_path: Path, binary_files: Case) -> Store:
    """Model 'credit' on either catalog: v1 live (approved by owner), v2 registered and in
    review, and three alerts (open, acknowledged, resolved)."""
    if request.param == "postgresql":
        server: postgres.Server = request.getfixturevalue("postgres_server")
        store: Store = TeamStore(server.create(), lock_wait_seconds=10)
        store.init(logs=tmp_path / "logs")
    else:
        store = Store(tmp_path / "store.duckdb", lock_wait_seconds=10)
        store.init()
    for version, sha in ((1, "abc123"), (2, "def456")):
        register_version(
            store,
            spec=RegistrationSpec(
                model="credit",
                reference=binary_files.reference,
                target="defaulted",
                prediction="score",
                model_file=binary_files.model_file,
                created_by="ci",
                git_sha=sha,
            ),
        )
        if version == 1:
            update_settings(
                store, model="credit", changes={"gates.latency_budget_ms": 10_000}, by=OWNER
            )
        workflow.request_review(store, model="credit", version=version, by=ENGINEER)
        if version == 1:
            workflow.sign(
                store, model="credit", version=1, by=OWNER, decision="approve", comment="ok"
            )
            workflow.promote(store, model="credit", version=1, by=OWNER)
    with store.write() as w:
        model = registry.get_model(w, name="credit")
        assert model.id is not None
        for n, status in enumerate(("open", "acknowledged", "resolved")):
            w.session.add(
                Alert(
                    model_id=model.id,
                    version=1,
                    kind=("drift", "performance", "prediction_drift")[n],
                    subject=("income", "roc_auc", "prediction")[n],
                    since=datetime(2026, 3, 2 + 7 * n, tzinfo=UTC),
                    last_seen=datetime(2026, 3, 30, tzinfo=UTC),
                    severity="low",
                    reason=f"reason {n}",
                    value=0.3 + n,
                    threshold=0.2,
                    status=status,
                    acknowledged_by="owner" if status == "acknowledged" else None,
                )
            )
    return store


def test_production_reads_what_the_full_unit_of_work_sees(released: Store) -> None:
    found = workflow.production(released, model="credit")

    with released.read() as r:
        model = registry.get_model(r, name="credit")
        live = workflow.live_version(r, model=model)
        approval = workflow.history(r, model=model, version=1)[0]["sign_offs"][0]
    assert live is not None
    assert found == {
        "model": "credit",
        "version": 1,
        "artifact_path": live.artifact_path,
        "artifact_sha256": live.artifact_sha256,
        "approved_by": "owner",
        "approved_at": approval["at"].astimezone(UTC).isoformat(),
        "rollback_to": None,
        "no_rollback_because": (
            "v1 replaced nothing when it was promoted; there is no version to roll back to"
        ),
    }
    assert found["artifact_sha256"] and len(found["artifact_sha256"]) == 64


def test_the_versions_list_is_the_one_the_dashboard_reads(released: Store) -> None:
    with released.catalog_read() as r:
        light = registry.version_summaries(r, model=registry.find_model(r, name="credit"))
    with released.read() as r:
        full = registry.list_versions(r, model=registry.get_model(r, name="credit"))

    assert [(v.version, v.stage, v.git_sha) for v in light] == [
        (2, "in_review", "def456"),
        (1, "production", "abc123"),
    ]
    assert [
        (v.version, v.stage, v.created_by, v.created_at, v.git_sha, v.metrics) for v in light
    ] == [(v.version, v.stage, v.created_by, v.created_at, v.git_sha, v.metrics) for v in full]
    assert light[0].metrics["roc_auc"] > 0.5


def test_a_gate_reads_the_evidence_frozen_in_the_open_review(released: Store) -> None:
    with released.catalog_read() as r:
        light = workflow.open_review_evidence(
            r, model=registry.find_model(r, name="credit"), version=2
        )
        with pytest.raises(NotFound, match="credit v1 has no open review"):
            workflow.open_review_evidence(r, model=registry.find_model(r, name="credit"), version=1)
    with released.read() as r:
        full = workflow.open_review(r, model=registry.get_model(r, name="credit"), version=2)

    assert (light.review_id, light.evidence, light.evidence_sha256) == (
        full.id,
        full.evidence,
        full.evidence_sha256,
    )
    assert workflow.evidence_hash(light.evidence) == light.evidence_sha256
    assert [g["name"] for g in light.evidence["gates"]][:2] == ["metrics", "reproduction"]


def test_listed_alerts_are_the_records_the_webhooks_send(released: Store) -> None:
    with released.catalog_read() as r:
        model = registry.find_model(r, name="credit")
        every = alert_list.list_alerts(r, model=model)
        still_open = alert_list.list_alerts(r, model=model, open_only=True)
    with released.read() as r:  # as core.monitoring.alerts puts them in the webhook outbox
        sent = {
            a.id: alert_list.alert_record(a.model_dump()) for a in r.session.exec(select(Alert))
        }

    assert [a["subject"] for a in every] == ["prediction", "roc_auc", "income"]  # newest first
    assert [a["status"] for a in still_open] == ["acknowledged", "open"]
    assert every == [sent[a["id"]] for a in every]
    assert every[2]["since"] == "2026-03-02T00:00:00+00:00"
    assert (every[2]["feature"], every[1]["metric"]) == ("income", "roc_auc")


def test_the_audit_check_reads_the_trail_alike_and_catches_a_rewritten_event(
    released: Store,
) -> None:
    with released.catalog_read() as r:
        assert audit.verify(r) == []
        anchor = audit.head(r)
    with released.read() as r:
        assert audit.head(r) == anchor
    assert anchor is not None

    tamper(released, "UPDATE audit_event SET actor = 'mallory' WHERE id = 2")
    tamper(released, "UPDATE model_version SET stage = 'approved' WHERE version = 2")

    with released.catalog_read() as r:
        problems = audit.verify(r, anchor=anchor)
    with released.read() as r:
        assert audit.verify(r, anchor=anchor) == problems
    assert problems == [
        "event 2: content changed after it was written",
        "credit v2 is approved but the events leave it in_review",
    ]


def test_alerts_are_current_until_a_setting_or_a_batch_changes(
    released: Store, binary_files: Case
) -> None:

    def current() -> bool:
        with released.catalog_read() as r:
            return alert_list.alerts_current(r, model=registry.find_model(r, name="credit"))

    assert not current()  # never checked
    alerts.refresh(released, model="credit")
    assert current()
    update_settings(released, model="credit", changes={"alerts.consecutive": 3}, by=ENGINEER)
    assert not current()
    alerts.refresh(released, model="credit")
    with released.catalog_read() as r:
        assert get_meta(r, key=alert_list.basis_key(registry.find_model(r, name="credit")))
    assert current()
    ingest_predictions(released, model="credit", files=[binary_files.logs])
    assert not current()
