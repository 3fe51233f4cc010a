"""The architecture, checked on the source, not by review: dependencies point one way (pages ->
app -> core, and inside core along LAYERS), other packages reach a package only through what its
`__init__` exports, and SQL and connections stay where they belong."""

from __future__ import annotations

import ast
import importlib
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
    assert {
        "store/engine.py", "registry/registration.py", "ingest/jobs.py", "cli/__init__.py",
        "monitoring/traffic.py", "explain/cases.py", "value/kpi.py", "workflow/gates.py",
    } <= names  # fmt: skip
    assert {"overview.py", "models.py"} <= {p.name for p in PAGE_FILES}


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: p.relative_to(ROOT / "core").as_posix())
def test_core_never_imports_streamlit_or_plotly(path: Path) -> None:
    assert imported_roots(path.read_text()) & UI_LIBRARIES == set()


def test_importing_the_core_entry_points_loads_no_ui_library() -> None:
    check = (
        "import core.cli.logs, core.cli.monitoring, core.cli.value, core.cli.workflow; "
        "import core.cli.explain, core.cli.demo; "
        "import core.ingest, core.registry, core.monitoring.traffic, core.store, sys; "
        "assert 'streamlit' not in sys.modules and 'plotly' not in sys.modules, "
        "sorted(m for m in sys.modules if m.split('.')[0] in ('streamlit', 'plotly'))"
    )

    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr


UI_FILES = PAGE_FILES + sorted((ROOT / "app").rglob("*.py"))


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_pages_and_app_hold_no_sql_and_do_not_import_duckdb(path: Path) -> None:
    source = path.read_text()

    assert sql_strings(source) == []
    assert "duckdb" not in imported_roots(source)


CONNECTION_CALLS = {
    "connect",
    "create_engine",
    "sql",
}  # duckdb.connect, sa.create_engine, duckdb.sql
DRIVERS = {"duckdb", "sa", "sqlalchemy", "psycopg"}
PRODUCT_FILES = sorted(
    p for folder in ("core", "app", "pages", "data") for p in (ROOT / folder).rglob("*.py")
)


def connection_openers(source: str) -> set[str]:
    """Calls that open a database connection: duckdb.connect/sql, (sa.)create_engine,
    psycopg.connect."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in CONNECTION_CALLS:
            owner = func.value
            if isinstance(owner, ast.Name) and owner.id in DRIVERS:
                found.add(f"{owner.id}.{func.attr}")
        elif isinstance(func, ast.Name) and func.id == "create_engine":
            found.add("create_engine")
    return found


def test_the_connection_check_sees_every_way_to_open_the_store() -> None:
    source = (
        "import duckdb\nimport sqlalchemy as sa\nfrom sqlmodel import create_engine\n"
        "duckdb.connect('x')\nsa.create_engine('duckdb:///x')\ncreate_engine('y')\n"
        "duckdb.sql('SELECT 1')\nw.sql('SELECT 1')\npsycopg.connect('postgresql://x')\n"
    )

    assert connection_openers(source) == {
        "duckdb.connect", "sa.create_engine", "create_engine", "duckdb.sql", "psycopg.connect",
    }  # fmt: skip


@pytest.mark.parametrize("path", PRODUCT_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_only_the_store_module_opens_connections(path: Path) -> None:
    opened = connection_openers(path.read_text())

    owners = {
        ROOT / "core" / "store" / "engine.py": {"sa.create_engine", "duckdb.connect"},
        ROOT / "core" / "store" / "team.py": {
            "sa.create_engine",
            "duckdb.connect",
            "psycopg.connect",
        },  # fmt: skip
    }
    assert opened == owners.get(path, set()), (
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


# --- Layers and exports ---------------------------------------------------------------------
# Each unit is a core package or top-level module, or one of the folders app/, pages/, data/. A
# unit may import units of earlier layers only; units of one layer are independent of each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("words", "settings", "metrics"),
    ("logfiles",),  # below store: the catalog registers its LogFile table
    ("files", "store"),
    ("audit",),
    ("auth",),
    ("users",),
    ("registry",),
    ("gate_settings",),  # what release gates read, guarded for monitoring and value alike
    ("ingest",),
    ("monitoring",),  # data quality reads the quarantine
    ("aggregates",),  # per-day counts on DuckDB or Spark, with monitoring's bins
    ("explain", "value"),  # both read realized performance
    ("workflow",),
    ("data",),  # the demo builder drives the whole workflow
    ("cli", "app"),
    ("pages",),
)
LAYER_OF = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}
ENTRY_POINTS = {"__init__", "__main__"}  # core/__init__.py is empty; __main__ runs the CLI
PRODUCT_FOLDERS = ("core", "app", "pages", "data")


def unit_of(path: Path) -> str:
    """The unit a source file belongs to: core's package or module name, else its folder."""
    parts = path.relative_to(ROOT).parts
    return parts[1].removesuffix(".py") if parts[0] == "core" else parts[0]


