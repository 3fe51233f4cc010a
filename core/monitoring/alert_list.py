"""Stored alerts as plain records: what `modelbridge alerts` lists and the dashboard shows, and
whether they are current.

Portable SQL on any catalog reader (a light `Store.catalog_read` included), so listing loads
neither the data libraries nor SQLModel; core.monitoring.alerts opens and resolves them. Each
refresh stores the basis it judged (`alerts_basis`): while the basis is unchanged, the stored
alerts are what a refresh would find, and a listing need not compute drift again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from core.store import CatalogReader, get_meta, utc

if TYPE_CHECKING:
    from core.registry import ModelRef
    from core.store import Model

COLUMNS = (
    "id", "kind", "subject", "version", "since", "last_seen", "severity", "reason", "value",
    "threshold", "status", "acknowledged_by",
)  # fmt: skip


def alert_record(alert: Mapping[str, Any]) -> dict[str, Any]:
    """One alert's columns as the record the CLI, the pages and the webhooks send."""
    kind, subject = alert["kind"], alert["subject"]
    return {
        "id": alert["id"],
        "kind": kind,
        "feature": subject if kind in ("drift", "prediction_drift") else None,
        "metric": subject if kind == "performance" else None,
        "subject": subject,
        "version": alert["version"],
        "since": utc(alert["since"]).isoformat() if alert["since"] else None,
        "last_seen": utc(alert["last_seen"]).isoformat() if alert["last_seen"] else None,
        "severity": alert["severity"],
        "reason": alert["reason"],
        "value": alert["value"],
        "threshold": alert["threshold"],
        "status": alert["status"],
        "acknowledged_by": alert["acknowledged_by"],
    }


def list_alerts(
    w: CatalogReader, *, model: ModelRef | Model, open_only: bool = False
) -> list[dict[str, Any]]:
    """A model's alerts, newest first, as plain records."""
    status = "AND status IN ('open', 'acknowledged') " if open_only else ""
    found = w.catalog(
        f"SELECT {', '.join(COLUMNS)} FROM alert WHERE model_id = :model {status}"
        "ORDER BY since DESC, id DESC",
        {"model": model.id},
    )
    return [alert_record(dict(zip(COLUMNS, row, strict=True))) for row in found]


def alerts_basis(w: CatalogReader, *, model: ModelRef | Model) -> str:
    """What a refresh of the model's alerts judges: its batches of logs and labels, its versions
    and their stages, and its settings, as one value that changes whenever any of them does."""
    found = w.catalog(
        "SELECT (SELECT count(*) FROM batch WHERE model_id = :model), "
        "(SELECT max(created_at) FROM batch WHERE model_id = :model), "
        "(SELECT max(version) FROM model_version WHERE model_id = :model), "
        "(SELECT max(version) FROM model_version WHERE model_id = :model "
        " AND stage = 'production'), "
        "(SELECT CAST(settings AS VARCHAR) FROM model WHERE id = :model)",
        {"model": model.id},
    ).one()
    return json.dumps([None if v is None else str(v) for v in found])


def basis_key(model: ModelRef | Model) -> str:
    """The store_meta key under which a refresh keeps the basis it judged."""
    return f"alerts_basis:{model.id}"


def alerts_current(w: CatalogReader, *, model: ModelRef | Model) -> bool:
    """Whether the stored alerts were judged on what the store holds now (no batch, version,
    promotion or settings change since the last refresh)."""
    return get_meta(w, key=basis_key(model)) == alerts_basis(w, model=model)
