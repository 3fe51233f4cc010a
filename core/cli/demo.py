"""`demo`: build the deterministic demo store.

Its arguments are declared in core.cli.grammar.demo, apart, so that `--help` loads none
of the libraries imported here.
"""

from __future__ import annotations

import argparse

from core.cli.common import emit, store_of
from data.build_demo import build_demo


def cmd_demo(args: argparse.Namespace) -> int:
    """Build the demo store."""
    summary = build_demo(
        store_of(args), days=args.days, seed=args.seed, per_day=args.per_day, quiet=args.json
    )
    emit(
        args,
        summary,
        f"Demo store ready at {summary['db']}: models {' and '.join(summary['models'])}, "
        f"{summary['predictions']} predictions, "
        f"{summary['labels']} labels, users {', '.join(summary['users'])} (password 'demo')",
    )
    return 0