def core_imports(source: str) -> list[tuple[int, list[str], str]]:
    """(line, dotted path below core split in parts, imported name) of every import of core."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] == "core":
                found += [(node.lineno, parts[1:], alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "core" and len(parts) > 1:
                    found.append((node.lineno, parts[1:-1], parts[-1]))
    return found


def target_unit(parts: list[str], name: str) -> str:
    return parts[0] if parts else name


PRODUCT_SOURCES = sorted(p for folder in PRODUCT_FOLDERS for p in (ROOT / folder).rglob("*.py"))


def test_every_core_package_and_module_has_a_layer() -> None:
    units = {p.stem for p in (ROOT / "core").glob("*.py")} | {
        p.name for p in (ROOT / "core").iterdir() if (p / "__init__.py").exists()
    }

    assert units - ENTRY_POINTS == set(LAYER_OF) - {"data", "app", "pages"}


def test_every_package_says_what_it_is_for_and_lists_its_exports() -> None:
    for init in (ROOT / "core").glob("*/__init__.py"):
        module = importlib.import_module(f"core.{init.parent.name}")

        assert module.__doc__ and module.__doc__.strip().splitlines()[0].endswith("."), init
        assert module.__all__, init
        for name in module.__all__:
            assert hasattr(module, name) or (init.parent / f"{name}.py").exists(), (init, name)


@pytest.mark.parametrize("path", PRODUCT_SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_imports_point_down_the_layers(path: Path) -> None:
    unit = unit_of(path)
    if unit in ENTRY_POINTS:
        return
    wrong = [
        f"line {line}: {unit} imports core.{'.'.join([*parts, name])}"
        for line, parts, name in core_imports(path.read_text())
        if (other := target_unit(parts, name)) != unit
        and other in LAYER_OF
        and LAYER_OF[other] >= LAYER_OF[unit]
    ]

    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize("path", PRODUCT_SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_other_packages_import_only_what_a_package_exports(path: Path) -> None:
    unit = unit_of(path)
    wrong = []
    for line, parts, name in core_imports(path.read_text()):
        package = ROOT / "core" / (parts[0] if parts else name)
        if not parts or parts[0] == unit or not package.is_dir():
            continue  # top-level modules, the package itself, or one's own package
        exported = importlib.import_module(f"core.{parts[0]}").__all__
        reached = parts[1] if len(parts) > 1 else name
        if reached not in exported or name.startswith("_"):
            wrong.append(f"line {line}: core.{'.'.join(parts)} does not export {reached}.{name}")

    assert wrong == [], "\n".join(wrong)


def test_the_layer_and_export_checks_catch_what_they_forbid(tmp_path: Path) -> None:
    source = (
        "from core.workflow import gates\n"
        "from core.monitoring.bulk_histograms import plan_windows\n"
        "import core.files.plain_text\nfrom core import errors\n"
    )

    assert core_imports(source) == [
        (1, ["workflow"], "gates"),
        (2, ["monitoring", "bulk_histograms"], "plan_windows"),
        (3, ["files"], "plain_text"),
        (4, [], "errors"),
    ]
    assert LAYER_OF["workflow"] > LAYER_OF["monitoring"] > LAYER_OF["registry"]
    assert "bulk_histograms" not in importlib.import_module("core.monitoring").__all__
    assert "plain_text" not in importlib.import_module("core.files").__all__


# --- Queries and commands -------------------------------------------------------------------
# A query takes the unit of work `w: Work`, a command the `store: Store`; everything after that
# first parameter is keyword-only, so a call site says what each value is.


def positional_after_store(source: str) -> list[str]:
    """Public module-level functions whose first parameter is a Work or a Store and that take
    further parameters by position."""
    found = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
            continue
        positional = node.args.posonlyargs + node.args.args
        first = positional[0].annotation if positional else None
        if first and ast.unparse(first) in {"Work", "Store"} and len(positional) > 1:
            found.append(node.name)
    return found


def test_the_keyword_rule_check_sees_positional_parameters() -> None:
    source = (
        "def q(w: Work, model: Model) -> None: ...\n"
        "def c(store: Store, *, model: str) -> None: ...\n"
        "def _private(w: Work, x: int) -> None: ...\n"
        "def other(x: int, y: int) -> None: ...\n"
    )

    assert positional_after_store(source) == ["q"]


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: p.relative_to(ROOT / "core").as_posix())
def test_queries_and_commands_take_everything_after_work_or_store_by_keyword(path: Path) -> None:
    assert positional_after_store(path.read_text()) == []
