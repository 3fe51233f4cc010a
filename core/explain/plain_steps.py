"""The steps of a fitted scikit-learn model as plain NumPy arrays, each scoring as scikit-learn
1.9 does, operation for operation (same dtypes, same order of sums), so its figures are equal
to the bit. core.explain.from_sklearn reads a model into these steps; core.explain.plain_model
keeps and loads them.

Each step is saved as (spec, arrays): a JSON-able dict and named arrays of numbers or strings,
so that a saved step is read back without unpickling anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

LINEAR = ("LogisticRegression", "LinearRegression", "Ridge")
AVERAGED = (
    "RandomForestClassifier",
    "ExtraTreesClassifier",
    "RandomForestRegressor",
    "ExtraTreesRegressor",
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
)
BOOSTED = ("GradientBoostingClassifier", "GradientBoostingRegressor")
TREE_ARRAYS = ("roots", "left", "right", "feature", "threshold", "missing_left", "value")


class Unsupported(Exception):
    """A step this module does not mirror exactly."""


Arrays = dict[str, np.ndarray]


def _finite(x: np.ndarray, *, allow_nan: bool) -> None:
    """scikit-learn's check of a model input: infinity is refused, NaN unless ALLOW_NAN."""
    bad = np.isinf(x) if allow_nan else ~np.isfinite(x)
    if bad.any():
        raise ValueError("Input X contains infinity or NaN.")


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
        return (
            x @ self.coef_ + self.intercept_
            if self.coef_.ndim == 1
            else (x @ self.coef_.T + self.intercept_)
        )

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


# --- saving: (spec, arrays) and back ---------------------------------------------------------


def dump(step: Any, arrays: Arrays, key: str) -> dict[str, Any]:
    """STEP as a JSON-able spec, its arrays added to ARRAYS under names starting with KEY."""

    def put(name: str, value: np.ndarray | None) -> str | None:
        if value is None:
            return None
        arrays[f"{key}.{name}"] = np.asarray(value)
        return f"{key}.{name}"

    if isinstance(step, Imputer):
        return {
            "step": "imputer",
            "statistics": put("statistics", step.statistics),
            "to_float": step.to_float,
        }
    if isinstance(step, OneHot):
        cats = [put(f"categories{i}", c) for i, c in enumerate(step.categories)]
        return {"step": "one_hot", "categories": cats, "refuse_unknown": step.refuse_unknown}
    if isinstance(step, Scaler):
        return {"step": "scaler", "mean": put("mean", step.mean), "scale": put("scale", step.scale)}
    if isinstance(step, Chain):
        return {
            "step": "chain",
            "steps": [dump(s, arrays, f"{key}.{i}") for i, s in enumerate(step.steps)],
        }
    if isinstance(step, Columns):
        return {
            "step": "columns",
            "names_out": step.names_out,
            "names_in": step.names_in,
            "parts": [
                [dump(c, arrays, f"{key}.{i}"), cols] for i, (c, cols) in enumerate(step.parts)
            ],
        }
    if isinstance(step, Trees):
        nodes = {f: put(f, getattr(step, f)) for f in TREE_ARRAYS}
        return {
            "step": "trees",
            "kind": step.kind,
            "classes": put("classes", step.classes_),
            "learning_rate": step.learning_rate,
            "init": step.init,
            "allow_nan": step.allow_nan,
            "nodes": nodes,
        }
    if isinstance(step, Linear):
        intercept = step.intercept_
        return {
            "step": "linear",
            "kind": step.kind,
            "coef": put("coef", step.coef_),
            "intercept": put("intercept", intercept)
            if isinstance(intercept, np.ndarray)
            else intercept,
            "classes": put("classes", step.classes_),
        }
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
        return Trees(
            kind=spec["kind"],
            classes_=get(spec["classes"]),
            learning_rate=spec["learning_rate"],
            init=spec["init"],
            allow_nan=spec["allow_nan"],
            **nodes,
        )
    if kind == "linear":
        intercept = spec["intercept"]
        return Linear(
            spec["kind"],
            arrays[spec["coef"]],
            arrays[intercept] if isinstance(intercept, str) else intercept,
            get(spec["classes"]),
        )
    raise ValueError(f"unknown step {kind!r}")
