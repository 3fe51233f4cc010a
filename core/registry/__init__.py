"""Models and their versions: registration, reference baseline, feature schemas, model files."""

import importlib
from typing import TYPE_CHECKING, Any

from core.registry.lookups import (
    ModelRef,
    VersionSummary,
    features_of,
    find_model,
    get_model,
    get_version,
    list_models,
    list_versions,
    refuse_multiclass,
    scoring_class,
    version_summaries,
)
from core.registry.opening import Opening, challenger_versions, opening_version

if TYPE_CHECKING:
    from core.registry.registration import (
        Registration,
        RegistrationSpec,
        reference_frame,
        register_version,
    )
    from core.registry.targets import label_to_y_sql

# Registration reads files with numpy, pandas and scikit-learn; the lookups need none of them.
# Its names are imported on first use, so `production` or `versions` load only the lookups.
_ON_FIRST_USE = {
    **{
        name: "core.registry.registration"
        for name in ("Registration", "RegistrationSpec", "reference_frame", "register_version")
    },
    "label_to_y_sql": "core.registry.targets",
}


def __getattr__(name: str) -> Any:
    """An exported name whose module is imported on first use."""
    if name not in _ON_FIRST_USE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_ON_FIRST_USE[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "Registration",
    "RegistrationSpec",
    "ModelRef",
    "VersionSummary",
    "find_model",
    "version_summaries",
    "get_model",
    "get_version",
    "list_models",
    "list_versions",
    "Opening",
    "opening_version",
    "challenger_versions",
    "features_of",
    "scoring_class",
    "refuse_multiclass",
    "register_version",
    "label_to_y_sql",
    "reference_frame",
    "artifacts",
    "pickle_files",
    "reproduction",
    "feature_metadata",
    "features",
    "classes",
    "targets",
]
