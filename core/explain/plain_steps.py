"""The steps of a fitted scikit-learn model as plain NumPy arrays, each scoring as scikit-learn
1.9 does, operation for operation (same dtypes, same order of sums), so its figures are equal
to the bit. core.explain.plain_model reads a model into these steps, saves and loads them.

Each step is kept as (spec, arrays): a JSON-able dict and named arrays of numbers or strings,
so that a saved step is read back without unpickling anything. read_step raises Unsupported
for whatever it does not mirror; such a model keeps scikit-learn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

LINEAR = ("LogisticRegression", "LinearRegression", "Ridge")
AVERAGED = ("RandomForestClassifier", "ExtraTreesClassifier", "RandomForestRegressor",
            "ExtraTreesRegressor", "DecisionTreeClassifier", "DecisionTreeRegressor")  # fmt: skip
BOOSTED = ("GradientBoostingClassifier", "GradientBoostingRegressor")


TREE_ARRAYS = ("roots", "left", "right", "feature", "threshold", "missing_left", "value")


class Unsupported(Exception):
    """A step this module does not mirror exactly."""


Arrays = dict[str, np.ndarray]


def _name(obj: Any) -> str:
    return type(obj).__name__


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _finite(x: np.ndarray, *, allow_nan: bool) -> None:
    """scikit-learn's check of a model input: infinity is refused, NaN unless ALLOW_NAN."""
    bad = np.isinf(x) if allow_nan else ~np.isfinite(x)
    if bad.any():
        raise ValueError("Input X contains infinity or NaN.")


def _strings_or_numbers(values: np.ndarray) -> np.ndarray:
    """VALUES as a str or float array (savable without pickle), else Unsupported."""
    if values.dtype.kind in "fiu":
        as_float = values.astype(float)
        if np.isnan(as_float).any() or (np.abs(as_float) > 2**53).any():
            raise Unsupported("a missing or inexact number among the categories")
        return as_float
    if values.dtype.kind in "OU" and all(
        isinstance(v, str) and not v.endswith("\x00") for v in values.tolist()
    ):  # NumPy's str arrays drop trailing NULs
        return values.astype(str)
    raise Unsupported(f"categories of type {values.dtype}")


# --- preprocessing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Imputer:
    """SimpleImputer (missing values NaN, no indicator): each missing value becomes its column's
    statistic."""

    statistics: np.ndarray
    to_float: bool  # the mean and median strategies read numbers; the others keep the dtype

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.array(x, dtype=float if self.to_float else None, copy=True)
        missing = np.isnan(x) if x.dtype.kind == "f" else (x != x)
        if x.dtype.kind in "iu":
            return x
        stats = self.statistics.astype(object) if x.dtype.kind == "O" else self.statistics
        rows, cols = np.nonzero(missing)
        x[rows, cols] = stats[cols]
        return x


@dataclass(frozen=True)
class OneHot:
    """OneHotEncoder (no dropped or infrequent category): a 1.0 in the column of each known
    category; an unknown one is all zeros, or refused when the encoder refuses it."""

    categories: list[np.ndarray]
    refuse_unknown: bool

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        widths = [len(c) for c in self.categories]
        out = np.zeros((len(x), sum(widths)), dtype=np.float64)
        start = 0
        for i, known in enumerate(self.categories):
            numeric = known.dtype.kind == "f"
            index = {float(v) if numeric else str(v): j for j, v in enumerate(known.tolist())}
            for row, value in enumerate(x[:, i].tolist()):
                key = value
                number = isinstance(value, (int, float, np.integer, np.floating))
                if numeric and number and not isinstance(value, (bool, np.bool_)):
                    key = float(value)
                found = index.get(key) if isinstance(key, (str, float)) else None
                if found is None:
                    if self.refuse_unknown:
                        raise ValueError(f"Found unknown categories [{value!r}] in column {i}")
                    continue
                out[row, start + found] = 1.0
            start += widths[i]
        return out


