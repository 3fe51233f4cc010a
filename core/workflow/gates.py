"""Release gates: the evidence a candidate version must show before anyone signs it off.

Computed once when review is requested, then frozen in the review's evidence bundle. Each gate
says pass, warn or fail with its numbers; blocking gates that fail stop approval. Settings per
model (`modelbridge configure`): gates.min.<metric>, gates.latency_budget_ms,
gates.max_drifted_features, gates.kpi_tolerance, gates.blocking (comma-separated names).
A multiclass model's reproduction, compatibility and kpi gates are core.workflow.class_gates';
the latency gate is core.workflow.latency's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from core.errors import ModelBridgeError
from core.metrics import METRIC_WORDS
from core.monitoring.drift import PREDICTION, drift_by_window
from core.monitoring.windows import WindowSpec
from core.registry import features_of, reference_frame, scoring_class
from core.registry.artifacts import load_model, model_file
from core.registry.classes import class_outputs
from core.registry.reproduction import reproduce
from core.store import Model, ModelVersion, Store, Work
from core.words import METRIC_MEANINGS, number

if TYPE_CHECKING:
    from core.value.figures import Figure

PASS, WARN, FAIL = "pass", "warn", "fail"
NOT_APPLICABLE = "n/a"  # the check means nothing for this model; never blocks
DEFAULT_BLOCKING = ("metrics", "reproduction", "compatibility", "kpi", "latency")
DEFAULT_MAX_DRIFTED = 3
RECENT_DAYS = 30
# The metrics a version is judged on when no minimum is set, and whether higher is better.
MAIN_METRICS = {
    "binary": (("roc_auc",), True),
    "regression": (("rmse",), False),
    "multiclass": (("accuracy", "macro_f1"), True),
}


@dataclass(frozen=True)
class Gate:
    """One check with its verdict, whether it blocks approval, its numbers and a sentence."""

    name: str
    status: str
    blocking: bool
    summary: str
    numbers: dict[str, Any] = field(default_factory=dict)


def settings_of(model: Model) -> dict[str, Any]:
    """The model's gate settings (`modelbridge configure gates.…`)."""
    return model.settings.get("gates", {})


def blocking_names(model: Model) -> tuple[str, ...]:
    """Gates that stop approval when they fail."""
    raw = settings_of(model).get("blocking")
    return tuple(raw) if raw else DEFAULT_BLOCKING


def metrics_gate(model: Model, candidate: ModelVersion, live: ModelVersion | None) -> Gate:
    """Evaluation metrics against configured minimums, else against the live version's; the
    summary says it in words, the metric's name and value beside them."""
    minimums = settings_of(model).get("min", {})
    numbers = {"candidate": candidate.metrics, "live": live.metrics if live else None}
    failed = [
        _below(k, candidate.metrics.get(k), float(v))
        for k, v in minimums.items()
        if candidate.metrics.get(k) is None or candidate.metrics[k] < float(v)
    ]
    if failed:
        return Gate(
            "metrics",
            FAIL,
            True,
            "Below the minimum set for release: " + "; ".join(failed) + ".",
            numbers,
        )
    keys, better_high = MAIN_METRICS[model.task]
    mine = {k: candidate.metrics[k] for k in keys if candidate.metrics.get(k) is not None}
    theirs = {k: live.metrics[k] for k in mine if live and live.metrics.get(k) is not None}
    # How much worse than the live version the candidate is on each metric (negative: better).
    gaps = {k: (v - mine[k]) if better_high else (mine[k] - v) for k, v in theirs.items()}
    if gaps:
        numbers["difference"] = -gaps[next(iter(gaps))]
    worse = {k: theirs[k] for k, gap in gaps.items() if gap > 0.02 * max(abs(theirs[k]), 1e-9)}
    if worse:
        versus = ", ".join(
            f"{METRIC_WORDS.get(k, k)} {mine[k]:.3f} against {v:.3f}" for k, v in worse.items()
        )
        return Gate(
            "metrics",
            WARN,
            True,
            f"On its own evaluation data it {_how_good(worse, mine)}; the live version "
            f"{_how_good(worse, theirs)} on its own ({versus}).",
            numbers,
        )
    named = ", ".join(f"{METRIC_WORDS.get(k, k)} {v:.3f}" for k, v in mine.items())
    return Gate(
        "metrics",
        PASS,
        True,
        f"On its evaluation data it {_how_good(mine, mine)} ({named})."
        if mine
        else "Its metrics are recorded.",
        numbers,
    )


