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

from core import auth
from core.errors import PermissionDenied
from core.store import Store
from tests.conftest import ROOT

SECRET = "correct horse battery staple"


class Terminal:
    """`python -m core ARGS` on a pseudo-terminal: answer prompts, read what it prints."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("MODELBRIDGE_PASSWORD",)}
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


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "store.duckdb"
    Store(path).init()
    return path


def test_user_add_asks_twice_without_echo_and_the_password_then_signs_in(db: Path) -> None:
    term = Terminal("user", "add", "olga", "--role", "product_owner", "--db", str(db))
    term.read_until("Password: ")
    term.type(SECRET)
    term.read_until("Repeat: ")
    term.type(SECRET)
    code, printed = term.finish()

    assert code == 0, printed
    assert "olga (product_owner) saved" in printed
    assert SECRET not in printed  # getpass turned echo off
    assert auth.login(Store(db), username="olga", password=SECRET).role == "product_owner"
    with pytest.raises(PermissionDenied):
        auth.login(Store(db), username="olga", password=SECRET + "!")


def test_two_different_passwords_are_refused_and_no_user_is_saved(db: Path) -> None:
    term = Terminal("user", "add", "olga", "--role", "manager", "--db", str(db))
    term.read_until("Password: ")
    term.type(SECRET)
    term.read_until("Repeat: ")
    term.type("something else")
    code, printed = term.finish()

    assert code == 2, printed
    assert "the passwords differ" in printed
    assert "Traceback" not in printed
    with pytest.raises(PermissionDenied):
        auth.login(Store(db), username="olga", password=SECRET)


def test_an_action_that_signs_in_asks_once_and_a_wrong_password_is_refused(db: Path) -> None:
    auth.add_user(Store(db), username="olga", role="ml_engineer", password=SECRET)
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
