"""The grammar of the commands about what a model is worth (core.cli.value): business-case,
kpi."""

from __future__ import annotations

from core.cli.grammar.common import Commands, window_options

RUN = "core.cli.value"


def declare(commands: Commands) -> None:
    """Declare business-case and kpi."""
    p = commands.add(
        "business-case", f"{RUN}:cmd_business_case", help="show or change the business case"
    )
    p.add_argument("model")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="threshold, value_tp, value_fp, value_tn, value_fn, cost_under, cost_over, "
        "volume_per_period, period, unit, target, baseline_value, decision, ...",
    )
    p.add_argument("--user", help="who changes it; password from MODELBRIDGE_PASSWORD or a prompt")

    p = commands.add("kpi", f"{RUN}:cmd_kpi", help="value per decision, overall and per window")
    p.add_argument("model")
    p.add_argument("--version", type=int)
    window_options(p)
