"""The grammar of `demo` (core.cli.demo), which builds the demo store."""

from __future__ import annotations

from core.cli.grammar.common import Commands

RUN = "core.cli.demo"


def declare(commands: Commands) -> None:
    """Declare demo."""
    p = commands.add("demo", f"{RUN}:cmd_demo", help="build the demo store (deterministic)")
    p.add_argument("--days", type=int, default=120)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--per-day", type=int, default=1700)
