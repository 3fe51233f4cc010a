"""The store: connections and units of work (Store, Work), catalog tables, per-model log tables."""

from core.store.engine import (
    Store,
    Work,
    retry_on_conflict,
)
from core.store.schema import SCHEMA_VERSION, get_meta, put_meta
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
from core.store.team import TeamStore, open_store

__all__ = [
    "SCHEMA_VERSION",
    "Work",
    "Store",
    "TeamStore",
    "open_store",
    "retry_on_conflict",
    "get_meta",
    "put_meta",
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
