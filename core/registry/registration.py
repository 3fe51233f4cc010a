"""Models and their versions: registration with lineage, reference baseline and metrics."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import select

from core import audit, auth
from core.errors import InvalidInput
from core.files.loading import load_file
from core.files.sources import local_file, quote_ident, sha256_of
from core.metrics import binary_metrics, regression_metrics
from core.registry import classes as multiclass
from core.registry.artifacts import store_artifact
from core.registry.feature_metadata import parse_file as parse_metadata
from core.registry.features import Feature, infer_kind, profile
from core.registry.lookups import features_of
from core.registry.model_files import check_artifact, model_file_to_keep
from core.registry.targets import is_label, label_to_y_sql, settle_task
from core.store import Model, ModelVersion, Store, Work, log_tables
from core.words import TASKS, checked_name


@dataclass(frozen=True)
class Registration:
    """What `register` reports back."""

    model: str
    version: int
    task: str
    features: list[str]
    reference_rows: int
    metrics: dict[str, Any]
    warnings: list[str]


MAX_MODEL_NAME = 100


@dataclass(frozen=True, kw_only=True)
class RegistrationSpec:
    """What `register` records: the model, its reference rows and how to read them, lineage.

    TIMESTAMP and ID_COLUMN name the prediction logs' columns (default: timestamp, request_id);
    TASK and POSITIVE_LABEL are inferred from the reference when left out; MODEL_CLASS names the
    model file's class that means the positive label when the two differ; IGNORE lists the
    reference's other columns that are not features; CREATED_BY is recorded when no one signed in.
    A multiclass model (TASK multiclass, never inferred) has its predicted class in PREDICTION
    and one probability column per class named PROBA_PREFIX + class, in the reference and logs.
    """

    model: str
    reference: str | Path
    target: str
    prediction: str
    timestamp: str | None = None
    id_column: str | None = None
    task: str | None = None
    positive_label: str | None = None
    model_file: str | Path | None = None
    model_class: str | None = None  # the model file's class meaning POSITIVE_LABEL, if other
    git_sha: str | None = None
    description: str = ""
    created_by: str = ""
    ignore: tuple[str, ...] = ()
    feature_metadata: str | Path | None = None
    proba_prefix: str | None = None


def register_version(
    store: Store, *, spec: RegistrationSpec, by: auth.Identity | None = None
) -> Registration:
    """Register a new version as SPEC says, its reference as the baseline (a new model if need be).

    BY, a signed-in user, must be allowed to register and is recorded instead of SPEC's created_by.
    """
    created_by = spec.created_by
    if by is not None:
        auth.require_action(by, "register_version")
        created_by = by.username
    try:
        name = checked_name(spec.model, what="model name", limit=MAX_MODEL_NAME)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    if name != spec.model:
        spec = dataclasses.replace(spec, model=name)
    if spec.task is not None and spec.task not in TASKS:
        raise InvalidInput(f"unknown task {spec.task!r}; use one of {', '.join(TASKS)}")
    if spec.proba_prefix is not None and spec.task != "multiclass":
        raise InvalidInput("--proba-prefix names the class probabilities; add --task multiclass")
    if spec.model_class is not None and spec.model_file is None:
        raise InvalidInput("--model-class names a class of the model file; give --model-file too")
    store.open()
    with (
        model_file_to_keep(store, model_file=spec.model_file, by=by) as (
            model_file,
            converted_from,
        ),
        local_file(spec.reference) as ref_path,
        store.write() as w,
    ):
        w.serialise(f"model:{spec.model}")  # the next version number is taken once
        raw = load_file(w.db, ref_path, table="__ref_raw", source_name=str(spec.reference))
        # The id and time columns name the prediction logs' columns: a reference need not
        # carry them, and where it does they are not features.
        special = {spec.target, spec.prediction, *spec.ignore}
        prefix = spec.proba_prefix or multiclass.DEFAULT_PREFIX
        probabilities = (
            multiclass.probability_columns(list(raw.columns), prefix)
            if spec.task == "multiclass"
            else {}
        )
        missing = [c for c in special if c not in raw.columns]
        special |= set(probabilities.values())
        special |= {c for c in (spec.timestamp, spec.id_column) if c in raw.columns}
        if missing:
            raise InvalidInput(
                f"{spec.reference}: no column(s) {', '.join(sorted(missing))}; "
                f"its columns are {', '.join(raw.columns)}"
            )
        if raw.rejects:
            line = raw.rejects[0][0]
            raise InvalidInput(
                f"{spec.reference}: {len(raw.rejects)} malformed row(s), first at data row {line}; "
                "a reference must be clean"
            )
        feature_names = [c for c in raw.columns if c not in special]
        if not feature_names:
            raise InvalidInput(
                f"{spec.reference}: no feature columns left besides {sorted(special)}"
            )
        score = f"TRY_CAST({quote_ident(spec.prediction)} AS DOUBLE)"
        if spec.task == "multiclass":
            multiclass.check_reference(
                w,
                table="__ref_raw",
                target=spec.target,
                prediction=spec.prediction,
                columns=probabilities,
                prefix=prefix,
                source=str(spec.reference),
            )
            score = multiclass.predicted_probability_sql(
                quote_ident(spec.prediction),
                {c: f"TRY_CAST({quote_ident(n)} AS DOUBLE)" for c, n in probabilities.items()},
            )
        bad_scores = w.rows(
            f"SELECT count(*) FROM __ref_raw WHERE {score} IS NULL OR NOT isfinite({score})"
        )[0][0]
        if bad_scores:
            raise InvalidInput(
                f"{spec.reference}: {bad_scores} row(s) with a missing or non-numeric "
                f"prediction in column {spec.prediction!r}"
            )
        task, positive_label = settle_task(
            w, target=spec.target, score=score, task=spec.task, positive_label=spec.positive_label
        )
        entry = _get_or_create_model(
            w, spec.model, task, positive_label, spec.description, created_by, list(probabilities)
        )
        number = _next_version(w, entry)
        assert entry.id is not None
        log_tables.ensure_tables(w, model_id=entry.id)
        features = []
        for name in feature_names:
            kind = infer_kind(w.db, "__ref_raw", name, raw.columns[name])
            column = log_tables.feature_column(w, model_id=entry.id, name=name, kind=kind)
            features.append(profile(w.db, "__ref_raw", name, kind, column))
        outputs = None
        if probabilities:
            outputs = multiclass.map_outputs(
                w, model=entry, prediction=spec.prediction, columns=probabilities
            )
        rows, unlabeled = _copy_reference(
            w, entry, number, features, spec.target, score, positive_label, outputs
        )
        if spec.model_class is not None and task != "binary":
            raise InvalidInput("--model-class applies to binary models, and this is a regression")
        warnings = []
        if unlabeled:
            warnings.append(f"{unlabeled} reference row(s) have no target; left out of metrics")
        metrics = (
            multiclass.reference_metrics(w, model=entry, version=number, outputs=outputs)
            if outputs
            else _reference_metrics(w, entry, number)
        )
        artifact = None
        if model_file is not None:
            artifact = store_artifact(model_file, store.artifact_home)
            try:
                warnings += check_artifact(
                    w,
                    model=entry,
                    version=number,
                    features=features,
                    artifact=artifact,
                    source=str(spec.model_file),
                    model_class=spec.model_class,
                    outputs=outputs,
                    prefix=prefix,
                )
            except InvalidInput:
                artifact.discard()  # a refused file leaves no copy behind
                raise
            if converted_from:
                warnings.append(
                    f"{spec.model_file} is a pickle file: it was loaded once, in a separate "
                    f"process, and kept as skops (sha256 {artifact.sha256[:12]}…), which is what "
                    "ModelBridge loads from now on"
                )
        version = ModelVersion(
            model_id=entry.id,
            version=number,
            created_by=created_by,
            description=spec.description,
            git_sha=spec.git_sha,
            artifact_path=artifact.address if artifact else None,
            artifact_sha256=artifact.sha256 if artifact else None,
            artifact_format=artifact.fmt if artifact else None,
            positive_class=spec.model_class,
            data_sha256=sha256_of(ref_path),
            data_rows=rows,
            data_columns=dict(raw.columns),
            target_column=spec.target,
            prediction_column=spec.prediction,
            id_column=spec.id_column or "request_id",
            timestamp_column=spec.timestamp or "timestamp",
            feature_schema={
                "features": [f.to_json() for f in features],
                "ignored": list(spec.ignore),
                "metadata": parse_metadata(Path(spec.feature_metadata), feature_names)
                if spec.feature_metadata
                else {},
                **({"outputs": outputs.to_json()} if outputs else {}),
            },
            metrics=metrics,
        )
        w.session.add(version)
        audit.record(
            w,
            actor=created_by or "pipeline",
            action="register_version",
            model=spec.model,
            version=number,
            after={
                "data_sha256": version.data_sha256,
                "artifact_sha256": version.artifact_sha256,
                **({"converted_from": converted_from} if converted_from else {}),
            },
        )
        if converted_from:
            audit.record(
                w,
                actor=created_by,
                role=by.role if by else "",
                action="pickle_file_converted",
                model=spec.model,
                version=number,
                before={"format": "joblib", "sha256": converted_from["sha256"]},
                after={"format": "skops", "sha256": version.artifact_sha256},
            )
    return Registration(spec.model, number, task, feature_names, rows, metrics, warnings)


def _get_or_create_model(
    w: Work,
    name: str,
    task: str,
    positive_label: str | None,
    description: str,
    owner: str,
    classes: list[str],
) -> Model:
    found = w.session.exec(select(Model).where(Model.name == name)).first()
    if found is None:
        found = Model(
            name=name,
            task=task,
            positive_label=positive_label,
            classes=classes or None,
            description=description,
            owner=owner,
        )
        w.session.add(found)
        w.session.flush()
        return found
    if found.task != task:
        raise InvalidInput(f"model {name!r} is a {found.task} model; this reference looks {task}")
    if task == "multiclass" and found.classes != classes:
        raise InvalidInput(
            f"model {name!r} has classes {found.classes}; this reference's probability columns "
            f"name {classes}"
        )
    if (
        task == "binary"
        and positive_label is not None
        and not is_label(positive_label, found.positive_label or "1")
    ):
        raise InvalidInput(
            f"model {name!r} has positive label {found.positive_label!r}, not {positive_label!r}"
        )
    return found


def _next_version(w: Work, model: Model) -> int:
    latest = w.catalog(
        "SELECT max(version) FROM model_version WHERE model_id = :model", {"model": model.id}
    ).scalar()
    return int(latest or 0) + 1


def _copy_reference(
    w: Work,
    model: Model,
    version: int,
    features: list[Feature],
    target: str,
    score: str,
    positive_label: str | None,
    outputs: multiclass.ClassOutputs | None,
) -> tuple[int, int]:
    assert model.id is not None
    y_sql, params = label_to_y_sql(
        quote_ident(target), model.positive_label or positive_label, classes=model.classes
    )
    typed = {f.column: f"TRY_CAST({quote_ident(f.name)} AS {f.sql_type})" for f in features}
    if outputs is not None:
        typed |= {f.column: f"TRY_CAST({quote_ident(f.name)} AS DOUBLE)"
                  for f in outputs.probabilities.values()}  # fmt: skip
        typed[outputs.predicted.column] = multiclass.canonical_class_sql(
            quote_ident(outputs.predicted.name), list(outputs.probabilities)
        )
    columns, values = ", ".join(typed), ", ".join(typed.values())
    w.sql(
        f"INSERT INTO {log_tables.insert_target(w, table=log_tables.ref_table(model.id))} "
        f"(version, row_no, target, y, score, {columns}) "
        f"SELECT ?, __row, CAST({quote_ident(target)} AS VARCHAR), {y_sql}, {score}, {values} "
        "FROM __ref_raw",
        [version, *params],
    )
    rows, unlabeled = w.rows(
        f"SELECT count(*), count(*) FILTER (WHERE y IS NULL) FROM {log_tables.ref_table(model.id)} "
        "WHERE version = ?",
        [version],
    )[0]
    return int(rows), int(unlabeled)


def _reference_metrics(w: Work, model: Model, version: int) -> dict[str, Any]:
    y, score = _labelled(w, model, version)
    if model.task == "binary":
        return binary_metrics(y, score)
    return regression_metrics(y, score)


def _labelled(w: Work, model: Model, version: int) -> tuple[np.ndarray, np.ndarray]:
    assert model.id is not None
    frame = w.frame(
        f"SELECT y, score FROM {log_tables.ref_table(model.id)} "
        "WHERE version = ? AND y IS NOT NULL",
        [version],
    )
    return frame["y"].to_numpy(), frame["score"].to_numpy()


def reference_frame(
    w: Work, *, model: Model, version: ModelVersion, limit: int | None = None
) -> Any:
    """A version's reference rows as a DataFrame with the original feature names."""
    assert model.id is not None
    features = features_of(version)
    cols = ", ".join(f"{f.column} AS {quote_ident(f.name)}" for f in features)
    sql = (
        f"SELECT row_no, target, y, score, {cols} FROM {log_tables.ref_table(model.id)} "
        "WHERE version = ? ORDER BY row_no"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return w.frame(sql, [version.version])