@dataclass(frozen=True)
class Scaler:
    """StandardScaler: subtract the mean, then divide by the scale (each when fitted with it)."""

    mean: np.ndarray | None
    scale: np.ndarray | None

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.array(x, dtype=np.float64, copy=True)
        if self.mean is not None:
            x -= self.mean
        if self.scale is not None:
            x /= self.scale
        return x


@dataclass(frozen=True)
class Chain:
    """Steps applied in turn (a Pipeline of transformers); an empty chain passes data through."""

    steps: list[Any]

    def transform(self, x: Any) -> Any:
        for step in self.steps:
            x = step.transform(x)
        return x


@dataclass(frozen=True)
class Columns:
    """ColumnTransformer with a dense output: each chain on its columns, side by side."""

    parts: list[tuple[Chain, list[str]]]
    names_out: list[str]
    names_in: list[str]

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        outputs = []
        for chain, columns in self.parts:
            sub = frame[columns]
            outputs.append(sub if not chain.steps else chain.transform(sub.to_numpy()))
        return np.hstack(outputs)

    def get_feature_names_out(self, names: Any = None) -> np.ndarray:
        """The output columns' names, as scikit-learn gave them when the model was read."""
        if names is not None and list(names) != self.names_in:
            raise ValueError("input features differ from those the model was read with")
        return np.asarray(self.names_out, dtype=object)


# --- final estimators ------------------------------------------------------------------------


@dataclass(frozen=True)
class Trees:
    """Trees as flat node arrays (all trees together), scored as the estimator scores them:
    a boosted model's leaves scaled by its learning rate and added to its initial score in
    stage order, a forest's leaves summed in tree order and divided by the number of trees."""

    kind: str  # the scikit-learn class name
    roots: np.ndarray
    left: np.ndarray  # global node index; -1 at a leaf
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    value: np.ndarray  # nodes x outputs (a classifier's class shares, a regressor's value)
    classes_: np.ndarray | None
    learning_rate: float
    init: float
    allow_nan: bool

    @property
    def estimators_(self) -> list[Any]:
        """Each tree as scikit-learn's `tree_` arrays (core.explain.trees reads them)."""
        ends = [*self.roots[1:].tolist(), len(self.left)]
        return [_TreeView(self, int(a), b) for a, b in zip(self.roots.tolist(), ends, strict=True)]

    def _leaves(self, x: Any) -> np.ndarray:
        """The leaf of every (row, tree), as scikit-learn's trees reach it."""
        x32 = np.asarray(x, dtype=np.float32)
        _finite(x32, allow_nan=self.allow_nan)
        rows = np.repeat(np.arange(len(x32)), len(self.roots))
        node = np.tile(self.roots, len(x32))
        while True:
            inner = np.flatnonzero(self.left[node] >= 0)
            if not len(inner):
                break
            n = node[inner]
            values = x32[rows[inner], self.feature[n]]
            left = np.where(np.isnan(values), self.missing_left[n], values <= self.threshold[n])
            node[inner] = np.where(left, self.left[n], self.right[n])
        return node.reshape(len(x32), len(self.roots))

    def _summed(self, x: Any) -> np.ndarray:
        leaves = self._leaves(x)
        if self.kind in BOOSTED:
            out = np.full(len(leaves), self.init)
            for t in range(leaves.shape[1]):
                out += self.learning_rate * self.value[leaves[:, t], 0]
            return out[:, None]
        out = np.zeros((len(leaves), self.value.shape[1]))
        for t in range(leaves.shape[1]):
            out += self.value[leaves[:, t]]
        if not self.kind.startswith("DecisionTree"):
            out /= leaves.shape[1]
        return out

    def decision_function(self, x: Any) -> np.ndarray:
        """A boosted model's raw score (log-odds of classes_[1] for a classifier)."""
        if self.kind not in BOOSTED:
            raise AttributeError("decision_function")
        return self._summed(x).ravel()

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities, in classes_ order."""
        if self.classes_ is None:
            raise AttributeError("predict_proba")
        if self.kind in BOOSTED:
            from scipy.special import expit

            proba = np.empty((len(x), 2))
            proba[:, 1] = expit(self.decision_function(x))
            proba[:, 0] = 1 - proba[:, 1]
            return proba
        return self._summed(x)

    def predict(self, x: Any) -> np.ndarray:
        """A regressor's prediction."""
        if self.classes_ is not None:
            raise AttributeError("predict")
        return self._summed(x)[:, 0]


