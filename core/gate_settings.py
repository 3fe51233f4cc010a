"""The settings release gates read (gates.*, drift.*, the business case's numbers and period) and
the rule that keeps anyone from turning a failing blocking gate of their own candidate into a
pass (issue 15).

- Frozen: a review's evidence holds a snapshot of them; approval is refused when they no longer
  match it (core.workflow.lifecycle.sign).
- Counted: every change to them since a version was registered is listed in its evidence; a
  change by its registrant or requester that still stands (not put back, not made again by
  someone else) since a version of the model was last approved, before the registration too,
  fails its blocking "settings" gate (core.workflow.lifecycle.request_review).
- Guarded: while a version is in review, its registrant or requester may not change them at all;
  a change by anyone else sends the review back (status "stale", the version registered again,
  the change audited before → after), so fresh evidence is computed on a new request.

The business case and model settings are written only through core.value.business_case.save and
core.monitoring.policy.update_settings, which call `guard_change` in their unit of work, so the
CLI and the dashboard obey the same rule. The audit trail is the record of who changed what.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from typing import Any

from sqlmodel import col, select

from core import audit
from core.auth import Identity, same_person
from core.errors import PermissionDenied
from core.store import AuditEvent, Model, ModelVersion, Review, Work

READ_BY_GATES = ("gates", "drift", "business_case")
# What the KPI gate values decisions with; the case's words (decision, unit, actions) decide no
# verdict and stay open to edit.
CASE_READ = (
    "threshold",
    "value_tp",
    "value_fp",
    "value_tn",
    "value_fn",
    "volume_per_period",
    "period",
)
WRITERS = ("business_case", "model_settings")  # audit actions that change them


@dataclass(frozen=True)
class Change:
    """One setting a gate reads, changed: its dotted key, the values before and after, who
    changed it and when."""

    key: str
    before: Any
    after: Any
    by: str
    at: str

    def words(self) -> str:
        """'business_case.value_tp -150 → 0 (erin)'."""
        return f"{self.key} {shown(self.before)} → {shown(self.after)} ({self.by})"


def shown(value: Any) -> str:
    """A setting's value in words ('unset' when it has none)."""
    # NaN: a table column that mixes numbers with unset values holds them as NaN.
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(shown(v) for v in value)
    return str(value)


def snapshot(model: Model) -> dict[str, Any]:
    """The settings its gates read, as frozen with a review's evidence."""
    found = {key: copy.deepcopy(model.settings.get(key, {})) for key in READ_BY_GATES}
    return {**found, "business_case_revision": int(model.settings.get("business_case_revision", 0))}


def _flat(tree: Any, prefix: str) -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_flat(value, f"{prefix}.{key}"))
    return out


