"""The grammar of the commands that fill the store (core.cli.logs): init, register, versions,
ingest, labels, user, quarantine."""

from __future__ import annotations

import argparse
import os

from core.cli.grammar.common import Commands, Parser
from core.words import ROLES, TASKS

RUN = "core.cli.logs"


def declare(commands: Commands) -> None:
    """Declare init, register, versions, ingest, labels, user and quarantine."""
    p = commands.add("init", f"{RUN}:cmd_init", help="create an empty store (no-op if it exists)")
    p.add_argument(
        "--admin",
        metavar="NAME",
        help="also create the store's first admin (only while it has no users); password from "
        "MODELBRIDGE_PASSWORD or a prompt",
    )
    p.add_argument(
        "--logs",
        metavar="PATH",
        help="for a team catalog (--db postgresql://...): the folder shared by every machine "
        "where model files and logs are kept",
    )

    p = commands.add("register", f"{RUN}:cmd_register", help="register a new version of a model")
    _register(p)

    p = commands.add("versions", f"{RUN}:cmd_versions", help="list a model's versions")
    p.add_argument("model")

    p = commands.add("ingest", f"{RUN}:cmd_ingest", help="append prediction logs")
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
    _no_alerts(p)
    _engine(p)

    p = commands.add("labels", f"{RUN}:cmd_labels", help="append late ground truth")
    p.add_argument("model")
    p.add_argument("files", nargs="+")
    p.add_argument("--format", choices=("csv", "parquet", "jsonl"))
    p.add_argument("--delimiter")
    _no_alerts(p)
    _engine(p)

    p = commands.add(
        "aggregate",
        f"{RUN}:cmd_aggregate",
        help="team store: count again the days new logs or labels changed (the dashboard reads "
        "these counts, never the logs); ingest and labels do it after each batch",
    )
    p.add_argument("--model", help="only this model (default: every model)")
    _engine(p)

    p = commands.add("user", f"{RUN}:cmd_user", help="manage users", shared=False)
    users = p.add_subparsers(dest="user_command", required=True, parser_class=Parser)
    admin = "the signed-in admin; password from MODELBRIDGE_PASSWORD or a prompt"
    p = users.add_parser(
        "add",
        parents=[commands.shared],
        help="add a user or reset a password (admins); the new password from "
        "MODELBRIDGE_NEW_PASSWORD or a prompt",
    )
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--user", required=True, help=admin)
    p = users.add_parser(
        "unlock", parents=[commands.shared], help="lift a sign-in lockout (admins)"
    )
    p.add_argument("username")
    p.add_argument("--user", required=True, help=admin)

    p = commands.add(
        "pickle-files",
        f"{RUN}:cmd_pickle_files",
        help="allow or refuse pickle/joblib model files in this store (admins)",
    )
    p.add_argument(
        "decision",
        choices=("allow", "refuse", "show"),
        help="allow: signed-in ML engineers may register pickle files, converted to skops in a "
        "separate process; refuse (the default): only skops files",
    )
    p.add_argument("--user", help=admin + " (not needed for show)")

    p = commands.add(
        "clean-logs",
        f"{RUN}:cmd_clean_logs",
        help="remove log files of a team store that no batch committed (a worker crashed)",
    )
    p.add_argument(
        "--grace-hours",
        type=float,
        default=6.0,
        help="keep uncommitted files younger than this: a running worker's files are "
        "uncommitted until its batch commits (default 6)",
    )

    p = commands.add(
        "quarantine",
        f"{RUN}:cmd_quarantine",
        help="see, export and retry quarantined rows",
        shared=False,
    )
    _quarantine(p, commands.shared)


def _register(p: argparse.ArgumentParser) -> None:
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
    p.add_argument(
        "--proba-prefix",
        help="multiclass: the class probability columns are this prefix + the class "
        "(default p_: p_setosa, p_versicolor, ...); --prediction names the predicted class",
    )
    p.add_argument("--positive-label", help="the target value that counts as positive (binary)")
    p.add_argument("--model-file", help="the fitted model: skops (safe) or joblib")
    p.add_argument(
        "--model-class",
        help="the model file's class that means --positive-label, when they differ (a model "
        "trained on 0/1 for outcomes that read bad/good: --positive-label bad --model-class 1)",
    )
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


def _no_alerts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-alerts", action="store_true", help="do not re-check alerts afterwards")


def _quarantine(p: argparse.ArgumentParser, shared: Parser) -> None:
    actions = p.add_subparsers(dest="quarantine_command", required=True, parser_class=Parser)
    for action, text in (
        ("list", "quarantined rows per batch (or the rows themselves with --rows N)"),
        ("export", "write quarantined rows to CSV for fixing"),
        ("retry", "re-validate quarantined rows, e.g. after registering a fixed version"),
    ):
        q = actions.add_parser(action, parents=[shared], help=text)
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


def _engine(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        help="team store: what counts the days a batch changed, embedded DuckDB or Spark "
        "(PySpark; its own settings choose the cluster) (default: $MODELBRIDGE_ENGINE or duckdb)",
    )
