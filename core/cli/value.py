"""Commands about what a model is worth: business-case, kpi.

Their arguments are declared in core.cli.grammar.value, apart, so that `--help` loads none
of the libraries imported here.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from core import registry
from core.cli.common import (
    emit,
    frame_records,
    frame_text,
    login,
    setting_changes,
    store_of,
    text_cell,
    window_spec,
)
from core.monitoring.windows import WindowSpec
from core.value import business_case
from core.words import exact_money


def cmd_business_case(args: argparse.Namespace) -> int:
    """Show or change a model's business case."""
    store = store_of(args).open()
    if args.set:
        case = business_case.save(
            store, model=args.model, changes=setting_changes(args.set), by=login(store, args=args)
        )
    else:
        with store.read() as r:
            case = business_case.current(registry.get_model(r, name=args.model))
    data = {"revision": case.revision, **case.values}
    emit(args, data, "\n".join(f"{k:>18}: {text_cell(v)}" for k, v in data.items()))
    return 0


def cmd_kpi(args: argparse.Namespace) -> int:
    """Value per decision overall and per window, and the money figures with their basis."""
    from core.value import figures, kpi

    spec = window_spec(args) if (args.period or args.chunk_size) else None
    with store_of(args).open().read() as r:
        model = registry.get_model(r, name=args.model)
        version = registry.get_version(r, model=model, version=args.version)
        if model.task == "multiclass":
            return _class_kpi(args, r, model, version, spec)
        case = business_case.current(model)
        periods = WindowSpec.parse(case["period"])  # the business case's own
        per = periods.label()  # "per month"
        spec = spec or periods
        overall = kpi.summary(r, model=model, version=version)
        reference = kpi.on_reference(r, model=model, version=version)
        windows = kpi.by_window(r, model=model, version=version, spec=spec)
        headline = figures.headline(r, model=model, version=version)
        money_figures = {
            "reference": figures.reference(r, model=model, version=version),
            "measured": figures.realized_overall(r, model=model, version=version),
            "headline": headline.figure,
            "estimate": headline.estimate,
        }
    track = headline.track
    keep = [
        "window_start",
        "window_end",
        "n",
        "n_labeled",
        "realized_value_per_decision",
        "estimated_value_per_decision",
        "value_per_period",
    ]
    data = {
        "model": model.name,
        "version": version.version,
        "unit": overall.unit,
        "threshold": overall.threshold,
        "optimal_threshold": overall.optimal_threshold,
        "value_per_decision_at_threshold": overall.value_per_decision_at_threshold,
        "value_per_decision_at_optimum": overall.value_per_decision_at_optimum,
        "n_labeled": overall.n_labeled,
        "reference": dataclasses.asdict(reference),
        "windows": frame_records(windows[[*keep, "measured"]]) if len(windows) else [],
        "figures": {k: None if f is None else f.record() for k, f in money_figures.items()},
        "headline": {"label": headline.label, "sentence": headline.sentence},
        "track_record": {
            "status": track.status,
            "sentence": track.sentence(),
            "periods": [
                {
                    "window_start": c.start.isoformat(),
                    "window_end": c.end.isoformat(),
                    "period": c.when,
                    "decisions": c.decisions,
                    "with_outcomes": c.with_outcomes,
                    "estimated_value_per_decision": c.estimated,
                    "realized_value_per_decision": c.measured,
                    "tolerance": c.tolerance,
                    "missed": c.missed,
                }
                for c in track.checks
            ],
        },
    }
    threshold = (
        f"decision threshold {text_cell(overall.threshold)} "
        f"(best {text_cell(overall.optimal_threshold)}); "
        if overall.threshold is not None
        else ""
    )
    optimum = (
        f", {exact_money(overall.value_per_decision_at_optimum)} at the best threshold"
        if overall.optimal_threshold is not None
        else ""
    )
    text = (
        f"{threshold}value per decision {exact_money(overall.value_per_decision_at_threshold)} "
        f"{overall.unit} now{optimum} ({overall.n_labeled} labelled decisions)\n"
        f"on the reference (training/validation data): value per decision "
        f"{exact_money(reference.value_per_decision)} {reference.unit} "
        f"({exact_money(reference.lower)} to {exact_money(reference.upper)}), "
        f"{exact_money(reference.value_per_period)} {per} "
        f"({reference.n_labeled} labelled reference rows)"
        + (f"; {reference.reason}" if reference.reason else "")
    )
    if len(windows):
        column = "value_" + per.replace(" ", "_")  # value_per_month
        shown = windows[keep].rename(columns={"value_per_period": column})
        text += "\n" + frame_text(shown, "")
    if headline.figure is not None:
        text += (
            f"\nheadline ({headline.label}): {headline.figure.per_period_words()}. "
            f"{headline.figure.basis.words()}"
        )
    text += f"\nestimate: {track.sentence()}"
    if not business_case.values_set(model, case):
        text = (
            "No business case yet: every decision is worth 0, so these values say nothing. Set "
            f"what each outcome is worth with `modelbridge business-case {model.name} --set ...`."
            "\n" + text
        )
    emit(args, data, text)
    return 0


def _class_kpi(args: argparse.Namespace, r: Any, model: Any, version: Any, spec: Any) -> int:
    """A multiclass model's value per decision: its value matrix, the reference, all logs and
    each window, realized and estimated with its band."""
    from core.value import class_value

    case = business_case.current(model)
    spec = spec or WindowSpec.parse(case["period"])
    matrix = business_case.value_matrix(model, case)
    names = model.classes or []
    reference = class_value.on_reference(r, model=model, version=version)
    overall = class_value.overall(r, model=model, version=version)
    windows = class_value.by_window(r, model=model, version=version, spec=spec)
    data = {
        "model": model.name,
        "version": version.version,
        "unit": overall.unit,
        "value_matrix": {
            a: dict(zip(names, row, strict=True)) for a, row in zip(names, matrix, strict=True)
        },
        "reference": dataclasses.asdict(reference),
        "overall": dataclasses.asdict(overall),
        "windows": frame_records(windows),
    }
    text = (
        f"value per decision {exact_money(overall.realized)} {overall.unit} realized "
        f"({overall.n_labeled} labelled decisions), {exact_money(overall.estimated)} estimated "
        f"({exact_money(overall.lower)} to {exact_money(overall.upper)}, {overall.n} decisions); "
        f"on the reference {exact_money(reference.realized)}"
    )
    if len(windows):
        text += "\n" + frame_text(windows, "")
    if not business_case.values_set(model, case):
        text = (
            "No value matrix yet: every decision is worth 0. Set what each decision is worth "
            f"with `modelbridge business-case {model.name} --set value:<actual>:<predicted>=...`."
            "\n" + text
        )
    emit(args, data, text)
    return 0
