"""Commands that fill the store: init, register, versions, ingest, labels, quarantine, user.

Their arguments are declared in core.cli.grammar.logs, apart, so that `--help` loads none
of the libraries imported here.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core import registry
from core.cli.common import (
    emit,
    engine_of,
    login,
    progress_bar,
    read_password,
    report_batches,
    store_of,
)
from core.errors import FileProblem, InvalidInput, ModelBridgeError
from core.metrics import KEY_METRICS
from core.store import TeamStore


def cmd_init(args: argparse.Namespace) -> int:
    """Create an empty store, and its first admin when asked."""
    store = store_of(args)
    created = store.init(logs=args.logs)
    text = f"{'Created' if created else 'Already exists:'} {store.location}"
    data: dict[str, Any] = {"db": store.location, "created": created}
    if args.admin:
        from core import users  # argon2, only for the commands that set passwords

        admin = users.first_admin(store, username=args.admin, password=read_password())
        data["admin"] = admin.username
        text += f"\n{admin.username} (admin) saved"
    emit(args, data, text)
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    """Register a model version."""
    store = store_of(args)
    by = login(store, args=args) if args.user else None
    try:
        result = registry.register_version(
            store,
            spec=registry.RegistrationSpec(
                model=args.model,
                reference=args.reference,
                target=args.target,
                prediction=args.prediction,
                timestamp=args.timestamp,
                id_column=args.id_column,
                task=args.task,
                proba_prefix=args.proba_prefix,
                positive_label=args.positive_label,
                model_file=args.model_file,
                model_class=args.model_class,
                git_sha=args.git_sha,
                description=args.description,
                created_by=args.created_by,
                ignore=tuple(c.strip() for c in args.ignore.split(",") if c.strip()),
                feature_metadata=args.feature_metadata,
            ),
            by=by,
        )
    except FileProblem as exc:  # the reference is an argument here: bad input, exit 2
        raise InvalidInput(str(exc)) from None
    from core.monitoring.drift import calibrate_version

    calibrate_version(store, model=result.model, version=result.version)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    emit(
        args,
        {
            "model": result.model,
            "version": result.version,
            "task": result.task,
            "features": result.features,
            "reference_rows": result.reference_rows,
            "metrics": result.metrics,
            "warnings": result.warnings,
        },
        _registered_words(result),
    )
    return 0


def _registered_words(result: registry.Registration) -> str:
    """'credit v2 registered: a binary model, 1,500 reference rows, 3 features (…)'."""
    shown = ", ".join(result.features[:6])
    if len(result.features) > 6:
        shown += f" and {len(result.features) - 6} more"
    return (
        f"{result.model} v{result.version} registered: a {result.task} model, "
        f"{result.reference_rows:,} reference rows, {len(result.features)} features ({shown})"
    )


def cmd_versions(args: argparse.Namespace) -> int:
    """List versions."""
    with store_of(args).catalog_read() as r:
        model = registry.find_model(r, name=args.model)
        versions = registry.version_summaries(r, model=model)
    keys = KEY_METRICS[model.task]
    records: list[dict[str, Any]] = [
        {
            "version": v.version,
            "stage": v.stage,
            "created_by": v.created_by,
            "created_at": v.created_at.isoformat(),
            "git_sha": v.git_sha,
            "metrics": {k: v.metrics.get(k) for k in keys},
        }
        for v in versions
    ]
    lines = [
        f"{'version':>7}  {'stage':<11} {'created_by':<14} {'created_at':<20} "
        + "  ".join(f"{k:>8}" for k in keys)
    ]
    for rec in records:
        metrics = "  ".join(_metric_cell(rec["metrics"][k]) for k in keys)
        lines.append(
            f"{rec['version']:>7}  {rec['stage']:<11} {rec['created_by'][:14]:<14} "
            f"{rec['created_at'][:19]:<20} {metrics}"
        )
    emit(args, records, "\n".join(lines))
    return 0


def _metric_cell(value: Any) -> str:
    return f"{value:>8.4f}" if isinstance(value, float) else f"{'-':>8}"


def cmd_ingest(args: argparse.Namespace) -> int:
    """Append prediction logs."""
    from core.ingest import ingest_predictions

    if args.range_tolerance < 0:
        raise InvalidInput("--range-tolerance must be zero or positive")
    results = ingest_predictions(
        store_of(args),
        model=args.model,
        files=args.files,
        version=args.version,
        fmt=args.format,
        delimiter=args.delimiter,
        range_tolerance=args.range_tolerance,
        progress=progress_bar(args),
    )
    code = report_batches(args, results)
    _count_days(args, results)
    _recheck_alerts(args, results)
    return code


def _count_days(args: argparse.Namespace, results: list[Any]) -> None:
    """On a team store, count the days the new rows changed, so the dashboard sees them; the
    rows are committed whatever happens (`modelbridge aggregate` counts what is left)."""
    store = store_of(args)
    if not store.keeps_day_counts or not any(r.rows_ingested for r in results):
        return
    from core.aggregates import refresh_day_counts

    try:
        refresh_day_counts(store, engine=engine_of(args), model=args.model)
    except ModelBridgeError as exc:
        print(f"warning: the new days were not counted yet: {exc}", file=sys.stderr)


def _recheck_alerts(args: argparse.Namespace, results: list[Any]) -> None:
    """After new rows, re-check the model's alerts; the rows are committed whatever happens."""
    if args.no_alerts or not any(r.rows_ingested for r in results):
        return
    from core.monitoring import alerts, webhooks

    store = store_of(args)
    try:
        alerts.refresh(store, model=args.model)
        webhooks.deliver(store)
    except ModelBridgeError as exc:
        print(f"warning: alerts were not re-checked: {exc}", file=sys.stderr)


