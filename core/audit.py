"""Append-only audit trail; each event's hash covers its content and the previous hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlmodel import col, select

from core.models import AuditEvent, utcnow
from core.store import Work


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
    return event


def verify(w: Work) -> list[str]:
    """Problems in the chain (edited, deleted or reordered events); empty when intact."""
    problems = []
    prev = ""
    for event in w.session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all():
        if event.prev_hash != prev:
            problems.append(
                f"event {event.id}: does not follow the previous event (one was removed)"
            )
        if _digest(event) != event.hash:
            problems.append(f"event {event.id}: content changed after it was written")
        prev = event.hash
    return problems
