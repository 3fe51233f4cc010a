"""From candidate to live: review, release gates, sign-off, promotion, rollback, model card."""

from core.workflow.lifecycle import (
    blocking_failures,
    evidence_hash,
    history,
    judged_review,
    live_version,
    open_review,
    queue,
    request_review,
    sign,
)
from core.workflow.promotion import production, promote, rollback

__all__ = [
    "evidence_hash",
    "live_version",
    "request_review",
    "open_review",
    "judged_review",
    "blocking_failures",
    "sign",
    "promote",
    "rollback",
    "production",
    "history",
    "queue",
    "gates",
    "class_gates",
    "latency",
    "model_card",
    "rules",
    "promotion",
]
