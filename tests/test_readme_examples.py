"""The README's command-line examples run as written, in order, on the demo store that `make
run` builds (issue 18: a new user copied them and met a model named `credit` that the demo does
not have)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from core.store import Store
from data.build_demo import files_path
from tests.conftest import ROOT
from tests.ui_helpers import demo_db_fixture  # noqa: F401  (fixture)

SECTION = "## The `modelbridge` command line"
# Exit 1 means "no" for these, as the README says next to them: a CI step branches on it.
MAY_SAY_NO = ("modelbridge retrain-check", "modelbridge gate")


def readme_commands(readme: str) -> list[str]:
    """The commands of the first shell block of the command-line section, one per entry, with
    continuation lines joined."""
    section = readme[readme.index(SECTION) :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the command-line section has no shell block"
    return [
        line.strip() for line in block.group(1).replace("\\\n", " ").splitlines() if line.strip()
    ]


def test_the_commands_are_read_from_the_readme_whole() -> None:
    commands = readme_commands((ROOT / "README.md").read_text())

    assert commands[0] == "modelbridge versions credit-default"
    assert any(c.startswith("modelbridge register credit-default --reference") for c in commands)
    assert all("modelbridge " in c for c in commands)
    assert not any(re.search(r"\bcredit\b(?!-default)", c) for c in commands)


def test_every_readme_example_runs_on_the_demo_store(demo_db: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for found in demo_db.parent.glob(demo_db.name + "*"):  # the store and its WAL, if any
        shutil.copy(found, data / found.name.replace(demo_db.name, "modelbridge.duckdb"))
    shutil.copytree(files_path(Store(demo_db)), data / "modelbridge.demo-files")
    env = {k: v for k, v in os.environ.items() if k != "MODELBRIDGE_DB"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"

    for command in readme_commands((ROOT / "README.md").read_text()):
        done = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip

        allowed = (0, 1) if command.startswith(MAY_SAY_NO) else (0,)
        assert done.returncode in allowed, f"{command}\n{done.stderr}"
        assert "Traceback" not in done.stderr, command

    production = subprocess.run(
        ["bash", "-c", "modelbridge production credit-default --json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert json.loads(production.stdout)["version"] == 1  # promoted v2, then rolled back
    assert (tmp_path / "card.html").read_text().count("credit-default") >= 1
    assert (tmp_path / "team.duckdb").exists() and (tmp_path / "small-demo.duckdb").exists()
