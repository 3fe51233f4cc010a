"""The `modelbridge` command-line grammar: every command, its arguments and their help."""

from __future__ import annotations

import argparse
import os
from typing import NoReturn

from core.words import ROLES, TASKS


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, as for any other user mistake
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common() -> _Parser:
    # A _Parser like the subcommands it is a parent of (only its arguments are copied).
    common = _Parser(add_help=False)
    common.add_argument(
        "--db", help="store file (default: $MODELBRIDGE_DB or data/modelbridge.duckdb)"
    )
    common.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    return common


def build_parser() -> argparse.ArgumentParser:
    """The full command-line grammar."""
    common = _common()
    parser = _Parser(
        prog="modelbridge",
        description=(
            "`modelbridge`: the command line that pipelines call. Same rules as the dashboard."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("init", parents=[common], help="create an empty store (no-op if it exists)")

    p = sub.add_parser("register", parents=[common], help="register a new version of a model")
    p.add_argument("model")
    p.add_argument(
        "--reference", required=True, help="CSV/Parquet/JSONL rows with target + prediction"
    )
    p.add_argument("--target", required=True, help="the outcome column of the reference")
    p.add_argument(
        "--prediction",
        required=True,
        help="the model's score column, in the reference and in the prediction logs",
    )
    p.add_argument(
        "--timestamp",
        help="the time column of the prediction logs (default: timestamp); never a feature",
    )
    p.add_argument(
        "--id",
        dest="id_column",
        help="the request-id column of the prediction logs and labels (default: request_id); "
        "never a feature. Other id columns of the reference: --ignore",
    )
    p.add_argument("--task", choices=TASKS)
    p.add_argument("--positive-label", help="the target value that counts as positive (binary)")
    p.add_argument("--model-file", help="the fitted model: skops (safe) or joblib")
    p.add_argument("--git-sha")
    p.add_argument("--description", default="")
    p.add_argument(
        "--created-by",
        default=os.environ.get("USER") or "pipeline",
        help="who registers, as recorded when not signed in (default: $USER)",
    )
    p.add_argument(
        "--user",
        help="sign in (ML engineer or admin; password from MODELBRIDGE_PASSWORD or a prompt): "
        "the version is recorded as registered by this user, whom four-eyes then keeps from "
        "approving it",
    )
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
        kinds = {
            "list": "only this kind (default: both)",
            "export": "which rows to write (default: prediction); one kind per file, so the "
            "fixed file goes back through `ingest` or `labels` as it is",
            "retry": "which rows to re-validate (default: prediction)",
        }
        q.add_argument("--kind", choices=("prediction", "label"), default=None, help=kinds[action])
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
