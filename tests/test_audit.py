"""The audit trail: append-only events chained by hashes, so edits and deletions show."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pandas as pd
import pytest
from sqlmodel import col, select

from core import audit
from core.store import AuditEvent, Store, open_store
from tests.factories import tamper


def _record(store: Store, n: int, **fields: object) -> None:
    for i in range(n):
        with store.write() as w:
            audit.record(
                w,
                actor=str(fields.get("actor", f"user{i}")),
                role="product_owner",
                action=str(fields.get("action", "promote")),
                model=str(fields.get("model", "credit")),
                version=i + 1,
                before={"stage": "approved"},
                after={"stage": "production", "note": f"event {i}"},
            )


def _verify(store: Store) -> list[str]:
    with store.read() as r:
        return audit.verify(r)


@pytest.fixture
def trail(store: Store) -> Store:
    """A store with five chained events (ids 1-5)."""
    _record(store, 5)
    return store


def test_each_event_chains_onto_the_previous_one(trail: Store) -> None:
    with trail.read() as r:
        rows = r.catalog("SELECT id, prev_hash, hash FROM audit_event ORDER BY id").all()
    assert [row[0] for row in rows] == [1, 2, 3, 4, 5]
    assert rows[0][1] == ""
    assert [row[1] for row in rows[1:]] == [row[2] for row in rows[:-1]]
    assert len({row[2] for row in rows}) == 5
    assert _verify(trail) == []


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE audit_event SET actor = 'mallory' WHERE id = 3",
        'UPDATE audit_event SET after_state = \'{"stage": "archived"}\' WHERE id = 3',
        "UPDATE audit_event SET occurred_at = occurred_at - INTERVAL '1 day' WHERE id = 3",
        "UPDATE audit_event SET version = 42 WHERE id = 3",
    ],
)
def test_an_edited_event_is_detected(trail: Store, change: str) -> None:
    tamper(trail, change)
    assert _verify(trail) == ["event 3: content changed after it was written"]


def test_an_edited_event_with_a_recomputed_hash_breaks_the_next_link(trail: Store) -> None:
    tamper(trail, "UPDATE audit_event SET actor = 'mallory', hash = 'forged' WHERE id = 3")
    assert _verify(trail) == [
        "event 3: content changed after it was written",
        "event 4: does not follow the previous event (one was removed)",
    ]


def test_a_deleted_event_is_detected(trail: Store) -> None:
    tamper(trail, "DELETE FROM audit_event WHERE id = 2")
    assert _verify(trail) == ["event 3: does not follow the previous event (one was removed)"]


def test_deleting_the_newest_event_is_detected(trail: Store) -> None:
    tamper(trail, "DELETE FROM audit_event WHERE id = 5")
    assert _verify(trail) == ["the newest event(s) after event 4 were removed"]


def test_export_writes_the_whole_trail_oldest_first_with_its_hashes(
    trail: Store, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "audit.csv"

    written = audit.export_csv(trail, target=target)

    frame = pd.read_csv(target, keep_default_na=False, dtype={"prev_hash": str, "hash": str})
    assert written == len(frame) == 5
    assert frame["id"].tolist() == [1, 2, 3, 4, 5]
    assert frame["actor"].tolist() == [f"user{i}" for i in range(5)]
    assert frame["prev_hash"].tolist() == ["", *frame["hash"].tolist()[:-1]]
    assert json.loads(frame["after"].iloc[0]) == {"stage": "production", "note": "event 0"}
    assert {"occurred_at", "role", "action", "model", "version", "before"} <= set(frame)


@pytest.mark.parametrize("formula", ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)"])
def test_export_writes_a_formula_in_user_text_as_text_a_spreadsheet_will_not_run(
    store: Store, tmp_path: Path, formula: str
) -> None:
    _record(store, 1, actor=formula)
    target = tmp_path / "audit.csv"

    audit.export_csv(store, target=target)

    frame = pd.read_csv(target, keep_default_na=False, dtype=str)
    assert frame["actor"].tolist() == ["'" + formula]
    assert frame["version"].tolist() == ["1"]


def test_a_negative_number_is_exported_as_a_number() -> None:
    from core.files.exports import csv_text

    text = csv_text(pd.DataFrame({"value": ["-12.5", "=1+2"], "n": [-3, 4]}))

    assert text.splitlines() == ["value,n", "-12.5,-3", "'=1+2,4"]


def test_events_are_listed_newest_first_and_filtered(store: Store) -> None:
    _record(store, 2, actor="olga", action="promote")
    _record(store, 1, actor="erin", action="request_review", model="loss")
    with store.read() as r:
        everything = audit.events(r)
        olga = audit.events(r, actor="olga")
        loss = audit.events(r, model="loss", action="request_review")
        newest = audit.events(r, limit=1)
    assert everything["id"].tolist() == [3, 2, 1]
    assert olga["id"].tolist() == [2, 1]
    assert loss["actor"].tolist() == ["erin"]
    assert newest["id"].tolist() == [3]


def test_two_writers_in_one_process_cannot_fork_the_chain(store: Store) -> None:
    # Two dashboard sessions are two threads: each unit of work sees the same last event.
    _record(store, 1)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def append(who: str) -> None:
        try:
            with store.write() as w:
                start.wait()
                audit.record(w, actor=who, action="sign_off_approve")
        except Exception as exc:  # the loser's conflict, reported below
            outcomes.append(type(exc).__name__)
        else:
            outcomes.append("ok")

    threads = [threading.Thread(target=append, args=(who,)) for who in ("olga", "otto")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes)[-1] == "ok"
    with store.read() as r:
        assert r.catalog("SELECT count(*) FROM audit_event").scalar() == 1 + outcomes.count("ok")
    assert _verify(store) == []


# --- keyed and anchored ----------------------------------------------------------------------

KEY = b"kept by the operator, not in the store"


def _keyed(store: Store) -> Store:
    return open_store(store.target, audit_key=KEY)


def test_with_a_key_each_event_is_signed_and_verifies_only_with_that_key(store: Store) -> None:
    keyed = _keyed(store)
    _record(keyed, 3)

    with keyed.read() as r:
        assert audit.verify(r) == []
        hashes = r.catalog("SELECT hash FROM audit_event ORDER BY id").all()
    assert all(h.startswith("hmac-sha256:") for (h,) in hashes)
    with open_store(store.target, audit_key=b"another key").read() as r:
        assert audit.verify(r)[0] == "event 1: content changed after it was written"
    with open_store(store.target).read() as r:  # MODELBRIDGE_AUDIT_KEY unset
        assert audit.verify(r) == [
            "3 event(s) are signed with a key: set MODELBRIDGE_AUDIT_KEY to check them"
        ]


def test_a_keyed_chain_rewritten_with_plain_hashes_and_its_head_is_caught(store: Store) -> None:
    # What someone with the file but not the key can do: rewrite an event, recompute every
    # hash after it without the key, and update the head.
    keyed = _keyed(store)
    _record(keyed, 3)
    with keyed.read() as r:
        trail = r.session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
    prev = ""
    for event in trail:
        event.actor = "mallory" if event.id == 2 else event.actor
        event.prev_hash = prev
        event.hash = audit._digest(event)  # no key
        tamper(
            store,
            "UPDATE audit_event SET actor = :actor, prev_hash = :prev, hash = :hash WHERE id = :id",
            {"actor": event.actor, "prev": event.prev_hash, "hash": event.hash, "id": event.id},
        )
        prev = event.hash
    tamper(store, "UPDATE store_meta SET value = :head WHERE key = 'audit_head'", {"head": prev})

    with keyed.read() as r:
        problems = audit.verify(r)
    assert problems == [
        "3 event(s) are not signed with the key: written before MODELBRIDGE_AUDIT_KEY was set, "
        "or rewritten without it"
    ]


def test_an_anchor_catches_a_trail_cut_short_with_its_head_updated(trail: Store) -> None:
    with trail.read() as r:
        anchor = audit.head(r)
    assert anchor is not None and anchor.startswith("5:")
    tamper(trail, "DELETE FROM audit_event WHERE id >= 4")
    tamper(
        trail,
        "UPDATE store_meta SET value = (SELECT hash FROM audit_event WHERE id = 3) "
        "WHERE key = 'audit_head'",
    )

    with trail.read() as r:
        assert audit.verify(r) == []  # the chain alone looks whole
        assert audit.verify(r, anchor=anchor) == [
            "the anchored event 5 is gone: the trail was cut short or replaced"
        ]


def test_an_anchor_catches_every_event_deleted(trail: Store) -> None:
    with trail.read() as r:
        anchor = audit.head(r)
    tamper(trail, "DELETE FROM audit_event")
    tamper(trail, "DELETE FROM store_meta WHERE key = 'audit_head'")

    with trail.read() as r:
        assert audit.verify(r, anchor=anchor) == [
            "the anchored event 5 is gone: the trail was cut short or replaced"
        ]


def test_a_version_put_live_by_an_update_of_the_tables_is_caught(credit_store: Store) -> None:
    with credit_store.read() as r:
        assert audit.verify(r) == []
        model_id = r.catalog("SELECT id FROM model WHERE name = 'credit'").scalar()
    tamper(credit_store, "UPDATE model_version SET stage = 'production' WHERE version = 1")
    tamper(
        credit_store,
        f"INSERT INTO production_version VALUES ({model_id}, 1, 'mallory', now())",
    )

    with credit_store.read() as r:
        assert audit.verify(r) == [
            "credit v1 is production but the events leave it registered",
            "credit v1 is marked live but no event put it there",
        ]


def test_the_cli_prints_the_anchor_and_verifies_against_it(
    trail: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import in_process_cli

    cli = in_process_cli(trail, {}, capsys, monkeypatch)
    anchor = cli("audit", "head").out.strip()
    tamper(trail, "DELETE FROM audit_event WHERE id = 5")
    tamper(
        trail,
        "UPDATE store_meta SET value = (SELECT hash FROM audit_event WHERE id = 4) "
        "WHERE key = 'audit_head'",
    )

    plain, anchored = cli("audit", "verify"), cli("audit", "verify", "--anchor", anchor)

    assert anchor.startswith("5:") and len(anchor) == 2 + 64
    assert (plain.code, plain.out.strip()) == (0, "the audit trail is intact")
    assert (anchored.code, anchored.out.strip()) == (
        1,
        "the anchored event 5 is gone: the trail was cut short or replaced",
    )
