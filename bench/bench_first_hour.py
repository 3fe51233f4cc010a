"""A new user's first hour, timed (issue 18): `make run` on a fresh clone to the first page,
each CLI command on the demo store, and each page's first open after sign-in for each role.

    uv run python bench/bench_first_hour.py                 # clone HEAD, measure everything
    uv run python bench/bench_first_hour.py --runs 7        # more CLI runs per command
    uv run python bench/bench_first_hour.py --keep DIR      # keep the clone in DIR
    ... --autogroup-nice -15   # shared machine: give the bench's processes the CPUs (root)

Steps:

1. make run  - `git clone` of this repository's HEAD into a temporary folder, then `make run
               PORT=<free port>` there with this machine's environment (uv's package cache is
               warm: the packages are already in it). Timed until `/_stcore/health` answers,
               then until headless Chromium shows the sign-in form. The demo's own step times
               are taken from its output.
2. pages     - in that same server (a fresh process, as a new user meets it), for each demo
               role: a new browser session signs in, and every page the role may open is
               opened once, through the sidebar's address as a person's click does, timed until
               its heading shows, the script run has finished and every chart is drawn.
3. cli       - the server is stopped; each command runs --runs times as its own process
               (`.venv/bin/modelbridge ... --json` in the clone, as a serving system calls it)
               and the median wall time and CPU seconds (user + system) are reported.

The 1-minute load average is printed before each step: on a shared machine a time is only
meaningful when it is low. Results: a table on stdout and JSON in bench/work/first-hour.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"
CHROMIUM = "/usr/bin/chromium"
MODEL = "credit-default"
PASSWORD = "demo"
USERS = {  # demo user -> role, as data/build_demo.py creates them
    "manager": "manager",
    "expert": "domain_expert",
    "owner": "product_owner",
    "engineer": "ml_engineer",
    "admin": "admin",
}
LIGHT = [
    ["--help"],
    ["production", MODEL],
    ["versions", MODEL],
    ["gate", MODEL, "2"],
    ["audit", "verify"],
    ["alerts", MODEL, "--open", "--no-refresh"],
    ["alerts", MODEL, "--open"],
]
HEAVY = [
    ["drift", MODEL],
    ["performance", MODEL],
    ["kpi", MODEL],
    ["explain", MODEL, "--id", "req-000100000"],
]
SETTLED = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app && app.getAttribute('data-test-script-state') !== 'running'
        && !document.querySelector('[data-testid="stStatusWidget"]')
        && [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
            .every(chart => chart.querySelector('.main-svg'));
}"""


def load() -> float:
    """The 1-minute load average."""
    return round(os.getloadavg()[0], 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
            return answer.read().decode().strip() == "ok"
    except OSError:
        return False


def make_run(
    clone: Path, port: int, log: Path, nice: int | None
) -> tuple[subprocess.Popen, float, str]:
    """Start `make run` in CLONE (in its own scheduling group, ranked NICE when given); wait
    for the health check. (server, seconds, url)."""
    started = time.monotonic()
    with log.open("w") as out:
        server = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=clone,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so that stopping it stops streamlit too
            env={k: v for k, v in os.environ.items() if k != "MODELBRIDGE_DB"},
        )
    if nice is not None:
        Path(f"/proc/{server.pid}/autogroup").write_text(str(nice))
    url = f"http://127.0.0.1:{port}"
    while not healthy(url):
        if server.poll() is not None:
            raise RuntimeError(f"make run exited with {server.returncode}:\n{log.read_text()}")
        if time.monotonic() - started > 900:
            raise RuntimeError(f"no answer after 900 s:\n{log.read_text()}")
        time.sleep(0.2)
    return server, time.monotonic() - started, url


def demo_steps(log: Path) -> dict[str, float]:
    """The demo's own step times, from the lines it prints without a terminal."""
    steps = {}
    for line in log.read_text().splitlines():
        found = re.match(r"demo: (.+?): (?:done|.*) in ([\d.]+) s$", line)
        if found:
            steps[found.group(1)] = float(found.group(2))
    return steps


def browser() -> tuple[Any, Any]:
    from playwright.sync_api import sync_playwright

    play = sync_playwright().start()
    chromium = play.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run"],
    )  # fmt: skip
    return play, chromium


def first_page(chromium: Any, url: str) -> float:
    """Seconds from opening the app in a new browser to the sign-in form."""
    context = chromium.new_context(viewport={"width": 1440, "height": 960})
    page = context.new_page()
    started = time.monotonic()
    page.goto(url)
    page.get_by_role("button", name="Sign in").wait_for(timeout=120_000)
    took = time.monotonic() - started
    context.close()
    return took


def settle(page: Any, title: str) -> None:
    page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=120_000)
    page.wait_for_function(SETTLED, timeout=120_000)
    if page.locator('[data-testid="stException"]').count():
        raise RuntimeError(f"{title}: the page raised")


