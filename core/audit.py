"""Append-only audit trail; each event's hash covers its content and the previous hash.

With MODELBRIDGE_AUDIT_KEY set, each hash is an HMAC under that key ('hmac-sha256:…'), so only
the key's holder can write a chain that verifies: someone with the store file alone can
rewrite plain hashes, not keyed ones. `head` gives an anchor (the newest event's id and hash)
to keep elsewhere; verifying against it catches a trail cut short or rewritten whole. Verify
also checks that every version's stage and each model's production pointer are what the
events say, so an UPDATE of those tables shows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.files.exports import write_csv
from core.store import CatalogReader, Store, Work, get_meta, json_value, put_meta, utc

if TYPE_CHECKING:  # only for types: `production` and `audit verify` run without pandas
    import pandas as pd

    from core.store import AuditEvent

KEYED = "hmac-sha256:"


@dataclass(frozen=True)
class Event:
    """One audit event as verify reads it back from the catalog."""

    id: int
    occurred_at: datetime
    actor: str
    role: str
    action: str
    model: str | None
    version: int | None
    before_state: dict[str, Any]
    after_state: dict[str, Any]
    prev_hash: str
    hash: str


def _digest(event: AuditEvent | Event, key: bytes | None = None) -> str:
    body = {
        "occurred_at": event.occurred_at.isoformat(),
        "actor": event.actor,
        "role": event.role,
        "action": event.action,
        "model": event.model,
        "version": event.version,
        "before": event.before_state,
        "after": event.after_state,
        "prev": event.prev_hash,
    }
    text = json.dumps(body, sort_keys=True, default=str, separators=(",", ":")).encode()
    if key is not None:
        return KEYED + hmac.new(key, text, hashlib.sha256).hexdigest()
    return hashlib.sha256(text).hexdigest()


def record(
    w: Work,
    *,
    actor: str,
    action: str,
    role: str = "",
    model: str | None = None,
    version: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event in the caller's unit of work."""
    from core.store import AuditEvent, utcnow

    # Reading the last event and chaining onto it must not interleave with another writer's.
    w.serialise("audit_chain")
    last = _last(w)
    event = AuditEvent(
        occurred_at=utcnow(),
        actor=actor,
        role=role,
        action=action,
        model=model,
        version=version,
        before_state=before or {},
        after_state=after or {},
        prev_hash=last[1] if last else "",
    )
    event.hash = _digest(event, w.audit_key)
    w.session.add(event)
    w.session.flush()
    # Two units of work in one process (two dashboard sessions) would both chain onto the same
    # last event and fork the chain. Both also rewrite this one row, so DuckDB refuses to commit
    # the second (a write-write conflict the caller may retry) instead of forking silently; on
    # PostgreSQL the lock taken above keeps them apart.
    put_meta(w, key="audit_head", value=event.hash)
    return event


def _last(w: CatalogReader) -> tuple[int, str] | None:
    """The newest event's id and hash, None while the trail is empty."""
    found = w.catalog("SELECT id, hash FROM audit_event ORDER BY id DESC LIMIT 1").first()
    return None if found is None else (int(found[0]), str(found[1]))


def head(w: CatalogReader) -> str | None:
    """The anchor to keep outside the store: 'ID:HASH' of the newest event (None when empty)."""
    last = _last(w)
    return None if last is None else f"{last[0]}:{last[1]}"


def _trail(w: CatalogReader) -> list[Event]:
    rows = w.catalog(
        "SELECT id, occurred_at, actor, role, action, model, version, before_state, "
        "after_state, prev_hash, hash FROM audit_event ORDER BY id"
    )
    return [
        Event(
            int(i), utc(at), actor, role, action, model, version,
            dict(json_value(before)), dict(json_value(after)), prev, digest,
        )
        for i, at, actor, role, action, model, version, before, after, prev, digest in rows
    ]  # fmt: skip


