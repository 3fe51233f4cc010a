"""Which version every page opens on, and which versions may be compared with it as challengers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.registry.lookups import list_versions

if TYPE_CHECKING:
    from core.store import Model, ModelVersion, Work


@dataclass(frozen=True)
class Opening:
    """The version the pages open on, whether it is the live one, and a sentence saying which."""

    version: ModelVersion
    live: bool
    caption: str


def opening_version(w: Work, *, model: Model) -> Opening:
    """The live version; while it has logged nothing, the version that logged the latest traffic.

    Right after a promotion the new version has no traffic yet, and showing only its (empty)
    logs would blank the pages while alerts and outcomes still speak of the old one.
    """
    from core.store import log_tables

    assert model.id is not None
    versions = list_versions(w, model=model)  # newest first
    live = next((v for v in versions if v.stage == "production"), None)
    newest = live or versions[0]
    table = log_tables.pred_table(model.id)
    # Cheap in the usual case: the first logged row of the newest version ends the scan; only
    # a version with no traffic pays for finding which version logged the latest request.
    logged = w.rows(f"SELECT 1 FROM {table} WHERE version = ? LIMIT 1", [newest.version])
    latest = None if logged else w.rows(f"SELECT arg_max(version, ts) FROM {table}")[0][0]
    if latest is not None:
        shown = next(v for v in versions if v.version == latest)
        why = "is live" if live else "is the newest"
        return Opening(
            shown,
            False,
            f"v{newest.version} {why} but has logged no decisions yet; showing v{shown.version} "
            f"({shown.stage.replace('_', ' ')}), which logged the latest ones.",
        )
    if live:
        return Opening(live, True, f"Live version: v{live.version} (production)")
    return Opening(
        newest,
        False,
        "No version is live yet: none has been promoted to production. Showing the newest, "
        f"v{newest.version} ({newest.stage.replace('_', ' ')}).",
    )


def challenger_versions(w: Work, *, model: Model, champion: ModelVersion) -> list[ModelVersion]:
    """Versions to compare with CHAMPION: others with a model file, not archived or rejected."""
    return [
        v
        for v in list_versions(w, model=model)
        if v.version != champion.version
        and v.artifact_path
        and v.stage not in ("archived", "rejected")
    ]
