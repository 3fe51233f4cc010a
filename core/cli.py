"""`modelbridge`: the command line that pipelines call. Same rules as the dashboard.

Exit codes: 0 done, 1 a check said no (later commands), 2 bad usage or input (a reference
file included), 3 a log or label file could not be used. Errors a person can fix print one
line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from core import auth, registry
from core.errors import FileProblem, InvalidInput, ModelBridgeError
from core.metrics import KEY_METRICS
from core.models import ROLES, TASKS
from core.settings import Settings
from core.store import Store


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as for any other user mistake
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db", help="store file (default: $MODELBRIDGE_DB or data/modelbridge.duckdb)"
    )
    common.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    return common


def build_parser() -> argparse.ArgumentParser:
    """The full command-line grammar."""
    common = _common()
    parser = _Parser(prog="modelbridge", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("init", parents=[common], help="create an empty store (no-op if it exists)")

    p = sub.add_parser("register", parents=[common], help="register a new version of a model")
    p.add_argument("model")
    p.add_argument(
        "--reference", required=True, help="CSV/Parquet/JSONL rows with target + prediction"
    )
    p.add_argument("--target", required=True)
    p.add_argument("--prediction", required=True)
    p.add_argument("--timestamp")
    p.add_argument("--id", dest="id_column")
    p.add_argument("--task", choices=TASKS)
    p.add_argument("--positive-label")
    p.add_argument("--model-file")
    p.add_argument("--git-sha")
    p.add_argument("--description", default="")
    p.add_argument("--created-by", default=os.environ.get("USER") or "pipeline")
    p.add_argument("--ignore", default="", help="comma-separated columns that are not features")
    p.add_argument(
        "--feature-metadata", help="JSON or CSV: label, unit, description, actionable per feature"
    )

    p = sub.add_parser("versions", parents=[common], help="list a model's versions")
    p.add_argument("model")

    p = sub.add_parser("ingest", parents=[common], help="append prediction logs")
    p.add_argument("model")
    p.add_argument(
        "files", nargs="+", help="CSV, Parquet or JSON Lines files (gzip ok); - for stdin"
    )
    p.add_argument("--version", type=int)
    p.add_argument("--format", choices=("csv", "parquet", "jsonl"))
    p.add_argument("--delimiter")
    p.add_argument(
        "--range-tolerance",
        type=float,
        default=0.0,
        help="widen the reference range by this fraction before flagging (default 0)",
    )

    p = sub.add_parser("labels", parents=[common], help="append late ground truth")
    p.add_argument("model")
    p.add_argument("files", nargs="+")
    p.add_argument("--format", choices=("csv", "parquet", "jsonl"))
    p.add_argument("--delimiter")
    for name in ("ingest", "labels"):
        sub.choices[name].add_argument(
            "--no-alerts", action="store_true", help="do not re-check alerts afterwards"
        )

    p = sub.add_parser("user", help="manage users")
    users = p.add_subparsers(dest="user_command", required=True, parser_class=_Parser)
    p = users.add_parser("add", parents=[common], help="add a user or reset a password")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=ROLES)

    p = sub.add_parser("quarantine", help="see, export and retry quarantined rows")
    actions = p.add_subparsers(dest="quarantine_command", required=True, parser_class=_Parser)
    for action, text in (
        ("list", "quarantined rows per batch (or the rows themselves with --rows N)"),
        ("export", "write quarantined rows to CSV for fixing"),
        ("retry", "re-validate quarantined rows, e.g. after registering a fixed version"),
    ):
        q = actions.add_parser(action, parents=[common], help=text)
        q.add_argument("model")
        q.add_argument("--kind", choices=("prediction", "label"), default=None)
        q.add_argument("--batch", help="only this batch id")
        if action == "list":
            q.add_argument("--reason", help="only rows with this reason, e.g. missing:income")
            q.add_argument("--rows", type=int, metavar="N", help="show up to N rows as received")
        if action == "export":
            q.add_argument("--reason")
            q.add_argument("--out", required=True, help="CSV file to write")
        if action == "retry":
            q.add_argument("--version", type=int, help="validate against this version")

    for name, text in (
        ("drift", "data drift per window, feature and method"),
        ("performance", "realized and estimated performance per window"),
    ):
        p = sub.add_parser(name, parents=[common], help=text)
        p.add_argument("model")
        p.add_argument("--version", type=int)
        window = p.add_mutually_exclusive_group()
        window.add_argument("--period", choices=("D", "W", "M", "d", "w", "m"))
        window.add_argument("--chunk-size", type=int, metavar="N")
        if name == "drift":
            p.add_argument("--method", help="only this method (ks, psi, jensen_shannon, ...)")

    p = sub.add_parser("alerts", parents=[common], help="re-check and list a model's alerts")
    p.add_argument("model")
    p.add_argument("--open", action="store_true", help="only open or acknowledged alerts")
    p.add_argument("--no-refresh", action="store_true", help="list without re-checking")
    p.add_argument("--ack", type=int, metavar="ID", help="acknowledge alert ID (needs --user)")
    p.add_argument(
        "--user", help="who acknowledges; password from MODELBRIDGE_PASSWORD or a prompt"
    )

    p = sub.add_parser(
        "configure",
        parents=[common],
        help="show or change a model's monitoring and approval settings",
    )
    p.add_argument("model")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="e.g. drift.features.income.threshold=0.2 (repeatable)",
    )
    p.add_argument(
        "--user", help="who changes them; password from MODELBRIDGE_PASSWORD or a prompt"
    )

    p = sub.add_parser(
        "retrain-check",
        parents=[common],
        help="exit 1 when retraining is recommended (reason on stdout), else 0",
    )
    p.add_argument("model")

    p = sub.add_parser("business-case", parents=[common], help="show or change the business case")
    p.add_argument("model")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="threshold, value_tp, value_fp, value_tn, value_fn, cost_under, cost_over, "
        "volume_per_period, period, unit, target, baseline_value, decision, ...",
    )
    p.add_argument("--user", help="who changes it; password from MODELBRIDGE_PASSWORD or a prompt")

    p = sub.add_parser("kpi", parents=[common], help="value per decision, overall and per window")
    p.add_argument("model")
    p.add_argument("--version", type=int)
    window = p.add_mutually_exclusive_group()
    window.add_argument("--period", choices=("D", "W", "M", "d", "w", "m"))
    window.add_argument("--chunk-size", type=int, metavar="N")

    p = sub.add_parser(
        "request-review",
        parents=[common],
        help="compute and freeze the release gates; put the version in review",
    )
    p.add_argument("model")
    p.add_argument("version", type=int)
    p.add_argument("--user", help="who asks; password from MODELBRIDGE_PASSWORD or a prompt")

    p = sub.add_parser(
        "gate",
        parents=[common],
        help="exit 0 when every blocking gate of the open review passes, else 1",
    )
    p.add_argument("model")
    p.add_argument("version", type=int)

    for name, text in (
        ("approve", "approve a version in review"),
        ("reject", "reject a version in review"),
        ("request-changes", "send a version in review back to its authors"),
    ):
        p = sub.add_parser(name, parents=[common], help=text)
        p.add_argument("model")
        p.add_argument("version", type=int)
        p.add_argument("--user", required=True)
        p.add_argument("--comment", required=True, help="why (kept in the audit trail)")

    p = sub.add_parser("promote", parents=[common], help="make an approved version live")
    p.add_argument("model")
    p.add_argument("version", type=int)
    p.add_argument("--user", required=True)

    p = sub.add_parser("rollback", parents=[common], help="put the previous live version back")
    p.add_argument("model")
    p.add_argument("--user", required=True)

    p = sub.add_parser("production", parents=[common], help="the live version, for serving")
    p.add_argument("model")

    p = sub.add_parser("audit", help="the audit trail")
    actions = p.add_subparsers(dest="audit_command", required=True, parser_class=_Parser)
    q = actions.add_parser("list", parents=[common], help="events, newest first")
    q.add_argument("--model")
    q.add_argument("--actor")
    q.add_argument("--action")
    q.add_argument("--limit", type=int, default=50)
    actions.add_parser("verify", parents=[common], help="exit 1 when the hash chain is broken")
    q = actions.add_parser("export", parents=[common], help="write the trail to CSV")
    q.add_argument("--out", required=True)

    p = sub.add_parser("model-card", parents=[common], help="write an HTML model card")
    p.add_argument("model")
    p.add_argument("version", type=int)
    p.add_argument("--out", required=True)

    p = sub.add_parser("explain", parents=[common], help="explain one logged decision")
    p.add_argument("model")
    p.add_argument("--id", dest="request_id", required=True, help="the request id of the case")
    p.add_argument(
        "--version", type=int, help="explain with this version (default: the one logged)"
    )
    p.add_argument("--units", choices=("probability", "log_odds"), default="probability")

    p = sub.add_parser("demo", parents=[common], help="build the demo store (deterministic)")
    p.add_argument("--days", type=int, default=120)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--per-day", type=int, default=1700)
    return parser


def _store(args: argparse.Namespace) -> Store:
    return Store.from_settings(Settings.from_env(args.db))


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        print(json.dumps(data, default=str))
    else:
        print(text)


def cmd_init(args: argparse.Namespace) -> int:
    """Create an empty store."""
    store = _store(args)
    created = store.init()
    _emit(
        args,
        {"db": str(store.path), "created": created},
        f"{'Created' if created else 'Already exists:'} {store.path}",
    )
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    """Register a model version."""
    try:
        result = registry.register_version(
            _store(args),
            model=args.model,
            reference=args.reference,
            target=args.target,
            prediction=args.prediction,
            timestamp=args.timestamp,
            id_column=args.id_column,
            task=args.task,
            positive_label=args.positive_label,
            model_file=args.model_file,
            git_sha=args.git_sha,
            description=args.description,
            created_by=args.created_by,
            ignore=tuple(c.strip() for c in args.ignore.split(",") if c.strip()),
            feature_metadata=args.feature_metadata,
        )
    except FileProblem as exc:  # the reference is an argument here: bad input, exit 2
        raise InvalidInput(str(exc)) from None
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    _emit(
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
        str(result.version),
    )
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    """List versions."""
    store = _store(args).open()
    with store.read() as r:
        model = registry.get_model(r, args.model)
        versions = registry.list_versions(r, model)
    keys = KEY_METRICS[model.task]
    records = [
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
        metrics = "  ".join(_fmt(rec["metrics"][k]) for k in keys)
        lines.append(
            f"{rec['version']:>7}  {rec['stage']:<11} {rec['created_by'][:14]:<14} "
            f"{rec['created_at'][:19]:<20} {metrics}"
        )
    _emit(args, records, "\n".join(lines))
    return 0


def _fmt(value: Any) -> str:
    return f"{value:>8.4f}" if isinstance(value, float) else f"{'-':>8}"


def _progress(args: argparse.Namespace) -> Callable[[str, int | None], None] | None:
    """A progress bar across the files on a terminal; None with --json or when not a TTY."""
    if args.json or not sys.stderr.isatty():
        return None
    import atexit
    from pathlib import Path

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    files = len(getattr(args, "files", ())) or None
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
    task = bar.add_task("starting", total=files, rows=0)
    atexit.register(bar.stop)  # a crash must not leave the terminal without its cursor
    done = {"files": 0, "rows": 0}

    def report(name: str, rows: int | None) -> None:
        # rows is None when a file starts (the spinner and clock run while it is read) and
        # the file's rows read when it is done.
        if rows is None:
            bar.start()
            bar.update(task, description=f"reading {Path(name).name}")
            return
        done["files"] += 1
        done["rows"] += rows
        bar.update(task, completed=done["files"], rows=done["rows"], description="ingested")
        if done["files"] == files:
            bar.stop()

    return report


def _batches(args: argparse.Namespace, results: list[Any], always_list: bool = False) -> int:
    records = [r.as_dict() for r in results]
    lines = []
    for r in results:
        if r.error:
            lines.append(f"error: {r.error}")
        elif r.duplicate_of:
            lines.append(f"{r.source}: already ingested as batch {r.duplicate_of}; nothing to do")
        else:
            why = ", ".join(f"{k} {v}" for k, v in list(r.reasons.items())[:5])
            lines.append(
                f"{r.source}: {r.rows_read} read, {r.rows_ingested} ingested, "
                f"{r.rows_quarantined} quarantined{f' ({why})' if why else ''} [batch {r.batch_id}]"
            )
            lines += [f"  warning: {w}" for w in r.warnings]
            if r.extra_columns:
                lines.append(
                    f"  note: extra columns kept in the raw record: {', '.join(r.extra_columns)}"
                )
    if args.json:
        print(json.dumps(records if len(records) > 1 or always_list else records[0], default=str))
    else:
        for line in lines:
            print(line, file=sys.stderr if line.startswith("error:") else sys.stdout)
    return 3 if any(r.error for r in results) else 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """Append prediction logs."""
    from core.ingest import ingest_predictions

    if args.range_tolerance < 0:
        raise InvalidInput("--range-tolerance must be zero or positive")
    results = ingest_predictions(
        _store(args),
        model=args.model,
        files=args.files,
        version=args.version,
        fmt=args.format,
        delimiter=args.delimiter,
        range_tolerance=args.range_tolerance,
        progress=_progress(args),
    )
    code = _batches(args, results)
    _recheck_alerts(args, results)
    return code


def _recheck_alerts(args: argparse.Namespace, results: list[Any]) -> None:
    """After new rows, re-check the model's alerts; the rows are committed whatever happens."""
    if args.no_alerts or not any(r.rows_ingested for r in results):
        return
    from core import alerts, webhooks

    store = _store(args)
    try:
        alerts.refresh(store, args.model)
        webhooks.deliver(store)
    except ModelBridgeError as exc:
        print(f"warning: alerts were not re-checked: {exc}", file=sys.stderr)


