"""A version's model as plain arrays, so that explaining a case imports neither scikit-learn
nor skops (over a second of every `modelbridge explain` on two cores, issue 18).

The first explanation of a version loads its model file as before (skops, allow-listed types
only; a pickle through its skops copy), reads it into core.explain.plain_steps and keeps that
beside the model file as <sha256>.explain.npz: NumPy arrays and one JSON spec, read back with
allow_pickle=False, so no code runs on loading. It is used only for the model file with that
sha256 (still checked against the catalog, as loading checks it), read by the same versions of
scikit-learn, SciPy and NumPy, and it is kept only when it scores probe rows (the background,
and the background with each input missing or an unseen category) bit for bit as the model
does. Any other model, or a step plain_steps does not mirror, keeps the model file.
"""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.explain import plain_steps
from core.explain.columns import typed_inputs
from core.explain.from_sklearn import read_model, used_steps
from core.registry.features import Feature

FORMAT = 1
PROBE_ROWS = 5
LIBRARIES = ("scikit-learn", "scipy", "numpy")


@dataclass(frozen=True)
class PlainModel:
    """Preprocessing (None, Columns or a Chain) and a final estimator (Trees or Linear), with
    the scoring methods of the scikit-learn model they were read from."""

    preprocess: Any
    estimator: Any

    @property
    def classes_(self) -> Any:
        """The classifier's classes, as strings (None for a regressor)."""
        return self.estimator.classes_

    def _matrix(self, frame: pd.DataFrame) -> Any:
        return frame if self.preprocess is None else self.preprocess.transform(frame)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities of rows of input columns."""
        return self.estimator.predict_proba(self._matrix(frame))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """A regressor's predictions for rows of input columns."""
        return self.estimator.predict(self._matrix(frame))


def plain_file(model_file: Path) -> Path:
    """Where the plain form of MODEL_FILE (named by its sha256) is kept."""
    return model_file.with_suffix(".explain.npz")


@lru_cache(maxsize=1)
def _libraries() -> dict[str, str]:
    return {name: metadata.version(name) for name in LIBRARIES}


def load_plain(model_file: Path, *, sha256: str) -> PlainModel | None:
    """The kept plain form of the model file with SHA256, or None when there is none usable."""
    path = plain_file(model_file)
    if not sha256 or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            spec = json.loads(str(saved["spec"]))
            if (spec["format"], spec["model_sha256"], spec["libraries"]) != (
                FORMAT,
                sha256,
                _libraries(),
            ):
                return None
            arrays = {name: saved[name] for name in saved.files}
        pre = spec["preprocess"]
        return PlainModel(
            None if pre is None else plain_steps.build(pre, arrays),
            plain_steps.build(spec["estimator"], arrays),
        )
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        return None  # damaged, or from another release: the model file is loaded


def keep_plain(
    model: Any, features: list[Feature], background: pd.DataFrame, model_file: Path, sha256: str
) -> PlainModel | None:
    """Read MODEL into its plain form and keep it beside MODEL_FILE when it scores the probe
    rows exactly as MODEL does; None when it cannot (the model keeps its file)."""
    if not sha256:
        return None
    try:
        with warnings.catch_warnings():  # probing with plain arrays: no feature names
            warnings.simplefilter("ignore")
            plain = read_plain(model, [f.name for f in features])
            if not same_scores(model, plain, probes(features, background)):
                return None
    except Exception:  # noqa: BLE001 - any model it cannot read or score keeps its file
        return None
    try:
        _save(plain, plain_file(model_file), sha256)
    except OSError:  # a read-only artifact folder: explain as before
        return None
    return plain


def read_plain(model: Any, names: list[str]) -> PlainModel:
    """MODEL's plain form (Unsupported for a step plain_steps does not mirror)."""
    return PlainModel(*read_model(model, names))


def probes(features: list[Feature], background: pd.DataFrame) -> list[pd.DataFrame]:
    """The background rows, then a few of them with each input missing, and with each
    category unseen or each number moved, typed as cases are typed for explaining."""
    rows = background[[f.name for f in features]].reset_index(drop=True)
    few = rows.head(PROBE_ROWS)
    groups = [rows]
    for f in features:
        groups.append(few.assign(**{f.name: None}))
        if f.kind == "numeric":
            groups.append(few.assign(**{f.name: pd.to_numeric(few[f.name]) * 1.5 + 1}))
        else:
            groups.append(few.assign(**{f.name: "\x00unseen"}))
    return [typed_inputs(g, features) for g in groups]


def same_scores(model: Any, plain: PlainModel, groups: list[pd.DataFrame]) -> bool:
    """Whether PLAIN gives what MODEL gives on each group of rows, to the bit: its scores, the
    matrix its final estimator reads and that estimator's scores; a group refused by one (a
    missing value the model does not take) must be refused by the other."""
    outcome = _compare(model, plain, pd.concat(groups, ignore_index=True))
    if outcome != "refused":
        return outcome == "same"
    return all(_compare(model, plain, g) != "differs" for g in groups)


def _compare(model: Any, plain: PlainModel, rows: pd.DataFrame) -> str:
    """'same', 'differs', or 'refused' (by both, somewhere)."""
    steps = used_steps(getattr(model, "steps", None) or [])
    final = steps[-1][1] if len(steps) > 1 else model
    scoring = ["predict_proba", "decision_function"] if hasattr(final, "classes_") else ["predict"]
    whole = _outcome(lambda m: getattr(m, scoring[0])(rows), model, plain)
    if len(steps) <= 1 or whole == "differs":
        return whole
    matrix = _outcome(
        lambda m: m[:-1].transform(rows) if m is model else m.preprocess.transform(rows),
        model,
        plain,
    )
    if matrix != "same":
        return matrix
    x = np.asarray(model[:-1].transform(rows), dtype=float)
    outcomes = [whole]
    for method in scoring:
        if hasattr(final, method):
            outcomes.append(_outcome(lambda m, f=method: getattr(m, f)(x), final, plain.estimator))
    if "differs" in outcomes:
        return "differs"
    return "refused" if "refused" in outcomes else "same"


def _outcome(call: Any, full: Any, light: Any) -> str:
    try:
        expected = call(full)
    except ValueError:
        expected = None
    try:
        got = call(light)
    except ValueError:
        got = None
    if expected is None or got is None:
        return "refused" if expected is None and got is None else "differs"
    expected = expected.toarray() if hasattr(expected, "toarray") else np.asarray(expected)
    got = np.asarray(got)
    if expected.shape != got.shape:
        return "differs"
    same = np.array_equal(expected.astype(float), got.astype(float), equal_nan=True)
    return "same" if same else "differs"


def _save(plain: PlainModel, path: Path, sha256: str) -> None:
    arrays: dict[str, np.ndarray] = {}
    spec = {
        "format": FORMAT,
        "model_sha256": sha256,
        "libraries": _libraries(),
        "preprocess": None
        if plain.preprocess is None
        else plain_steps.dump(plain.preprocess, arrays, "p"),
        "estimator": plain_steps.dump(plain.estimator, arrays, "e"),
    }
    buffer = io.BytesIO()
    arrays["spec"] = np.asarray(json.dumps(spec))
    np.savez(buffer, allow_pickle=False, **arrays)
    part = path.with_name(f"{path.name}.{os.getpid()}.part")
    part.write_bytes(buffer.getvalue())
    part.replace(path)  # another process reading it sees the whole file or none
