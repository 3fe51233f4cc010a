"""Models and their versions: registration, reference baseline, feature schemas, model files."""

from core.registry.lookups import (
    features_of,
    get_model,
    get_version,
    list_models,
    list_versions,
    scoring_class,
)
from core.registry.opening import Opening, challenger_versions, opening_version
from core.registry.registration import (
    Registration,
    RegistrationSpec,
    label_to_y_sql,
    reference_frame,
    register_version,
)

__all__ = [
    "Registration",
    "RegistrationSpec",
    "get_model",
    "get_version",
    "list_models",
    "list_versions",
    "Opening",
    "opening_version",
    "challenger_versions",
    "features_of",
    "scoring_class",
    "register_version",
    "label_to_y_sql",
    "reference_frame",
    "artifacts",
    "pickle_files",
    "reproduction",
    "feature_metadata",
    "features",
]