def cmd_labels(args: argparse.Namespace) -> int:
    """Append labels."""
    from core.ingest import ingest_labels

    results = ingest_labels(
        _store(args),
        model=args.model,
        files=args.files,
        fmt=args.format,
        delimiter=args.delimiter,
        progress=_progress(args),
    )
    code = _batches(args, results)
    _recheck_alerts(args, results)
    return code


def read_password(*, confirm: bool = True) -> str:
    """The password from $MODELBRIDGE_PASSWORD, else from a prompt (twice when CONFIRM)."""
    password = os.environ.get("MODELBRIDGE_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        raise InvalidInput("no password: set MODELBRIDGE_PASSWORD or run in a terminal")
    first = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Repeat: ") != first:
        raise InvalidInput("the passwords differ")
    return first


def cmd_user(args: argparse.Namespace) -> int:
    """Add a user."""
    identity = auth.add_user(
        _store(args), username=args.username, role=args.role, password=read_password()
    )
    _emit(
        args,
        {"username": identity.username, "role": identity.role},
        f"{identity.username} ({identity.role}) saved",
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Build the demo store."""
    from data.build_demo import build_demo

    summary = build_demo(
        _store(args), days=args.days, seed=args.seed, per_day=args.per_day, quiet=args.json
    )
    _emit(
        args,
        summary,
        f"Demo store ready at {summary['db']}: {summary['predictions']} predictions, "
        f"{summary['labels']} labels, users {', '.join(summary['users'])} (password 'demo')",
    )
    return 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    """List, export or retry quarantined rows."""
    from pathlib import Path

    from core import quarantine

    store = _store(args)
    if args.quarantine_command == "retry":
        results = quarantine.retry(
            store,
            args.model,
            version=args.version,
            kind=args.kind or "prediction",
            batch_id=args.batch,
        )
        if not results:
            _emit(args, [], "nothing to retry")
            return 0
        return _batches(args, results, always_list=True)
    options = {"kind": args.kind, "batch_id": args.batch, "reason": args.reason}
    if args.quarantine_command == "export":
        written = quarantine.export_csv(store, args.model, Path(args.out), **options)
        _emit(args, {"rows": written, "file": args.out}, f"{written} row(s) written to {args.out}")
        return 0
    if args.rows:
        frame = quarantine.rows(store, args.model, limit=args.rows, **options)
    else:
        frame = quarantine.summary(store, args.model, **options)
    records = frame.to_dict(orient="records")
    for row in records:
        # Reasons come back as numpy arrays: JSON needs the list, not the array's repr.
        row["reasons"] = row["reasons"].tolist()
        row["quarantined_at"] = row["quarantined_at"].isoformat()
    _emit(args, records, frame.to_string(index=False) if len(frame) else "no quarantined rows")
    return 0


def _window(args: argparse.Namespace) -> Any:
    from core.windows import WindowSpec

    return WindowSpec.parse(args.period, args.chunk_size)


def _records(frame: Any) -> list[dict[str, Any]]:
    out = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    for row in out:
        for key in ("window_start", "window_end"):
            if row.get(key) is not None:
                row[key] = row[key].isoformat()
    return out


def cmd_drift(args: argparse.Namespace) -> int:
    """Drift per window, feature and method."""
    from core.drift import drift_by_window

    spec = _window(args)
    with _store(args).open().read() as r:
        model = registry.get_model(r, args.model)
        version = registry.get_version(r, model, args.version)
        frame = drift_by_window(r, model, version, spec, only_method=args.method)
    frame = frame.drop(columns=["kind", "primary"])
    _emit(args, _records(frame), frame.to_string(index=False) if len(frame) else "no logs yet")
    return 0


def cmd_performance(args: argparse.Namespace) -> int:
    """Realized and estimated performance per window."""
    from core.performance import performance_by_window

    spec = _window(args)
    with _store(args).open().read() as r:
        model = registry.get_model(r, args.model)
        version = registry.get_version(r, model, args.version)
        frame = performance_by_window(r, model, version, spec)
    _emit(args, _records(frame), frame.to_string(index=False) if len(frame) else "no logs yet")
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    """Refresh and list alerts."""
    from core import alerts, webhooks

    store = _store(args).open()
    if args.ack is not None:
        alerts.acknowledge(store, model=args.model, alert_id=args.ack, by=_login(store, args))
    elif not args.no_refresh:
        alerts.refresh(store, args.model)
        webhooks.deliver(store)
    with store.read() as r:
        found = alerts.list_alerts(r, registry.get_model(r, args.model), open_only=args.open)
    text = "\n".join(
        f"#{a['id']} {a['status']:<12} {a['severity']:<6} {a['since'][:10]} {a['reason']}"
        for a in found
    )
    _emit(args, found, text or "no alerts")
    return 0


def _login(store: Store, args: argparse.Namespace) -> auth.Identity:
    if not args.user:
        raise InvalidInput("this action needs --user (and the password in MODELBRIDGE_PASSWORD)")
    return auth.login(store, args.user, read_password(confirm=False))


def cmd_configure(args: argparse.Namespace) -> int:
    """Show or change monitoring settings."""
    from core import model_settings

    store = _store(args).open()
    if args.set:
        entry = model_settings.update_settings(
            store, model=args.model, changes=_pairs(args.set), by=_login(store, args)
        )
        settings = entry.settings
    else:
        with store.read() as r:
            settings = registry.get_model(r, args.model).settings
    _emit(args, settings, json.dumps(settings, indent=2, sort_keys=True))
    return 0


def cmd_retrain_check(args: argparse.Namespace) -> int:
    """Exit 1 when retraining is recommended."""
    from core import alerts

    store = _store(args).open()
    alerts.refresh(store, args.model)
    advice = alerts.retrain_check(store, args.model)
    _emit(
        args,
        {"recommended": advice.recommended, "reason": advice.reason, "evidence": advice.evidence},
        advice.reason,
    )
    return 1 if advice.recommended else 0


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain one logged decision."""
    from core.explanations import explain_case

    case = explain_case(
        _store(args), args.model, args.request_id, version=args.version, units=args.units
    )
    data = case.as_dict()
    head = f"{args.model} v{case.version}, request {args.request_id}: {case.explanation.output:.4g}"
    if case.threshold is not None:
        side = "at or above" if case.flagged else "below"
        head += f" ({side} the threshold {case.threshold:g})"
    lines = [head, *(f"  - {r}" for r in data["reasons"])]
    if case.counterfactual_text:
        lines.append(f"  What would change it: {case.counterfactual_text}")
    if case.similar.get("text"):
        lines.append(f"  {case.similar['text']}")
    if case.explanation.note:
        lines.append(f"  {case.explanation.note}")
    _emit(args, data, "\n".join(lines))
    return 0


def _pairs(items: list[str]) -> dict[str, str]:
    changes = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--set takes KEY=VALUE, not {item!r}")
        changes[key.strip()] = value.strip()
    return changes


def cmd_business_case(args: argparse.Namespace) -> int:
    """Show or change a model's business case."""
    from core import business

    store = _store(args).open()
    if args.set:
        case = business.save(
            store, model=args.model, changes=_pairs(args.set), by=_login(store, args)
        )
    else:
        with store.read() as r:
            case = business.current(registry.get_model(r, args.model))
    data = {"revision": case.revision, **case.values}
    _emit(args, data, "\n".join(f"{k:>18}: {v}" for k, v in data.items()))
    return 0


def cmd_kpi(args: argparse.Namespace) -> int:
    """Value per decision overall and per window."""
    from core import kpi

    spec = _window(args) if (args.period or args.chunk_size) else None
    with _store(args).open().read() as r:
        model = registry.get_model(r, args.model)
        version = registry.get_version(r, model, args.version)
        from core.business import current

        spec = spec or _default_window(current(model)["period"])
        overall = kpi.summary(r, model, version)
        reference = kpi.on_reference(r, model, version)
        windows = kpi.by_window(r, model, version, spec)
    keep = [
        "window_start",
        "window_end",
        "n",
        "n_labeled",
        "realized_value_per_decision",
        "estimated_value_per_decision",
        "value_per_period",
    ]
    data = {
        "model": model.name,
        "version": version.version,
        "unit": overall.unit,
        "threshold": overall.threshold,
        "optimal_threshold": overall.optimal_threshold,
        "value_per_decision_at_threshold": overall.value_per_decision_at_threshold,
        "value_per_decision_at_optimum": overall.value_per_decision_at_optimum,
        "n_labeled": overall.n_labeled,
        "reference": dataclasses.asdict(reference),
        "windows": _records(windows[keep]) if len(windows) else [],
    }
    text = (
        f"threshold {overall.threshold}, optimum {overall.optimal_threshold}; value per "
        f"decision {_money(overall.value_per_decision_at_threshold)} {overall.unit} now, "
        f"{_money(overall.value_per_decision_at_optimum)} at the optimum "
        f"({overall.n_labeled} labelled decisions)\n"
        f"on the reference (training/validation data): value per decision "
        f"{_money(reference.value_per_decision)} {reference.unit} "
        f"({_money(reference.lower)} to {_money(reference.upper)}), "
        f"{_money(reference.value_per_period)} per period "
        f"({reference.n_labeled} labelled reference rows)"
        + (f"; {reference.reason}" if reference.reason else "")
    )
    if len(windows):
        text += "\n" + windows[keep].to_string(index=False)
    _emit(args, data, text)
    return 0


def _default_window(period: str) -> Any:
    from core.windows import WindowSpec

    return WindowSpec.parse(period)


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def cmd_request_review(args: argparse.Namespace) -> int:
    """Compute the gates and put a version in review."""
    from core import workflow

    store = _store(args).open()
    review = workflow.request_review(
        store, model=args.model, version=args.version, by=_login(store, args)
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
    _emit(args, data, "\n".join(lines))
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    """Exit 1 when a blocking gate of the open review failed."""
    from core import workflow

    with _store(args).open().read() as r:
        model = registry.get_model(r, args.model)
        review = workflow.open_review(r, model, args.version)
    failed = workflow.blocking_failures(review)
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
    _emit(args, data, text)
    return 1 if failed else 0


def cmd_sign(args: argparse.Namespace) -> int:
    """Approve, reject or request changes."""
    from core import workflow

    store = _store(args).open()
    decision = args.command.replace("-", "_")
    signed = workflow.sign(
        store,
        model=args.model,
        version=args.version,
        by=_login(store, args),
        decision=decision,
        comment=args.comment,
    )
    with store.read() as r:
        stage = registry.get_version(r, registry.get_model(r, args.model), args.version).stage
    _emit(
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

    store = _store(args).open()
    done = workflow.promote(store, model=args.model, version=args.version, by=_login(store, args))
    _emit(
        args,
        done,
        f"v{done['version']} is live"
        + (f"; v{done['archived']} archived" if done["archived"] else ""),
    )
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    """Put the previous version back."""
    from core import workflow

    store = _store(args).open()
    done = workflow.rollback(store, model=args.model, by=_login(store, args))
    _emit(args, done, f"rolled back: v{done['version']} is live, v{done['archived']} archived")
    return 0


def cmd_production(args: argparse.Namespace) -> int:
    """What is live."""
    from core import workflow

    live = workflow.production(_store(args), args.model)
    _emit(
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

    store = _store(args).open()
    if args.audit_command == "verify":
        with store.read() as r:
            problems = audit.verify(r)
        _emit(
            args,
            {"ok": not problems, "problems": problems},
            "the audit trail is intact" if not problems else "\n".join(problems),
        )
        return 1 if problems else 0
    if args.audit_command == "export":
        written = audit.export_csv(store, Path(args.out))
        _emit(
            args, {"rows": written, "file": args.out}, f"{written} event(s) written to {args.out}"
        )
        return 0
    with store.read() as r:
        frame = audit.events(
            r, model=args.model, actor=args.actor, action=args.action, limit=args.limit
        )
    _emit(
        args,
        _records(frame) if len(frame) else [],
        frame.to_string(index=False) if len(frame) else "no events",
    )
    return 0


def cmd_model_card(args: argparse.Namespace) -> int:
    """Write an HTML model card."""
    from pathlib import Path

    from core import model_card

    path = model_card.write(_store(args), args.model, args.version, Path(args.out))
    _emit(args, {"file": str(path)}, f"model card written to {path}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "request-review": cmd_request_review,
    "gate": cmd_gate,
    "approve": cmd_sign,
    "reject": cmd_sign,
    "request-changes": cmd_sign,
    "promote": cmd_promote,
    "rollback": cmd_rollback,
    "production": cmd_production,
    "audit": cmd_audit,
    "model-card": cmd_model_card,
    "business-case": cmd_business_case,
    "kpi": cmd_kpi,
    "explain": cmd_explain,
    "drift": cmd_drift,
    "performance": cmd_performance,
    "alerts": cmd_alerts,
    "retrain-check": cmd_retrain_check,
    "configure": cmd_configure,
    "quarantine": cmd_quarantine,
    "init": cmd_init,
    "register": cmd_register,
    "versions": cmd_versions,
    "ingest": cmd_ingest,
    "labels": cmd_labels,
    "user": cmd_user,
    "demo": cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `modelbridge` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ModelBridgeError as exc:
        print(f"modelbridge: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("modelbridge: interrupted; nothing was half-written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