def pages_per_role(chromium: Any, url: str) -> list[dict[str, Any]]:
    """Per role: sign-in to its first page, then each page's first open in that session."""
    from app.navigation import PAGES
    from core import auth

    rows = []
    for username, role in USERS.items():
        context = chromium.new_context(viewport={"width": 1440, "height": 960})
        page = context.new_page()
        page.goto(url)
        page.get_by_role("button", name="Sign in").wait_for(timeout=120_000)
        page.get_by_role("textbox", name="Username").fill(username)
        page.get_by_role("textbox", name="Password").fill(PASSWORD)
        allowed = [key for key in PAGES if key in auth.pages_for(role)]
        started = time.monotonic()
        page.get_by_role("button", name="Sign in").click()
        settle(page, PAGES[allowed[0]][1])
        took = round(time.monotonic() - started, 2)
        rows.append({"role": role, "page": f"sign-in -> {PAGES[allowed[0]][1]}", "seconds": took})
        for key in allowed[1:]:
            started = time.monotonic()
            page.evaluate(
                "path => { history.pushState({}, '', path);"
                " window.dispatchEvent(new PopStateEvent('popstate', {state: {}})); }",
                f"/{key}",
            )
            settle(page, PAGES[key][1])
            took = round(time.monotonic() - started, 2)
            rows.append({"role": role, "page": PAGES[key][1], "seconds": took})
        context.close()
    return rows


def stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def cli_times(clone: Path, runs: int) -> list[dict[str, Any]]:
    """Median wall time of each command over RUNS processes."""
    db = clone / "data" / "modelbridge.duckdb"
    rows = []
    for kind, commands in (("light", LIGHT), ("heavy", HEAVY)):
        for argv in commands:
            full = [str(clone / ".venv" / "bin" / "modelbridge"), *argv]
            if argv != ["--help"]:
                full += ["--db", str(db), "--json"]
            times, cpu, codes = [], [], set()
            for _ in range(runs):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                started = time.monotonic()
                done = subprocess.run(full, capture_output=True, text=True, cwd=clone)
                times.append(time.monotonic() - started)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
                codes.add(done.returncode)
            rows.append({"kind": kind, "command": " ".join(argv),
                         "median": round(statistics.median(times), 2),
                         "min": round(min(times), 2), "max": round(max(times), 2),
                         "cpu_median": round(statistics.median(cpu), 2),
                         "exit": sorted(codes), "load": load()})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per CLI command")
    parser.add_argument("--keep", type=Path, help="clone into this (new) folder and keep it")
    parser.add_argument("--json", type=Path, default=WORK / "first-hour.json")
    parser.add_argument(
        "--autogroup-nice",
        type=int,
        help="on a shared machine: run in its own scheduling group with this nice value "
        "(-20..19; negative needs root), make run's processes included",
    )
    args = parser.parse_args()
    if args.autogroup_nice is not None and os.environ.get("BENCH_AUTOGROUP") != "1":
        # Linux schedules by session ("autogroup"): a plain `nice` only ranks processes within
        # their own session, so run the bench in a new session and rank that.
        raise SystemExit(
            subprocess.run(
                [sys.executable, *sys.argv],
                start_new_session=True,
                env={**os.environ, "BENCH_AUTOGROUP": "1"},
            ).returncode
        )
    if args.autogroup_nice is not None:
        Path("/proc/self/autogroup").write_text(str(args.autogroup_nice))

    folder = Path(args.keep or tempfile.mkdtemp(prefix="modelbridge-first-hour-"))
    clone = folder / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    results: dict[str, Any] = {"autogroup_nice": args.autogroup_nice, "commit": subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True
    ).stdout.strip(), "load_before": load()}  # fmt: skip
    print(f"clone of {results['commit']} in {clone}; load {results['load_before']}", flush=True)

    log = folder / "make-run.log"
    started = time.monotonic()
    server, to_health, url = make_run(clone, free_port(), log, args.autogroup_nice)
    play, chromium = browser()
    try:
        to_form = first_page(chromium, url)
        results["make_run"] = {
            "to_health_s": round(to_health, 1),
            "to_first_page_s": round(time.monotonic() - started, 1),
            "first_page_render_s": round(to_form, 2),
            "demo_steps_s": demo_steps(log),
            "load_after": load(),
        }
        print(json.dumps(results["make_run"], indent=2), flush=True)
        results["pages"] = pages_per_role(chromium, url)
    finally:
        chromium.close()
        play.stop()
        stop(server)
    for row in results["pages"]:
        print(f"{row['role']:<14} {row['page']:<28} {row['seconds']:6.2f} s")

    results["cli"] = cli_times(clone, args.runs)
    for row in results["cli"]:
        print(
            f"{row['kind']:<6} {row['command']:<44} median {row['median']:5.2f} s "
            f"(min {row['min']}, max {row['max']}; CPU {row['cpu_median']} s; "
            f"exit {row['exit']})  load {row['load']}"
        )

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"results in {args.json}")
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
