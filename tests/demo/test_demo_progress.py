"""`modelbridge demo` says what it is doing while it builds (issue 18: three minutes without a
line of output): without a terminal, one line when a step starts and one when it is done."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import run_cli


def test_the_demo_prints_each_step_and_the_files_it_loads(tmp_path: Path) -> None:
    ran = run_cli("demo", "--days", "14", "--per-day", "40", db=tmp_path / "demo.duckdb")

    assert ran.code == 0, ran.err
    done = re.findall(r"^demo: (.+?): (?:done in|.* in) [\d.]+ s$", ran.err, re.M)
    assert done == [
        "Simulating 14 days of credit applications",
        "Creating the demo users (manager, expert, owner, engineer, admin)",
        "Registering the champion (v1) and promoting it",
        "Loading prediction logs",
        "Loading label files",
        "Registering the challenger (v2)",
        "Checking drift and performance alerts",
        "Putting the challenger in review (release gates)",
        "Simulating 14 days of support tickets",
        "Registering ticket-triage (v1, multiclass) and promoting it",
        "Loading ticket logs",
        "Loading resolved-ticket files",
        "Registering ticket-triage v2",
        "Checking drift and performance alerts of ticket-triage",
        "Putting the challenger of ticket-triage in review (release gates)",
    ]
    assert re.search(r"^demo: Loading prediction logs: 14/14 files, [\d,]+ rows in", ran.err, re.M)
    assert re.search(r"^demo: Loading ticket logs: 2/2 files, [\d,]+ rows in", ran.err, re.M)
    assert ran.out.startswith("Demo store ready at ")
    assert "models credit-default and ticket-triage" in ran.out


def test_with_json_the_demo_prints_only_its_summary(tmp_path: Path) -> None:
    ran = run_cli("demo", "--days", "14", "--per-day", "40", "--json", db=tmp_path / "d.duckdb")

    assert ran.code == 0, ran.err
    assert "demo:" not in ran.err
    assert ran.json()["files"] == str(tmp_path / "d.demo-files")
