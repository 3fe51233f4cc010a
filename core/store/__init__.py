"""The store: connections and units of work (Store, Work), catalog tables, per-model log tables."""

import importlib
from typing import TYPE_CHECKING, Any

from core.store.engine import (
    Store,
    Work,
    retry_on_conflict,
)
from core.store.portable import CatalogRead, CatalogReader, json_value, utc
from core.store.schema import SCHEMA_VERSION, get_meta, put_meta
from core.store.team import TeamStore, open_store

if TYPE_CHECKING:
    from core.store.tables import (
        STAGES,
        Alert,
        AuditEvent,
        BusinessCaseRevision,
        FeatureColumn,
        Model,
        ModelVersion,
        Promotion,
        Review,
        SignOff,
        User,
        utcnow,
    )

# The table classes load SQLModel (pydantic and SQLAlchemy): imported on first use, so that a
# light catalog read (Store.catalog_read) runs without them.
_ON_FIRST_USE = {
    name: "core.store.tables"
    for name in (
        "STAGES",
        "Alert",
        "AuditEvent",
        "BusinessCaseRevision",
        "FeatureColumn",
        "Model",
        "ModelVersion",
        "Promotion",
        "Review",
        "SignOff",
        "User",
        "utcnow",
    )
}


def __getattr__(name: str) -> Any:
    """An exported name whose module is imported on first use."""
    if name not in _ON_FIRST_USE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_ON_FIRST_USE[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "SCHEMA_VERSION",
    "Work",
    "Store",
    "TeamStore",
    "CatalogRead",
    "CatalogReader",
    "open_store",
    "retry_on_conflict",
    "get_meta",
    "put_meta",
    "json_value",
    "utc",
    "STAGES",
    "utcnow",
    "Model",
    "ModelVersion",
    "FeatureColumn",
    "User",
    "AuditEvent",
    "Alert",
    "BusinessCaseRevision",
    "Review",
    "SignOff",
    "Promotion",
    "log_tables",
]
