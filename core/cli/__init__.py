"""`modelbridge`: the command line that pipelines call. Same rules as the dashboard.

Exit codes: 0 done, 1 a check said no (later commands), 2 bad usage or input (a reference
file included), 3 a log or label file could not be used. Errors a person can fix print one
line on stderr, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from core.cli.parser import build_parser
from core.errors import ModelBridgeError

__all__ = ["COMMANDS", "build_parser", "main"]
ERROR_PREFIX = "modelbridge: error: "

# Each command's module is imported when it runs: `--help`, a typo and a bad option answer
# without loading pandas, DuckDB and SQLModel.
COMMANDS: dict[str, tuple[str, str]] = {
    "request-review": ("workflow", "cmd_request_review"),
    "gate": ("workflow", "cmd_gate"),
    "approve": ("workflow", "cmd_sign"),
    "reject": ("workflow", "cmd_sign"),
    "request-changes": ("workflow", "cmd_sign"),
    "promote": ("workflow", "cmd_promote"),
    "rollback": ("workflow", "cmd_rollback"),
    "production": ("workflow", "cmd_production"),
    "audit": ("workflow", "cmd_audit"),
    "model-card": ("workflow", "cmd_model_card"),
    "business-case": ("value", "cmd_business_case"),
    "kpi": ("value", "cmd_kpi"),
    "explain": ("explain", "cmd_explain"),
    "drift": ("monitoring", "cmd_drift"),
    "performance": ("monitoring", "cmd_performance"),
    "alerts": ("monitoring", "cmd_alerts"),
    "retrain-check": ("monitoring", "cmd_retrain_check"),
    "configure": ("monitoring", "cmd_configure"),
    "quarantine": ("logs", "cmd_quarantine"),
    "init": ("logs", "cmd_init"),
    "register": ("logs", "cmd_register"),
    "versions": ("logs", "cmd_versions"),
    "ingest": ("logs", "cmd_ingest"),
    "labels": ("logs", "cmd_labels"),
    "user": ("logs", "cmd_user"),
    "demo": ("demo", "cmd_demo"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `modelbridge` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        module, function = COMMANDS[args.command]
        return getattr(importlib.import_module(f"core.cli.{module}"), function)(args)
    except ModelBridgeError as exc:
        print(f"{ERROR_PREFIX}{exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("modelbridge: interrupted; nothing was half-written", file=sys.stderr)
        return 130
