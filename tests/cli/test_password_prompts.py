"""Passwords typed at a terminal: `modelbridge user add` asks twice, actions that sign in ask
once, and nothing typed is echoed. The CLI runs in a real pseudo-terminal (its controlling
terminal, as in a person's shell), not with MODELBRIDGE_PASSWORD."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from pathlib import Path

import pytest

from core import users
from core.auth import Identity
from core.store import Store
from tests.conftest import ROOT
from tests.factories import ADMIN, signs_in

SECRET = "correct horse battery staple"


class Terminal:
    """`python -m core ARGS` on a pseudo-terminal: answer prompts, read what it prints."""

    def __init__(self, *args: str) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("MODELBRIDGE_PASSWORD", "MODELBRIDGE_NEW_PASSWORD")
        }
        env.pop("MODELBRIDGE_DB", None)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the pty is its controlling terminal
            os.chdir(ROOT)
            os.execve(sys.executable, [sys.executable, "-m", "core", *args], env)
        self.seen = ""

    def read_until(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {text!r} within {timeout} s; saw {self.seen!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"ended before {text!r}; saw {self.seen!r}")
                self.seen += chunk.decode(errors="replace")
        return self.seen

    def type(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        """Exit code and everything printed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                self.seen += chunk.decode(errors="replace")
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status), self.seen
        os.kill(self.pid, 9)
        raise AssertionError(f"still running after {timeout} s; saw {self.seen!r}")


ROOT_PASSWORD = "the admin's own passphrase"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "store.duckdb"
    Store(path).init()
    users.first_admin(Store(path), username="root", password=ROOT_PASSWORD)
    return path


def test_init_asks_twice_for_the_first_admins_password(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    term = Terminal("init", "--admin", "root", "--db", str(path))
    term.read_until("Password: ")
    term.type(SECRET)
    term.read_until("Repeat: ")
    term.type(SECRET)
    code, printed = term.finish()

    assert code == 0, printed
    assert "root (admin) saved" in printed
    assert signs_in(Store(path), "root", SECRET) == Identity("root", "admin")


def test_user_add_signs_the_admin_in_then_asks_twice_for_the_new_password(db: Path) -> None:
    term = Terminal(
        "user", "add", "olga", "--role", "product_owner", "--user", "root", "--db", str(db)
    )
    term.read_until("Password: ")
    term.type(ROOT_PASSWORD)
    term.read_until("New user's password: ")
    term.type(SECRET)
    term.read_until("Repeat: ")
    term.type(SECRET)
    code, printed = term.finish()

    assert code == 0, printed
    assert "olga (product_owner) saved" in printed
    assert SECRET not in printed and ROOT_PASSWORD not in printed  # getpass turned echo off
    assert signs_in(Store(db), "olga", SECRET) == Identity("olga", "product_owner")
    assert signs_in(Store(db), "olga", SECRET + "!") is None


def test_two_different_passwords_are_refused_and_no_user_is_saved(db: Path) -> None:
    term = Terminal("user", "add", "olga", "--role", "manager", "--user", "root", "--db", str(db))
    term.read_until("Password: ")
    term.type(ROOT_PASSWORD)
    term.read_until("New user's password: ")
    term.type(SECRET)
    term.read_until("Repeat: ")
    term.type("something else")
    code, printed = term.finish()

    assert code == 2, printed
    assert "the passwords differ" in printed
    assert "Traceback" not in printed
    assert signs_in(Store(db), "olga", SECRET) is None


def test_an_action_that_signs_in_asks_once_and_a_wrong_password_is_refused(db: Path) -> None:
    users.add_user(Store(db), username="olga", role="ml_engineer", password=SECRET, by=ADMIN)
    change = ["configure", "nomodel", "--set", "alerts.consecutive=3", "--user", "olga"]

    term = Terminal(*change, "--db", str(db))
    term.read_until("Password: ")
    term.type("wrong")
    code, printed = term.finish()
    assert code == 2, printed
    assert "unknown user or wrong password" in printed
    assert "Repeat: " not in printed and "Traceback" not in printed

    term = Terminal(*change, "--db", str(db))
    term.read_until("Password: ")
    term.type(SECRET)
    code, printed = term.finish()
    assert code == 2, printed  # signed in: now the model is looked up
    assert "unknown model 'nomodel'" in printed
    assert "Repeat: " not in printed
