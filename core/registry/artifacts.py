"""Model files: copy into the store, fingerprint, and load without running untrusted code.

skops files are loaded with an explicit allow-list: classes from scikit-learn, NumPy, SciPy and
plain containers, NumPy ufuncs, and scikit-learn's metric and feature-selection statistics.
Other functions are refused even from those libraries, because a model calls them at prediction
time (FunctionTransformer, score_func): `builtins.exec` or `numpy.ravel` chained in a pipeline
would run code. joblib/pickle files can execute code when loaded: they are never loaded in this
process (core.registry.pickle_files converts them to skops in a worker process), and only when
their sha256 matches the one recorded at registration.
"""

from __future__ import annotations

import importlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import InvalidInput
from core.files.sources import sha256_of
from core.logfiles import ObjectFolder
from core.settings import cache_folder

TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy", "collections")
TRUSTED_FUNCTION_PACKAGES = ("sklearn.metrics", "sklearn.feature_selection")
_SAFE_BUILTINS = frozenset(
    f"builtins.{name}"
    for name in (
        "object", "bool", "int", "float", "complex", "str", "bytes", "bytearray",
        "list", "tuple", "dict", "set", "frozenset", "slice", "range", "NoneType",
    )
)  # fmt: skip
_FORMATS = {".skops": "skops", ".joblib": "joblib", ".pkl": "joblib", ".pickle": "joblib"}


@dataclass(frozen=True)
class StoredArtifact:
    """A model file kept beside the store (or in its object store)."""

    path: Path  # a copy on this machine, to load
    sha256: str
    fmt: str
    new: bool = False  # copied by this call (no earlier version shares the file)
    address: str = ""  # what the catalog records: PATH, or the object's s3:// URL

    def discard(self) -> None:
        """Remove the copy this call made (a refused file leaves none behind)."""
        if not self.new:
            return
        self.path.unlink(missing_ok=True)
        if _is_url(self.address):
            folder, _, name = self.address.rpartition("/")
            ObjectFolder.parse(folder).remove(name)


def artifact_format(path: Path) -> str:
    """skops or joblib, from the file name."""
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"{path.name}: unsupported model file; save it with skops (.skops) or joblib "
            "(.joblib/.pkl)"
        )
    return fmt


def store_artifact(source: Path, home: Path | str) -> StoredArtifact:
    """Copy a model file into the store's artifact folder HOME (a path, or an s3:// URL),
    named by its content hash."""
    if not source.is_file():
        raise InvalidInput(f"{source}: model file not found")
    fmt = artifact_format(source)
    digest = sha256_of(source)
    name = f"{digest}{source.suffix.lower()}"
    if isinstance(home, str):
        remote = ObjectFolder.parse(home)
        new = remote.stat(name) is None
        if new:
            remote.put(source, name)
        local = _cached(name)
        _copy(source, local)
        return StoredArtifact(local, digest, fmt, new, remote.address(name))
    home.mkdir(parents=True, exist_ok=True)
    target = home / name
    new = not target.exists()
    if new:
        _copy(source, target)
    return StoredArtifact(target, digest, fmt, new, str(target))


def model_file(stored: str, *, sha256: str | None) -> Path:
    """The registered model file the catalog records as STORED, on this machine: its path, or
    for an object store a copy downloaded once into this machine's cache and checked against
    the SHA256 recorded at registration."""
    if not _is_url(stored):
        return Path(stored)
    folder, _, name = stored.rpartition("/")
    local = _cached(name)
    if local.is_file() and (sha256 is None or sha256_of(local) == sha256):
        return local
    if ObjectFolder.parse(folder).fetch(name, local) != sha256 and sha256 is not None:
        local.unlink(missing_ok=True)
        raise InvalidInput(
            f"{stored}: refused, its sha256 differs from the one registered; the file was "
            "changed after registration"
        )
    return local


def _cached(name: str) -> Path:
    """Where this machine keeps its copy of the object store's model file NAME."""
    return cache_folder() / "artifacts" / name