def _how_good(keys: Iterable[str], values: dict[str, float]) -> str:
    """The gate's main metrics named in KEYS, at VALUES, as a clause following 'it'."""
    return " and ".join(_clause(k, values[k]) for k in keys)


def _clause(key: str, value: float) -> str:
    if key == "roc_auc":
        return f"scores a real case above one that is not {round(value * 100)} times in 100"
    if key == "accuracy":
        return f"decides the right class {round(value * 100)} times in 100"
    if key == "macro_f1":
        return (
            "balances finding each class and not mistaking others for it at "
            f"{number(value)} out of 1, averaged over its classes"
        )
    return f"has a typical error of {number(value)}"


def _below(key: str, value: float | None, minimum: float) -> str:
    """A metric under its release minimum, in words."""
    name = METRIC_WORDS.get(key, key.replace("_", " "))
    meaning = METRIC_MEANINGS.get(key, "").split(" (")[0]  # without its scale's own brackets
    said = f"{name} ({meaning})" if meaning else name
    if value is None:
        return f"{said} was not measured, and release needs at least {minimum:g}"
    return f"{said} is {number(value)}, and release needs at least {minimum:g}"


def reproduction_gate(w: Work, *, model: Model, candidate: ModelVersion) -> Gate:
    """The model file gives the reference's scores, so the metrics gate judged this model."""
    blocking = "reproduction" in blocking_names(model)
    if not candidate.artifact_path:
        return Gate(
            "reproduction",
            WARN,
            blocking,
            "No model file: the reference's scores, and the metrics computed from them, cannot "
            "be checked against the model.",
        )
    try:
        estimator = load_model(
            model_file(candidate.artifact_path, sha256=candidate.artifact_sha256),
            expected_sha256=candidate.artifact_sha256,
        )
        found = reproduce(
            w,
            model=model,
            version=candidate.version,
            features=features_of(candidate),
            estimator=estimator,
            positive_class=scoring_class(model, candidate),
        )
    except ModelBridgeError as exc:
        return Gate("reproduction", FAIL, blocking, f"The model file cannot be checked: {exc}")
    return Gate(
        "reproduction", PASS if found.holds else FAIL, blocking, found.sentence(), found.numbers()
    )


def compatibility_gate(candidate: ModelVersion, live: ModelVersion | None) -> Gate:
    """The candidate needs no input that production lacks, with the same kinds and categories."""
    if live is None:
        return Gate("compatibility", PASS, True, "Nothing is live yet to be compatible with.")
    theirs = {f.name: f for f in features_of(live)}
    missing, changed, new_categories = [], [], {}
    for f in features_of(candidate):
        other = theirs.get(f.name)
        if other is None:
            missing.append(f.name)
        elif other.kind != f.kind:
            changed.append(f"{f.name} ({other.kind} → {f.kind})")
        elif f.kind == "categorical":
            unseen = sorted(set(other.categories) - set(f.categories))
            if unseen:
                new_categories[f.name] = unseen[:10]
    numbers = {"missing": missing, "kind_changed": changed, "unknown_to_candidate": new_categories}
    if missing or changed:
        return Gate(
            "compatibility",
            FAIL,
            True,
            "Production requests do not carry what it needs: " + ", ".join(missing + changed),
            numbers,
        )
    if new_categories:
        names = ", ".join(f"{k}: {', '.join(v)}" for k, v in new_categories.items())
        return Gate(
            "compatibility",
            WARN,
            True,
            f"Categories seen in production are new to it ({names}).",
            numbers,
        )
    return Gate(
        "compatibility", PASS, True, "Same inputs, kinds and categories as production.", numbers
    )


