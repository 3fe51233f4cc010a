"""What the commands share: the store, printing results, signing in and reading options."""

from __future__ import annotations

import argparse
import getpass
import json
import math
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

from core import auth
from core.cli import ERROR_PREFIX
from core.errors import InvalidInput
from core.settings import Settings
from core.store import Store


def store_of(args: argparse.Namespace) -> Store:
    """The store named by --db, $MODELBRIDGE_DB or the default file."""
    return Store.from_settings(Settings.from_env(args.db))


def engine_of(args: argparse.Namespace) -> str:
    """What counts a team store's days: --engine, $MODELBRIDGE_ENGINE or embedded DuckDB."""
    return str(args.engine or Settings.from_env(args.db).engine)


def emit(args: argparse.Namespace, data: Any, text: str | Callable[[], str]) -> None:
    """Print DATA as JSON with --json, else TEXT (a callable: written only when printed)."""
    if args.json:
        print(json.dumps(data, default=str))
    else:
        print(text() if callable(text) else text)


def read_password(
    *, confirm: bool = True, variable: str = "MODELBRIDGE_PASSWORD", prompt: str = "Password"
) -> str:
    """The password from $VARIABLE, else from a prompt (twice when CONFIRM)."""
    password = os.environ.get(variable)
    if password:
        return password
    if not sys.stdin.isatty():
        raise InvalidInput(f"no password: set {variable} or run in a terminal")
    first = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass("Repeat: ") != first:
        raise InvalidInput("the passwords differ")
    return first


def cli_client() -> str:
    """Who is signing in from the command line, as the audit trail records it."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (some containers)
        who = f"uid {os.getuid()}"
    return f"cli:{who}@{socket.gethostname()}"


def login(store: Store, *, args: argparse.Namespace) -> auth.Identity:
    """The --user signed in with the password from the environment or a prompt."""
    from core import users

    if not args.user:
        raise InvalidInput("this action needs --user (and the password in MODELBRIDGE_PASSWORD)")
    return users.sign_in(
        store, username=args.user, password=read_password(confirm=False), client=cli_client()
    )


def setting_changes(items: list[str]) -> dict[str, str]:
    """The --set KEY=VALUE items as a dict."""
    changes = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--set takes KEY=VALUE, not {item!r}")
        changes[key.strip()] = value.strip()
    return changes


def window_spec(args: argparse.Namespace) -> Any:
    """The windows asked for by --period or --chunk-size."""
    from core.monitoring.windows import WindowSpec

    return WindowSpec.parse(args.period, args.chunk_size)


def frame_records(frame: Any) -> list[dict[str, Any]]:
    """A frame's rows for JSON: missing values as None, window bounds as ISO text."""
    out = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    for row in out:
        for key in ("window_start", "window_end"):
            if row.get(key) is not None:
                row[key] = row[key].isoformat()
    return out


def frame_text(frame: Any, empty: str) -> str:
    """A frame as an aligned text table for people: '-' for missing values, numbers rounded
    (no '-0.00', no 1.98e+06), EMPTY when it has no rows."""
    if not len(frame):
        return empty
    return frame.astype(object).map(text_cell).to_string(index=False)


def text_cell(value: Any) -> str:
    """One value as a person reads it: '-' when missing, numbers rounded."""
    import pandas as pd  # here, not at the top: light commands print without pandas

    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 1000:  # .4g would write 16,530 as 1.653e+04
            return f"{value:,.0f}"
        return f"{value:.4g}" if round(value, 4) != 0 else "0"
    return str(value)


def progress_bar(args: argparse.Namespace) -> Callable[[str, int | None], None] | None:
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


def report_batches(args: argparse.Namespace, results: list[Any], always_list: bool = False) -> int:
    """Print what each ingested batch did; exit code 3 when a file could not be used."""
    records = [r.as_dict() for r in results]
    lines = []
    for r in results:
        if r.error:  # one prefix for every CLI error, as core.cli.main prints them
            lines.append(f"{ERROR_PREFIX}{r.error}")
        elif r.duplicate_of:
            lines.append(f"{r.source}: already ingested as batch {r.duplicate_of}; nothing to do")
        else:
            shown = list(r.reasons.items())
            why = ", ".join(f"{k} {v}" for k, v in shown[:5])
            if len(shown) > 5:
                why += f", and {len(shown) - 5} more reason(s)"
            lines.append(
                f"{r.source}: {r.rows_read} read, {r.rows_ingested} ingested, "
                f"{r.rows_quarantined} quarantined{f' ({why})' if why else ''} [batch {r.batch_id}]"
            )
            lines += [f"  warning: {w}" for w in r.warnings]
            if r.resolved_from_quarantine:
                lines.append(
                    f"  note: {r.resolved_from_quarantine} row(s) quarantined earlier are now "
                    "ingested and no longer open in the quarantine"
                )
            if r.extra_columns:
                lines.append(
                    f"  note: extra columns kept in the raw record: {', '.join(r.extra_columns)}"
                )
    if args.json:
        print(json.dumps(records if len(records) > 1 or always_list else records[0], default=str))
    else:
        for line in lines:
            print(line, file=sys.stderr if line.startswith(ERROR_PREFIX) else sys.stdout)
    return 3 if any(r.error for r in results) else 0
