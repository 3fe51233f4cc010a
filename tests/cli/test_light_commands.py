"""The commands a serving system or a pipeline polls answer from the catalog alone: they import
no data library (pandas, numpy, scikit-learn, scipy), no password hasher and neither SQLAlchemy
nor SQLModel, which cost seconds before the first line of output on a two-core machine (issue
18)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core import workflow
from core.auth import Identity
from core.ingest import ingest_predictions
from core.monitoring import alerts
from core.monitoring.policy import update_settings
from core.store import SCHEMA_VERSION, Store, put_meta
from tests.conftest import ROOT
from tests.factories import Case

HEAVY = (
    "pandas", "numpy", "sklearn", "scipy", "shap", "skops", "plotly", "argon2", "pyarrow",
    "sqlalchemy", "sqlmodel", "pydantic", "psycopg",
)  # fmt: skip


def _libraries_loaded_by(argv: list[str]) -> tuple[object, list[str]]:
    """Run `modelbridge ARGV` in a fresh interpreter; its exit code and the heavy libraries
    it imported."""
    check = (
        "import json, sys\nfrom core.cli import main\n"
        f"code = main({argv!r})\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})\n"
        "print(json.dumps([code, heavy]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    code, heavy = json.loads(done.stdout.splitlines()[-1])
    return code, heavy


@pytest.mark.parametrize(
    ("argv", "expected_code"),
    [
        (["versions", "credit"], 0),
        (["production", "credit"], 2),  # nothing promoted yet: a one-line error, still light
        (["gate", "credit", "1"], 2),  # no review open yet
        (["audit", "verify"], 0),
        (["audit", "head"], 0),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else str(value),
)
def test_polled_commands_import_no_data_library(
    credit_store: Store, argv: list[str], expected_code: int
) -> None:
    code, heavy = _libraries_loaded_by([*argv, "--db", str(credit_store.path), "--json"])

    assert code == expected_code
    assert heavy == []


def test_production_of_a_live_model_answers_without_a_data_library(credit_store: Store) -> None:
    engineer, owner = Identity("engineer", "ml_engineer"), Identity("owner", "product_owner")
    update_settings(
        credit_store, model="credit", changes={"gates.latency_budget_ms": 10_000}, by=owner
    )
    workflow.request_review(credit_store, model="credit", version=1, by=engineer)
    workflow.sign(
        credit_store, model="credit", version=1, by=owner, decision="approve", comment="ok"
    )
    workflow.promote(credit_store, model="credit", version=1, by=owner)

    code, heavy = _libraries_loaded_by(
        ["production", "credit", "--db", str(credit_store.path), "--json"]
    )

    assert (code, heavy) == (0, [])


def test_alerts_list_without_re_checking_while_nothing_changed_since_the_last_check(
    credit_store: Store, binary_files: Case
) -> None:
    db = ["--db", str(credit_store.path), "--json"]
    alerts.refresh(credit_store, model="credit")

    assert _libraries_loaded_by(["alerts", "credit", "--open", *db]) == (0, [])

    ingest_predictions(credit_store, model="credit", files=[binary_files.logs])
    code, heavy = _libraries_loaded_by(["alerts", "credit", "--open", *db])

    assert code == 0
    assert {"pandas", "sqlmodel"} <= set(heavy)  # new logs: drift and performance re-checked
    assert _libraries_loaded_by(["alerts", "credit", "--open", *db]) == (0, [])
    assert _libraries_loaded_by(["alerts", "credit", "--refresh", *db])[1] != []


def test_a_light_command_on_a_store_of_a_newer_release_says_so_in_one_line(
    credit_store: Store,
) -> None:
    with credit_store.write() as w:
        put_meta(w, key="schema_version", value=str(SCHEMA_VERSION + 1))
    check = (
        "from core.cli import main\n"
        f"raise SystemExit(main(['versions', 'credit', '--db', {str(credit_store.path)!r}]))"
    )

    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 2
    assert done.stderr == (
        "modelbridge: error: This store was written by a newer ModelBridge (schema "
        f"{SCHEMA_VERSION + 1}, this release reads up to {SCHEMA_VERSION}); upgrade modelbridge "
        "to open it.\n"
    )


def test_alerts_retries_waiting_webhook_events_even_when_nothing_changed(
    credit_store: Store,
) -> None:
    alerts.refresh(credit_store, model="credit")
    with credit_store.write() as w:
        w.catalog(
            "INSERT INTO webhook_outbox (id, created_at, payload) "
            "VALUES ('e1', now() AT TIME ZONE 'UTC', '{}')"
        )

    def attempts(*flags: str) -> int:
        check = (
            "import os\nfrom core.cli import main\n"
            f"os.environ['MODELBRIDGE_WEBHOOK_URL'] = 'http://127.0.0.1:{_closed_port()}/hook'\n"
            f"main(['alerts', 'credit', {', '.join(map(repr, flags))}, "
            f"'--db', {str(credit_store.path)!r}, '--json'])"
        )
        done = subprocess.run(
            [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        with credit_store.read() as r:
            return int(r.catalog("SELECT attempts FROM webhook_outbox WHERE id = 'e1'").scalar())

    assert attempts("--open") == 1  # the endpoint is down: tried, kept for the next run
    assert attempts("--open") == 2
    assert attempts("--open", "--no-refresh") == 2  # lists what is stored, nothing else


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
