"""Alerts: opened after consecutive windows past threshold, resolved when the signal clears,
acknowledged by the right roles, and announced to a webhook that may be down."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlmodel import select

from core.auth import Identity
from core.errors import InvalidInput, PermissionDenied
from core.ingest import ingest_predictions
from core.monitoring import alerts, webhooks
from core.monitoring.policy import update_settings
from core.registry import RegistrationSpec, get_model, register_version
from core.store import AuditEvent, Store
from tests.conftest import copy_store

ENGINEER = Identity("erin", "ml_engineer")
OWNER = Identity("olga", "product_owner")
EXPERT = Identity("dora", "domain_expert")
DAYS = pd.date_range("2026-03-02", periods=8, freq="D", tz="UTC")
PER_DAY = 300


def _reference(folder: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x": rng.normal(0, 1, 2000),
            "c": rng.choice(["a", "b"], 2000),
            "score": rng.uniform(0, 1, 2000),
        }
    )
    frame["target"] = (rng.random(2000) < frame["score"]).astype(int)
    path = folder / f"reference-{seed}.parquet"
    frame.to_parquet(path)
    return path


def _register(store: Store, folder: Path, seed: int) -> None:
    register_version(store, spec=RegistrationSpec(
        model="m", reference=_reference(folder, seed), target="target", prediction="score",
        task="binary",
    ))  # fmt: skip


def _log_day(store: Store, folder: Path, day: int, x_mean: float) -> None:
    """PER_DAY rows on DAYS[day]; x drawn around X_MEAN (the reference has 0, sd 1)."""
    rng = np.random.default_rng(100 + day)
    frame = pd.DataFrame(
        {
            "x": rng.normal(x_mean, 1, PER_DAY),
            "c": rng.choice(["a", "b"], PER_DAY),
            "score": rng.uniform(0, 1, PER_DAY),
            "timestamp": pd.date_range(DAYS[day], periods=PER_DAY, freq="4min"),
            "request_id": [f"d{day}-{i}" for i in range(PER_DAY)],
        }
    )
    path = folder / f"day-{day}.parquet"
    frame.to_parquet(path)
    [result] = ingest_predictions(store, model="m", files=[path])
    assert result.rows_ingested == PER_DAY


@pytest.fixture(scope="module")
def three_clean_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file: model 'm' judged per day, three days logged like its reference."""
    folder = tmp_path_factory.mktemp("alerts")
    store = Store(folder / "store.duckdb", lock_wait_seconds=10)
    store.init()
    _register(store, folder, seed=0)
    update_settings(store, model="m", changes={"alerts.period": "D"}, by=ENGINEER)
    for day in range(3):
        _log_day(store, folder, day, x_mean=0.0)
    return store.path


def _copy(path: Path, folder: Path) -> Store:
    return copy_store(path, folder, lock_wait_seconds=10)


