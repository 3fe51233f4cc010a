"""What every group's grammar shares: the parser that errs in one line, --db and --json, and
the registration that gives each sub-command its parser and its handler in one call."""

from __future__ import annotations

import argparse
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line with exit code 2."""

    def error(self, message: str) -> NoReturn:  # one line, exit 2, as for any other user mistake
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def shared_options() -> Parser:
    """--db and --json, the options of every command that touches the store."""
    shared = Parser(add_help=False)
    shared.add_argument(
        "--db",
        help="store: a DuckDB file, or a team catalog postgresql://... (default: "
        "$MODELBRIDGE_DB or data/modelbridge.duckdb)",
    )
    shared.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    return shared


class Commands:
    """The sub-commands of PARSER and the table that dispatches them, filled by one call each.

    A handler is named "module:function" and imported only when its command runs.
    """

    def __init__(self, parser: Parser) -> None:
        self.parser = parser
        self.shared = shared_options()
        self.handlers: dict[str, str] = {}
        self._sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    def add(
        self, name: str, handler: str, *, help: str, shared: bool = True
    ) -> argparse.ArgumentParser:
        """Declare NAME, run by HANDLER, with --db and --json if SHARED; returns its parser."""
        self.handlers[name] = handler
        return self._sub.add_parser(name, parents=[self.shared] if shared else [], help=help)


def window_options(p: argparse.ArgumentParser) -> None:
    """--period or --chunk-size: the windows a result is cut into."""
    window = p.add_mutually_exclusive_group()
    window.add_argument("--period", choices=("D", "W", "M", "d", "w", "m"))
    window.add_argument("--chunk-size", type=int, metavar="N")
