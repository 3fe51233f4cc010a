"""The grammar of the commands that watch a live model (core.cli.monitoring): drift,
performance, alerts, configure, retrain-check."""

from __future__ import annotations

from core.cli.grammar.common import Commands, window_options

RUN = "core.cli.monitoring"


def declare(commands: Commands) -> None:
    """Declare drift, performance, alerts, configure and retrain-check."""
    p = commands.add("drift", f"{RUN}:cmd_drift", help="data drift per window, feature and method")
    p.add_argument("model")
    p.add_argument("--version", type=int)
    window_options(p)
    p.add_argument("--method", help="only this method (ks, psi, jensen_shannon, ...)")

    p = commands.add(
        "performance",
        f"{RUN}:cmd_performance",
        help="realized and estimated performance per window",
    )
    p.add_argument("model")
    p.add_argument("--version", type=int)
    window_options(p)

    p = commands.add(
        "alerts",
        f"{RUN}:cmd_alerts",
        help="list a model's alerts, re-checked first when logs, labels, versions or settings "
        "changed since their last check",
    )
    p.add_argument("model")
    p.add_argument("--open", action="store_true", help="only open or acknowledged alerts")
    again = p.add_mutually_exclusive_group()
    again.add_argument(
        "--refresh",
        action="store_true",
        default=None,
        help="re-check drift and performance first even when nothing changed",
    )
    again.add_argument(
        "--no-refresh",
        dest="refresh",
        action="store_false",
        help="list the stored alerts as they are: no re-check, no webhook delivery",
    )
    p.add_argument("--ack", type=int, metavar="ID", help="acknowledge alert ID (needs --user)")
    p.add_argument(
        "--user", help="who acknowledges; password from MODELBRIDGE_PASSWORD or a prompt"
    )

    p = commands.add(
        "configure",
        f"{RUN}:cmd_configure",
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

    p = commands.add(
        "retrain-check",
        f"{RUN}:cmd_retrain_check",
        help="exit 1 when retraining is recommended (reason on stdout), else 0",
    )
    p.add_argument("model")
