"""Model card: one HTML page per approved version with purpose, business case, value in
money (on the reference and in production, each with its basis), lineage, metrics (a
multiclass version's classes with their precision and recall, and its value matrix), gates and
sign-offs. Every value from the store is HTML-escaped. (No PDF: the well-kept HTML-to-PDF
libraries need system libraries this project does not install; the page prints cleanly to PDF
from any browser.)"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from core import workflow
from core.errors import InvalidInput
from core.monitoring.windows import WindowSpec
from core.registry import classes, features_of, get_model, get_version
from core.store import Model, ModelVersion, Store, Work
from core.value import business_case, class_champion, figures
from core.words import money

_STYLE = """body{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto;color:#1f2937}
h1{margin-bottom:0}table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}
td,th{border:1px solid #d1d5db;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6}.pass{color:#15803d}.warn{color:#b45309}.fail{color:#b91c1c}
code{font-size:.9em}@media print{body{margin:0}}"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _count(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _baseline(case: Any) -> str:
    """What the model is compared with, e.g. 'manual review: 12 EUR per decision'."""
    if case["baseline_value"] is None:
        return "—"
    said = f"{case['baseline_value']:,.2f} {case['unit']}"
    return f"{case['baseline']}: {said}" if case["baseline"] else said


def _table(rows: list[tuple[Any, Any]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _money_rows(w: Work, model: Model, version: ModelVersion) -> list[tuple[str, str]]:
    """The reference figure and the latest production figure, each with its basis in words
    (the same functions, core.value.figures, as the Overview and the Business value page)."""
    if not business_case.values_set(model, business_case.current(model)):
        return [("Value", "No business case yet: nothing says what a decision is worth.")]
    if model.task == "multiclass":
        return _class_money_rows(w, model, version)
    reference = figures.reference(w, model=model, version=version)
    top = figures.headline(w, model=model, version=version)
    rows = []
    if reference.value_per_decision is None:
        rows.append(("On the reference", "Not measured: the reference has no outcomes."))
    else:
        rows.append(
            ("On the reference", f"{reference.per_period_words()}. {reference.basis.words()}")
        )
    if top.figure is None:
        rows.append(("In production", top.sentence or "No decisions logged yet."))
    else:
        said = f"{top.label}: {top.figure.per_period_words()}. {top.figure.basis.words()}"
        rows.append(("In production", f"{said} {top.sentence}".strip()))
    return rows


def _class_money_rows(w: Work, model: Model, version: ModelVersion) -> list[tuple[str, str]]:
    """A multiclass version's value by its value matrix, on the reference and on all its logged
    decisions (core.value.class_champion, as its release gate)."""
    found = class_champion.first_version(w, model=model, version=version)
    rows = []
    if found.reference is None or found.reference.value_per_decision is None:
        rows.append(("On the reference", "Not measured: the reference has no outcomes."))
    else:
        ref = found.reference
        rows.append(("On the reference", f"{ref.per_period_words()}. {ref.basis.words()}"))
    if found.latest is None:
        rows.append(("In production", "No decisions logged yet."))
    else:
        top = found.latest
        rows.append(("In production", f"{top.per_period_words()}. {top.basis.words()}"))
    return rows


def _class_sections(w: Work, model: Model, version: ModelVersion) -> list[str]:
    """A multiclass version's classes with their precision and recall on the reference, and
    the value matrix (what deciding each class is worth when each class holds)."""
    outputs = classes.class_outputs(version)
    if outputs is None:
        return []
    names = list(outputs.probabilities)
    found = classes.reference_metrics(w, model=model, version=version.version, outputs=outputs)
    rows = "".join(
        f"<tr><td>{_e(c)}</td><td>{_rate(found.get(f'precision:{c}'))}</td>"
        f"<td>{_rate(found.get(f'recall:{c}'))}</td></tr>"
        for c in names
    )
    sections = [
        "<h2>Classes on the evaluation data</h2>",
        "<table><tr><th>Class</th><th>Precision (share of its decisions that were right)</th>"
        f"<th>Recall (share of its cases it decided)</th></tr>{rows}</table>",
    ]
    case = business_case.current(model)
    if business_case.values_set(model, case):
        matrix = business_case.value_matrix(model, case)
        head = "".join(f"<th>decided {_e(c)}</th>" for c in names)
        body = "".join(
            f"<tr><th>actually {_e(a)}</th>" + "".join(f"<td>{v:,.2f}</td>" for v in row) + "</tr>"
            for a, row in zip(names, matrix, strict=True)
        )
        sections += [
            f"<h2>Value matrix ({_e(case['unit'])} per decision)</h2>",
            f"<table><tr><th></th>{head}</tr>{body}</table>",
        ]
    return sections


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def render(store: Store, *, model: str, version: int) -> str:
    """The card as an HTML document (approved, live or archived versions only)."""
    with store.open().read() as r:
        entry = get_model(r, name=model)
        target = get_version(r, model=entry, version=version)
        if target.stage not in ("approved", "production", "archived"):
            raise InvalidInput(
                f"v{version} is {target.stage}; model cards are for approved versions"
            )
        reviews = workflow.history(r, model=entry, version=version)
        case = business_case.current(entry)
        features = features_of(target)
        money_rows = _money_rows(r, entry, target)
        class_sections = _class_sections(r, entry, target)
    approved = next((rv for rv in reviews if rv["status"] == "approved"), None)
    per = WindowSpec.parse(case["period"]).label()  # "per month"
    sections = [
        f"<h1>{_e(model)} v{version}</h1><p>{_e(entry.description or target.description)}</p>",
        "<h2>Purpose and business case</h2>",
        _table(
            [
                ("Task", entry.task),
                *([("Classes", ", ".join(entry.classes or []))] if entry.classes else []),
                ("Decision", case["decision"]),
                ("Threshold", case["threshold"] if entry.task == "binary" else "—"),
                (
                    "Values per decision (TP / FP / TN / FN)",
                    " / ".join(
                        str(case[k]) for k in ("value_tp", "value_fp", "value_tn", "value_fn")
                    )
                    + f" {case['unit']}"
                    if entry.task == "binary"
                    else "—",
                ),
                (f"Decisions {per}", _count(case["volume_per_period"])),
                (f"Target value {per}", money(case["target"], case["unit"])),
                ("Baseline (value per decision)", _baseline(case)),
            ]
        ),
        "<h2>Value in money</h2>",
        _table(money_rows),
        "<h2>Data lineage</h2>",
        _table(
            [
                ("Training data sha256", target.data_sha256),
                ("Rows", target.data_rows),
                ("Model file sha256", target.artifact_sha256),
                ("Git commit", target.git_sha),
                ("Registered by", f"{target.created_by} at {target.created_at:%Y-%m-%d %H:%M} UTC"),
                ("Inputs", ", ".join(f"{f.name} ({f.kind})" for f in features)),
            ]
        ),
        "<h2>Metrics on the evaluation data</h2>",
        _table([(k, f"{v:.4f}" if isinstance(v, float) else v) for k, v in target.metrics.items()]),
        *class_sections,
    ]
    if approved:
        sections.append("<h2>Release gates (frozen evidence)</h2>")
        sections.append(f"<p>Evidence sha256 <code>{_e(approved['evidence_sha256'])}</code></p>")
        sections.append(_gates_table(store, approved["review"]))
        sections.append("<h2>Sign-offs</h2>")
        sections.append(
            _table(
                [
                    (
                        f"{s['user']} ({s['role']})",
                        f"{s['decision']} at {s['at']:%Y-%m-%d %H:%M} UTC: {s['comment']}",
                    )
                    for s in approved["sign_offs"]
                ]
            )
        )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(model)} v{version} "
        f"model card</title><style>{_STYLE}</style></head><body>{''.join(sections)}</body></html>"
    )


def _gates_table(store: Store, review_id: int) -> str:
    from core.store import Review

    with store.read() as r:
        review = r.session.get(Review, review_id)
        gates = review.evidence.get("gates", []) if review else []
    rows = "".join(
        f"<tr><td>{_e(g['name'])}</td><td class='{_e(g['status'])}'>{_e(g['status'])}</td>"
        f"<td>{'yes' if g['blocking'] else 'no'}</td><td>{_e(g['summary'])}</td>"
        f"<td><code>{_e(json.dumps(g.get('numbers', {}), default=str)[:300])}</code></td></tr>"
        for g in gates
    )
    return (
        "<table><tr><th>Gate</th><th>Result</th><th>Blocking</th><th>Finding</th>"
        f"<th>Numbers</th></tr>{rows}</table>"
    )


def write(store: Store, *, model: str, version: int, target: Path) -> Path:
    """Render the card and write it to TARGET."""
    text = render(store, model=model, version=version)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target
