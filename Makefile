# Two commands on a fresh machine:  `make run`  and  `make test`.
# Each installs what it needs (Python venv with the core and bundled plugins, anvil from npm).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))

.PHONY: install run test test-sqlite test-postgresql postgresql bench lint check clean browser

$(VENV)/.installed: pyproject.toml $(wildcard plugins/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]' $(foreach p,$(PLUGIN_DIRS),-e $(p))
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed postgresql

## Debian's PostgreSQL server (the tests start a throwaway one); installed where missing.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing PostgreSQL (apt-get install postgresql; no cluster is created)"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) sh -c 'mkdir -p /etc/postgresql-common && \
	    f=/etc/postgresql-common/createcluster.conf && \
	    { [ -e $$f ] || echo "create_main_cluster = false" > $$f; }' && \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) \
	    apt-get install -y -qq --no-install-recommends postgresql postgresql-client; }

## Headless Chromium from Debian for the checkout page's browser tests (once per machine).
## Only the browser and one font family: recommends would pull printer, desktop-notification,
## power and GPU packages that a headless browser never uses.
CHROMIUM ?= /usr/bin/chromium
CHROMIUM_PACKAGES := chromium fonts-liberation
browser: $(CHROMIUM)

$(CHROMIUM):
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) \
	  apt-get install -y -qq --no-install-recommends $(CHROMIUM_PACKAGES)

## Run the daemon on its embedded defaults: SQLite + a local anvil with a test 0xBTC.
run: install
	$(VENV)/bin/xbtcpay dev

## Run the whole test suite (unit, integration on anvil, plugins, reliability) on each
## storage engine: SQLite files and a throwaway PostgreSQL server. The two passes run side by
## side (their tests wait on chains, timers and fsyncs about a quarter of the time, so one
## pass leaves the cores idle that the other can use); each keeps its output in
## var/test-<engine>.log, printed when both have ended. Each pass runs in TEST_WORKERS
## parallel workers (pytest-xdist; "auto" is one per CPU core); every worker has its own
## loopback ports (a slice per engine and worker), database files, PostgreSQL server and
## anvil. Each pass prints how long it took, and so does the whole. `make test-sqlite` or
## `make test-postgresql` runs one pass in the foreground.
TEST_WORKERS ?= auto
PYTEST_PARALLEL := $(VENV)/bin/pytest -q -n $(TEST_WORKERS) --maxschedchunk=1 --durations=25

test: install browser
	@mkdir -p var; start=$$(date +%s); \
	  $(MAKE) --no-print-directory test-sqlite > var/test-sqlite.log 2>&1 & sqlite=$$!; \
	  $(MAKE) --no-print-directory test-postgresql > var/test-postgresql.log 2>&1 & pg=$$!; \
	  ( trap 'kill $$nap 2>/dev/null; exit 0' TERM; while :; do sleep 60 & nap=$$!; wait $$nap; \
	    echo "test: running for $$(( $$(date +%s) - start )) s"; done ) & beat=$$!; \
	  wait $$sqlite; sqlite_status=$$?; wait $$pg; pg_status=$$?; kill $$beat; \
	  cat var/test-sqlite.log var/test-postgresql.log; \
	  echo "test: both passes, side by side: $$(( $$(date +%s) - start )) s"; \
	  [ $$sqlite_status -eq 0 ] && [ $$pg_status -eq 0 ]

test-sqlite test-postgresql: test-%: install browser
	@start=$$(date +%s); XBTCPAY_TEST_DATABASE=$* $(PYTEST_PARALLEL); \
	  status=$$?; echo "test-$*: $$(( $$(date +%s) - start )) s"; exit $$status

## Benchmarks (ratios against baselines measured in the same run).
bench: install
	$(PY) -m bench
	$(PY) -m bench postgres

lint: install
	$(VENV)/bin/ruff check xbtcpay plugins bench
	$(VENV)/bin/mypy xbtcpay

## Format check, lint (the rule set in pyproject.toml) and mypy --strict on the package, the
## bundled plugins and the tests. CI runs it before the tests.
CHECKED := xbtcpay plugins tests bench
check: install
	$(VENV)/bin/ruff format --check $(CHECKED)
	$(VENV)/bin/ruff check $(CHECKED)
	$(VENV)/bin/mypy xbtcpay $(foreach p,$(PLUGIN_DIRS),$(p)/$(notdir $(p))) tests

clean:
	rm -rf $(VENV) node_modules var .pytest_cache