@pytest.fixture(scope="module")
def two_drifted_days(three_clean_days: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file: the three clean days, then two days with x moved by one sd, refreshed."""
    folder = tmp_path_factory.mktemp("drifted")
    store = _copy(three_clean_days, folder)
    for day in (3, 4):
        _log_day(store, folder, day, x_mean=1.0)
    alerts.refresh(store, model="m")
    return store.path


@pytest.fixture
def monitored(three_clean_days: Path, tmp_path: Path) -> Store:
    """A fresh copy of the three-clean-days store for one test."""
    return _copy(three_clean_days, tmp_path)


@pytest.fixture
def drifting(two_drifted_days: Path, tmp_path: Path) -> Store:
    """A fresh copy of the store with an open alert on x."""
    store = _copy(two_drifted_days, tmp_path)
    assert len(_x_alerts(store)) == 1
    return store


def _open(store: Store) -> list[dict]:
    with store.read() as r:
        return alerts.list_alerts(r, model=get_model(r, name="m"), open_only=True)


def _x_alerts(store: Store) -> list[dict]:
    with store.read() as r:
        return [
            a
            for a in alerts.list_alerts(r, model=get_model(r, name="m"))
            if (a["kind"], a["feature"]) == ("drift", "x")
        ]


def _outbox(store: Store) -> list[tuple[dict, object, int, str | None]]:
    with store.read() as r:
        rows = r.rows(
            "SELECT payload, delivered_at, attempts, last_error FROM webhook_outbox "
            "ORDER BY created_at, id"
        )
    return [(json.loads(p), d, a, e) for p, d, a, e in rows]


def test_clean_windows_open_no_alert(monitored: Store) -> None:
    outcome = alerts.refresh(monitored, model="m")

    assert outcome.opened == []
    assert _open(monitored) == []
    assert _outbox(monitored) == []


def test_one_window_past_threshold_opens_nothing_but_two_in_a_row_open_an_alert(
    monitored: Store, tmp_path: Path
) -> None:
    _log_day(monitored, tmp_path, 3, x_mean=1.0)
    assert alerts.refresh(monitored, model="m").opened == []
    assert _x_alerts(monitored) == []

    _log_day(monitored, tmp_path, 4, x_mean=1.0)
    outcome = alerts.refresh(monitored, model="m")

    [alert] = _x_alerts(monitored)
    assert alert["id"] in outcome.opened
    assert alert["status"] == "open"
    assert alert["since"] == "2026-03-05T00:00:00+00:00"
    assert alert["last_seen"] == "2026-03-06T00:00:00+00:00"
    assert alert["severity"] == "medium"  # Wasserstein about 1, over twice its threshold
    assert alert["value"] > 0.8
    # Calibrated on the 2,000-row reference for 300-row windows: well above the minimum effect.
    assert 0.15 < alert["threshold"] < 0.3
    assert re.match(
        r"^Input 'x' drifted from the reference \(wasserstein \d\.\d+ above its usual range "
        r"0\.\d+–0\.\d+ and above the minimum effect 0\.05\) for 2 windows",
        alert["reason"],
    ), alert["reason"]
    assert alert["reason"].endswith("for 2 windows in a row since 2026-03-05.")


def test_the_number_of_windows_in_a_row_is_a_model_setting(
    monitored: Store, tmp_path: Path
) -> None:
    update_settings(monitored, model="m", changes={"alerts.consecutive": "3"}, by=ENGINEER)
    for day in (3, 4):
        _log_day(monitored, tmp_path, day, x_mean=1.0)
    alerts.refresh(monitored, model="m")
    assert _x_alerts(monitored) == []

    _log_day(monitored, tmp_path, 5, x_mean=1.0)
    alerts.refresh(monitored, model="m")

    [alert] = _x_alerts(monitored)
    assert alert["reason"].endswith("for 3 windows in a row since 2026-03-05.")


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_the_number_of_windows_in_a_row_must_be_a_whole_number_from_1(
    monitored: Store, value: str
) -> None:
    with pytest.raises(InvalidInput, match="^alerts.consecutive must be a whole number of "):
        update_settings(monitored, model="m", changes={"alerts.consecutive": value}, by=ENGINEER)


def test_an_alert_resolves_when_the_latest_window_is_clean_again(
    drifting: Store, tmp_path: Path
) -> None:
    [opened] = _x_alerts(drifting)
    _log_day(drifting, tmp_path, 5, x_mean=0.0)

    outcome = alerts.refresh(drifting, model="m")

    [alert] = _x_alerts(drifting)
    assert opened["id"] in outcome.resolved
    assert alert["status"] == "resolved"
    assert _open(drifting) == []
    events = [(p["event"], p["alert"]["id"]) for p, *_ in _outbox(drifting)]
    assert ("alert_opened", opened["id"]) in events
    assert events[-1] == ("alert_resolved", opened["id"])


def test_an_alert_stays_open_and_is_updated_while_the_signal_persists(
    drifting: Store, tmp_path: Path
) -> None:
    [opened] = _x_alerts(drifting)
    _log_day(drifting, tmp_path, 5, x_mean=1.5)

    outcome = alerts.refresh(drifting, model="m")

    [alert] = _x_alerts(drifting)
    assert outcome.still_open.count(opened["id"]) == 1
    assert (alert["status"], alert["since"]) == ("open", opened["since"])
    assert alert["last_seen"] == "2026-03-07T00:00:00+00:00"
    assert alert["value"] > opened["value"]
    assert alert["reason"].endswith("for 3 windows in a row since 2026-03-05.")


def test_registering_a_new_version_resolves_the_alerts_of_the_one_it_replaces(
    drifting: Store, tmp_path: Path
) -> None:
    [opened] = _x_alerts(drifting)
    _register(drifting, tmp_path, seed=1)  # the newest version is now the one monitored

    outcome = alerts.refresh(drifting, model="m")

    [alert] = _x_alerts(drifting)
    assert alert["status"] == "resolved"
    assert opened["id"] in outcome.resolved
    assert _open(drifting) == []
    assert alerts.retrain_check(drifting, model="m").recommended is False


def _audit(store: Store, action: str) -> list[AuditEvent]:
    with store.read() as r:
        query = select(AuditEvent).where(AuditEvent.action == action)
        return list(r.session.exec(query).all())


@pytest.mark.parametrize("who", [ENGINEER, OWNER])
def test_acknowledging_an_alert_is_recorded_with_who_did_it(drifting: Store, who: Identity) -> None:
    [opened] = _x_alerts(drifting)

    alerts.acknowledge(drifting, model="m", alert_id=opened["id"], by=who, note="on it")

    [alert] = _x_alerts(drifting)
    assert (alert["status"], alert["acknowledged_by"]) == ("acknowledged", who.username)
    assert alert in _open(drifting)  # acknowledged is still open: the signal has not cleared
    [event] = _audit(drifting, "alert_acknowledged")
    assert (event.actor, event.role, event.model, event.version) == (
        who.username,
        who.role,
        "m",
        1,
    )
    assert event.before_state == {"status": "open"}
    assert event.after_state == {"status": "acknowledged", "alert": opened["id"], "note": "on it"}


def test_a_domain_expert_may_not_acknowledge_an_alert(drifting: Store) -> None:
    [opened] = _x_alerts(drifting)

    with pytest.raises(PermissionDenied, match=r"^dora \(Domain expert\) may not acknowledge"):
        alerts.acknowledge(drifting, model="m", alert_id=opened["id"], by=EXPERT)

    assert _x_alerts(drifting)[0]["status"] == "open"
    assert _audit(drifting, "alert_acknowledged") == []


def test_an_acknowledged_alert_cannot_be_acknowledged_again(drifting: Store) -> None:
    [opened] = _x_alerts(drifting)
    alerts.acknowledge(drifting, model="m", alert_id=opened["id"], by=ENGINEER)

    with pytest.raises(InvalidInput, match="is acknowledged; only open alerts"):
        alerts.acknowledge(drifting, model="m", alert_id=opened["id"], by=OWNER)

    assert len(_audit(drifting, "alert_acknowledged")) == 1


def test_an_acknowledged_alert_still_resolves_when_the_signal_clears(
    drifting: Store, tmp_path: Path
) -> None:
    [opened] = _x_alerts(drifting)
    alerts.acknowledge(drifting, model="m", alert_id=opened["id"], by=ENGINEER)
    _log_day(drifting, tmp_path, 5, x_mean=0.0)

    alerts.refresh(drifting, model="m")

    assert _x_alerts(drifting)[0]["status"] == "resolved"


# --- webhook -----------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A local HTTP endpoint that records the JSON bodies POSTed to it."""

    url: str
    bodies: list[dict] = field(default_factory=list)


def _serve(delay_s: float) -> tuple[ThreadingHTTPServer, Receiver]:
    receiver = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(delay_s)
            receiver.bodies.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads, server.block_on_close = True, False
    receiver.url = f"http://127.0.0.1:{server.server_port}/hook"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, receiver


@pytest.fixture
def endpoint() -> Iterator[Receiver]:
    """A webhook endpoint that answers at once."""
    server, receiver = _serve(0.0)
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def sleepy_endpoint() -> Iterator[Receiver]:
    """A webhook endpoint that takes 5 s to answer, longer than any delivery may wait."""
    server, receiver = _serve(5.0)
    yield receiver
    server.shutdown()
    server.server_close()


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def test_opening_and_resolving_an_alert_are_posted_to_the_webhook_as_json(
    drifting: Store, tmp_path: Path, endpoint: Receiver
) -> None:
    [opened] = _x_alerts(drifting)
    first = webhooks.deliver(drifting, url=endpoint.url)
    _log_day(drifting, tmp_path, 5, x_mean=0.0)
    alerts.refresh(drifting, model="m")

    second = webhooks.deliver(drifting, url=endpoint.url)

    posted = [(b["event"], b["alert"]["subject"]) for b in endpoint.bodies]
    assert ("alert_opened", "x") in posted
    assert posted[-1] == ("alert_resolved", "x")
    assert second.delivered == 1 and first.delivered == len(posted) - 1
    assert (first.failed, second.failed, second.pending) == (0, 0, 0)
    opened_event = next(b for b in endpoint.bodies if b["event"] == "alert_opened")
    assert opened_event["model"] == "m"
    assert opened_event["alert"]["id"] == opened["id"]
    assert opened_event["alert"]["feature"] == "x"
    assert opened_event["alert"]["reason"] == opened["reason"]
    assert endpoint.bodies[-1]["alert"]["status"] == "resolved"
    assert all(delivered is not None for _, delivered, _, _ in _outbox(drifting))


def test_a_closed_port_fails_fast_and_keeps_the_events_for_the_next_delivery(
    drifting: Store, endpoint: Receiver
) -> None:
    waiting = len(_outbox(drifting))
    started = time.monotonic()

    down = webhooks.deliver(drifting, url=_closed_port_url(), budget_s=5.0)

    assert time.monotonic() - started < 3.0  # refused at once, not waiting out the budget
    assert (down.delivered, down.failed, down.pending) == (0, 1, waiting)
    first = _outbox(drifting)[0]
    assert first[1] is None and first[2] == 1 and "refused" in first[3].lower()
    up = webhooks.deliver(drifting, url=endpoint.url)
    assert (up.delivered, up.pending) == (waiting, 0)
    assert [b["event"] for b in endpoint.bodies] == ["alert_opened"] * waiting


def test_an_endpoint_slower_than_the_budget_never_blocks_longer_than_the_budget(
    drifting: Store, sleepy_endpoint: Receiver, endpoint: Receiver
) -> None:
    waiting = len(_outbox(drifting))
    started = time.monotonic()

    slow = webhooks.deliver(drifting, url=sleepy_endpoint.url, budget_s=0.5)

    # The budget, not the 2 s per-request timeout, bounds the wait (plus two store visits).
    assert time.monotonic() - started < 1.6
    assert (slow.delivered, slow.failed, slow.pending) == (0, 1, waiting)
    first = _outbox(drifting)[0]
    assert first[1] is None and first[2] == 1 and "timed out" in first[3]
    assert all(delivered is None for _, delivered, _, _ in _outbox(drifting))
    later = webhooks.deliver(drifting, url=endpoint.url)
    assert (later.delivered, later.pending) == (waiting, 0)


def test_without_a_configured_url_events_wait_in_the_outbox(
    drifting: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELBRIDGE_WEBHOOK_URL", raising=False)
    waiting = len(_outbox(drifting))

    assert webhooks.deliver(drifting) == webhooks.Delivery(0, 0, waiting)
    monkeypatch.setenv("MODELBRIDGE_WEBHOOK_URL", "ftp://example.org/hook")
    assert webhooks.webhook_url() is None


# --- retraining --------------------------------------------------------------------------------


def test_retrain_check_has_nothing_to_recommend_on_clean_traffic(monitored: Store) -> None:
    alerts.refresh(monitored, model="m")

    advice = alerts.retrain_check(monitored, model="m")

    assert (advice.recommended, advice.reason) == (False, "No open alert calls for retraining.")
    assert advice.evidence["alerts"] == []
    assert advice.evidence["since"] is None
