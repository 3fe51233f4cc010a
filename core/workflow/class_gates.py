"""Release gates of a multiclass model where its classes change what is checked: the model file
reproduces every class probability, production decides between the same classes, and its value
comes from the value matrix. Metrics, drift, latency and explanations are core.workflow.gates'.
"""

from __future__ import annotations

from core.errors import ModelBridgeError
from core.registry import features_of
from core.registry.artifacts import load_model, model_file
from core.registry.classes import class_outputs, reproduce_probabilities
from core.store import Model, ModelVersion, Store, Work
from core.workflow import gates
from core.workflow.gates import FAIL, PASS, WARN, Gate, blocking_names, money_gate


def reproduction_gate(w: Work, *, model: Model, candidate: ModelVersion) -> Gate:
    """The model file gives every class probability of the reference, so the metrics gate
    judged this model."""
    blocking = "reproduction" in blocking_names(model)
    outputs = class_outputs(candidate)
    if not candidate.artifact_path or outputs is None:
        return Gate(
            "reproduction",
            WARN,
            blocking,
            "No model file: the reference's class probabilities, and the metrics computed from "
            "them, cannot be checked against the model.",
        )
    try:
        estimator = load_model(
            model_file(candidate.artifact_path, sha256=candidate.artifact_sha256),
            expected_sha256=candidate.artifact_sha256,
        )
        found = reproduce_probabilities(
            w,
            model=model,
            version=candidate.version,
            features=features_of(candidate),
            outputs=outputs,
            estimator=estimator,
        )
    except ModelBridgeError as exc:
        return Gate("reproduction", FAIL, blocking, f"The model file cannot be checked: {exc}")
    k = len(outputs.probabilities)
    if found.holds:
        said = (
            f"The model file reproduces all {k} class probabilities of the reference on "
            f"{found.rows:,} rows, so the version's metrics are this model's."
        )
    else:
        said = (
            f"The model file's class probabilities differ from the reference's on "
            f"{found.differing:,} of {found.rows:,} rows, by up to {found.max_gap:.3g}: the "
            "version's metrics were not produced by this model file."
        )
    numbers = {**found.numbers(), "classes": k}
    return Gate("reproduction", PASS if found.holds else FAIL, blocking, said, numbers)


def compatibility_gate(candidate: ModelVersion, live: ModelVersion | None) -> Gate:
    """The inputs as for any model (core.workflow.gates.compatibility_gate), and the same
    classes as production: a class production lacks or one it has that the candidate lacks
    changes what a decision can be, its labels and its value matrix."""
    inputs = gates.compatibility_gate(candidate, live)
    if live is None:
        return inputs
    mine, theirs = _classes(candidate), _classes(live)
    new = [c for c in mine if c not in theirs]
    missing = [c for c in theirs if c not in mine]
    numbers = {**inputs.numbers, "new_classes": new, "missing_classes": missing}
    if not new and not missing:
        summary = (
            inputs.summary.removesuffix(".") + f", and the same {len(mine)} classes."
            if inputs.status == PASS
            else inputs.summary
        )
        return Gate("compatibility", inputs.status, True, summary, numbers)
    found = []
    if new:
        found.append(f"classes production does not decide: {', '.join(new)}")
    if missing:
        found.append(f"production's classes it cannot decide: {', '.join(missing)}")
    said = "It decides between other classes than production (" + "; ".join(found) + ")."
    if inputs.status != PASS:
        said = f"{inputs.summary.removesuffix('.')}. {said}"
    return Gate("compatibility", FAIL, True, said, numbers)


def _classes(version: ModelVersion) -> list[str]:
    outputs = class_outputs(version)
    return list(outputs.probabilities) if outputs else []


def kpi_gate(
    store: Store, *, model: Model, candidate: ModelVersion, live: ModelVersion | None
) -> Gate:
    """Value per period (per decision without a volume) against the live version on the same
    labelled decisions, each valued by the value matrix; with nothing live, the candidate's
    value on its reference and its own decisions."""
    from core.value import class_champion

    if live is None or live.version == candidate.version:
        # Nothing to set it against: priced on its own, it passes, as nothing is at stake.
        with store.open().read() as r:
            alone = class_champion.first_version(r, model=model, version=candidate)
        return Gate("kpi", PASS, True, alone.sentence(), alone.numbers())
    try:
        found = class_champion.compare(
            store, model=model.name, champion=live.version, challenger=candidate.version
        )
    except ModelBridgeError as exc:
        return Gate("kpi", WARN, True, f"Not compared in money: {exc}")
    return money_gate(model, found)