def verify(w: CatalogReader, *, anchor: str | None = None) -> list[str]:
    """Problems in the chain (edited, deleted, reordered or unsigned events, a trail that does
    not reach ANCHOR) and in the state it records; empty when intact."""
    problems = []
    prev, last_id, unkeyable, unsigned = "", None, 0, 0
    trail = _trail(w)
    for event in trail:
        if event.prev_hash != prev:
            problems.append(
                f"event {event.id}: does not follow the previous event (one was removed)"
            )
        keyed = event.hash.startswith(KEYED)
        if keyed and w.audit_key is None:
            unkeyable += 1
        elif _digest(event, w.audit_key if keyed else None) != event.hash:
            problems.append(f"event {event.id}: content changed after it was written")
        elif w.audit_key is not None and not keyed:
            unsigned += 1
        prev, last_id = event.hash, event.id
    if unkeyable:
        problems.append(
            f"{unkeyable} event(s) are signed with a key: set MODELBRIDGE_AUDIT_KEY to check them"
        )
    if unsigned:
        # Someone with the file but not the key can only write plain hashes.
        problems.append(
            f"{unsigned} event(s) are not signed with the key: written before "
            "MODELBRIDGE_AUDIT_KEY was set, or rewritten without it"
        )
    # The chain alone cannot show that its newest events were cut off; the recorded head can.
    found = get_meta(w, key="audit_head")
    if found is not None and found != prev:
        where = f"after event {last_id}" if last_id is not None else "of the trail"
        problems.append(f"the newest event(s) {where} were removed")
    if anchor is not None:
        problems.extend(_against_anchor(trail, anchor))
    problems.extend(_state_problems(w, trail))
    return problems


def _against_anchor(trail: Sequence[Event], anchor: str) -> list[str]:
    number, _, digest = anchor.strip().partition(":")
    if not number.isdigit() or not digest:
        return [f"the anchor {anchor!r} is not ID:HASH as `modelbridge audit head` prints it"]
    kept = next((e for e in trail if e.id == int(number)), None)
    if kept is None:
        return [f"the anchored event {number} is gone: the trail was cut short or replaced"]
    if kept.hash != digest:
        return [f"the anchored event {number} was rewritten: its hash is not the one kept"]
    return []


def _state_problems(w: CatalogReader, trail: Sequence[Event]) -> list[str]:
    """Versions whose stage, and models whose production version, the events do not explain."""
    recorded: dict[tuple[str, int], str] = {}
    registered = set()
    for event in trail:
        if event.model is None or event.version is None:
            continue
        key = (event.model, event.version)
        if event.action == "register_version":
            registered.add(key)
            recorded[key] = "registered"
        elif "stage" in event.after_state:
            recorded[key] = str(event.after_state["stage"])
    problems = []
    names = {int(i): str(name) for i, name in w.catalog("SELECT id, name FROM model")}
    for model_id, number, stage in w.catalog(
        "SELECT model_id, version, stage FROM model_version ORDER BY id"
    ):
        key = (names.get(model_id, "?"), number)
        where = f"{key[0]} v{key[1]}"
        if key not in registered:
            problems.append(f"{where}: no event records its registration")
        elif recorded.get(key) != stage:
            problems.append(
                f"{where} is {stage} but the events leave it {recorded.get(key, 'registered')}"
            )
    for model_id, version in w.catalog("SELECT model_id, version FROM production_version"):
        if recorded.get((names.get(model_id, "?"), version)) != "production":
            problems.append(
                f"{names.get(model_id, '?')} v{version} is marked live but no event put it there"
            )
    return problems


def events(
    w: Work,
    *,
    model: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: Any = None,
    limit: int | None = 200,
) -> pd.DataFrame:
    """Audit events matching the filters, newest first, before/after as JSON text."""
    clauses: list[str] = ["TRUE"]
    params: dict[str, Any] = {}
    for column, value in (("model", model), ("actor", actor), ("action", action)):
        if value:
            clauses.append(f"{column} = :{column}")
            params[column] = value
    if since is not None:
        clauses.append("occurred_at >= :since")
        params["since"] = since
    sql = (
        "SELECT id, occurred_at, actor, role, action, model, version, "
        "CAST(before_state AS VARCHAR) AS before, CAST(after_state AS VARCHAR) AS after, hash "
        f"FROM audit_event WHERE {' AND '.join(clauses)} ORDER BY id DESC"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return w.catalog_frame(sql, params)


def export_csv(store: Store, *, target: Path) -> int:
    """Write the whole trail, oldest first, with hashes, to a CSV file; return the row count."""
    with store.read() as r:
        frame = events(r, limit=None).sort_values("id", ignore_index=True)
        frame["prev_hash"] = r.catalog_frame("SELECT prev_hash FROM audit_event ORDER BY id")[
            "prev_hash"
        ].to_numpy()
    write_csv(frame, target)
    return len(frame)
