"""One real `streamlit run` server on a free port over a copy of the small demo store."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.ui_helpers import MAIN, ROOT, demo_db_fixture  # noqa: F401  (fixture)

CHROMIUM = "/usr/bin/chromium"
# A script run can take seconds on a busy two-core machine; Playwright's default is 5 s.
expect.set_options(timeout=30_000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read().decode().strip() == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"streamlit did not answer within {timeout:.0f} s:\n{log.read_text()}")


@contextmanager
def serving(db: Path | str, log: Path) -> Iterator[str]:
    """A `streamlit run` server on a free port over the store DB (a file or a team catalog
    URL), its output in LOG; its URL."""
    port = _free_port()
    command = [
        sys.executable, "-m", "streamlit", "run", str(MAIN),
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--client.showErrorDetails", "full",
    ]  # fmt: skip
    env = {**os.environ, "MODELBRIDGE_DB": str(db)}
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server, log)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="session")
def app_url(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of the dashboard, served from its own copy of the demo store."""
    folder = tmp_path_factory.mktemp("e2e")
    shutil.copytree(demo_db.parent, folder / "store")
    with serving(folder / "store" / demo_db.name, folder / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="session")
def base_url(app_url: str) -> str:
    """Relative page.goto() paths resolve against the test server."""
    return app_url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's Chromium; Playwright's own browser download does not work here."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    """A laptop-sized window, so the wide layout and the sidebar both show."""
    return {**browser_context_args, "viewport": {"width": 1440, "height": 960}}
