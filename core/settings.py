"""Where the store lives and how long we wait for it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DB = Path("data") / "modelbridge.duckdb"
CATALOG_URL_PREFIXES = ("postgresql://", "postgresql+psycopg://")


def cache_folder() -> Path:
    """This machine's cache: MODELBRIDGE_CACHE, else modelbridge/ in the user's cache folder
    (XDG_CACHE_HOME, else ~/.cache)."""
    given = os.environ.get("MODELBRIDGE_CACHE")
    if given:
        return Path(given)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "modelbridge"


def is_catalog_url(target: str | os.PathLike[str]) -> bool:
    """Whether TARGET names a team catalog (a PostgreSQL URL) rather than a DuckDB file."""
    return str(target).startswith(CATALOG_URL_PREFIXES)


@dataclass(frozen=True)
class Settings:
    """Runtime settings, read from the environment once."""

    db: str
    lock_wait_seconds: float = 30.0
    # What counts a team store's days (core.aggregates.day_counts): "duckdb" or "spark".
    engine: str = "duckdb"

    @staticmethod
    def audit_key_from_env() -> bytes | None:
        """The audit trail's signing key, MODELBRIDGE_AUDIT_KEY (None when unset)."""
        key = os.environ.get("MODELBRIDGE_AUDIT_KEY", "")
        return key.encode() if key else None

    @classmethod
    def from_env(cls, db: str | os.PathLike[str] | None = None) -> Settings:
        """Settings from an explicit store (a DuckDB file or a PostgreSQL URL), else
        MODELBRIDGE_DB, else data/modelbridge.duckdb."""
        target = str(db or os.environ.get("MODELBRIDGE_DB") or DEFAULT_DB)
        if not is_catalog_url(target):
            target = str(Path(target).expanduser())
        wait = float(os.environ.get("MODELBRIDGE_LOCK_WAIT", "30"))
        engine = os.environ.get("MODELBRIDGE_ENGINE") or "duckdb"
        return cls(db=target, lock_wait_seconds=wait, engine=engine)