def cmd_labels(args: argparse.Namespace) -> int:
    """Append labels."""
    from core.ingest import ingest_labels

    results = ingest_labels(
        store_of(args),
        model=args.model,
        files=args.files,
        fmt=args.format,
        delimiter=args.delimiter,
        progress=progress_bar(args),
    )
    code = report_batches(args, results)
    _count_days(args, results)
    _recheck_alerts(args, results)
    return code


def cmd_aggregate(args: argparse.Namespace) -> int:
    """Count again the days of a team store that new logs or labels changed."""
    from core.aggregates import refresh_day_counts

    store = store_of(args)
    if not store.keeps_day_counts:
        raise InvalidInput(
            f"{store.location} is an embedded store: its figures are read from its own logs, "
            "so there are no counts to keep"
        )
    store.open()
    done = refresh_day_counts(store, engine=engine_of(args), model=args.model)
    counted = sum(done.days.values())
    text = (
        f"{counted} day(s) counted: "
        + ", ".join(f"{name} {n}" for name, n in sorted(done.days.items()))
        if counted
        else "nothing to count: every day is up to date"
    )
    emit(args, {"days": done.days, "rows": dict(done.rows)}, text)
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    """Add a user or lift a lockout, as a signed-in admin."""
    from core import users

    store = store_of(args)
    by = login(store, args=args)
    if args.user_command == "unlock":
        users.unlock_user(store, username=args.username, by=by)
        emit(args, {"username": args.username, "unlocked": True}, f"{args.username} unlocked")
        return 0
    password = read_password(variable="MODELBRIDGE_NEW_PASSWORD", prompt="New user's password")
    identity = users.add_user(
        store, username=args.username, role=args.role, password=password, by=by
    )
    emit(
        args,
        {"username": identity.username, "role": identity.role},
        f"{identity.username} ({identity.role}) saved",
    )
    return 0


def cmd_pickle_files(args: argparse.Namespace) -> int:
    """Allow or refuse pickle model files for the store, or show which it is."""
    from core.registry import pickle_files

    store = store_of(args)
    if args.decision != "show":
        if not args.user:
            raise InvalidInput("pickle-files allow/refuse needs --user ADMIN")
        pickle_files.set_allowed(store, allow=args.decision == "allow", by=login(store, args=args))
    with store.open().read() as r:
        allowed = pickle_files.allowed(r)
    text = (
        "pickle/joblib model files: allowed from signed-in ML engineers and admins, converted "
        "to skops in a separate process"
        if allowed
        else "pickle/joblib model files: refused; register skops files"
    )
    emit(args, {"pickle_files": "allowed" if allowed else "refused"}, text)
    return 0


def cmd_clean_logs(args: argparse.Namespace) -> int:
    """Remove the log files of a team store that no batch committed."""
    store = store_of(args)
    if not isinstance(store, TeamStore):
        raise InvalidInput(
            f"{store.location} is an embedded store: its logs are inside the file and a failed "
            "write leaves nothing behind, so there is nothing to clean"
        )
    if args.grace_hours < 1:
        raise InvalidInput("--grace-hours must be at least 1: a running worker's files would go")
    store.open()
    removed = store.clean_log_files(grace_seconds=args.grace_hours * 3600)
    emit(args, {"removed": removed}, f"{len(removed)} uncommitted log file(s) removed")
    return 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    """List, export or retry quarantined rows."""
    from core.ingest import quarantine

    store = store_of(args)
    if args.quarantine_command == "retry":
        results = quarantine.retry(
            store,
            model=args.model,
            version=args.version,
            kind=args.kind or "prediction",
            batch_id=args.batch,
        )
        if not results:
            emit(args, [], "nothing to retry")
            return 0
        return report_batches(args, results, always_list=True)
    options = {"kind": args.kind, "batch_id": args.batch, "reason": args.reason}
    if args.quarantine_command == "export":
        return _export_quarantine(args, store, options)
    if args.rows:
        frame = quarantine.rows(store, model=args.model, limit=args.rows, **options)
    else:
        frame = quarantine.summary(store, model=args.model, **options)
    records = frame.to_dict(orient="records")
    for row in records:
        # Reasons come back as numpy arrays: JSON needs the list, not the array's repr.
        row["reasons"] = row["reasons"].tolist()
        row["quarantined_at"] = row["quarantined_at"].isoformat()
    emit(args, records, frame.to_string(index=False) if len(frame) else "no quarantined rows")
    return 0


def _export_quarantine(args: argparse.Namespace, store: Any, options: dict[str, Any]) -> int:
    """Export one kind per file (predictions unless --kind label), so it can be re-sent."""
    from pathlib import Path

    from core.ingest import quarantine

    kind = options.pop("kind") or "prediction"
    written = quarantine.export_csv(
        store, model=args.model, target=Path(args.out), kind=kind, **options
    )
    other = next(k for k in quarantine.KINDS if k != kind)
    left = int(quarantine.summary(store, model=args.model, kind=other, **options)["rows"].sum())
    emit(
        args,
        {"rows": written, "kind": kind, "file": args.out},
        f"{written} {kind} row(s) written to {args.out}",
    )
    if left and not args.json:
        print(f"note: {left} {other} row(s) not exported; use --kind {other}", file=sys.stderr)
    return 0
