"""The demo store, built once per session for the scenario tests of both its models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from core.store import Store
from data.build_demo import build_demo


@dataclass(frozen=True)
class BuiltDemo:
    """A demo store of 120 days at 800 credit applications a day and the default demo's tickets
    (about 425 a day: the ticket-triage model is the one `make run` shows), and what build_demo
    said it built."""

    store: Store
    summary: dict[str, Any]


@pytest.fixture(scope="session")
def built_demo(tmp_path_factory: pytest.TempPathFactory) -> BuiltDemo:
    store = Store(tmp_path_factory.mktemp("demo") / "demo.duckdb", lock_wait_seconds=30)
    return BuiltDemo(store, build_demo(store, days=120, per_day=800, tickets=425, quiet=True))
