"""Release commands: request-review, gate, approve/reject/request-changes, promote, rollback,
production, audit, model-card.

Their arguments are declared in core.cli.grammar.workflow, apart, so that `--help` loads none
of the libraries imported here.
"""

from __future__ import annotations

import argparse

from core import registry
from core.cli.common import (
    emit,
    frame_records,
    frame_text,
    login,
    store_of,
)


def cmd_request_review(args: argparse.Namespace) -> int:
    """Compute the gates and put a version in review."""
    from core import workflow

    store = store_of(args).open()
    review = workflow.request_review(
        store, model=args.model, version=args.version, by=login(store, args=args)
    )
    data = {
        "model": args.model,
        "version": args.version,
        "review": review.id,
        "evidence_sha256": review.evidence_sha256,
        "gates": review.evidence["gates"],
    }
    lines = [f"v{args.version} is in review; evidence sha256 {review.evidence_sha256}"]
    lines += [
        f"  {g['status']:<4} {g['name']:<13}{' (blocking)' if g['blocking'] else ''}: "
        f"{g['summary']}"
        for g in review.evidence["gates"]
    ]
    emit(args, data, "\n".join(lines))
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    """Exit 1 when a blocking gate of the open review failed."""
    from core import workflow

    with store_of(args).catalog_read() as r:
        model = registry.find_model(r, name=args.model)
        review = workflow.open_review_evidence(r, model=model, version=args.version)
    failed = workflow.blocking_failures(review.evidence)
    data = {
        "model": args.model,
        "version": args.version,
        "passed": not failed,
        "evidence_sha256": review.evidence_sha256,
        "gates": review.evidence["gates"],
    }
    text = (
        "all blocking gates pass"
        if not failed
        else "blocking gates failed: " + "; ".join(f"{g['name']}: {g['summary']}" for g in failed)
    )
    emit(args, data, text)
    return 1 if failed else 0


def cmd_sign(args: argparse.Namespace) -> int:
    """Approve, reject or request changes."""
    from core import workflow

    store = store_of(args).open()
    decision = args.command.replace("-", "_")
    signed = workflow.sign(
        store,
        model=args.model,
        version=args.version,
        by=login(store, args=args),
        decision=decision,
        comment=args.comment,
    )
    with store.read() as r:
        stage = registry.get_version(
            r, model=registry.get_model(r, name=args.model), version=args.version
        ).stage
    emit(
        args,
        {
            "model": args.model,
            "version": args.version,
            "decision": decision,
            "stage": stage,
            "evidence_sha256": signed.evidence_sha256,
        },
        f"{decision.replace('_', ' ')} recorded; v{args.version} is now {stage}",
    )
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    """Make an approved version live."""
    from core import workflow

    store = store_of(args).open()
    done = workflow.promote(
        store, model=args.model, version=args.version, by=login(store, args=args)
    )
    emit(
        args,
        done,
        f"v{done['version']} is live"
        + (f"; v{done['archived']} archived" if done["archived"] else ""),
    )
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    """Put the previous version back."""
    from core import workflow

    store = store_of(args).open()
    done = workflow.rollback(store, model=args.model, by=login(store, args=args))
    emit(args, done, f"rolled back: v{done['version']} is live, v{done['archived']} archived")
    return 0


def cmd_production(args: argparse.Namespace) -> int:
    """What is live."""
    from core import workflow

    live = workflow.production(store_of(args), model=args.model)
    emit(
        args,
        live,
        f"{live['model']} v{live['version']} ({live['artifact_sha256'] or 'no file'})"
        f", approved by {live['approved_by'] or '-'} at {live['approved_at'] or '-'}",
    )
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """List, verify or export the audit trail."""
    from pathlib import Path

    from core import audit

    store = store_of(args)
    if args.audit_command == "head":
        with store.catalog_read() as r:
            anchor = audit.head(r)
        emit(args, {"anchor": anchor}, anchor or "the audit trail is empty")
        return 0
    if args.audit_command == "verify":
        with store.catalog_read() as r:
            problems = audit.verify(r, anchor=args.anchor)
        emit(
            args,
            {"ok": not problems, "problems": problems},
            "the audit trail is intact" if not problems else "\n".join(problems),
        )
        return 1 if problems else 0
    store.open()
    if args.audit_command == "export":
        written = audit.export_csv(store, target=Path(args.out))
        emit(args, {"rows": written, "file": args.out}, f"{written} event(s) written to {args.out}")
        return 0
    with store.read() as r:
        frame = audit.events(
            r, model=args.model, actor=args.actor, action=args.action, limit=args.limit
        )
    emit(
        args,
        frame_records(frame) if len(frame) else [],
        frame_text(frame, "no events"),
    )
    return 0


def cmd_model_card(args: argparse.Namespace) -> int:
    """Write an HTML model card."""
    from pathlib import Path

    from core.workflow import model_card

    path = model_card.write(
        store_of(args), model=args.model, version=args.version, target=Path(args.out)
    )
    emit(args, {"file": str(path)}, f"model card written to {path}")
    return 0
