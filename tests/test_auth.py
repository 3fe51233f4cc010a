"""Names compare as people mean them: one person whatever the case or width of the letters."""

from __future__ import annotations

import pytest

from core import auth

PASSWORD = "a long enough password"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [("owner", "OWNER", True), ("Ｏwner", "owner", True), ("owner", "owner2", False)],
)
def test_same_person_ignores_case_and_width(a: str, b: str, same: bool) -> None:
    assert auth.same_person(a, b) is same
