"""Where the store lives, how long we wait for it, how long an explanation may take."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import InvalidInput

DEFAULT_DB = Path("data") / "modelbridge.duckdb"


@dataclass(frozen=True)
class Settings:
    """Runtime settings, read from the environment once."""

    db_path: Path
    lock_wait_seconds: float = 30.0
    explain_budget_seconds: float = 2.0

    @staticmethod
    def audit_key_from_env() -> bytes | None:
        """The audit trail's signing key, MODELBRIDGE_AUDIT_KEY (None when unset)."""
        key = os.environ.get("MODELBRIDGE_AUDIT_KEY", "")
        return key.encode() if key else None

    @classmethod
    def from_env(cls, db: str | os.PathLike[str] | None = None) -> Settings:
        """Settings from an explicit path, else MODELBRIDGE_DB, else data/modelbridge.duckdb."""
        path = db or os.environ.get("MODELBRIDGE_DB") or DEFAULT_DB
        wait = float(os.environ.get("MODELBRIDGE_LOCK_WAIT", "30"))
        budget = os.environ.get("MODELBRIDGE_EXPLAIN_BUDGET", "2")
        return cls(
            db_path=Path(path).expanduser(),
            lock_wait_seconds=wait,
            explain_budget_seconds=positive_seconds(budget, "MODELBRIDGE_EXPLAIN_BUDGET"),
        )


def positive_seconds(value: object, name: str) -> float:
    """VALUE as a finite number of seconds above 0 (InvalidInput naming NAME otherwise)."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise InvalidInput(f"{name} must be a number of seconds above 0, not {value!r}")
    return seconds
