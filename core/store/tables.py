"""Registry and workflow tables (SQLModel). Analytic log tables live in core.store.log_tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

STAGES = ("registered", "in_review", "approved", "rejected", "production", "archived")


def utcnow() -> datetime:
    """Now, timezone-aware, as SQLModel on DuckDB requires."""
    return datetime.now(UTC)


def _id_column(name: str) -> Any:
    seq = sa.Sequence(f"{name}_id_seq")
    return Field(
        default=None,
        sa_column=sa.Column(sa.Integer, seq, server_default=seq.next_value(), primary_key=True),
    )


def _json_column() -> Any:
    return Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))


class Model(SQLModel, table=True):
    """A model as the business knows it; versions hang off it."""

    __tablename__ = "model"
    id: int | None = _id_column("model")
    name: str = Field(sa_column=sa.Column(sa.String, unique=True, nullable=False))
    task: str
    positive_label: str | None = None
    # A multiclass model's classes as the model file names them; y of its rows is an index here.
    classes: list[str] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    description: str = ""
    owner: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    settings: dict[str, Any] = _json_column()


class ModelVersion(SQLModel, table=True):
    """One trained version with its lineage, baseline schema and reference metrics."""

    __tablename__ = "model_version"
    id: int | None = _id_column("model_version")
    model_id: int = Field(index=True)
    version: int
    stage: str = "registered"
    created_by: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    description: str = ""
    git_sha: str | None = None
    artifact_path: str | None = None
    artifact_sha256: str | None = None
    artifact_format: str | None = None
    # The model file's class scored as positive, where it differs from the outcome label
    # (a model trained on 0/1 for outcomes that read 'bad'/'good'); None: the positive label.
    positive_class: str | None = None
    data_sha256: str = ""
    data_rows: int = 0
    data_columns: dict[str, Any] = _json_column()
    target_column: str = ""
    prediction_column: str = ""
    id_column: str = "request_id"
    timestamp_column: str = "timestamp"
    feature_schema: dict[str, Any] = _json_column()
    metrics: dict[str, Any] = _json_column()


class FeatureColumn(SQLModel, table=True):
    """Maps a feature name as users spell it to a safe column in the model's log tables."""

    __tablename__ = "feature_column"
    model_id: int = Field(primary_key=True)
    name: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)
    column: str


class User(SQLModel, table=True):
    """A person who signs in; the password is stored only as an argon2 hash."""

    __tablename__ = "app_user"
    id: int | None = _id_column("app_user")
    username: str = Field(sa_column=sa.Column(sa.String, unique=True, nullable=False))
    role: str
    password_hash: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class AuditEvent(SQLModel, table=True):
    """Append-only record of who did what, chained by hashes."""

    __tablename__ = "audit_event"
    id: int | None = _id_column("audit_event")
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    actor: str
    role: str = ""
    action: str
    model: str | None = None
    version: int | None = None
    before_state: dict[str, Any] = _json_column()
    after_state: dict[str, Any] = _json_column()
    prev_hash: str = ""
    hash: str = ""


class Alert(SQLModel, table=True):
    """A drift or performance signal that stayed past its threshold; open until it clears."""

    __tablename__ = "alert"
    id: int | None = _id_column("alert")
    model_id: int = Field(index=True)
    version: int
    kind: str  # "drift" | "prediction_drift" | "multivariate" | "performance"
    subject: str  # the feature or metric
    since: datetime = Field(sa_type=sa.DateTime(timezone=True))
    last_seen: datetime = Field(sa_type=sa.DateTime(timezone=True))
    severity: str
    reason: str
    value: float | None = None
    threshold: float | None = None
    status: str = "open"  # "open" | "acknowledged" | "resolved"
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    resolved_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class BusinessCaseRevision(SQLModel, table=True):
    """One saved version of a model's business case (the current one is mirrored in settings)."""

    __tablename__ = "business_case_revision"
    id: int | None = _id_column("business_case_revision")
    model_id: int = Field(index=True)
    revision: int
    case: dict[str, Any] = _json_column()
    saved_by: str
    saved_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class Review(SQLModel, table=True):
    """A request to put a version live, with the evidence frozen when it was asked for."""

    __tablename__ = "review"
    id: int | None = _id_column("review")
    model_id: int = Field(index=True)
    version: int
    requested_by: str
    requested_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    evidence: dict[str, Any] = _json_column()
    evidence_sha256: str
    status: str = "open"  # "open" | "approved" | "rejected" | "changes_requested" | "stale"


class SignOff(SQLModel, table=True):
    """One person's decision on a review, tied to the evidence hash they saw."""

    __tablename__ = "sign_off"
    id: int | None = _id_column("sign_off")
    review_id: int = Field(index=True)
    username: str
    role: str
    decision: str  # "approve" | "reject" | "request_changes"
    comment: str
    evidence_sha256: str
    signed_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class Promotion(SQLModel, table=True):
    """Each time a version went live, and which one it replaced (for rollback)."""

    __tablename__ = "promotion"
    id: int | None = _id_column("promotion")
    model_id: int = Field(index=True)
    version: int
    previous_version: int | None = None
    promoted_by: str
    promoted_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    kind: str = "promote"  # "promote" | "rollback"
