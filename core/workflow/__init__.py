"""From candidate to live: review, release gates, sign-off, promotion, rollback, model card."""

import importlib
from typing import TYPE_CHECKING, Any

from core.workflow.standing import (
    FrozenEvidence,
    blocking_failures,
    live_version_number,
    open_review_evidence,
    production,
    rollback_target,
)

if TYPE_CHECKING:
    from core.workflow.lifecycle import (
        evidence_hash,
        history,
        judged_review,
        live_version,
        open_review,
        queue,
        request_review,
        sign,
    )
    from core.workflow.promotion import promote, rollback

# The lifecycle's steps load SQLModel and the audit trail's writer; what stands (production, a
# gate's verdict) is read without them, so those names are imported on first use.
_ON_FIRST_USE = {
    **{
        name: "core.workflow.lifecycle"
        for name in (
            "evidence_hash",
            "history",
            "judged_review",
            "live_version",
            "open_review",
            "queue",
            "request_review",
            "sign",
        )
    },
    "promote": "core.workflow.promotion",
    "rollback": "core.workflow.promotion",
}


def __getattr__(name: str) -> Any:
    """An exported name whose module is imported on first use."""
    if name not in _ON_FIRST_USE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_ON_FIRST_USE[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "evidence_hash",
    "live_version",
    "live_version_number",
    "request_review",
    "open_review",
    "open_review_evidence",
    "FrozenEvidence",
    "judged_review",
    "blocking_failures",
    "sign",
    "promote",
    "rollback",
    "rollback_target",
    "production",
    "history",
    "queue",
    "gates",
    "class_gates",
    "latency",
    "model_card",
    "rules",
    "promotion",
    "standing",
]
