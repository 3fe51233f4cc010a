"""Dependencies point one way (pages -> app -> core): checked on the source, not by review."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

UI_LIBRARIES = {"streamlit", "plotly"}
CORE_FILES = sorted((ROOT / "core").rglob("*.py"))
PAGE_FILES = sorted((ROOT / "pages").glob("*.py"))


def imported_roots(source: str) -> set[str]:
    """Top-level packages a module imports, wherever the import statement sits."""
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            roots.add(node.args[0].value.split(".")[0])
    return roots


def sql_strings(source: str) -> list[str]:
    """String literals (f-string parts included) that hold a SELECT statement."""
    return [
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and "SELECT " in node.value
    ]


def test_the_checks_see_imports_and_sql_wherever_they_hide() -> None:
    source = (
        "import plotly.express as px\n"
        "def f():\n"
        "    from streamlit import session_state\n"
        "    importlib.import_module('duckdb')\n"
        '    return f"SELECT {x} FROM t"\n'
    )

    assert imported_roots(source) == {"plotly", "streamlit", "duckdb"}
    assert sql_strings(source) == ["SELECT "]
    assert imported_roots("from . import models\nfrom core.store import Store") == {"core"}


def test_there_are_core_modules_and_pages_to_check() -> None:
    names = {p.relative_to(ROOT / "core").as_posix() for p in CORE_FILES}
    assert {"store.py", "registry.py", "ingest.py", "cli/__init__.py", "traffic.py"} <= names
    assert {"overview.py", "models.py"} <= {p.name for p in PAGE_FILES}


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: p.relative_to(ROOT / "core").as_posix())
def test_core_never_imports_streamlit_or_plotly(path: Path) -> None:
    assert imported_roots(path.read_text()) & UI_LIBRARIES == set()


def test_importing_the_core_entry_points_loads_no_ui_library() -> None:
    check = (
        "import core.cli.logs, core.cli.monitoring, core.cli.value, core.cli.workflow; "
        "import core.ingest, core.registry, core.traffic, sys; "
        "assert 'streamlit' not in sys.modules and 'plotly' not in sys.modules, "
        "sorted(m for m in sys.modules if m.split('.')[0] in ('streamlit', 'plotly'))"
    )

    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("path", PAGE_FILES, ids=lambda p: p.name)
def test_pages_hold_no_sql_and_do_not_import_duckdb(path: Path) -> None:
    source = path.read_text()

    assert sql_strings(source) == []
    assert "duckdb" not in imported_roots(source)


CONNECTION_CALLS = {
    "connect",
    "create_engine",
    "sql",
}  # duckdb.connect, sa.create_engine, duckdb.sql
PRODUCT_FILES = sorted(
    p for folder in ("core", "app", "pages", "data") for p in (ROOT / folder).rglob("*.py")
)


def connection_openers(source: str) -> set[str]:
    """Calls that open a database connection: duckdb.connect/sql, (sa.)create_engine."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in CONNECTION_CALLS:
            owner = func.value
            if isinstance(owner, ast.Name) and owner.id in {"duckdb", "sa", "sqlalchemy"}:
                found.add(f"{owner.id}.{func.attr}")
        elif isinstance(func, ast.Name) and func.id == "create_engine":
            found.add("create_engine")
    return found


def test_the_connection_check_sees_every_way_to_open_the_store() -> None:
    source = (
        "import duckdb\nimport sqlalchemy as sa\nfrom sqlmodel import create_engine\n"
        "duckdb.connect('x')\nsa.create_engine('duckdb:///x')\ncreate_engine('y')\n"
        "duckdb.sql('SELECT 1')\nw.sql('SELECT 1')\n"
    )

    assert connection_openers(source) == {
        "duckdb.connect", "sa.create_engine", "create_engine", "duckdb.sql",
    }  # fmt: skip


@pytest.mark.parametrize("path", PRODUCT_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_only_the_store_module_opens_connections(path: Path) -> None:
    opened = connection_openers(path.read_text())

    assert opened == ({"sa.create_engine"} if path == ROOT / "core" / "store.py" else set()), (
        f"{path.relative_to(ROOT)} opens a connection itself; go through core.store"
    )


@pytest.mark.parametrize("argv", [["--help"], ["ingest", "--help"], ["no-such-command"]])
def test_help_and_usage_errors_answer_without_loading_the_data_libraries(argv: list[str]) -> None:
    # A pipeline's `modelbridge --help` or typo took 2.3 s, nearly all of it importing pandas
    # and SQLModel, which only a command that runs needs.
    check = (
        "import sys\nfrom core.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit as done:\n    code = done.code\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pandas', 'duckdb', 'sqlmodel', 'sqlalchemy', 'numpy', 'sklearn'})\n"
        "print(code, heavy)"
    )

    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    expected_code = 2 if argv == ["no-such-command"] else 0
    assert done.stdout.splitlines()[-1] == f"{expected_code} []", done.stderr
