"""`modelbridge`: the command line that pipelines call. Same rules as the dashboard.

Exit codes: 0 done, 1 a check said no (later commands), 2 bad usage or input (a reference
file included), 3 a log or label file could not be used. Errors a person can fix print one
line on stderr, never a traceback.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
from collections.abc import Sequence

from core.cli import grammar
from core.errors import ModelBridgeError

__all__ = ["main"]
ERROR_PREFIX = "modelbridge: error: "


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `modelbridge` console script."""
    commands = grammar.commands()
    args = commands.parser.parse_args(argv)
    try:
        # Imported only now: `--help`, a typo and a bad option answer without loading pandas,
        # DuckDB and SQLModel (see core.cli.grammar).
        module, function = commands.handlers[args.command].split(":")
        return getattr(importlib.import_module(module), function)(args)
    except ModelBridgeError as exc:
        print(f"{ERROR_PREFIX}{exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("modelbridge: interrupted; nothing was half-written", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader stopped reading (`... | head`): not an error, and nothing more to print.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # as a shell reports a process ended by SIGPIPE
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        print(f"{ERROR_PREFIX}the disk is full ({exc.filename or exc}); free some space "
              "and run it again", file=sys.stderr)  # fmt: skip
        return 2