def _copy(source: Path, target: Path) -> None:
    """Copy SOURCE to TARGET whole: readers never see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".part")
    shutil.copyfile(source, tmp)
    tmp.replace(target)


def _is_url(text: str) -> bool:
    return "://" in text


def _types_to_trust(path: Path, shown_as: str) -> list[str]:
    """The types skops will not load unless told to trust them; each of them is on our
    allow-list, else InvalidInput names the first few."""
    import skops.io as sio

    try:
        found = sio.get_untrusted_types(file=path)
    except Exception as exc:  # skops raises assorted errors for damaged files
        raise InvalidInput(f"{shown_as}: not a readable skops file ({_first_line(exc)})") from None
    refused = [t for t in found if not _is_trusted(t)]
    if refused:
        raise InvalidInput(
            f"{shown_as}: refused, it contains types outside the allow-list: "
            f"{', '.join(refused[:5])}"
        )
    return found


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _is_trusted(name: str) -> bool:
    """Judge what NAME really is (a forged name may point at a re-exported os.system)."""
    if name in _SAFE_BUILTINS:
        return True
    if not _within(name, TRUSTED_PACKAGES):
        return False
    obj = _resolve(name)
    if obj is None:
        return False
    import numpy as np

    if isinstance(obj, np.ufunc):
        return True
    module = getattr(obj, "__module__", None) or ""
    if isinstance(obj, type):
        return _within(module, TRUSTED_PACKAGES)
    return callable(obj) and _within(module, TRUSTED_FUNCTION_PACKAGES)


def _resolve(name: str) -> Any:
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr, None)
        return obj
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def check_model_file(path: Path, *, expected_sha256: str | None, shown_as: str) -> str:
    """The model file's format, once it is there and its content is the one registered."""
    if not path.is_file():
        raise InvalidInput(f"model file {path} is missing; register the version again")
    fmt = artifact_format(path)
    if expected_sha256 is not None and sha256_of(path) != expected_sha256:
        raise InvalidInput(
            f"{shown_as}: refused, its sha256 differs from the one registered; the file was "
            "changed after registration"
        )
    return fmt


def load_model(path: Path, *, expected_sha256: str | None, shown_as: str | None = None) -> Any:
    """Load a registered model file safely; refuse one whose content changed since registration.

    SHOWN_AS names the file in errors (the user's own path rather than the stored copy's).
    """
    name = shown_as or path.name
    fmt = check_model_file(path, expected_sha256=expected_sha256, shown_as=name)
    if fmt == "skops":
        import skops.io as sio

        # Listed once: each listing reads and walks the file's whole schema.
        trusted = _types_to_trust(path, name)
        return _loaded(name, fmt, lambda: sio.load(path, trusted=trusted))
    if expected_sha256 is None:
        raise InvalidInput(f"{name}: joblib files load only with a registered sha256")
    from core.registry.pickle_files import converted

    with converted(path, shown_as=name) as skops_file:
        return load_model(skops_file, expected_sha256=None, shown_as=name)


def _loaded(name: str, fmt: str, load: Any) -> Any:
    """LOAD's model, or one line saying why the file is not a usable model."""
    try:
        model = load()
    except Exception as exc:  # unpickling junk raises anything from EOFError to KeyError
        raise InvalidInput(
            f"{name}: cannot be loaded as a {fmt} model file ({_first_line(exc)})"
        ) from None
    if not callable(getattr(model, "predict", None)):
        raise InvalidInput(
            f"{name}: holds a {type(model).__name__}, not a model with a predict() method"
        )
    return model


def positive_scores(model: Any, frame: Any, positive_label: str | None) -> Any:
    """The model's score for each row: probability of the positive label, or the prediction."""
    if positive_label is None:
        return model.predict(frame)
    if not hasattr(model, "predict_proba"):
        raise InvalidInput(
            "the model has no predict_proba; binary models must output a probability"
        )
    classes = [str(c) for c in getattr(model, "classes_", [])]
    index = class_index(classes, positive_label)
    return model.predict_proba(frame)[:, index]


def class_index(classes: list[str], positive_label: str) -> int:
    for i, c in enumerate(classes):
        if c == positive_label or _same_number(c, positive_label):
            return i
    raise InvalidInput(
        f"positive label {positive_label!r} is not one of the model's classes {classes}"
    )


def _same_number(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)
    except ValueError:
        return a.lower() in ("true", "1") and b.lower() in ("true", "1")


def check_task_fits(estimator: Any, task: str, source: str) -> None:
    """Refuse a model file that does not fit TASK: a multiclass model that is no classifier, a
    classifier of more than two classes not registered as multiclass, or a classifier
    registered as a regression model.

    Without this a 3-class model whose reference holds predicted classes 0, 1, 2 passes as a
    regression, and its explanations speak of raising "the prediction" by 0.7 of a class.
    """
    classes = getattr(estimator, "classes_", None)
    if task == "multiclass":
        if classes is None:
            raise InvalidInput(
                f"{source}: not a classifier (no classes); --task multiclass needs one"
            )
        return
    if classes is None:
        return
    shown = ", ".join(str(c) for c in list(classes)[:5])
    if len(classes) > 2:
        raise InvalidInput(
            f"{source}: a classifier of {len(classes)} classes ({shown}); register it with "
            "--task multiclass and one probability column per class (--proba-prefix)"
        )
    if task == "regression":
        raise InvalidInput(
            f"{source}: a classifier (classes {shown}), but the reference looks like a "
            "regression; log the probability of the positive class as the prediction, or "
            "pass --task binary"
        )