def kpi_gate(
    store: Store, *, model: Model, candidate: ModelVersion, live: ModelVersion | None
) -> Gate:
    """Value per period against the live version on the same labelled decisions, with the
    comparison's basis in words (core.value.champion.compare); with nothing live, the
    candidate's value on its reference and its own decisions (core.value.figures)."""
    from core.value.champion import compare

    if live is None or live.version == candidate.version:
        # Nothing to set it against: priced on its own, it passes, as nothing is at stake.
        from core.value.figures import first_version

        with store.open().read() as r:
            alone = first_version(r, model=model, version=candidate)
        return Gate("kpi", PASS, True, alone.sentence(), alone.numbers())
    try:
        found = compare(
            store, model=model.name, champion=live.version, challenger=candidate.version
        )
    except ModelBridgeError as exc:
        return Gate("kpi", WARN, True, f"Not compared in money: {exc}")
    return money_gate(model, found)


class Compared(Protocol):
    """Live version and candidate valued on the same labelled decisions, in words and a table."""

    @property
    def champion(self) -> Figure: ...

    @property
    def challenger(self) -> Figure: ...

    def sentence(self) -> str: ...

    def table(self) -> Any: ...


def money_gate(model: Model, found: Compared) -> Gate:
    """The kpi gate's verdict on a comparison in money: the candidate fails when it earns less
    than the live version on the same decisions, beyond the model's kpi_tolerance."""
    champion, challenger = found.champion, found.challenger
    per_period = champion.value_per_period is not None
    a = float((champion.value_per_period if per_period else champion.value_per_decision) or 0.0)
    b = float((challenger.value_per_period if per_period else challenger.value_per_decision) or 0)
    tolerance = float(settings_of(model).get("kpi_tolerance", 0.0))
    numbers = {
        "live": a,
        "candidate": b,
        "per": f"per {champion.basis.per}" if per_period else "per decision",
        "unit": champion.basis.unit,
        "decisions": champion.basis.decisions,
        "basis": champion.basis.words(),
        "live_figure": champion.record(),
        "candidate_figure": challenger.record(),
        "table": found.table().to_dict(orient="records"),
    }
    said = f"{found.sentence()} {champion.basis.words()}"
    return Gate("kpi", FAIL if b + tolerance * abs(a) < a else PASS, True, said, numbers)


def drift_gate(
    w: Work, *, model: Model, candidate: ModelVersion, live: ModelVersion | None
) -> Gate:
    """How far recent production traffic is from the data the candidate was trained on."""
    assert model.id is not None
    source = live or candidate
    last = w.rows(f"SELECT max(ts) FROM pred_m{int(model.id)} WHERE version = ?", [source.version])[
        0
    ][0]
    if last is None:
        return Gate("drift", PASS, False, "No production traffic to compare with yet.")
    table = drift_by_window(
        w,
        model=model,
        version=candidate,
        spec=WindowSpec.parse("M"),
        logs_version=source.version,
        since=last - timedelta(days=RECENT_DAYS),
    )
    outputs = class_outputs(candidate)
    # A multiclass model's predicted class and probabilities are its outputs, not its inputs.
    made = {PREDICTION, *(f.name for f in (outputs.features() if outputs else []))}
    primary = table[table["primary"] & ~table["feature"].isin(made)]
    drifted = sorted(primary.loc[primary["drifted"].astype(bool), "feature"].unique())
    limit = int(settings_of(model).get("max_drifted_features", DEFAULT_MAX_DRIFTED))
    numbers = {
        "drifted": drifted,
        "features": int(primary["feature"].nunique()),
        "days": RECENT_DAYS,
        "max": limit,
    }
    blocking = "drift" in blocking_names(model)
    if len(drifted) > limit:
        return Gate(
            "drift",
            FAIL,
            blocking,
            f"{len(drifted)} inputs differ from its training "
            f"data in the last {RECENT_DAYS} days: {', '.join(drifted)}.",
            numbers,
        )
    if drifted:
        return Gate(
            "drift",
            WARN,
            blocking,
            f"Recent traffic differs from its training data in {', '.join(drifted)}.",
            numbers,
        )
    return Gate("drift", PASS, blocking, "Recent traffic looks like its training data.", numbers)


