"""The `modelbridge` grammar: each command group declares its sub-commands in a module here.

Why apart from the commands: `modelbridge --help`, a typo and a bad option must answer without
loading pandas, DuckDB and SQLModel, and building the parser means importing every group's
declarations. The command modules (core.cli.logs, ...) import the data libraries at the top,
as any module does; the modules here import only argparse and core.words, and name each
handler as "module:function", which core.cli.main imports only to run that one command.
`Commands.add` registers a command's parser and its handler in one call, so the grammar and
the dispatch table cannot drift apart.
"""

from __future__ import annotations

from core.cli.grammar import demo, explain, logs, monitoring, value, workflow
from core.cli.grammar.common import Commands, Parser

__all__ = ["Commands", "commands"]


def commands() -> Commands:
    """Every sub-command with its parser and handler, in the order the help lists them."""
    parser = Parser(
        prog="modelbridge",
        description=(
            "`modelbridge`: the command line that pipelines call. Same rules as the dashboard."
        ),
    )
    declared = Commands(parser)
    for group in (logs, monitoring, value, workflow, explain, demo):
        group.declare(declared)
    return declared
