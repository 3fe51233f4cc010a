"""The grammar of `explain` (core.cli.explain), one logged decision explained."""

from __future__ import annotations

from core.cli.grammar.common import Commands

RUN = "core.cli.explain"


def declare(commands: Commands) -> None:
    """Declare explain."""
    p = commands.add("explain", f"{RUN}:cmd_explain", help="explain one logged decision")
    p.add_argument("model")
    p.add_argument("--id", dest="request_id", required=True, help="the request id of the case")
    p.add_argument(
        "--version", type=int, help="explain with this version (default: the one logged)"
    )
    p.add_argument("--units", choices=("probability", "log_odds"), default="probability")
    p.add_argument(
        "--class",
        dest="class_",
        metavar="CLASS",
        help="a multiclass model: the reasons for this class's probability (default: the "
        "predicted class)",
    )