class _TreeView:
    """One tree of a Trees, with the attributes of scikit-learn's fitted `tree_`."""

    def __init__(self, trees: Trees, start: int, end: int) -> None:
        def local(children: np.ndarray) -> np.ndarray:
            part = children[start:end]
            return np.where(part < 0, part, part - start)

        self.tree_ = self
        self.node_count = end - start
        self.children_left, self.children_right = local(trees.left), local(trees.right)
        self.feature = trees.feature[start:end]
        self.threshold = trees.threshold[start:end]
        self.missing_go_to_left = trees.missing_left[start:end]
        self.value = trees.value[start:end][:, None, :]


@dataclass(frozen=True)
class Linear:
    """A linear model's margin X @ coef.T + intercept; a binary logistic model's probability is
    its sigmoid."""

    kind: str
    coef_: np.ndarray
    intercept_: np.ndarray | float
    classes_: np.ndarray | None

    def _margin(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        _finite(x, allow_nan=False)
        if self.kind == "LogisticRegression":
            scores = x @ self.coef_.T + self.intercept_
            return scores.reshape(-1) if scores.ndim > 1 and scores.shape[1] == 1 else scores
        return x @ self.coef_ + self.intercept_ if self.coef_.ndim == 1 else (
            x @ self.coef_.T + self.intercept_
        )  # fmt: skip

    def decision_function(self, x: Any) -> np.ndarray:
        """The margin (log-odds of classes_[1] for a binary logistic model)."""
        if self.classes_ is None:
            raise AttributeError("decision_function")
        return self._margin(x)

    def predict_proba(self, x: Any) -> np.ndarray:
        """A binary logistic model's class probabilities."""
        if self.classes_ is None:
            raise AttributeError("predict_proba")
        from scipy.special import expit

        prob = self._margin(x)
        prob = expit(prob, out=prob)
        return np.stack([1 - prob, prob], axis=1)

    def predict(self, x: Any) -> np.ndarray:
        """A regressor's prediction."""
        if self.classes_ is not None:
            raise AttributeError("predict")
        return self._margin(x)


# --- reading a fitted scikit-learn model -----------------------------------------------------


def read_transformer(step: Any, *, in_columns: bool) -> Any:
    """The plain step of a fitted scikit-learn transformer (Unsupported otherwise)."""
    name = _name(step)
    if name == "SimpleImputer":
        if not _is_nan(step.missing_values) or step.add_indicator:
            raise Unsupported("an imputer of values other than NaN, or with an indicator")
        stats = np.asarray(step.statistics_)
        to_float = step.strategy not in ("most_frequent", "constant")
        if stats.dtype.kind == "O":
            stats = _strings_or_numbers(stats)
        elif np.isnan(stats.astype(float)).any():
            raise Unsupported("an imputer with an empty column")
        return Imputer(stats, to_float)
    if name == "OneHotEncoder":
        if step.drop_idx_ is not None or getattr(step, "_infrequent_enabled", False):
            raise Unsupported("a one-hot encoder dropping or grouping categories")
        if step.dtype not in (np.float64, float) or (step.sparse_output and not in_columns):
            raise Unsupported("a one-hot encoder with another output type")
        cats = [_strings_or_numbers(np.asarray(c)) for c in step.categories_]
        return OneHot(cats, step.handle_unknown == "error")
    if name == "StandardScaler":
        mean = None if step.mean_ is None else np.asarray(step.mean_, dtype=float)
        scale = None if step.scale_ is None else np.asarray(step.scale_, dtype=float)
        return Scaler(mean, scale)
    if name == "Pipeline":
        return Chain([read_transformer(s, in_columns=in_columns) for _, s in _used(step.steps)])
    raise Unsupported(name)


def _used(steps: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [(n, s) for n, s in steps if s is not None and s != "passthrough"]


def read_columns(step: Any, names: list[str]) -> Columns:
    """A fitted ColumnTransformer with a dense output."""
    if step.sparse_output_:
        raise Unsupported("a sparse column transformer output")
    given = [str(n) for n in getattr(step, "feature_names_in_", names)]
    parts = []
    for _, transformer, columns in step.transformers_:
        picked = np.atleast_1d(np.asarray(columns))
        if transformer == "drop" or picked.size == 0:
            continue
        if picked.dtype.kind == "b":
            picked = np.flatnonzero(picked)
        chosen = [given[int(c)] if picked.dtype.kind in "iu" else str(c) for c in picked]
        if transformer == "passthrough":
            parts.append((Chain([]), chosen))
            continue
        plain = read_transformer(transformer, in_columns=True)
        parts.append((plain if isinstance(plain, Chain) else Chain([plain]), chosen))
    for chain, _ in parts:
        for s in chain.steps:
            if isinstance(s, OneHot) and not s.categories:
                raise Unsupported("an encoder without columns")
    return Columns(parts, [str(n) for n in step.get_feature_names_out(names)], names)


def read_estimator(est: Any, width: int) -> Any:
    """The plain final estimator of a fitted model (Unsupported otherwise)."""
    name = _name(est)
    classes = getattr(est, "classes_", None)
    plain_classes = None if classes is None else np.asarray([str(c) for c in classes])
    if name in LINEAR:
        coef = np.asarray(est.coef_, dtype=float)
        if classes is not None and (len(classes) != 2 or coef.shape[0] != 1):
            raise Unsupported("a multiclass linear model")
        if coef.shape[-1] != width or (coef.ndim == 2 and classes is None):
            raise Unsupported("a linear model with several outputs")
        intercept = est.intercept_
        intercept = np.asarray(intercept, dtype=float) if np.ndim(intercept) else float(intercept)
        return Linear(name, coef, intercept, plain_classes)
    if name in AVERAGED:
        trees = list(getattr(est, "estimators_", [est]))
        if getattr(est, "n_outputs_", 1) != 1:
            raise Unsupported("a multi-output forest")
        parts = [_tree_arrays(t.tree_, classifier=classes is not None) for t in trees]
        return _trees(name, parts, plain_classes, 1.0, 0.0, est, width)
    if name in BOOSTED:
        stages = est.estimators_
        if stages.shape[1] != 1:
            raise Unsupported("a multiclass boosted model")
        if classes is not None and _name(est._loss) != "HalfBinomialLoss":
            raise Unsupported("a boosted classifier with another loss")
        init = est._raw_predict_init(np.zeros((1, width), dtype=np.float32))
        if est.init_ != "zero" and _name(est.init_) not in ("DummyClassifier", "DummyRegressor"):
            raise Unsupported("a boosted model with its own initial estimator")
        parts = [_tree_arrays(t.tree_, classifier=False) for t in stages[:, 0]]
        rate = float(est.learning_rate)
        return _trees(name, parts, plain_classes, rate, float(init[0, 0]), est, width)
    raise Unsupported(name)


def _tree_arrays(t: Any, *, classifier: bool) -> tuple[np.ndarray, ...]:
    value = t.value[:, 0, :] if classifier else t.value[:, 0, :1]
    missing = getattr(t, "missing_go_to_left", np.zeros(t.node_count, dtype=bool))
    return (np.asarray(t.children_left, dtype=np.int64), np.asarray(t.children_right, np.int64),
            np.asarray(t.feature, np.int64), np.asarray(t.threshold, dtype=float),
            np.asarray(missing, dtype=bool), np.asarray(value, dtype=float))  # fmt: skip


def _trees(
    kind: str,
    parts: list[tuple[np.ndarray, ...]],
    classes: np.ndarray | None,
    rate: float,
    init: float,
    est: Any,
    width: int,
) -> Trees:
    sizes = [len(p[0]) for p in parts]
    offsets = np.cumsum([0, *sizes[:-1]]).astype(np.int64)
    shift = np.repeat(offsets, sizes)
    left, right, feature, threshold, missing, value = (
        np.concatenate([p[k] for p in parts]) for k in range(6)
    )
    leaf = left < 0
    return Trees(kind, offsets, np.where(leaf, -1, left + shift), np.where(leaf, -1, right + shift),
                 feature, threshold, missing, value, classes, rate, init,
                 _takes_nan(est, width))  # fmt: skip


def _takes_nan(est: Any, width: int) -> bool:
    """Whether the estimator scores a row with a missing value (else it refuses it)."""
    row = np.full((1, width), np.nan)
    try:
        (est.predict_proba if hasattr(est, "classes_") else est.predict)(row)
    except ValueError:
        return False
    return True


# --- saving: (spec, arrays) and back ---------------------------------------------------------


def dump(step: Any, arrays: Arrays, key: str) -> dict[str, Any]:
    """STEP as a JSON-able spec, its arrays added to ARRAYS under names starting with KEY."""

    def put(name: str, value: np.ndarray | None) -> str | None:
        if value is None:
            return None
        arrays[f"{key}.{name}"] = np.asarray(value)
        return f"{key}.{name}"

    if isinstance(step, Imputer):
        return {"step": "imputer", "statistics": put("statistics", step.statistics),
                "to_float": step.to_float}  # fmt: skip
    if isinstance(step, OneHot):
        cats = [put(f"categories{i}", c) for i, c in enumerate(step.categories)]
        return {"step": "one_hot", "categories": cats, "refuse_unknown": step.refuse_unknown}
    if isinstance(step, Scaler):
        return {"step": "scaler", "mean": put("mean", step.mean), "scale": put("scale", step.scale)}
    if isinstance(step, Chain):
        return {"step": "chain", "steps": [dump(s, arrays, f"{key}.{i}") for i, s in
                                           enumerate(step.steps)]}  # fmt: skip
    if isinstance(step, Columns):
        return {"step": "columns", "names_out": step.names_out, "names_in": step.names_in,
                "parts": [[dump(c, arrays, f"{key}.{i}"), cols] for i, (c, cols) in
                          enumerate(step.parts)]}  # fmt: skip
    if isinstance(step, Trees):
        nodes = {f: put(f, getattr(step, f)) for f in TREE_ARRAYS}
        return {"step": "trees", "kind": step.kind, "classes": put("classes", step.classes_),
                "learning_rate": step.learning_rate, "init": step.init,
                "allow_nan": step.allow_nan, "nodes": nodes}  # fmt: skip
    if isinstance(step, Linear):
        intercept = step.intercept_
        return {"step": "linear", "kind": step.kind, "coef": put("coef", step.coef_),
                "intercept": put("intercept", intercept) if isinstance(intercept, np.ndarray)
                else intercept, "classes": put("classes", step.classes_)}  # fmt: skip
    raise Unsupported(type(step).__name__)


def build(spec: dict[str, Any], arrays: Any) -> Any:
    """A step from its spec and the saved arrays (the inverse of dump)."""

    def get(name: str | None) -> np.ndarray | None:
        return None if name is None else arrays[name]

    kind = spec["step"]
    if kind == "imputer":
        return Imputer(arrays[spec["statistics"]], spec["to_float"])
    if kind == "one_hot":
        return OneHot([arrays[c] for c in spec["categories"]], spec["refuse_unknown"])
    if kind == "scaler":
        return Scaler(get(spec["mean"]), get(spec["scale"]))
    if kind == "chain":
        return Chain([build(s, arrays) for s in spec["steps"]])
    if kind == "columns":
        parts = [(build(c, arrays), list(cols)) for c, cols in spec["parts"]]
        return Columns(parts, spec["names_out"], spec["names_in"])
    if kind == "trees":
        nodes = {f: arrays[name] for f, name in spec["nodes"].items()}
        return Trees(kind=spec["kind"], classes_=get(spec["classes"]),
                     learning_rate=spec["learning_rate"], init=spec["init"],
                     allow_nan=spec["allow_nan"], **nodes)  # fmt: skip
    if kind == "linear":
        intercept = spec["intercept"]
        return Linear(spec["kind"], arrays[spec["coef"]],
                      arrays[intercept] if isinstance(intercept, str) else intercept,
                      get(spec["classes"]))  # fmt: skip
    raise ValueError(f"unknown step {kind!r}")
