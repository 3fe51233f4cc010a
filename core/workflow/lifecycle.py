"""Version lifecycle: request review, sign off on frozen evidence, promote, roll back.

Every move is first checked against the rules in core.workflow.rules (stages, actions, roles).
The evidence freezes the settings the gates read with the gates' verdicts; its blocking
"settings" gate fails while a change to them by the candidate's registrant or requester stands,
and approval is refused once they differ from the frozen ones (core.gate_settings).
At most one production version per model: `production_version` has the model as primary key,
so two racing promotions cannot both commit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from sqlmodel import col, select

from core import audit, gate_settings
from core.auth import Identity, name_key, same_person
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.registry import get_model, get_version
from core.store import (
    Model,
    ModelVersion,
    Promotion,
    Review,
    SignOff,
    Store,
    Work,
    retry_on_conflict,
    utcnow,
)
from core.workflow.rules import DECISIONS, check, required_signoffs


def evidence_hash(evidence: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of an evidence bundle."""
    text = json.dumps(evidence, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def live_version(w: Work, *, model: Model) -> ModelVersion | None:
    """The version in production, or None while nothing has been promoted."""
    return w.session.exec(
        select(ModelVersion).where(
            ModelVersion.model_id == model.id, ModelVersion.stage == "production"
        )
    ).first()


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
    found = w.session.exec(
        select(Review)
        .where(Review.model_id == model.id, Review.version == version, Review.status == "open")
        .order_by(col(Review.id).desc())
    ).first()
    if found is None:
        raise NotFound(f"{model.name} v{version} has no open review; request one first")
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


def blocking_failures(review: Review) -> list[dict[str, Any]]:
    """Blocking gates that failed in the frozen evidence."""
    return [g for g in review.evidence.get("gates", []) if g["blocking"] and g["status"] == "fail"]


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
        failures = blocking_failures(review)
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


def promote(store: Store, *, model: str, version: int, by: Identity) -> dict[str, Any]:
    """Make an approved version live and archive the previous one, in one transaction."""
    return retry_on_conflict(lambda: _promote(store, model, version, by))


def _promote(store: Store, model: str, version: int, by: Identity) -> dict[str, Any]:
    with store.open().write() as w:
        entry = get_model(w, name=model)
        w.serialise(f"model:{entry.name}")
        candidate = get_version(w, model=entry, version=version)
        check(entry, candidate, "promote", by)
        previous = live_version(w, model=entry)
        if previous is not None:
            _stage(w, entry, previous, "archived", by, "archive", {"replaced_by": version})
        _go_live(w, entry, candidate, previous, by, "promote")
    return {"model": model, "version": version, "archived": previous.version if previous else None}


def _go_live(
    w: Work,
    model: Model,
    version: ModelVersion,
    previous: ModelVersion | None,
    by: Identity,
    kind: str,
) -> None:
    assert model.id is not None
    now = utcnow()
    w.catalog(
        "INSERT INTO production_version (model_id, version, promoted_by, promoted_at) "
        "VALUES (:model, :version, :by, :at) ON CONFLICT (model_id) DO UPDATE SET "
        "version = excluded.version, promoted_by = excluded.promoted_by, "
        "promoted_at = excluded.promoted_at",
        {"model": model.id, "version": version.version, "by": by.username,
         "at": now.replace(tzinfo=None)},
    )  # fmt: skip
    w.session.add(
        Promotion(
            model_id=model.id,
            version=version.version,
            promoted_by=by.username,
            previous_version=previous.version if previous else None,
            kind=kind,
        )
    )
    _stage(
        w,
        model,
        version,
        "production",
        by,
        kind,
        {"previous": previous.version if previous else None},
    )


def rollback(store: Store, *, model: str, by: Identity) -> dict[str, Any]:
    """Put the version that was live before the current one back in production (one action)."""
    return retry_on_conflict(lambda: _rollback(store, model, by))


def _rollback(store: Store, model: str, by: Identity) -> dict[str, Any]:
    with store.open().write() as w:
        entry = get_model(w, name=model)
        w.serialise(f"model:{entry.name}")
        current = live_version(w, model=entry)
        if current is None:
            raise InvalidInput(f"{model} has no production version to roll back")
        check(entry, current, "rollback", by)
        restored, why_not = _restorable(w, entry, current)
        if restored is None:
            raise InvalidInput(why_not)
        _stage(w, entry, current, "archived", by, "rollback_archive")
        _go_live(w, entry, restored, current, by, "rollback")
    return {"model": model, "version": restored.version, "archived": current.version}


def _restorable(w: Work, entry: Model, current: ModelVersion) -> tuple[ModelVersion | None, str]:
    """The version a rollback of CURRENT would put live again, or None and why there is none."""
    # The version to restore is the one the current version replaced when it was promoted.
    # A record left by an earlier rollback does not count: it names the version that was
    # rolled back, and a second rollback must never put that one live again unreviewed.
    last = w.session.exec(
        select(Promotion)
        .where(
            Promotion.model_id == entry.id,
            Promotion.version == current.version,
            Promotion.kind == "promote",
        )
        .order_by(col(Promotion.id).desc())
    ).first()
    if last is None or last.previous_version is None:
        return None, (
            f"v{current.version} replaced nothing when it was promoted; there is no version to "
            "roll back to"
        )
    restored = get_version(w, model=entry, version=last.previous_version)
    if restored.stage != "archived":
        return None, (
            f"v{restored.version}, which v{current.version} replaced, is {restored.stage} now; "
            "it must be promoted through review, not by a rollback"
        )
    return restored, ""


def production(store: Store, *, model: str) -> dict[str, Any]:
    """What a serving system polls: the live version, its model file and who approved it."""
    with store.open().read() as r:
        entry = get_model(r, name=model)
        live = live_version(r, model=entry)
        if live is None:
            raise NotFound(f"{model} has no production version")
        approval = r.session.exec(
            select(SignOff)
            .join(Review, col(SignOff.review_id) == Review.id)
            .where(
                Review.model_id == entry.id,
                Review.version == live.version,
                SignOff.decision == "approve",
            )
            .order_by(col(SignOff.id).desc())
        ).first()
        restorable, why_not = _restorable(r, entry, live)
    return {
        "model": model,
        "version": live.version,
        "artifact_path": live.artifact_path,
        "artifact_sha256": live.artifact_sha256,
        "approved_by": approval.username if approval else None,
        "approved_at": approval.signed_at.isoformat() if approval else None,
        "rollback_to": restorable.version if restorable else None,
        "no_rollback_because": why_not or None,
    }


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
