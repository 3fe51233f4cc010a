"""Version lifecycle: request review, sign off on frozen evidence (promotion and rollback:
core.workflow.promotion).

Every move is first checked against the rules in core.workflow.rules (stages, actions, roles).
The evidence freezes the settings the gates read with the gates' verdicts; its blocking
"settings" gate fails while a change to them by the candidate's registrant or requester stands,
and approval is refused once they differ from the frozen ones (core.gate_settings).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from sqlmodel import col, select

from core import audit, gate_settings
from core.auth import Identity, name_key, same_person
from core.errors import InvalidInput, PermissionDenied
from core.registry import get_model, get_version
from core.store import (
    Model,
    ModelVersion,
    Review,
    SignOff,
    Store,
    Work,
    utcnow,
)
from core.workflow.rules import DECISIONS, check, required_signoffs
from core.workflow.standing import blocking_failures, live_version_number, open_review_evidence


def evidence_hash(evidence: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of an evidence bundle."""
    text = json.dumps(evidence, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def live_version(w: Work, *, model: Model) -> ModelVersion | None:
    """The version in production, or None while nothing has been promoted."""
    number = live_version_number(w, model=model)
    return None if number is None else get_version(w, model=model, version=number)


def _stage(
    w: Work,
    model: Model,
    version: ModelVersion,
    to: str,
    by: Identity,
    action: str,
    extra: dict[str, Any] | None = None,
) -> None:
    before = version.stage
    version.stage = to
    w.session.add(version)
    audit.record(
        w,
        actor=by.username,
        role=by.role,
        action=action,
        model=model.name,
        version=version.version,
        before={"stage": before},
        after={"stage": to, **(extra or {})},
    )


def request_review(store: Store, *, model: str, version: int, by: Identity) -> Review:
    """Compute the gates, freeze the evidence with its hash, and put the version in review."""
    from core.workflow import gates  # imported on use: the gates load scientific libraries

    with store.open().read() as r:
        entry = get_model(r, name=model)
        candidate = get_version(r, model=entry, version=version)
        check(entry, candidate, "request_review", by)
        live = live_version(r, model=entry)
        found, samples = gates.evaluate(store, w=r, model=entry, candidate=candidate, live=live)
        frozen = gate_settings.snapshot(entry)
        changes = gate_settings.changes_since_registration(r, model=entry, version=candidate)
        history = gate_settings.changes_since_approval(r, model=entry)
    found.append(
        gates.Gate(
            "settings",
            *gate_settings.verdict(
                changes, history, version=version, people=(candidate.created_by, by.username)
            ),
        )
    )
    evidence = {
        "model": model,
        "version": version,
        "computed_at": utcnow().isoformat(),
        "requested_by": by.username,
        "live_version": live.version if live else None,
        "gates": [gates.as_dict(g) for g in found],
        "metrics": {"candidate": candidate.metrics, "live": live.metrics if live else None},
        "lineage": {
            "data_sha256": candidate.data_sha256,
            "artifact_sha256": candidate.artifact_sha256,
            "git_sha": candidate.git_sha,
            "created_by": candidate.created_by,
        },
        "sample_explanations": samples,
        "settings": frozen,
        "settings_changes": [asdict(c) for c in changes],
    }
    digest = evidence_hash(evidence)
    with store.write() as w:
        entry = get_model(w, name=model)
        w.serialise(f"model:{entry.name}")
        candidate = get_version(w, model=entry, version=version)
        check(entry, candidate, "request_review", by)
        if gate_settings.differences(frozen, gate_settings.snapshot(entry)):
            raise InvalidInput(
                "the settings its gates read changed while its evidence was computed; "
                "ask for review again"
            )
        assert entry.id is not None
        review = Review(
            model_id=entry.id,
            version=version,
            requested_by=by.username,
            evidence=evidence,
            evidence_sha256=digest,
        )
        w.session.add(review)
        _stage(w, entry, candidate, "in_review", by, "request_review", {"evidence_sha256": digest})
        w.session.flush()
    return review


def open_review(w: Work, *, model: Model, version: int) -> Review:
    """The version's open review (NotFound when review was not requested)."""
    found = w.session.get(Review, open_review_evidence(w, model=model, version=version).review_id)
    assert found is not None  # found by the same unit of work a moment ago
    return found


def judged_review(w: Work, *, model: Model, version: int) -> Review | None:
    """The review a version is judged on: its open one, else the one that approved it (an
    approved or live version keeps its evidence in view); None when neither exists."""
    return w.session.exec(
        select(Review)
        .where(
            Review.model_id == model.id,
            Review.version == version,
            col(Review.status).in_(["open", "approved"]),
        )
        .order_by(col(Review.id).desc())
    ).first()


def sign(
    store: Store, *, model: str, version: int, by: Identity, decision: str, comment: str
) -> SignOff:
    """Approve, reject or request changes on the frozen evidence (four eyes, comment required)."""
    if decision not in DECISIONS:
        raise InvalidInput(f"unknown decision {decision!r}; use {', '.join(DECISIONS)}")
    if not comment or not comment.strip():
        raise InvalidInput("a sign-off needs a comment saying why")
    with store.open().write() as w:
        entry = get_model(w, name=model)
        w.serialise(f"model:{entry.name}")
        candidate = get_version(w, model=entry, version=version)
        check(entry, candidate, decision, by)
        review = open_review(w, model=entry, version=version)
        if same_person(by.username, candidate.created_by) or same_person(
            by.username, review.requested_by
        ):
            raise PermissionDenied(
                f"{by.username} registered this version or asked for its review and cannot "
                "sign it off (four eyes)"
            )
        if evidence_hash(review.evidence) != review.evidence_sha256:
            raise InvalidInput("the evidence changed after it was frozen; request a new review")
        if decision == "approve":
            _check_frozen_settings(entry, review)
        failures = blocking_failures(review.evidence)
        if decision == "approve" and failures:
            names = ", ".join(f"{g['name']} ({g['summary']})" for g in failures)
            raise InvalidInput(f"blocking gates failed, so it cannot be approved: {names}")
        assert review.id is not None
        signed = SignOff(
            review_id=review.id,
            username=by.username,
            role=by.role,
            decision=decision,
            comment=comment.strip()[:2000],
            evidence_sha256=review.evidence_sha256,
        )
        w.session.add(signed)
        w.session.flush()
        audit.record(
            w,
            actor=by.username,
            role=by.role,
            action=f"sign_off_{decision}",
            model=model,
            version=version,
            after={"comment": signed.comment, "evidence_sha256": review.evidence_sha256},
        )
        if decision == "reject":
            review.status = "rejected"
            _stage(w, entry, candidate, "rejected", by, "reject")
        elif decision == "request_changes":
            review.status = "changes_requested"
            _stage(w, entry, candidate, "registered", by, "request_changes")
        elif _enough(w, entry, review):
            review.status = "approved"
            _stage(
                w,
                entry,
                candidate,
                "approved",
                by,
                "approve",
                {"evidence_sha256": review.evidence_sha256},
            )
        w.session.add(review)
    return signed


def _check_frozen_settings(model: Model, review: Review) -> None:
    """Refuse to approve on evidence whose gates read other settings than the model has now."""
    frozen = review.evidence.get("settings")
    if frozen is None:
        raise InvalidInput(
            "its evidence was frozen without the settings its gates read; ask for review again"
        )
    changed = gate_settings.differences(frozen, gate_settings.snapshot(model))
    if changed:
        raise InvalidInput(
            "the settings its gates read are not the ones frozen with the evidence "
            f"({gate_settings.in_words(changed)}); ask for review again"
        )


def _enough(w: Work, model: Model, review: Review) -> bool:
    approvals = w.session.exec(
        select(SignOff).where(SignOff.review_id == review.id, SignOff.decision == "approve")
    ).all()
    counts: dict[str, set[str]] = {}
    for s in approvals:
        counts.setdefault(s.role, set()).add(name_key(s.username))
    return all(len(counts.get(role, set())) >= n for role, n in required_signoffs(model).items())


def history(w: Work, *, model: Model, version: int | None = None) -> list[dict[str, Any]]:
    """Reviews and sign-offs of a model (or one version), newest first."""
    query = select(Review).where(Review.model_id == model.id)
    if version is not None:
        query = query.where(Review.version == version)
    out = []
    for review in w.session.exec(query.order_by(col(Review.id).desc())).all():
        signs = w.session.exec(
            select(SignOff).where(SignOff.review_id == review.id).order_by(col(SignOff.id))
        ).all()
        out.append(
            {
                "review": review.id,
                "version": review.version,
                "status": review.status,
                "requested_by": review.requested_by,
                "requested_at": review.requested_at,
                "evidence_sha256": review.evidence_sha256,
                "sign_offs": [
                    {
                        "user": s.username,
                        "role": s.role,
                        "decision": s.decision,
                        "comment": s.comment,
                        "at": s.signed_at,
                    }
                    for s in signs
                ],
            }
        )
    return out


def queue(w: Work) -> list[tuple[Model, ModelVersion]]:
    """Versions waiting for a decision or a promotion, oldest first."""
    rows = w.session.exec(
        select(Model, ModelVersion)
        .join(ModelVersion, col(ModelVersion.model_id) == Model.id)
        .where(col(ModelVersion.stage).in_(["in_review", "approved"]))
        .order_by(col(ModelVersion.created_at))
    ).all()
    return [(m, v) for m, v in rows]
