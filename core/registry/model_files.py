"""A version's model file at registration: a pickle converted to skops in a worker process, the
model's classes checked against the positive label, and the reference's scores reproduced."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.auth import Identity
from core.errors import InvalidInput
from core.files.sources import sha256_of
from core.registry import classes as multiclass
from core.registry import pickle_files
from core.registry.artifacts import artifact_format, check_task_fits, class_index, load_model
from core.registry.features import Feature
from core.registry.reproduction import reproduce
from core.store import Model, Store, Work, log_tables


@contextmanager
def model_file_to_keep(
    store: Store, *, model_file: str | Path | None, by: Identity | None
) -> Iterator[tuple[Path | None, dict[str, str] | None]]:
    """The model file to store, and what it was converted from when it came as a pickle."""
    if model_file is None:
        yield None, None
        return
    source = Path(model_file)
    if not source.is_file():
        raise InvalidInput(f"{source}: model file not found")
    if artifact_format(source) == "skops":
        yield source, None
        return
    with store.read() as r:
        pickle_files.check_may_register(r, by=by, shown_as=str(source))
    with pickle_files.converted(source, shown_as=str(source)) as skops_file:
        yield (
            skops_file,
            {"format": "joblib", "sha256": sha256_of(source), "by": by.username if by else ""},
        )


def check_artifact(
    w: Work,
    *,
    model: Model,
    version: int,
    features: list[Feature],
    artifact: Any,
    source: str,
    model_class: str | None,
    outputs: multiclass.ClassOutputs | None = None,
    prefix: str = multiclass.DEFAULT_PREFIX,
) -> list[str]:
    """Load the model file safely and check it reproduces the reference predictions (each class's
    probability, for a multiclass model with OUTPUTS)."""
    estimator = load_model(artifact.path, expected_sha256=artifact.sha256, shown_as=source)
    check_task_fits(estimator, model.task, source)
    scored = model_class or model.positive_label
    if outputs is not None:
        multiclass.check_model_classes(
            estimator, classes=list(outputs.probabilities), prefix=prefix, source=source
        )
        found = multiclass.reproduce_probabilities(
            w, model=model, version=version, features=features, outputs=outputs, estimator=estimator
        )
    elif scored is not None:
        check_class(
            w,
            estimator=estimator,
            scored=scored,
            model=model,
            version=version,
            given=model_class is not None,
            source=source,
        )
    if outputs is None:
        found = reproduce(
            w,
            model=model,
            version=version,
            features=features,
            estimator=estimator,
            positive_class=scored,
        )
    if found.holds:
        return []
    return [
        f"{found.sentence()} Check --model-file and --prediction; the review's reproduction "
        "gate fails until they match."
    ]


def check_class(
    w: Work,
    *,
    estimator: Any,
    scored: str,
    model: Model,
    version: int,
    given: bool,
    source: str,
) -> None:
    """Refuse a class the model file does not have, saying how to name the right one."""
    classes = [str(c) for c in getattr(estimator, "classes_", [])]
    try:
        class_index(classes, scored)
    except InvalidInput:
        if given:
            raise InvalidInput(
                f"{source}: --model-class {scored!r} is not one of the model's classes {classes}"
            ) from None
        assert model.id is not None
        outcomes = sorted(
            r[0]
            for r in w.rows(
                f"SELECT DISTINCT target FROM {log_tables.ref_table(model.id)} "
                "WHERE version = ? AND target IS NOT NULL LIMIT 3",
                [version],
            )
        )
        raise InvalidInput(
            f"{source}: the model's classes are {classes} and the reference's outcomes are "
            f"{outcomes}; say which of the model's classes means {model.positive_label!r} with "
            f"--model-class (e.g. --positive-label {model.positive_label} --model-class "
            f"{classes[-1] if classes else 1})"
        ) from None
