"""Human words for features: label, unit, description, actionable; and how to name the outcome.

Registered with a version (`register --feature-metadata FILE`, JSON or CSV) and editable by ML
engineers in the app. Without it, labels come from the column names and nothing is actionable.
JSON: {"outcome": "default risk", "population": "applicants", "features": {"income":
{"label": "Annual income", "unit": "EUR", "description": "...", "actionable": false}}}; a plain
{"income": {...}} mapping works too. CSV: columns feature, label, unit, description, actionable.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.errors import InvalidInput
from core.registry.features import schema_from_json
from core.store import ModelVersion
from core.words import default_label

_TRUE = {"1", "true", "yes", "y", "t"}


@dataclass(frozen=True)
class FeatureInfo:
    """How to talk about one feature."""

    label: str
    unit: str = ""
    description: str = ""
    actionable: bool = False


@dataclass(frozen=True)
class Vocabulary:
    """Feature words plus what the score means and who the reference population is."""

    features: dict[str, FeatureInfo]
    outcome: str
    population: str
    positive_outcome: str

    def info(self, name: str) -> FeatureInfo:
        """Words for a feature (defaults when it has none)."""
        return self.features.get(name) or FeatureInfo(default_label(name))


def vocabulary(version: ModelVersion, task: str) -> Vocabulary:
    """The version's registered words, with defaults for anything missing."""
    meta = version.feature_schema.get("metadata", {})
    names = [f.name for f in schema_from_json(version.feature_schema)]
    given = meta.get("features", {})
    features = {
        n: FeatureInfo(**{**asdict(FeatureInfo(default_label(n))), **given.get(n, {})})
        for n in names
    }
    outcome = meta.get("outcome") or (
        "the predicted risk" if task == "binary" else "the prediction"
    )
    population = meta.get("population") or "past cases"
    positive = meta.get("positive_outcome") or "had the positive outcome"
    return Vocabulary(features, outcome, population, positive)


def parse_file(path: Path, feature_names: list[str]) -> dict[str, Any]:
    """Read a metadata file (JSON or CSV) into the stored form, checking names and fields."""
    if not path.is_file():
        raise InvalidInput(f"{path}: feature metadata file not found")
    try:
        if path.suffix.lower() == ".csv":
            with path.open(newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                rows = list(reader)
            if "feature" not in (reader.fieldnames or []):
                raise InvalidInput(
                    f"{path}: a feature metadata CSV needs a 'feature' column "
                    "(and label, unit, description, actionable)"
                )
            raw: dict[str, Any] = {"features": {r.get("feature", ""): r for r in rows}}
        else:
            raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
        raise InvalidInput(f"{path}: not readable feature metadata ({exc})") from None
    if not isinstance(raw, dict):
        raise InvalidInput(f"{path}: feature metadata must be a JSON object")
    features = raw.get("features", raw)
    if not isinstance(features, dict):
        raise InvalidInput(f"{path}: 'features' must map feature names to their words")
    words = ("outcome", "population", "positive_outcome")
    features = {k: v for k, v in features.items() if k not in words}
    return clean({**{k: raw.get(k, "") for k in words}, "features": features}, feature_names)


def clean(meta: dict[str, Any], feature_names: list[str]) -> dict[str, Any]:
    """Validate metadata against the version's features; unknown names are refused."""
    unknown = sorted(set(meta.get("features", {})) - set(feature_names))
    if unknown:
        raise InvalidInput(f"feature metadata names unknown feature(s): {', '.join(unknown)}")
    features = {}
    for name, item in meta.get("features", {}).items():
        if not isinstance(item, dict):
            raise InvalidInput(f"feature metadata for {name!r} must be an object")
        actionable = item.get("actionable", False)
        features[name] = {
            "label": str(item.get("label") or default_label(name))[:80],
            "unit": str(item.get("unit") or "")[:20],
            "description": str(item.get("description") or "")[:500],
            "actionable": actionable
            if isinstance(actionable, bool)
            else str(actionable).strip().lower() in _TRUE,
        }
    return {
        "outcome": str(meta.get("outcome") or "")[:80],
        "population": str(meta.get("population") or "")[:80],
        "positive_outcome": str(meta.get("positive_outcome") or "")[:80],
        "features": features,
    }
