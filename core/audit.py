"""Append-only audit trail; each event's hash covers its content and the previous hash."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
from sqlmodel import col, select

from core.files.exports import write_csv
from core.store import AuditEvent, Store, Work, utcnow


def _digest(event: AuditEvent) -> str:
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
    text = json.dumps(body, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


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
    last = w.session.exec(select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(1)).first()
    event = AuditEvent(
        occurred_at=utcnow(),
        actor=actor,
        role=role,
        action=action,
        model=model,
        version=version,
        before_state=before or {},
        after_state=after or {},
        prev_hash=last.hash if last else "",
    )
    event.hash = _digest(event)
    w.session.add(event)
    w.session.flush()
    # Two units of work in one process (two dashboard sessions) would both chain onto the same
    # last event and fork the chain. Both also rewrite this one row, so DuckDB refuses to commit
    # the second (a write-write conflict the caller may retry) instead of forking silently.
    w.sql("INSERT OR REPLACE INTO store_meta VALUES ('audit_head', ?)", [event.hash])
    return event


def verify(w: Work) -> list[str]:
    """Problems in the chain (edited, deleted or reordered events); empty when intact."""
    problems = []
    prev, last_id = "", None
    for event in w.session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all():
        if event.prev_hash != prev:
            problems.append(
                f"event {event.id}: does not follow the previous event (one was removed)"
            )
        if _digest(event) != event.hash:
            problems.append(f"event {event.id}: content changed after it was written")
        prev, last_id = event.hash, event.id
    # The chain alone cannot show that its newest events were cut off; the recorded head can.
    head = w.rows("SELECT value FROM store_meta WHERE key = 'audit_head'")
    if head and head[0][0] != prev:
        where = f"after event {last_id}" if last_id is not None else "of the trail"
        problems.append(f"the newest event(s) {where} were removed")
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
    clauses, params = ["TRUE"], []
    for column, value in (("model", model), ("actor", actor), ("action", action)):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        clauses.append("occurred_at >= ?")
        params.append(since)
    sql = (
        "SELECT id, occurred_at, actor, role, action, model, version, "
        "CAST(before_state AS VARCHAR) AS before, CAST(after_state AS VARCHAR) AS after, hash "
        f"FROM audit_event WHERE {' AND '.join(clauses)} ORDER BY id DESC"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return w.frame(sql, params)


def export_csv(store: Store, *, target: Path) -> int:
    """Write the whole trail, oldest first, with hashes, to a CSV file; return the row count."""
    with store.read() as r:
        frame = events(r, limit=None).sort_values("id", ignore_index=True)
        frame["prev_hash"] = r.frame("SELECT prev_hash FROM audit_event ORDER BY id")[
            "prev_hash"
        ].to_numpy()
    write_csv(frame, target)
    return len(frame)