def explanation_gate(
    store: Store, *, model: Model, candidate: ModelVersion, sample: Any
) -> tuple[Gate, list]:
    """Explanations can be produced and add up; returns the gate and a few sample cases."""
    from core.explain import explainer_for

    blocking = "explanations" in blocking_names(model)
    if not candidate.artifact_path:
        return Gate(
            "explanations", WARN, blocking, "No model file: decisions cannot be explained."
        ), []
    # A multiclass model's every class probability is explained on its own: each must add up.
    classes: list[str | None] = list(model.classes or []) if model.task == "multiclass" else [None]
    cases = []
    try:
        for class_ in classes:
            explainer = explainer_for(store, model=model, version=candidate, class_=class_)
            cases += explainer.explain(sample[explainer.names].head(3))
    except ModelBridgeError as exc:
        return Gate("explanations", FAIL, blocking, f"Explanations fail: {exc}"), []
    gap = max(abs(c.base_value + sum(c.contributions.values()) - c.output) for c in cases)
    samples = [
        {
            "values": c.values,
            "output": c.output,
            "top": sorted(c.contributions.items(), key=lambda kv: -abs(kv[1]))[:3],
        }
        for c in cases[:3]
    ]
    numbers = {"method": explainer.method, "max_additivity_gap": gap}
    if gap > 1e-4:
        return Gate(
            "explanations",
            WARN,
            blocking,
            f"Explanations are approximate (gap {gap:.2g}).",
            numbers,
        ), samples
    return Gate(
        "explanations",
        PASS,
        blocking,
        f"Explanations add up ({explainer.method} explainer).",
        numbers,
    ), samples


def evaluate(
    store: Store, *, w: Work, model: Model, candidate: ModelVersion, live: ModelVersion | None
) -> tuple[list[Gate], list]:
    """All gates for a candidate, and sample explanations for the evidence bundle."""
    from core.workflow import latency

    sample = reference_frame(w, model=model, version=candidate, limit=200)
    if model.task == "multiclass":
        from core.workflow import class_gates

        checks = [
            class_gates.reproduction_gate(w, model=model, candidate=candidate),
            class_gates.compatibility_gate(candidate, live),
            class_gates.kpi_gate(store, model=model, candidate=candidate, live=live),
        ]
    else:
        checks = [
            reproduction_gate(w, model=model, candidate=candidate),
            compatibility_gate(candidate, live),
            kpi_gate(store, model=model, candidate=candidate, live=live)
            if model.task == "binary"
            else Gate(
                "kpi",
                NOT_APPLICABLE,
                True,
                "Not compared in money: the comparison by decision threshold applies to binary "
                "models, and this one is a regression.",
            ),
        ]
    gates = [
        metrics_gate(model, candidate, live),
        *checks,
        drift_gate(w, model=model, candidate=candidate, live=live),
        latency.latency_gate(model, candidate, sample),
    ]
    explanation, samples = explanation_gate(store, model=model, candidate=candidate, sample=sample)
    gates.append(explanation)
    blocking = blocking_names(model)
    return [
        Gate(g.name, g.status, g.name in blocking, g.summary, g.numbers) for g in gates
    ], samples


def as_dict(gate: Gate) -> dict[str, Any]:
    """JSON-ready gate."""
    return asdict(gate)
