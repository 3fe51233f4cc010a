"""The store: connections and units of work (Store, Work), catalog tables, per-model log tables."""

from core.store.engine import (
    SCHEMA_VERSION,
    Store,
    Work,
    retry_on_conflict,
)
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

__all__ = [
    "SCHEMA_VERSION",
    "Work",
    "Store",
    "retry_on_conflict",
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
