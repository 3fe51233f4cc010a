"""Users and signing in: admins manage users, one person per name whatever its case, and
sign-in is throttled per account and per client across sessions, every attempt audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from core import audit, users
from core.auth import Identity
from core.errors import InvalidInput, PermissionDenied
from core.store import AuditEvent, Store, utcnow
from tests.factories import ADMIN

PASSWORD = "a long enough password"


def _sign_in(store: Store, name: str, password: str, client: str = "web:10.0.0.1") -> Identity:
    return users.sign_in(store, username=name, password=password, client=client)


def _fail(store: Store, name: str, times: int, client: str = "web:10.0.0.1") -> None:
    for _ in range(times):
        with pytest.raises(PermissionDenied, match="^unknown user or wrong password$"):
            _sign_in(store, name, "wrong", client)


def _sign_in_events(store: Store) -> list[tuple[str, str, str]]:
    with store.read() as r:
        found = r.session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.action).startswith("sign_in"))
            .order_by(col(AuditEvent.id))
        ).all()
    return [(e.action, e.actor, e.after_state["client"]) for e in found]


@pytest.fixture
def olga(store: Store) -> Store:
    store.init()
    users.add_user(store, username="olga", role="product_owner", password=PASSWORD, by=ADMIN)
    return store


def test_only_an_admin_adds_users(olga: Store) -> None:
    with pytest.raises(PermissionDenied, match=r"olga \(Product owner\) may not manage users"):
        users.add_user(
            olga,
            username="mallory",
            role="admin",
            password=PASSWORD,
            by=Identity("olga", "product_owner"),
        )
    with olga.read() as r:
        assert [u.username for u in users.list_users(r)] == ["olga"]


def test_the_first_admin_comes_only_to_a_store_without_users(store: Store, olga: Store) -> None:
    with pytest.raises(PermissionDenied, match="this store has users already"):
        users.first_admin(olga, username="mallory", password=PASSWORD)


def test_a_name_that_differs_only_in_case_is_refused_as_a_second_user(olga: Store) -> None:
    with pytest.raises(InvalidInput, match="a user 'olga' exists already; names are unique"):
        users.add_user(olga, username="OLGA", role="admin", password=PASSWORD, by=ADMIN)

    with olga.read() as r:
        assert [(u.username, u.role) for u in users.list_users(r)] == [("olga", "product_owner")]


def test_signing_in_under_another_case_is_the_same_user(olga: Store) -> None:
    assert _sign_in(olga, "OLGA", PASSWORD) == Identity("olga", "product_owner")


def test_every_sign_in_failed_or_not_is_audited_with_its_client(olga: Store) -> None:
    _fail(olga, "olga", 1)
    _fail(olga, "nobody", 1, client="cli:ci@build-7")
    _sign_in(olga, "olga", PASSWORD)

    assert _sign_in_events(olga) == [
        ("sign_in_failed", "olga", "web:10.0.0.1"),
        ("sign_in_failed", "nobody", "cli:ci@build-7"),
        ("sign_in", "olga", "web:10.0.0.1"),
    ]
    with olga.read() as r:
        assert audit.verify(r) == []


def test_five_failures_in_a_row_lock_the_account_even_with_the_right_password(
    olga: Store,
) -> None:
    _fail(olga, "olga", users.MAX_FAILURES)

    # A new session, another client, the right password: still locked.
    with pytest.raises(PermissionDenied, match="this account is locked after 5 failed sign-ins"):
        _sign_in(olga, "olga", PASSWORD, client="web:10.0.0.2")
    assert _sign_in_events(olga)[-1] == ("sign_in_refused", "olga", "web:10.0.0.2")


def test_a_success_before_the_fifth_failure_starts_the_count_again(olga: Store) -> None:
    _fail(olga, "olga", users.MAX_FAILURES - 1)
    _sign_in(olga, "olga", PASSWORD)
    _fail(olga, "olga", users.MAX_FAILURES - 1)

    assert _sign_in(olga, "olga", PASSWORD) == Identity("olga", "product_owner")


def test_an_admin_lifts_a_lockout(olga: Store) -> None:
    _fail(olga, "olga", users.MAX_FAILURES)

    users.unlock_user(olga, username="olga", by=ADMIN)

    assert _sign_in(olga, "olga", PASSWORD) == Identity("olga", "product_owner")


def test_only_an_admin_lifts_a_lockout(olga: Store) -> None:
    with pytest.raises(PermissionDenied, match="may not manage users"):
        users.unlock_user(olga, username="olga", by=Identity("olga", "product_owner"))


def test_a_lockout_ends_by_itself_after_its_minutes(
    olga: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail(olga, "olga", users.MAX_FAILURES)
    later = utcnow() + timedelta(minutes=users.LOCK_MINUTES, seconds=1)
    monkeypatch.setattr(users, "utcnow", lambda: later)

    assert _sign_in(olga, "olga", PASSWORD) == Identity("olga", "product_owner")


def test_one_client_guessing_across_accounts_is_shut_out(olga: Store) -> None:
    for i in range(users.CLIENT_FAILURES):
        _fail(olga, f"guess{i}", 1, client="web:203.0.113.9")

    with pytest.raises(PermissionDenied, match="too many failed sign-ins from this client"):
        _sign_in(olga, "olga", PASSWORD, client="web:203.0.113.9")
    assert _sign_in(olga, "olga", PASSWORD, client="web:10.0.0.1").username == "olga"


def test_an_overlong_name_is_cut_before_it_reaches_the_audit_trail(olga: Store) -> None:
    _fail(olga, "x" * 100_000, 1)

    assert _sign_in_events(olga)[-1][1] == "x" * users.MAX_NAME
