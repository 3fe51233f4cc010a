"""Users: one person per name whatever its case, found the same way at sign-in."""

from __future__ import annotations

import pytest

from core import auth
from core.errors import InvalidInput
from core.store import Store

PASSWORD = "a long enough password"


def test_a_name_that_differs_only_in_case_is_refused_as_a_second_user(store: Store) -> None:
    auth.add_user(store, username="owner", role="product_owner", password=PASSWORD)

    with pytest.raises(InvalidInput, match="a user 'owner' exists already; names are unique"):
        auth.add_user(store, username="OWNER", role="admin", password="another password")

    with store.read() as r:
        assert [(u.username, u.role) for u in auth.list_users(r)] == [("owner", "product_owner")]


def test_signing_in_under_another_case_is_the_same_user(store: Store) -> None:
    auth.add_user(store, username="Olga", role="ml_engineer", password=PASSWORD)

    assert auth.login(store, username="olga", password=PASSWORD) == auth.Identity(
        "Olga", "ml_engineer"
    )


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [("owner", "OWNER", True), ("Ｏwner", "owner", True), ("owner", "owner2", False)],
)
def test_same_person_ignores_case_and_width(a: str, b: str, same: bool) -> None:
    assert auth.same_person(a, b) is same
