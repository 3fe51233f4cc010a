"""Deliver outbox events to the configured webhook: bounded retries and time, never blocking.

The URL comes from the model-independent setting MODELBRIDGE_WEBHOOK_URL (environment).
Events that cannot be delivered stay in the outbox with their last error and are tried again
on the next delivery; each attempt has a short timeout and the whole run a time budget.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from core.store import Store

TIMEOUT_S = 2.0
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Delivery:
    """Outcome of one delivery run."""

    delivered: int
    failed: int
    pending: int


def webhook_url() -> str | None:
    """The configured endpoint, if any."""
    url = os.environ.get("MODELBRIDGE_WEBHOOK_URL", "").strip()
    if url and not url.startswith(("http://", "https://")):
        return None
    return url or None


def post(url: str, body: str, timeout: float = TIMEOUT_S) -> None:
    """POST a JSON body; raise on a non-2xx answer or a network error."""
    request = urllib.request.Request(
        url,
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "modelbridge"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (http/https only)
        if not 200 <= answer.status < 300:
            raise urllib.error.HTTPError(url, answer.status, "not accepted", answer.headers, None)


def deliver(store: Store, *, budget_s: float = 5.0, url: str | None = None) -> Delivery:
    """Send pending events in order until done or out of time; record each attempt."""
    url = url or webhook_url()
    with store.catalog_read() as r:  # light: a poll with nothing to send loads no SQLAlchemy
        pending = r.catalog(
            "SELECT id, payload FROM webhook_outbox WHERE delivered_at IS NULL "
            "AND attempts < :most ORDER BY created_at, id",
            {"most": MAX_ATTEMPTS},
        ).all()
    if not url or not pending:
        return Delivery(0, 0, len(pending))
    deadline = time.monotonic() + budget_s
    delivered = failed = 0
    for event_id, payload in pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        error = None
        try:
            post(url, payload, timeout=min(TIMEOUT_S, remaining))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            error = str(exc)[:300]
        with store.write() as w:
            if error is None:
                w.catalog(
                    "UPDATE webhook_outbox SET delivered_at = now() AT TIME ZONE 'UTC', "
                    "attempts = attempts + 1 WHERE id = :id",
                    {"id": event_id},
                )
                delivered += 1
            else:
                w.catalog(
                    "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = :error "
                    "WHERE id = :id",
                    {"error": error, "id": event_id},
                )
                failed += 1
        if error is not None:
            break  # keep order: later events wait for the next run
    return Delivery(delivered, failed, len(pending) - delivered)
