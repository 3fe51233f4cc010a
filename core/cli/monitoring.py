"""Commands that watch a live model: drift, performance, alerts, configure, retrain-check.

Their arguments are declared in core.cli.grammar.monitoring, apart, so that `--help` loads none
of the libraries imported here.
"""

from __future__ import annotations

import argparse
import json

from core import registry
from core.cli.common import (
    emit,
    frame_records,
    frame_text,
    login,
    setting_changes,
    store_of,
    window_spec,
)


def cmd_drift(args: argparse.Namespace) -> int:
    """Drift per window, feature and method, with each feature's verdict and its rule."""
    from core.monitoring.drift import drift_by_window

    spec = window_spec(args)
    with store_of(args).open().read() as r:
        model = registry.get_model(r, name=args.model)
        version = registry.get_version(r, model=model, version=args.version)
        frame = drift_by_window(r, model=model, version=version, spec=spec, only_method=args.method)
    frame = frame.drop(columns=["kind"])
    emit(args, frame_records(frame), lambda: frame_text(frame, "no logs yet"))
    return 0


def cmd_performance(args: argparse.Namespace) -> int:
    """Realized and estimated performance per window."""
    from core.monitoring.performance import performance_by_window, realized_note

    spec = window_spec(args)
    with store_of(args).open().read() as r:
        model = registry.get_model(r, name=args.model)
        version = registry.get_version(r, model=model, version=args.version)
        frame = performance_by_window(r, model=model, version=version, spec=spec)
    notes = [realized_note(frame)] if len(frame) else []
    shown = frame
    if "estimate_basis" in frame and len(frame):
        # One sentence for every row of a version: said once under the table, not per row.
        notes += [f"Estimated from {b}." for b in frame["estimate_basis"].dropna().unique()]
        shown = frame.drop(columns="estimate_basis")
    said = "\n".join(n for n in notes if n)
    emit(
        args,
        frame_records(frame),
        lambda: frame_text(shown, "no logs yet") + (f"\n{said}" if said else ""),
    )
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    """List alerts, re-checked first when the store changed since they were last judged."""
    from core.monitoring import alert_list, webhooks

    store = store_of(args)
    with store.catalog_read() as r:
        current = alert_list.alerts_current(r, model=registry.find_model(r, name=args.model))
    if args.ack is not None or args.refresh or (not current and args.refresh is None):
        from core.monitoring import alerts

        store.open()
        if args.ack is not None:
            by = login(store, args=args)
            alerts.acknowledge(store, model=args.model, alert_id=args.ack, by=by)
        else:
            alerts.refresh(store, model=args.model)
    if args.ack is None and args.refresh is not False:
        webhooks.deliver(store)  # this check's events, and earlier ones still waiting
    with store.catalog_read() as r:
        found = alert_list.list_alerts(
            r, model=registry.find_model(r, name=args.model), open_only=args.open
        )
    text = "\n".join(
        f"#{a['id']} {a['status']:<12} {a['severity']:<6} {a['since'][:10]} {a['reason']}"
        for a in found
    )
    emit(args, found, text or "no alerts")
    return 0


def cmd_configure(args: argparse.Namespace) -> int:
    """Show or change monitoring settings."""
    from core.monitoring import policy

    store = store_of(args).open()
    if args.set:
        entry = policy.update_settings(
            store, model=args.model, changes=setting_changes(args.set), by=login(store, args=args)
        )
        settings = entry.settings
    else:
        with store.read() as r:
            settings = registry.get_model(r, name=args.model).settings
    emit(args, settings, json.dumps(settings, indent=2, sort_keys=True))
    return 0


def cmd_retrain_check(args: argparse.Namespace) -> int:
    """Exit 1 when retraining is recommended."""
    from core.monitoring import alerts

    store = store_of(args).open()
    alerts.refresh(store, model=args.model)
    advice = alerts.retrain_check(store, model=args.model)
    emit(
        args,
        {"recommended": advice.recommended, "reason": advice.reason, "evidence": advice.evidence},
        advice.reason,
    )
    return 1 if advice.recommended else 0
