# make run: install, build the demo store if missing, serve the dashboard.
# make test: install (Chromium, Java and PostgreSQL included) and run the whole suite.
# make check: ruff lint, ruff format check and mypy, as CI runs them before the tests.
# make test-fast: the suite without the browser and Spark tests (no Chromium or Java needed).
PORT ?= 8501
DEMO_DB := data/modelbridge.duckdb
MODELBRIDGE_DB ?= $(DEMO_DB)
export MODELBRIDGE_DB
export UV_PYTHON_DOWNLOADS := never
# Where PYTHONDONTWRITEBYTECODE is set (this machine sets it), Python compiles scikit-learn and
# the rest from source in every process, 3-5 s before any command or page can answer. Compiling
# all of it at install (UV_COMPILE_BYTECODE) took 33 s of a fresh clone's first `make run` on
# 2 cores. Instead our own commands keep what they compile (the demo build and the server
# compile what they import), and the rest is compiled in the background at the lowest priority
# for commands run outside make.
unexport PYTHONDONTWRITEBYTECODE
PYTHON_SITE := .venv/lib/python3*/site-packages
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
CHROMIUM := /usr/bin/chromium

.PHONY: run test test-fast check install browser postgres java demo store bench

install: .venv/.installed

$(UV):
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv

.venv/.installed: pyproject.toml uv.lock Makefile | $(UV)
	$(UV) sync --frozen --python python3
	nohup nice -n 19 .venv/bin/python -m compileall -q -j 1 $(PYTHON_SITE) >/dev/null 2>&1 &
	touch $@

$(DEMO_DB): | install
	$(UV) run --frozen modelbridge demo --db $(DEMO_DB)

demo: $(DEMO_DB)

# The demo is built at its own path only: a mistyped MODELBRIDGE_DB must not become a new store
# whose users all have the password 'demo'.
store: install
	@if [ "$(MODELBRIDGE_DB)" = "$(DEMO_DB)" ]; then $(MAKE) --no-print-directory demo; \
	elif [ ! -f "$(MODELBRIDGE_DB)" ]; then \
	  echo "No store at $(MODELBRIDGE_DB): check the path, or create one with" \
	    "'uv run modelbridge init --db $(MODELBRIDGE_DB)'."; exit 2; fi

run: store
	$(UV) run --frozen streamlit run app/main.py --server.port $(PORT)

browser:
	@test -x $(CHROMIUM) || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

# The team-catalog tests start their own PostgreSQL server: Debian's package where it is missing.
postgres:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql; }

# PySpark runs its engine in a Java 17 JVM.
java:
	@command -v java >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq openjdk-17-jre-headless; }

# Then the registry, workflow, user and audit tests once more on a team catalog (PostgreSQL),
# with its logs in a folder and then in a bucket on an S3 server the tests start.
TEAM_SUITE := tests/registry tests/workflow tests/test_audit.py tests/test_users.py

test: install browser postgres java
	$(UV) run --frozen pytest
	$(UV) run --frozen pytest $(TEAM_SUITE) --catalog postgresql -q
	$(UV) run --frozen pytest $(TEAM_SUITE) --catalog postgresql --logs s3 -q

# The Spark tests add a JVM start and about a minute and a half on two cores.
test-fast: install postgres
	$(UV) run --frozen pytest -m "not e2e and not spark"

check: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy

bench: install
	$(UV) run --frozen python bench/bench_foundation.py