def flat(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings gates read in a settings tree (or a snapshot), by dotted key."""
    found: dict[str, Any] = {}
    for section in READ_BY_GATES:
        tree = settings.get(section, {})
        if section == "business_case":
            tree = {k: v for k, v in tree.items() if k in CASE_READ}
        found.update(_flat(tree, section))
    return found


def differences(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Dotted keys of the settings gates read whose value differs between two settings trees."""
    a, b = flat(before), flat(after)
    return {key: (a.get(key), b.get(key)) for key in {**a, **b} if a.get(key) != b.get(key)}


def in_words(changed: dict[str, tuple[Any, Any]]) -> str:
    """'business_case.value_tp -150 → 0, drift.thresholds.psi unset → 1000'."""
    return ", ".join(f"{k} {shown(a)} → {shown(b)}" for k, (a, b) in changed.items())


def _tree(action: str, state: dict[str, Any]) -> dict[str, Any]:
    # A business-case event records the case itself; a settings event the whole settings.
    return {"business_case": state} if action == "business_case" else state


def changes_since_registration(w: Work, *, model: Model, version: ModelVersion) -> list[Change]:
    """Every change to the settings its gates read since VERSION was registered, oldest first."""
    registered = w.session.exec(
        select(AuditEvent.id).where(
            AuditEvent.model == model.name,
            AuditEvent.version == version.version,
            AuditEvent.action == "register_version",
        )
    ).first()
    return every_change(w, model=model, after_event=registered)


def changes_since_approval(w: Work, *, model: Model) -> list[Change]:
    """Every change to what MODEL's gates read since one of its versions was last approved: an
    approval vouched for the settings frozen in its evidence (approval is refused when they
    differ), so only later changes can still be someone's own."""
    approved = w.session.exec(
        select(AuditEvent.id)
        .where(AuditEvent.model == model.name, AuditEvent.action == "approve")
        .order_by(col(AuditEvent.id).desc())
    ).first()
    return every_change(w, model=model, after_event=approved)


def every_change(w: Work, *, model: Model, after_event: int | None = None) -> list[Change]:
    """Every change to the settings MODEL's gates read (after audit event AFTER_EVENT), oldest
    first."""
    query = select(AuditEvent).where(
        AuditEvent.model == model.name, col(AuditEvent.action).in_(WRITERS)
    )
    if after_event is not None:
        query = query.where(col(AuditEvent.id) > after_event)
    found = []
    for event in w.session.exec(query.order_by(col(AuditEvent.id))).all():
        changed = differences(
            _tree(event.action, event.before_state), _tree(event.action, event.after_state)
        )
        found += [
            Change(key, a, b, event.actor, event.occurred_at.isoformat())
            for key, (a, b) in changed.items()
        ]
    return found


def standing(changes: list[Change], *, people: tuple[str | None, ...]) -> list[Change]:
    """Changes by PEOPLE that still stand, one per key: the value now against the one it had
    before they changed it (at registration, or as someone else last set it)."""
    vouched: dict[str, Any] = {}
    now: dict[str, Any] = {}
    theirs: dict[str, Change] = {}
    for change in changes:
        vouched.setdefault(change.key, change.before)
        now[change.key] = change.after
        if any(same_person(change.by, p) for p in people):
            theirs[change.key] = change
        else:
            vouched[change.key] = change.after
            theirs.pop(change.key, None)
    return [
        Change(key, vouched[key], now[key], c.by, c.at)
        for key, c in theirs.items()
        if now[key] != vouched[key]
    ]


def guard_change(
    w: Work, *, model: Model, before: dict[str, Any], after: dict[str, Any], by: Identity
) -> None:
    """Refuse a change to what the gates read by the registrant or requester of a version in
    review; for anyone else, send those reviews back with the change audited."""
    changed = differences(before, after)
    if not changed:
        return
    reviewed = w.session.exec(
        select(ModelVersion, Review)
        .join(
            Review,
            (col(Review.model_id) == col(ModelVersion.model_id))
            & (col(Review.version) == col(ModelVersion.version)),
        )
        .where(
            ModelVersion.model_id == model.id,
            ModelVersion.stage == "in_review",
            Review.status == "open",
        )
    ).all()
    for version, review in reviewed:
        if same_person(by.username, version.created_by) or same_person(
            by.username, review.requested_by
        ):
            raise PermissionDenied(
                f"{by.username} registered {model.name} v{version.version} or asked for its "
                "review, which is open: they cannot change the settings its gates read "
                f"({', '.join(changed)}) until it is decided"
            )
    for version, review in reviewed:
        review.status = "stale"
        version.stage = "registered"
        w.session.add(review)
        w.session.add(version)
        audit.record(
            w,
            actor=by.username,
            role=by.role,
            action="review_stale",
            model=model.name,
            version=version.version,
            before={
                "stage": "in_review",
                "evidence_sha256": review.evidence_sha256,
                "settings": {k: a for k, (a, _) in changed.items()},
            },
            after={
                "stage": "registered",
                "settings": {k: b for k, (_, b) in changed.items()},
                "reason": f"{by.username} changed what its gates read while it was in review; "
                "ask for review again to compute fresh evidence",
            },
        )


def verdict(
    changes: list[Change],
    history: list[Change],
    *,
    version: int,
    people: tuple[str | None, ...],
) -> tuple[str, bool, str, dict[str, Any]]:
    """The "settings" gate, always blocking: fails while a change by PEOPLE (the candidate's
    registrant and requester) to what the gates read stands, made before its registration too
    (HISTORY: since a version of the model was last approved, which vouched for the settings
    then frozen); CHANGES, those since its registration, are counted in its numbers."""
    theirs = standing(history, people=people)
    numbers = {"changes": len(changes), "standing": [asdict(c) for c in theirs]}
    if theirs:
        return (
            "fail",
            True,
            f"Set by v{version}'s registrant or requester since the model's last approval, and "
            f"not set again by anyone else: "
            f"{', '.join(c.words() for c in theirs)}. Put them back, or have someone who did "
            "not register it or ask for its review make them.",
            numbers,
        )
    if changes:
        said = (
            f"{len(changes)} change(s) to the settings its gates read since v{version} was "
            "registered; none made by its registrant or requester stands."
        )
    else:
        said = f"No change to the settings its gates read since v{version} was registered."
    return "pass", True, said, numbers
